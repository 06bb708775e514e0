"""Web adapters: portal (HTML), api (JSON), repository (CRL/OCSP/CA certificates), frontoffice (gate)."""
