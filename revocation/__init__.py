"""Revocation use cases: revoke, CRL publication, OCSP answers, the public repository's documents."""
