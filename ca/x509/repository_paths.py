"""The public repository's URL layout (DESIGN §8), written once.

The same paths go into issued certificates (AIA caIssuers and OCSP, CRL distribution points, RFC 5280
§4.2.2.1 and §4.2.1.13) and are served by the repository application, so they cannot drift apart.
"""

from __future__ import annotations

PREFIX = "/pki"
OCSP = f"{PREFIX}/ocsp"
ROOT_CERTIFICATE = f"{PREFIX}/root.crt"
ROOT_CRL = f"{PREFIX}/root.crl"
ROOT_CERTIFICATE_PEM = f"{PREFIX}/root.pem"  # the same certificate, PEM (for `openssl -CAfile`, trust stores)
INDEX = f"{PREFIX}/"


def issuer_certificate(issuer_name: str) -> str:
    return f"{PREFIX}/ca/{issuer_name}.crt"


def issuer_certificate_pem(issuer_name: str) -> str:
    return f"{PREFIX}/ca/{issuer_name}.pem"


def crl_file_name(issuer_name: str, *, delta: bool = False) -> str:
    return f"{issuer_name}-delta.crl" if delta else f"{issuer_name}.crl"


def crl(issuer_name: str, *, delta: bool = False) -> str:
    return f"{PREFIX}/crl/{crl_file_name(issuer_name, delta=delta)}"


def cross_certificate(name: str) -> str:
    return f"{PREFIX}/cross/{name}.crt"


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path
