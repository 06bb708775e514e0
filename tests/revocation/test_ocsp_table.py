"""The OCSP table (issue 3 acceptance): every case over GET and POST against RepositoryApp, in process.

Each answer must be HTTP 200 with the OCSP media type and a DER OCSPResponse; successful ones are
verified (responder signature, responder certificate issued by our issuer, CertID echoed with the
request's hash), nonces echoed (RFC 9654), RFC 5019 cache headers on cacheable GET answers only.
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from werkzeug.test import Client

from ca.actor import cli_operator
from ca.clock import FixedClock
from ca.ledger import store
from ca.lifecycle import issuers
from ca.revoke import revoke_certificate
from ca.runtime import build_runtime
from ca.settings import load_settings
from ca.x509.reasons import REASON_CODES
from enrollment.accounts import companies
from enrollment.accounts import users as accounts
from revocation.maintenance import run_once
from tests.conftest import BACKENDS, EIC, _postgres_schema_url
from tests.revocation.helpers import cert_id, issue, ocsp_request, ocsp_request_asn1crypto, run
from tests.support.pki import T0
from tests.support.tools import require_tool
from tests.x509.crl_helpers import make_pki
from webapp.repository.app import RepositoryApp

OCSP_TYPE = "application/ocsp-response"
REASON_FLAGS = {
    "keyCompromise": x509.ReasonFlags.key_compromise, "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed, "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn, "aACompromise": x509.ReasonFlags.aa_compromise,
}
FAILURES = {"malformedRequest": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
            "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED}
STATUSES = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN}


@dataclass
class Table:
    """A ledger at a fixed instant with a good leaf and one leaf revoked for each reason."""

    runtime: object
    clock: FixedClock
    client: Client
    issuer: x509.Certificate
    root: x509.Certificate
    good: x509.Certificate
    revoked: dict[str, x509.Certificate]
    revoked_at: datetime
    foreign_issuer: x509.Certificate
    unknown_serial: int = field(default_factory=lambda: int.from_bytes(os.urandom(19), "big") | 1)


def _environ(base: Path, session_pki, url: str) -> dict[str, str]:
    return {"PKI_DATABASE__URL": url, "PKI_CA__KEY_DIR": str(session_pki.key_dir),
            "PKI_CA__PASSPHRASE_FILE": str(session_pki.passphrase_file), "PKI_ROOT__DIR": str(session_pki.root_dir),
            "PKI_REPOSITORY__CRL_DIR": str(base / "crl"), "PKI_REPOSITORY__CROSS_DIR": str(base / "cross"),
            "PKI_CA__PKCS11_PIN_FILE": str(base / "pkcs11.pin"), "PKI_PORTAL__SECRET_FILE": str(base / "session.key"),
            "PKI_PORTAL__OUTBOX_DIR": str(base / "outbox")}


@pytest.fixture(scope="module", params=BACKENDS)
def table(request, session_pki, tmp_path_factory):
    """Module-scoped (the table is read-only apart from the responder's cache), once per backend."""
    base = tmp_path_factory.mktemp("ocsp-table")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'ledger.sqlite3'}"
    else:
        schema = _postgres_schema_url()
        url = next(schema)
    clock = FixedClock(T0 + timedelta(days=1))
    runtime = build_runtime(load_settings(None, _environ(base, session_pki, url)), clock)
    operator = cli_operator("pytest")
    try:
        issuers.install_issuer(runtime, operator, name=session_pki.issuer_name, certificate=session_pki.issuer,
                               root=session_pki.root)
        companies.create_company(runtime, operator, eic=EIC, name="Demo Producer")
        accounts.create_user(runtime, operator, email="alice@example.com", full_name="Alice Martin",
                             company_eic=EIC, role="first-admin")
        good = issue(runtime, operator).certificate
        revoked = {}
        for reason in REASON_CODES:
            revoked[reason] = issue(runtime, operator).certificate
            revoke_certificate(runtime, operator, serial=format(revoked[reason].serial_number, "x"), reason=reason)
        _root, foreign = make_pki()
        yield Table(runtime=runtime, clock=clock, client=Client(RepositoryApp(runtime)), issuer=session_pki.issuer,
                    root=session_pki.root, good=good, revoked=revoked, revoked_at=clock.now(),
                    foreign_issuer=foreign.cert)
    finally:
        runtime.close()
        if schema is not None:
            next(schema, None)


