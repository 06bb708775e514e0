"""Fuzzing OCSP (issue 10 item 8): `parse_request` and `decode_get_path` raise nothing but OCSPMalformed on
arbitrary and damaged input; the responder (`OCSPService.respond`) always returns a DER OCSPResponse,
never raises, never answers internalError or tryLater with the ledger up, and answers what cannot be parsed
with malformedRequest; through the repository WSGI app every POST and GET is HTTP 200 with
application/ocsp-response (RFC 6960 §2.3)."""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import Client

from ca.x509.ocsp import OCSPMalformed, ParsedRequest, decode_get_path, parse_request
from revocation.ocsp import OCSPService
from tests.fuzz.budget import parser_settings
from tests.fuzz.mutations import der_tlvs, mutated, tlv
from tests.revocation.helpers import cert_id, issue, ocsp_request, ocsp_request_asn1crypto
from webapp.repository.app import RepositoryApp

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ocsp"
OCSP_TYPE = "application/ocsp-response"
S = ocsp.OCSPResponseStatus
HASHES = ("sha1", "sha256", "sha384", "sha512")


@functools.cache
def _seeds(issuer_der: bytes, serials: tuple[int, ...]) -> list[bytes]:
    issuer = x509.load_der_x509_certificate(issuer_der)
    made = [ocsp_request(cert_id(issuer, serial, hash_name)) for serial in serials for hash_name in HASHES]
    made += [ocsp_request(cert_id(issuer, serials[0]), nonce=b"\x42" * size) for size in (1, 16, 32, 128)]
    made.append(ocsp_request(*(cert_id(issuer, serial) for serial in serials)))
    made.append(ocsp_request_asn1crypto(cert_id(issuer, serials[-1], "sha256"), nonce=b"\x07" * 20))
    built = ocsp.OCSPRequestBuilder().add_certificate_by_hash(b"\x11" * 20, b"\x22" * 20, 0x1234, hashes.SHA1())
    made.append(built.build().public_bytes(encoding=_DER))
    return made + [path.read_bytes() for path in sorted(VECTORS.glob("*.der"))]


_DER = Encoding.DER


@pytest.fixture
def seeds(session_pki) -> list[bytes]:
    """Real requests for the session issuer (serials 1, a 20-octet one, 0), openssl-style and others, and the
    golden malformed ones of tests/vectors/ocsp."""
    return _seeds(session_pki.issuer.public_bytes(_DER), (1, 0x7F << 152 | 0x1234, 0))


def parse_outcome(data: bytes) -> str:
    try:
        parsed = parse_request(data)
    except OCSPMalformed as exc:
        assert exc.message
        return "OCSPMalformed"
    assert isinstance(parsed, ParsedRequest) and parsed.cert_ids
    assert len(parsed.cert_ids) == len(parsed.cert_id_ders)
    return "parsed"


def requests(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), der_tlvs, st.sampled_from(seeds), mutated(seeds))


# --- the parsers ----------------------------------------------------------------------------------------

@parser_settings()
@given(data=st.binary(max_size=2048))
def test_parse_request_arbitrary_bytes(data, fuzz_tally):
    fuzz_tally(parse_outcome(data))


@parser_settings()
@given(data=st.data())
def test_parse_request_mutated(data, seeds, fuzz_tally):
    fuzz_tally(parse_outcome(data.draw(st.one_of(der_tlvs, mutated(seeds)))))


def _percent_noise() -> st.SearchStrategy[str]:
    return st.sampled_from(["%", "%2", "%zz", "%ff", "%C3%28", "%2F", "%2B", "%3D", "%00", "%%", "+", " ", "//",
                            "=", "-", "_", "\x00", "é", "\u202e", "\ud800"[:0]])


@st.composite
def get_tails(draw: st.DrawFn, seeds: list[bytes]) -> str:
    """What a client or a proxy may put after /pki/ocsp/: the base64 of a real, damaged or random request,
    mangled (alphabet, padding, percent-escapes, + as space, slashes doubled or merged, noise), or any text."""
    kind = draw(st.sampled_from(["text", "base64", "base64", "base64", "long"]))
    if kind == "text":
        return draw(st.text(max_size=300))
    if kind == "long":
        return "A" * draw(st.integers(4000, 5000)) + draw(st.text(max_size=8))
    raw = draw(requests(seeds))
    text = (base64.urlsafe_b64encode if draw(st.booleans()) else base64.b64encode)(raw).decode()
    if draw(st.booleans()):
        text = text.rstrip("=")
    if draw(st.booleans()):
        text = quote(text, safe=draw(st.sampled_from(["", "/", "+/=", "=/"])))
    if draw(st.booleans()):
        text = text.replace("+", " ")
    if draw(st.booleans()):
        text = text.replace("//", "/")
    if draw(st.booleans()):
        text = "/" + text
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_percent_noise()) + text[at:]
    return text


def decode_outcome(tail: str) -> str:
    try:
        decoded = decode_get_path(tail)
    except OCSPMalformed as exc:
        assert exc.message
        return "OCSPMalformed"
    assert isinstance(decoded, bytes) and decoded[:1] == b"\x30"
    return "decoded"


@parser_settings()
@given(tail=st.text(max_size=600))
def test_decode_get_path_arbitrary_text(tail, fuzz_tally):
    fuzz_tally(decode_outcome(tail))


@parser_settings()
@given(data=st.data())
def test_decode_get_path_mangled(data, seeds, fuzz_tally):
    fuzz_tally(decode_outcome(data.draw(get_tails(seeds))))


# --- the responder --------------------------------------------------------------------------------------

