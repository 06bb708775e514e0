"""The public repository over plain HTTP: a bare WSGI callable, because the OCSP hot path must stay light."""
