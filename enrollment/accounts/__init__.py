"""People and their companies: accounts, sessions, activation links, sign-up, membership."""
