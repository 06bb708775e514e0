"""The ACME server's logic (RFC 8555, issue 12): company-bound accounts (External Account Binding), the
identifier policy, orders, http-01 validation, finalization through the one issuance pipeline, revocation.

Named `acme_server` so that it never shadows the `acme` package whose message types it uses.
"""