# --- the cases -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    status: str  # good | revoked | unknown | malformedRequest | unauthorized (one per CertID, comma-separated)
    reason: str | None = None
    nonce: bytes | None = None


Build = Callable[[Table], bytes]


def _cid(which: str, hash_name: str = "sha1") -> Callable[[Table], object]:
    def make(t: Table):
        if which == "good":
            return cert_id(t.issuer, t.good.serial_number, hash_name)
        if which == "unknown":
            return cert_id(t.issuer, t.unknown_serial, hash_name)
        if which == "foreign":
            return cert_id(t.foreign_issuer, t.good.serial_number, hash_name)
        if which == "root":
            return cert_id(t.root, t.good.serial_number, hash_name)
        return cert_id(t.issuer, t.revoked[which].serial_number, hash_name)
    return make


def _req(*cids: Callable[[Table], object], nonce: bytes | None = None) -> Build:
    return lambda t: ocsp_request(*(c(t) for c in cids), nonce=nonce)


def _mixed_key_hash(t: Table) -> bytes:
    """Our issuer's name hash with another key's hash: not our issuer (a CertID must match both)."""
    good = cert_id(t.issuer, t.good.serial_number)
    other = cert_id(t.foreign_issuer, t.good.serial_number)
    mixed = asn1_ocsp.CertId({"hash_algorithm": good["hash_algorithm"], "issuer_name_hash": good["issuer_name_hash"],
                              "issuer_key_hash": other["issuer_key_hash"], "serial_number": good["serial_number"]})
    return ocsp_request(mixed)


NONCE = {n: bytes((i * 7 + n) % 256 for i in range(n)) for n in (1, 16, 32, 33, 128, 129)}

CASES: dict[str, tuple[Build, Expect]] = {
    **{f"good-{h}": (_req(_cid("good", h)), Expect("good")) for h in ("sha1", "sha256", "sha384", "sha512")},
    **{f"revoked-{r}": (_req(_cid(r)), Expect("revoked", r)) for r in REASON_CODES},
    "revoked-keyCompromise-sha256": (_req(_cid("keyCompromise", "sha256")), Expect("revoked", "keyCompromise")),
    "revoked-superseded-sha512": (_req(_cid("superseded", "sha512")), Expect("revoked", "superseded")),
    **{f"unknown-serial-{h}": (_req(_cid("unknown", h)), Expect("unknown")) for h in ("sha1", "sha256", "sha512")},
    "unknown-issuer-sha1": (_req(_cid("foreign")), Expect("unauthorized")),
    "unknown-issuer-sha256": (_req(_cid("foreign", "sha256")), Expect("unauthorized")),
    "root-is-not-an-ocsp-issuer": (_req(_cid("root")), Expect("unauthorized")),
    "issuer-name-ours-key-not": (_mixed_key_hash, Expect("unauthorized")),
    "garbage": (lambda t: b"this is not DER at all", Expect("malformedRequest")),
    "empty": (lambda t: b"", Expect("malformedRequest")),
    "other-der": (lambda t: t.issuer.public_bytes(Encoding.DER), Expect("malformedRequest")),
    "truncated": (lambda t: ocsp_request(_cid("good")(t))[:-3], Expect("malformedRequest")),
    "trailing-byte": (lambda t: ocsp_request(_cid("good")(t)) + b"\x00", Expect("malformedRequest")),
    "nonce-0": (_req(_cid("good"), nonce=b""), Expect("malformedRequest")),
    **{f"nonce-{n}": (_req(_cid("good"), nonce=NONCE[n]), Expect("good", nonce=NONCE[n]))
       for n in (1, 16, 32, 33, 128)},
    "nonce-129": (_req(_cid("good"), nonce=NONCE[129]), Expect("malformedRequest")),
    "nonce-revoked": (_req(_cid("cessationOfOperation"), nonce=NONCE[16]),
                      Expect("revoked", "cessationOfOperation", NONCE[16])),
    "nonce-sha256": (_req(_cid("good", "sha256"), nonce=NONCE[32]), Expect("good", nonce=NONCE[32])),
    "nonce-unknown-serial": (_req(_cid("unknown"), nonce=NONCE[16]), Expect("unknown", nonce=NONCE[16])),
    "two-certids-good-revoked": (_req(_cid("good"), _cid("keyCompromise")), Expect("good,revoked", "keyCompromise")),
    "two-certids-sha1-sha256": (_req(_cid("good"), _cid("superseded", "sha256")), Expect("good,revoked", "superseded")),
    "two-certids-with-unknown": (_req(_cid("unknown"), _cid("good")), Expect("unknown,good")),
    "two-certids-with-nonce": (_req(_cid("good"), _cid("unknown"), nonce=NONCE[16]),
                               Expect("good,unknown", nonce=NONCE[16])),
    "two-certids-one-foreign": (_req(_cid("good"), _cid("foreign")), Expect("unauthorized")),
}


