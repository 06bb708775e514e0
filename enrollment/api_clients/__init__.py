"""OAuth2 API clients of companies (issue 12 item 1): registration, credentials, access-token ledger."""