@pytest.fixture
def service(runtime, operator) -> OCSPService:
    """The responder on the test ledger (issuer installed), with one issued certificate: some damaged
    requests still name a certificate we know."""
    issue(runtime, operator)
    return OCSPService(runtime)


def judged(answer_der: bytes, request_der: bytes | None) -> str:
    """The answer is a DER OCSPResponse; never internalError, never tryLater (the ledger is up); a request
    that does not parse is malformedRequest; one that does is answered or `unauthorized` (not our issuer)."""
    response = ocsp.load_der_ocsp_response(answer_der)
    status = response.response_status
    assert status not in (S.INTERNAL_ERROR, S.TRY_LATER), status
    parsed = None
    if request_der:
        try:
            parsed = parse_request(request_der)
        except OCSPMalformed:
            pass
    if parsed is None:
        assert status == S.MALFORMED_REQUEST, status
    else:
        assert status in (S.SUCCESSFUL, S.UNAUTHORIZED), status
        if status == S.SUCCESSFUL:
            assert len(list(response.responses)) == len(parsed.cert_ids)
    return status.name


def _decoded(tail: str) -> bytes | None:
    try:
        return decode_get_path(tail)
    except OCSPMalformed:
        return None


@parser_settings()
@given(data=st.data())
def test_service_post_bodies(data, service, seeds, fuzz_tally):
    body = data.draw(requests(seeds))
    fuzz_tally(judged(service.respond(body=body).der, body))


@parser_settings()
@given(data=st.data())
def test_service_get_paths(data, service, seeds, fuzz_tally):
    tail = data.draw(st.one_of(get_tails(seeds), st.text(max_size=200)))
    fuzz_tally(judged(service.respond(get_path=tail).der, _decoded(tail)))


# --- the repository WSGI app ----------------------------------------------------------------------------

@pytest.fixture
def repository(runtime, service) -> Client:
    return Client(RepositoryApp(runtime, ocsp=service))


def _ocsp_reply(reply) -> str:
    assert reply.status_code == 200, (reply.status_code, reply.data[:200])
    assert reply.headers["Content-Type"] == OCSP_TYPE
    assert int(reply.headers["Content-Length"]) == len(reply.data)
    return ocsp.load_der_ocsp_response(reply.data).response_status.name


@parser_settings()
@given(data=st.data())
def test_repository_post(data, repository, seeds, fuzz_tally):
    body = data.draw(requests(seeds))
    content_type = data.draw(st.sampled_from(["application/ocsp-request", "text/plain", None,
                                              "multipart/form-data; boundary=x"]))
    path = data.draw(st.sampled_from(["/pki/ocsp", "/pki/ocsp/"]))
    overrides = {}
    if data.draw(st.integers(0, 4)) == 0:  # a lying or nonsensical Content-Length
        overrides["CONTENT_LENGTH"] = data.draw(st.sampled_from(["", "abc", "-1", "0", "99999999", "65537",
                                                                 str(len(body) + 1), str(max(0, len(body) - 1))]))
    reply = repository.post(path, data=body, content_type=content_type, environ_overrides=overrides)
    fuzz_tally(_ocsp_reply(reply))


@parser_settings()
@given(data=st.data())
def test_repository_get(data, repository, seeds, fuzz_tally):
    tail = data.draw(st.one_of(get_tails(seeds), st.just("")))
    # what reaches a WSGI server is a URL path: no '?' or '#', no raw non-ASCII (a client escapes them)
    path = "/pki/ocsp/" + quote(tail, safe="/+=% !$&'()*,;:@-._~")
    fuzz_tally(_ocsp_reply(repository.get(path)))


# --- what the fuzzing found (regressions) ---------------------------------------------------------------

def _cert_id_with_serial(issuer, serial_tlv: bytes, algorithm: bytes | None = None) -> bytes:
    """A CertID for our issuer whose serialNumber (and optionally AlgorithmIdentifier) TLV is given raw."""
    good = cert_id(issuer, 1)
    algorithm = algorithm if algorithm is not None else good["hash_algorithm"].dump()
    return tlv(0x30, algorithm + good["issuer_name_hash"].dump() + good["issuer_key_hash"].dump() + serial_tlv)


@pytest.mark.parametrize("name", ["negative-serial", "empty-serial", "non-minimal-serial", "padded-oid",
                                  "null-with-content"])
def test_cert_ids_that_are_not_der_are_malformed(name, session_pki, service):
    """Found by test_repository_post: a CertID with serialNumber `02 03 c8 d7 be` (negative) made the
    responder answer internalError (format_serial gave '0-372842'); one with `02 00` (empty INTEGER) was
    echoed into a signed response that cryptography could not parse. Both are malformedRequest now, and so
    is every other CertID that is not DER (it is echoed byte for byte)."""
    sha1 = bytes.fromhex("06052b0e03021a")
    raw = {"negative-serial": (bytes.fromhex("0203c8d7be"), None),
           "empty-serial": (b"\x02\x00", None),
           "non-minimal-serial": (bytes.fromhex("02020001"), None),
           "padded-oid": (b"\x02\x01\x01", tlv(0x30, bytes.fromhex("06062b0e0302801a") + b"\x05\x00")),
           "null-with-content": (b"\x02\x01\x01", tlv(0x30, sha1 + b"\x05\x01\x00"))}[name]
    request = ocsp_request(_cert_id_with_serial(session_pki.issuer, *raw))
    with pytest.raises(OCSPMalformed):
        parse_request(request)
    for answer in (service.respond(body=request), service.respond(get_path=base64.b64encode(request).decode())):
        assert ocsp.load_der_ocsp_response(answer.der).response_status == S.MALFORMED_REQUEST