def _get_path(request_der: bytes) -> str:
    """RFC 5019 §5 / RFC 9919: base64 of the DER, then URL-encoded."""
    return "/pki/ocsp/" + quote(base64.b64encode(request_der).decode(), safe="")


def _ask(t: Table, method: str, request_der: bytes, get_path: str | None = None):
    if method == "POST":
        return t.client.post("/pki/ocsp", data=request_der, content_type="application/ocsp-request")
    return t.client.get(get_path or _get_path(request_der))


# --- checking an answer --------------------------------------------------------------------------------------
def _nonce_of(body: bytes) -> bytes | None:
    basic = asn1_ocsp.OCSPResponse.load(body)["response_bytes"]["response"].parsed
    for ext in basic["tbs_response_data"]["response_extensions"] or []:
        if ext["extn_id"].dotted == "1.3.6.1.5.5.7.48.1.2":
            raw = ext["extn_value"].contents
            assert raw[0] == 0x04, "the nonce extnValue must hold one OCTET STRING (RFC 9654 §2.1)"
            return asn1_ocsp.OctetString.load(raw).native
    return None


def check_answer(t: Table, response, request_der: bytes, expect: Expect, method: str) -> ocsp.OCSPResponse:
    assert response.status_code == 200, (response.status_code, response.data[:200])
    assert response.headers["Content-Type"] == OCSP_TYPE
    body = response.data
    assert int(response.headers["Content-Length"]) == len(body)
    parsed = ocsp.load_der_ocsp_response(body)
    assert asn1_ocsp.OCSPResponse.load(body, strict=True).dump(force=True) == body  # DER, nothing trailing
    if expect.status in FAILURES:
        assert parsed.response_status == FAILURES[expect.status]
        _check_no_cache_headers(response)
        return parsed
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    now = t.clock.now()
    # The delegated responder signed it, the issuer certified the responder (RFC 6960 §4.2.2.2).
    (responder,) = parsed.certificates
    responder.verify_directly_issued_by(t.issuer)
    assert ExtendedKeyUsageOID.OCSP_SIGNING in responder.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert responder.not_valid_before_utc <= now <= responder.not_valid_after_utc
    signature_algorithm = ec.ECDSA(parsed.signature_hash_algorithm)
    responder.public_key().verify(parsed.signature, parsed.tbs_response_bytes, signature_algorithm)
    assert parsed.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    # One SingleResponse per CertID, each echoing the request's CertID bytes (so its hash, Boulder #1494).
    request = asn1_ocsp.OCSPRequest.load(request_der)
    wanted = [r["req_cert"].dump() for r in request["tbs_request"]["request_list"]]
    basic = asn1_ocsp.OCSPResponse.load(body)["response_bytes"]["response"].parsed
    answered = [r["cert_id"].dump() for r in basic["tbs_response_data"]["responses"]]
    assert answered == wanted
    singles = list(parsed.responses)
    for single, status in zip(singles, expect.status.split(","), strict=True):
        assert single.certificate_status == STATUSES[status]
        assert single.this_update_utc <= now < single.next_update_utc  # never expired, nextUpdate present
        assert single.next_update_utc - single.this_update_utc <= timedelta(days=10)
        if status == "revoked":
            assert single.revocation_time_utc == t.revoked_at
            if expect.reason == "unspecified":
                assert single.revocation_reason is None  # RFC 5280 §5.3.1: omitted, not 0
            else:
                assert single.revocation_reason == REASON_FLAGS[expect.reason]
    # The nonce, when asked, is echoed byte for byte; otherwise there is none.
    assert _nonce_of(body) == expect.nonce
    if expect.nonce is not None:
        assert parsed.produced_at_utc == now  # freshly signed
    if method == "GET" and expect.nonce is None:
        _check_cache_headers(response, singles, now)
    elif method == "GET":
        _check_no_cache_headers(response)
    return parsed


