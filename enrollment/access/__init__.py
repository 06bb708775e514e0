"""The front-office access decision and the TLS material of the front-office server."""
