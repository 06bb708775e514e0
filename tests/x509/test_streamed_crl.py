"""Streamed CRL signing (issue 14 §4): the TBS hashed chunk by chunk and signed as a digest gives a CRL that
verifies like one signed over the joined bytes, for every issuer key type, with or without `sign_digest`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ca.keys.filekey import FileSigner, generate_private_key
from ca.x509 import crl as crl_mod
from ca.x509.der import signature_algorithm_der
from ca.x509.signer import KEY_TYPES


class _JoinedOnly:
    """A Signer without sign_digest: the chunks are joined once for it."""

    def __init__(self, inner: FileSigner) -> None:
        self._inner = inner
        self.key_type = inner.key_type
        self.public_key = inner.public_key
        self.sign = inner.sign


@pytest.mark.parametrize("key_type", KEY_TYPES)
@pytest.mark.parametrize("digest_signer", [True, False])
def test_streamed_crl_verifies_and_lists_every_entry(key_type: str, digest_signer: bool) -> None:
    signer = FileSigner(generate_private_key(key_type))
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Streamed CRL issuer")])
    now = datetime(2026, 12, 1, tzinfo=UTC)
    entries = [(serial, now - timedelta(seconds=serial), (0, 1, 4, None)[serial % 4]) for serial in range(1, 3001)]
    chunks = crl_mod.tbs_crl_chunks(
        issuer_name_der=name.public_bytes(), issuer_key_id=b"\x01" * 20,
        signature_algorithm_der=signature_algorithm_der(key_type), this_update=now,
        next_update=now + timedelta(days=1), crl_number=7, entries=entries)
    assert b"".join(chunks) == crl_mod.encode_tbs_crl(
        issuer_name_der=name.public_bytes(), issuer_key_id=b"\x01" * 20,
        signature_algorithm_der=signature_algorithm_der(key_type), this_update=now,
        next_update=now + timedelta(days=1), crl_number=7, entries=entries)
    chosen = signer if digest_signer else _JoinedOnly(signer)
    crl = x509.load_der_x509_crl(b"".join(crl_mod.signed_crl_chunks(chunks, chosen)))  # type: ignore[arg-type]
    assert crl.is_signature_valid(signer.public_key())  # type: ignore[arg-type]
    assert len(crl) == 3000 and crl.get_revoked_certificate_by_serial_number(2999) is not None
    assert crl.tbs_certlist_bytes == b"".join(chunks)


def test_a_digest_of_other_data_does_not_verify() -> None:
    """The check can fail: a signature over the digest of other bytes is refused."""
    signer = FileSigner(generate_private_key("ec-p256"))
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"other bytes")
    signature = signer.sign_digest(digest.finalize())
    public = signer.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"these bytes", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"other bytes", ec.ECDSA(hashes.SHA256()))