def _check_cache_headers(response, singles, now: datetime) -> None:
    """RFC 5019 §6.2: max-age ≤ nextUpdate − now, Last-Modified = thisUpdate, Expires = nextUpdate, ETag."""
    this_update, next_update = singles[0].this_update_utc, singles[0].next_update_utc
    directives = {d.strip().split("=")[0]: d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert "max-age" in directives and "no-store" not in directives
    max_age = int(directives["max-age"].split("=")[1])
    assert 0 < max_age <= (next_update - now).total_seconds()
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == this_update
    assert parsedate_to_datetime(response.headers["Expires"]) == next_update
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2


def _check_no_cache_headers(response) -> None:
    """A nonce answer or a failure must not be cached by HTTP caches."""
    assert "ETag" not in response.headers and "Expires" not in response.headers
    assert "max-age" not in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_ocsp_table(table, case, method):
    build, expect = CASES[case]
    request_der = build(table)
    if method == "GET" and case == "empty":
        response = table.client.get("/pki/ocsp/")
    else:
        response = _ask(table, method, request_der)
    check_answer(table, response, request_der, expect, method)


def test_table_has_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("nonce", [None, b"", b"x", b"y" * 128, b"z" * 300])
def test_request_builder_matches_asn1crypto(table, nonce):
    cids = [cert_id(table.issuer, table.good.serial_number), cert_id(table.issuer, table.unknown_serial, "sha512")]
    for count in (1, 2):
        assert ocsp_request(*cids[:count], nonce=nonce) == ocsp_request_asn1crypto(*cids[:count], nonce=nonce)


# --- GET encodings (RFC 5019 §5; Boulder #884, Vault #18938) ---------------------------------------------------
def _find_request(t: Table, predicate: Callable[[str], bool], *, nonce: bool) -> bytes:
    """A request whose base64 has the wanted shape: for the good leaf with a nonce of varying size and
    content, or, without a nonce, for an unknown serial of varying size (a fixed seed keeps it repeatable)."""
    rng = random.Random(5019)
    good = cert_id(t.issuer, t.good.serial_number).dump()
    for _attempt in range(50_000):
        if nonce:
            der = ocsp_request(good, nonce=rng.randbytes(rng.randrange(1, 40)))
        else:
            serial = int.from_bytes(rng.randbytes(rng.randrange(8, 20)), "big") | 1 << 62
            der = ocsp_request(cert_id(t.issuer, serial, rng.choice(["sha1", "sha256"])))
        if predicate(base64.b64encode(der).decode()):
            return der
    raise AssertionError("no request of the wanted shape found")


GET_VARIANTS: dict[str, tuple[Callable[[str], bool], Callable[[str], str]]] = {
    # name: (shape the base64 must have, how the client writes it into the path)
    "standard-escaped": (lambda b: "+" in b and "/" in b and b.endswith("="), lambda b: quote(b, safe="")),
    "plus-raw": (lambda b: "+" in b, lambda b: b),
    "slash-raw": (lambda b: "/" in b and "//" not in b, lambda b: b),
    "slash-%2F": (lambda b: "/" in b, lambda b: b.replace("/", "%2F")),
    "slash-%2f-lowercase": (lambda b: "/" in b, lambda b: b.replace("/", "%2f")),
    "plus-%2B": (lambda b: "+" in b, lambda b: b.replace("+", "%2B")),
    "double-slash-kept": (lambda b: "//" in b, lambda b: b),
    "leading-double-slash": (lambda b: True, lambda b: "/" + b),
    "missing-padding": (lambda b: b.endswith("="), lambda b: b.rstrip("=")),
    "padding-escaped": (lambda b: b.endswith("="), lambda b: b.replace("=", "%3D")),
    "url-safe": (lambda b: "+" in b and "/" in b, lambda b: b.replace("+", "-").replace("/", "_").rstrip("=")),
}


@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no-nonce"])
@pytest.mark.parametrize("variant", sorted(GET_VARIANTS))
def test_get_encodings(table, variant, nonce):
    shape, write = GET_VARIANTS[variant]
    request_der = _find_request(table, shape, nonce=nonce)
    path = "/pki/ocsp/" + write(base64.b64encode(request_der).decode())
    if nonce:
        expect = Expect("good", nonce=asn1_ocsp.OCSPRequest.load(request_der)["tbs_request"]["request_extensions"][0]
                        ["extn_value"].parsed.native)
    else:
        expect = Expect("unknown")
    check_answer(table, table.client.get(path), request_der, expect, "GET")
    # The same request over POST gets the same status.
    check_answer(table, _ask(table, "POST", request_der), request_der, expect, "POST")


def test_get_collapsed_double_slash_is_repaired_or_refused_never_misread(table):
    """A router that merges `//` into `/` (Boulder #884) loses a character; the responder doubles one `/`
    back when exactly one repair parses (ca.x509.ocsp.decode_get_path), else answers malformedRequest.
    Never may it answer for another serial or echo another nonce."""
    outcomes = {"repaired": 0, "refused": 0}
    # The `//` is taken in the nonce, after the CertID: in the CertID's own base64 (about one issuer key in 150
    # gives a `//` there, in every request) its hashes are opaque bytes, so several repairs parse and the answer
    # is rightly malformedRequest every time; then the SHA-256 CertID, whose base64 differs, is used instead.
    for hash_name in ("sha1", "sha256"):
        good = cert_id(table.issuer, table.good.serial_number, hash_name).dump()
        rng = random.Random(884)
        for _ in range(20_000):
            if sum(outcomes.values()) >= 40:
                break
            nonce = rng.randbytes(rng.randrange(1, 40))
            request_der = ocsp_request(good, nonce=nonce)
            encoded = base64.b64encode(request_der).decode()
            if encoded.count("//") != 1 or "///" in encoded:
                continue
            if encoded.index("//") < (request_der.index(good) + len(good)) * 4 // 3 + 4:
                continue
            response = table.client.get("/pki/ocsp/" + encoded.replace("//", "/"))
            parsed = ocsp.load_der_ocsp_response(response.data)
            if parsed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST:
                outcomes["refused"] += 1
                continue
            check_answer(table, response, request_der, Expect("good", nonce=nonce), "GET")
            outcomes["repaired"] += 1
        if outcomes["repaired"]:
            break
    assert outcomes["repaired"] > 0, outcomes
    print(f"collapsed '//': {outcomes}")


def test_get_and_post_serve_the_same_presigned_answer(table):
    request_der = ocsp_request(cert_id(table.issuer, table.good.serial_number))
    get = _ask(table, "GET", request_der)
    post = _ask(table, "POST", request_der)
    assert get.data == post.data
    assert get.headers["ETag"] == _ask(table, "GET", request_der).headers["ETag"]


def test_other_methods_and_paths_are_not_ocsp(table):
    assert table.client.get("/pki/nothing-here").status_code == 404
    assert table.client.put("/pki/ocsp", data=b"x").status_code == 405


# --- validators ------------------------------------------------------------------------------------------------
@pytest.mark.interop
@pytest.mark.parametrize("which", ["good", "revoked", "unknown", "nonce"])
def test_pkilint_ocsp_response(table, tmp_path, which):
    lint = require_tool("lint_ocsp_response")
    if which == "good":
        request_der = ocsp_request(cert_id(table.issuer, table.good.serial_number))
    elif which == "revoked":
        request_der = ocsp_request(cert_id(table.issuer, table.revoked["keyCompromise"].serial_number))
    elif which == "unknown":
        request_der = ocsp_request(cert_id(table.issuer, table.unknown_serial))
    else:
        request_der = ocsp_request(cert_id(table.issuer, table.good.serial_number), nonce=NONCE[32])
    path = tmp_path / f"{which}.der"
    path.write_bytes(_ask(table, "POST", request_der).data)
    result = run(lint, "lint", "-s", "WARNING", path)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.interop
def test_pkilint_responder_certificate(table, tmp_path):
    lint = require_tool("lint_pkix_cert")
    response = ocsp.load_der_ocsp_response(
        _ask(table, "POST", ocsp_request(cert_id(table.issuer, table.good.serial_number))).data)
    (responder,) = response.certificates
    path = tmp_path / "responder.pem"
    path.write_bytes(responder.public_bytes(Encoding.PEM))
    result = run(lint, "lint", "-s", "WARNING", path)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    # The responder profile (BR §7.1.2.8): OCSPSigning only, ocsp-nocheck, no CDP, at most 30 days.
    extensions = responder.extensions
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    with pytest.raises(x509.ExtensionNotFound):
        extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert responder.not_valid_after_utc - responder.not_valid_before_utc <= timedelta(days=30)


# --- time: revocations, expiry, responder renewal (function-scoped ledgers: the clock moves) ----------------
def _post(client: Client, request_der: bytes) -> ocsp.OCSPResponse:
    response = client.post("/pki/ocsp", data=request_der, content_type="application/ocsp-request")
    assert response.status_code == 200 and response.headers["Content-Type"] == OCSP_TYPE
    return ocsp.load_der_ocsp_response(response.data)


def test_revocation_reaches_cached_answers_within_a_second(runtime, operator):
    """A cached `good` (pre-signed, no nonce) must turn `revoked` within 1 s, over POST and GET alike."""
    issued = issue(runtime, operator)
    issuer = runtime.issuer_from_record(_issuer(runtime)).certificate
    request_der = ocsp_request(cert_id(issuer, issued.certificate.serial_number))
    # One responder asked only over POST, one only over GET: each path on its own (a GET must not be what
    # refreshes the POST path's cache, as in a deployment where all clients POST).
    post_client, get_client = Client(RepositoryApp(runtime)), Client(RepositoryApp(runtime))

    def status(method: str) -> ocsp.OCSPCertStatus:
        if method == "POST":
            return _post(post_client, request_der).certificate_status
        return ocsp.load_der_ocsp_response(get_client.get(_get_path(request_der)).data).certificate_status

    for _ in range(2):  # the second answer comes from the in-memory cache
        assert status("POST") == status("GET") == ocsp.OCSPCertStatus.GOOD
    revoke_certificate(runtime, operator, serial=issued.serial, reason="keyCompromise")
    revoked_at = time.monotonic()
    seen: dict[str, float] = {}
    while time.monotonic() < revoked_at + 1.0 and len(seen) < 2:
        for method in ("POST", "GET"):
            if method not in seen and status(method) == ocsp.OCSPCertStatus.REVOKED:
                seen[method] = time.monotonic() - revoked_at
        time.sleep(0.02)
    assert set(seen) == {"POST", "GET"}, f"still good 1 s after the revocation over {({'POST', 'GET'} - set(seen))}"


def _issuer(runtime):
    with runtime.sessionmaker() as session:
        return store.get_active_issuer(session)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_expired_presigned_answers_are_never_served(runtime, operator, clock, method):
    """Boulder #4338: past nextUpdate (the runtime's clock), a fresh answer is signed, in the same process."""
    issued = issue(runtime, operator)
    issuer = runtime.issuer_from_record(_issuer(runtime)).certificate
    client = Client(RepositoryApp(runtime))
    request_der = ocsp_request(cert_id(issuer, issued.certificate.serial_number))

    def ask() -> ocsp.OCSPResponse:
        if method == "POST":
            return _post(client, request_der)
        return ocsp.load_der_ocsp_response(client.get(_get_path(request_der)).data)

    first = ask()
    assert ask().this_update_utc == first.this_update_utc == clock.now()  # cached
    clock.advance(first.next_update_utc - first.this_update_utc + timedelta(seconds=1))
    fresh = ask()
    assert fresh.this_update_utc <= clock.now() < fresh.next_update_utc, (
        f"served an answer valid until {fresh.next_update_utc} at {clock.now()}")
    # A new responder process (nothing in memory) also refuses the stale ledger copy.
    again = _post(Client(RepositoryApp(runtime)), request_der)
    assert again.this_update_utc <= clock.now() < again.next_update_utc


def test_fresh_answers_are_never_signed_by_an_expired_responder(runtime, operator, clock):
    """The responder certificate lives ≤ 30 days and is renewed at 2/3 of its life: a long-running responder
    must switch to the renewed one (with the maintenance pass running as in `pkictl serve`)."""
    issued = issue(runtime, operator)
    issuer = runtime.issuer_from_record(_issuer(runtime)).certificate
    client = Client(RepositoryApp(runtime))
    first = None
    for day in range(0, 45, 3):
        run_once(runtime, refresh_ocsp_answers=True)
        nonce = os.urandom(16)
        response = _post(client, ocsp_request(cert_id(issuer, issued.certificate.serial_number), nonce=nonce))
        assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
        (responder,) = response.certificates
        first = first or responder
        now = clock.now()
        assert responder.not_valid_before_utc <= now <= responder.not_valid_after_utc, (
            f"day {day}: signed by a responder certificate valid until {responder.not_valid_after_utc}")
        clock.advance(timedelta(days=3))
    assert first is not None


def test_responder_renewal_in_the_ledger(runtime, operator, clock):
    """`pkictl ocsp refresh` (the use case) issues a new responder certificate after 2/3 of its life."""
    from revocation.ocsp import refresh_ocsp

    refresh_ocsp(runtime, operator)
    with runtime.sessionmaker() as session:
        first = x509.load_der_x509_certificate(store.latest_responder(session, _issuer(runtime).id, clock.now()).der)
    life = first.not_valid_after_utc - first.not_valid_before_utc
    assert life <= timedelta(days=30)
    clock.advance(life * 2 / 3 + timedelta(hours=1))
    refresh_ocsp(runtime, operator)
    with runtime.sessionmaker() as session:
        second = x509.load_der_x509_certificate(store.latest_responder(session, _issuer(runtime).id, clock.now()).der)
    assert second.serial_number != first.serial_number
    assert second.not_valid_before_utc == clock.now()


def test_nonce_answers_differ_and_are_fresh(table):
    request_a = ocsp_request(cert_id(table.issuer, table.good.serial_number), nonce=b"A" * 16)
    request_b = ocsp_request(cert_id(table.issuer, table.good.serial_number), nonce=b"B" * 16)
    a, b = _ask(table, "POST", request_a).data, _ask(table, "POST", request_b).data
    assert a != b and _nonce_of(a) == b"A" * 16 and _nonce_of(b) == b"B" * 16

