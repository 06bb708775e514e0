"""E-mailed notices of the certificate's life (issue 11): expiry warnings, escalation, weekly digest,
revocation and detachment notices — computed, recorded in the ledger once each, rendered, delivered."""
