"""Certificate requests: recording, approval, issuance for a request, key delivery and downloads."""
