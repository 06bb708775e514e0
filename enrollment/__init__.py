"""Enrollment use cases: companies, accounts, issuers, issuance (DESIGN §3: one transaction each)."""
