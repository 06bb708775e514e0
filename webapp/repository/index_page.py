"""`GET /pki/`: an HTML index of the public repository, one line per file on what it is for (issue 15 item 4).

Built from the same document table the repository serves, so the index cannot list a file that is not there
or miss one that is. The OCSP responder (RFC 6960 §A.1 POST, RFC 5019 §5 GET) is a URL, not a file: it gets
its own line.
"""

from __future__ import annotations

from html import escape

from ca.x509 import repository_paths as paths
from revocation.repository import Document
from webapp.look import page

HTML_TYPE = "text/html; charset=utf-8"


def _row(href: str, title: str, encoding: str, purpose: str) -> str:
    return (f"<tr><td><a href=\"{escape(href)}\">{escape(title)}</a><br><code>{escape(href)}</code></td>"
            f"<td>{escape(encoding)}</td><td>{escape(purpose)}</td></tr>")


def _encoding(document: Document) -> str:
    return "PEM (text)" if document.media_type.endswith("pem-file") else "DER (binary)"


def index_document(documents: dict[str, Document], *, base_url: str, portal_url: str) -> Document:
    base = base_url.rstrip("/")
    rows = [_row(base + path, doc.title, _encoding(doc), doc.purpose)
            for path, doc in sorted(documents.items(), key=lambda item: _order(item[0])) if doc.title]
    ocsp = base + paths.OCSP
    rows.append(_row(ocsp, "OCSP responder", "DER requests and answers",
                     "the live status of one certificate: POST application/ocsp-request here (RFC 6960), "
                     f"or GET {ocsp}/<base64 request> (RFC 5019)"))
    body = ("<h1>Public repository</h1><p>What relying parties need to check certificates of this PKI. "
            "Every CA certificate is served twice: <code>.crt</code> is DER (binary, the form certificates "
            "point to), <code>.pem</code> is PEM (text, for <code>openssl -CAfile</code> and trust stores). "
            "CRLs are DER.</p><div class=\"card\"><table><thead><tr><th>File</th><th>Encoding</th>"
            "<th>What it is for</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    html = page("Public repository", body, portal_url=portal_url, site="Portail PKI repository",
                footer="Portail PKI · public repository")
    return Document(HTML_TYPE, html)


def _order(path: str) -> tuple[int, str]:
    """Root first, then issuers, cross-certificates and CRLs."""
    for rank, prefix in enumerate((paths.PREFIX + "/root.", paths.PREFIX + "/ca/", paths.PREFIX + "/cross/")):
        if path.startswith(prefix):
            return rank, path
    return 3, path
