"""A streaming CRL encoder: TBSCertList v2 (RFC 5280 §5.1) written straight into one bytearray.

cryptography's CertificateRevocationListBuilder keeps a Python object per revoked certificate and takes
~10 s and ~450 MB for a million entries (REFERENCES.md). Here every entry goes from its input tuple to DER
with bytes operations only: no object per entry survives the loop, and the reasonCode extensions and the
time encodings are precomputed or cached. The result is signed through the Signer port (`sign_crl`), so a
PKCS#11 key signs CRLs exactly like a key file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ca.x509 import der
from ca.x509.reasons import REASON_CODES
from ca.x509.signer import Signer, hash_for

RevokedEntry = tuple[int, datetime, int | None]
"""(serial_number, revocation_date UTC-aware, RFC 5280 §5.3.1 reason code or None)."""

# RFC 5280 §5.2.3 and §4.1.2.2: CRL numbers and serials are at most 20 octets. Serials up to 20 octets of
# magnitude are accepted (a 160-bit random serial encodes as 21 octets with its leading zero) so that a CRL
# can always list every certificate that was issued.
_MAX_SERIAL = (1 << 160) - 1
_MAX_CRL_NUMBER = (1 << 159) - 1

_V2 = der.integer(1)  # RFC 5280 §5.1.2.1: version MUST be v2 (value 1) when extensions are present
_CRITICAL = b"\x01\x01\xff"  # BOOLEAN TRUE; DEFAULT FALSE is omitted (X.690 §11.5)

_OID_AKI = der.oid("2.5.29.35")
_OID_CRL_NUMBER = der.oid("2.5.29.20")
_OID_DELTA_CRL_INDICATOR = der.oid("2.5.29.27")
_OID_FRESHEST_CRL = der.oid("2.5.29.46")
_OID_REASON_CODE = der.oid("2.5.29.21")

_CACHE_LIMIT = 1 << 14  # time encodings kept per CRL; bounds memory when every date is distinct


def _extension(oid_der: bytes, value_der: bytes, *, critical: bool = False) -> bytes:
    """Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }."""
    return der.sequence(oid_der, _CRITICAL if critical else b"", der.octet_string(value_der))


def _reason_extensions() -> dict[int | None, bytes]:
    """crlEntryExtensions for each reason, encoded once (RFC 5280 §5.3.1: reasonCode non-critical)."""
    table: dict[int | None, bytes] = {None: b"", 0: b""}  # unspecified: the extension SHOULD be absent
    for code in REASON_CODES.values():
        if code:
            table[code] = der.sequence(_extension(_OID_REASON_CODE, der.enumerated(code)))
    return table


_REASON_EXTENSIONS = _reason_extensions()
# Entries are short (< 128 octets), so their headers are one-octet lengths looked up, not computed.
_SEQUENCE_HEADERS = [bytes((0x30, n)) for n in range(128)]
_INTEGER_HEADERS = [bytes((0x02, n)) for n in range(128)]


def _entry_time(value: datetime) -> bytes:
    """RFC 5280 §5.1.2.6 revocationDate: the fast path formats UTC datetimes directly."""
    if value.tzinfo is UTC and value.year < 2050:
        return b"\x17\x0d%02d%02d%02d%02d%02d%02dZ" % (
            value.year % 100,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
        )
    return der.time(value)  # GeneralizedTime from 2050 (§4.1.2.5), other zones, naive -> ValueError


def _bad_entry(serial: object, reason: object) -> ValueError:
    if reason == 6:
        return ValueError("certificateHold (6) is not allowed: this CA never suspends (BR §4.9.13)")
    if reason in _REASON_EXTENSIONS:
        return ValueError(f"serial number {serial!r} must be positive and fit in 20 octets (160 bits)")
    return ValueError(f"reason code {reason!r} is not an RFC 5280 §5.3.1 code this CA uses")


def encode_revoked_certificates(entries: Iterable[RevokedEntry]) -> bytearray:
    """The contents of revokedCertificates (RFC 5280 §5.1.2.6), in input order, without its header."""
    out = bytearray()
    cache: dict[datetime, bytes] = {}
    reasons = _REASON_EXTENSIONS
    seq, intg = _SEQUENCE_HEADERS, _INTEGER_HEADERS
    for serial, date, reason in entries:
        ext = reasons.get(reason)
        if ext is None or not 0 < serial <= _MAX_SERIAL:
            raise _bad_entry(serial, reason)
        size = (serial.bit_length() >> 3) + 1  # a leading zero octet keeps the INTEGER positive
        when = cache.get(date)
        if when is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            when = cache[date] = _entry_time(date)
        out += seq[2 + size + len(when) + len(ext)]
        out += intg[size]
        out += serial.to_bytes(size, "big")
        out += when
        out += ext
    return out


_REASON_EXTENSIONS_BY_NAME: dict[str | None, bytes] = {
    None: b"", **{name: _REASON_EXTENSIONS[code] for name, code in REASON_CODES.items()}
}


def _row_pieces(serial_hex: str, compact: str, reason: str | None) -> tuple[str, str, str]:
    """For `encode_revoked_rows`: the hex of what comes before an entry's serial (its SEQUENCE and INTEGER
    headers, the leading zero octet that keeps the INTEGER positive), between the serial and the time's
    digits (the time's header) and after them (Z and the reasonCode extension), shared by every entry with
    this serial length and first octet, this reason and this time form. Checks what those entries share."""
    ext = _REASON_EXTENSIONS_BY_NAME.get(reason)
    if ext is None:
        raise _bad_entry(serial_hex, reason)
    first = serial_hex[:2]
    if len(serial_hex) % 2 or not 2 <= len(serial_hex) <= 40 or first == "00" or first.strip("0123456789abcdef"):
        # Even-length lowercase hex of a positive serial without leading zero octets (format_serial), at
        # most 20 octets of magnitude: the ledger never stores another, and `encode_revoked_certificates`
        # accepts exactly these.
        raise _bad_entry(serial_hex, reason)
    size = len(serial_hex) // 2 + (serial_hex[0] in "89abcdef")
    utc = compact < "2050"
    time_der_size = 15 if utc else 17  # UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ (§4.1.2.5)
    head = bytes((0x30, 2 + size + time_der_size + len(ext), 0x02, size)) + b"\x00" * (size - len(serial_hex) // 2)
    return head.hex(), "170d" if utc else "180f", (b"Z" + ext).hex()


_TIME_SEPARATORS = str.maketrans("", "", "-: ")


def encode_revoked_rows(chunks: Iterable[Sequence[tuple[str, str, str | None]]]) -> tuple[bytearray, int]:
    """revokedCertificates contents straight from ledger text: (serial as even-length lowercase hex, time as
    'YYYYMMDDHHMMSS' or 'YYYY-MM-DD HH:MM:SS' UTC, RFC 5280 reason name or None). Returns the encoding and
    the entry count.

    The same DER as `encode_revoked_certificates`, without an int, a datetime or a bytes object per entry: at
    10^6 entries the conversions cost as much as the encoding. Each chunk is assembled as hex text (the
    serial is hex already; what surrounds it is shared by every entry of the same shape, `_row_pieces`) and
    turned into DER by one bytes.fromhex, which also rejects a serial that is not hex."""
    out = bytearray()
    count = 0
    pieces: dict[tuple[str, int, str | None, bool], tuple[str, str, str]] = {}
    for rows in chunks:
        count += len(rows)
        parts: list[str] = []
        append = parts.append
        for serial_hex, compact, reason in rows:
            key = (serial_hex[:2], len(serial_hex), reason, compact < "2050")
            shape = pieces.get(key)
            if shape is None:
                shape = pieces[key] = _row_pieces(serial_hex, compact, reason)
            if len(compact) != 14:
                compact = compact.translate(_TIME_SEPARATORS)  # 'YYYY-MM-DD HH:MM:SS' (SQLite's stored text)
                if len(compact) != 14:
                    raise ValueError(f"not a YYYYMMDDHHMMSS time: {compact!r}")
            append(shape[0])
            append(serial_hex)
            append(shape[1])
            append((compact[2:] if key[3] else compact).encode().hex())
            append(shape[2])
        try:
            out += bytes.fromhex("".join(parts))
        except ValueError:
            bad = next(row for row in rows if row[0].strip("0123456789abcdefABCDEF"))
            raise _bad_entry(bad[0], bad[2]) from None
    return out, count


def encode_revoked_entry(serial_hex: str, revoked_at: datetime, reason: str | None) -> bytes:
    """One revokedCertificates entry (RFC 5280 §5.1.2.6: userCertificate, revocationDate to the second in
    UTC, the reasonCode entry extension of §5.3.1), exactly as `encode_revoked_rows` encodes that row: the
    ledger stores it with the revocation (CertificateRecord.crl_entry) so a full CRL is read, not encoded.
    ValueError for a naive time, a serial or a reason `encode_revoked_rows` refuses."""
    if revoked_at.tzinfo is None:
        raise ValueError("a revocation time must be timezone-aware (UTC)")
    compact = revoked_at.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return bytes(encode_revoked_rows([[(serial_hex, compact, reason)]])[0])


def _crl_extensions(
    issuer_key_id: bytes,
    crl_number: int,
    delta_base_crl_number: int | None,
    freshest_crl_url: str | None,
) -> bytes:
    """crlExtensions [0] EXPLICIT Extensions (RFC 5280 §5.2)."""
    # §5.2.1: AKI with keyIdentifier [0] IMPLICIT KeyIdentifier, non-critical.
    extensions = [
        _extension(_OID_AKI, der.sequence(der.tlv(0x80, issuer_key_id))),
        _extension(_OID_CRL_NUMBER, der.integer(crl_number)),  # §5.2.3: non-critical
    ]
    if delta_base_crl_number is not None:
        # §5.2.4: a delta CRL names the complete CRL it updates; the extension MUST be critical.
        extensions.append(
            _extension(_OID_DELTA_CRL_INDICATOR, der.integer(delta_base_crl_number), critical=True)
        )
    if freshest_crl_url is not None:
        # §5.2.6, §4.2.1.13 syntax: DistributionPoint { distributionPoint [0] { fullName [0] { URI [6] } } }
        uri = der.tlv(0x86, freshest_crl_url.encode("ascii"))
        point = der.sequence(der.tlv(0xA0, der.tlv(0xA0, uri)))
        extensions.append(_extension(_OID_FRESHEST_CRL, der.sequence(point)))
    return der.tlv(0xA0, der.sequence(*extensions))


def _check_header(
    issuer_name_der: bytes,
    issuer_key_id: bytes,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
    delta_base_crl_number: int | None,
    freshest_crl_url: str | None,
) -> None:
    if not issuer_name_der.startswith(b"\x30"):
        raise ValueError("issuer_name_der must be the DER of the issuer's subject Name (a SEQUENCE)")
    if not issuer_key_id:
        raise ValueError("issuer_key_id must be the issuer's subject key identifier")
    if this_update.tzinfo is None or next_update.tzinfo is None:
        raise ValueError("naive datetime: all our times are UTC-aware")
    if next_update <= this_update:
        raise ValueError("next_update must be after this_update")
    if not 0 <= crl_number <= _MAX_CRL_NUMBER:
        raise ValueError("crl_number must be a non-negative integer of at most 20 octets (RFC 5280 §5.2.3)")
    if delta_base_crl_number is not None:
        if not 0 <= delta_base_crl_number < crl_number:
            raise ValueError("a delta CRL's base CRL number must be below its own CRL number (§5.2.4)")
        if freshest_crl_url is not None:
            raise ValueError("the Freshest CRL extension MUST NOT appear in delta CRLs (RFC 5280 §5.2.6)")
    if freshest_crl_url is not None and not freshest_crl_url.isascii():
        raise ValueError("freshest_crl_url must be an ASCII URI (IA5String)")


def encode_tbs_crl(
    *,
    issuer_name_der: bytes,
    issuer_key_id: bytes,
    signature_algorithm_der: bytes,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
    entries: Iterable[RevokedEntry] = (),
    delta_base_crl_number: int | None = None,
    freshest_crl_url: str | None = None,
    encoded_entries: bytes | bytearray | None = None,
) -> bytes:
    """TBSCertList v2 (RFC 5280 §5.1.2), entries in the order given.

    `issuer_name_der` is copied byte for byte (§5.1.2.3: it must match the issuer's subject exactly).
    """
    return b"".join(tbs_crl_chunks(
        issuer_name_der=issuer_name_der, issuer_key_id=issuer_key_id,
        signature_algorithm_der=signature_algorithm_der, this_update=this_update, next_update=next_update,
        crl_number=crl_number, entries=entries, delta_base_crl_number=delta_base_crl_number,
        freshest_crl_url=freshest_crl_url, encoded_entries=encoded_entries))


def tbs_crl_chunks(
    *,
    issuer_name_der: bytes,
    issuer_key_id: bytes,
    signature_algorithm_der: bytes,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
    entries: Iterable[RevokedEntry] = (),
    delta_base_crl_number: int | None = None,
    freshest_crl_url: str | None = None,
    encoded_entries: bytes | bytearray | None = None,
) -> list[bytes | bytearray]:
    """`encode_tbs_crl` as the chunks that make it, in order, never joined: the entries (the bulk of a large
    CRL) stay the one buffer they were encoded into."""
    _check_header(
        issuer_name_der,
        issuer_key_id,
        this_update,
        next_update,
        crl_number,
        delta_base_crl_number,
        freshest_crl_url,
    )
    revoked = encoded_entries if encoded_entries is not None else encode_revoked_certificates(entries)
    parts: list[bytes | bytearray] = [
        _V2,
        signature_algorithm_der,  # §5.1.2.2: the same AlgorithmIdentifier as signatureAlgorithm
        issuer_name_der,
        der.time(this_update),  # §5.1.2.4
        der.time(next_update),  # §5.1.2.5: always present (BR §7.2.2; Windows needs it)
    ]
    if revoked:  # §5.1.2.6: when there are no revoked certificates the list MUST be absent
        parts += [b"\x30" + der.length(len(revoked)), revoked]
    parts.append(_crl_extensions(issuer_key_id, crl_number, delta_base_crl_number, freshest_crl_url))
    body_length = sum(len(part) for part in parts)
    return [b"\x30" + der.length(body_length), *parts]


def signed_crl_chunks(tbs_chunks: Sequence[bytes | bytearray], signer: Signer) -> list[bytes | bytearray]:
    """CertificateList (RFC 5280 §5.1) as chunks around the TBS chunks, for writing without a joined copy.

    A signer that signs digests (ca.x509.signer.DigestSigner) gets the TBS hashed chunk by chunk; any other
    signer gets the TBS joined once."""
    sign_digest = getattr(signer, "sign_digest", None)
    if sign_digest is not None:
        digest = hashes.Hash(hash_for(signer.key_type))
        for chunk in tbs_chunks:
            digest.update(chunk)
        signature = sign_digest(digest.finalize())
    else:
        signature = signer.sign(b"".join(tbs_chunks))
    algorithm, bits = der.signature_algorithm_der(signer.key_type), der.bit_string(signature)
    body = sum(len(chunk) for chunk in tbs_chunks) + len(algorithm) + len(bits)
    return [b"\x30" + der.length(body), *tbs_chunks, algorithm, bits]


def crl_number_of(data: bytes) -> int:
    """The CRLNumber (RFC 5280 §5.2.3) of a DER CRL; 0 when it has none or is not a CRL."""
    try:
        crl = x509.load_der_x509_crl(data)
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except (ValueError, x509.ExtensionNotFound):
        return 0


ReadAt = Callable[[int, int], bytes]
"""read_at(offset, size): up to `size` bytes of a file from `offset` (os.pread), for `crl_number_at`."""


def _header_at(read_at: ReadAt, offset: int) -> tuple[int, int, int]:
    """(tag, header size, content length) of the DER TLV at `offset` (X.690 §8.1.2-3, definite lengths)."""
    head = read_at(offset, 6)
    if len(head) < 2:
        raise ValueError("truncated")
    first = head[1]
    if first < 0x80:
        return head[0], 2, first
    count = first & 0x7F
    if not 1 <= count <= 4 or len(head) < 2 + count:
        raise ValueError("unsupported length")
    return head[0], 2 + count, int.from_bytes(head[2:2 + count], "big")


def crl_number_at(read_at: ReadAt) -> int:
    """`crl_number_of` of a DER CRL read in place: the TLV headers are walked and the revoked list skipped
    by its length, so only a few hundred bytes are read whatever the CRL's size (a million-entry CRL is
    50 MB, and the publisher checks the number of the file in place twice per publication)."""
    try:
        _tag, outer, _length = _header_at(read_at, 0)
        tag, header, length = _header_at(read_at, outer)  # TBSCertList
        if tag != 0x30:
            return 0
        offset, end = outer + header, outer + header + length
        while offset < end:
            tag, header, length = _header_at(read_at, offset)
            if tag == 0xA0:  # crlExtensions [0] EXPLICIT (RFC 5280 §5.1): the last field of the TBS
                return crl_number_of_extensions(read_at(offset, header + length))
            offset += header + length
    except ValueError:
        return 0
    return 0


def crl_number_of_extensions(data: bytes) -> int:
    """The CRLNumber (RFC 5280 §5.2.3) in the DER of crlExtensions [0] EXPLICIT Extensions; 0 when absent."""
    def parse(buffer: bytes, offset: int) -> tuple[int, int, int]:
        return _header_at(lambda at, size: buffer[at:at + size], offset)

    _tag, header, _length = parse(data, 0)
    _tag, inner, length = parse(data, header)  # Extensions SEQUENCE
    offset, end = header + inner, header + inner + length
    while offset < end:
        _tag, ext_header, ext_length = parse(data, offset)  # Extension SEQUENCE
        body = data[offset + ext_header:offset + ext_header + ext_length]
        _tag, oid_header, oid_length = parse(body, 0)
        if body[:oid_header + oid_length] == _OID_CRL_NUMBER:
            position = oid_header + oid_length
            if body[position] == 0x01:  # critical BOOLEAN (never for CRLNumber, but skipped if there)
                position += 3
            _tag, octets_header, _octets_length = parse(body, position)
            _tag, int_header, int_length = parse(body, position + octets_header)
            start = position + octets_header + int_header
            return int.from_bytes(body[start:start + int_length], "big", signed=True)
        offset += ext_header + ext_length
    return 0


def sign_crl(tbs: bytes, signer: Signer) -> bytes:
    """CertificateList (RFC 5280 §5.1): the signature goes through the Signer port."""
    return der.assemble_signed(tbs, der.signature_algorithm_der(signer.key_type), signer.sign(tbs))
