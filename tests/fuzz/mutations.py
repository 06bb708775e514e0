"""Hypothesis strategies that damage real inputs: bit flips, truncations, byte edits, random DER TLVs spliced
into the real DER tree (lengths kept consistent, so the damage reaches the parsers' inner layers), PEM
armour variants. Shared by the CSR and OCSP properties."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from hypothesis import strategies as st

# --- DER ------------------------------------------------------------------------------------------------


def tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


@dataclass
class Node:
    """One TLV of a DER tree: a primitive holds its content, a constructed one its children."""

    tag: int
    content: bytes = b""
    children: list[Node] | None = None

    def encode(self) -> bytes:
        if self.children is None:
            return tlv(self.tag, self.content)
        return tlv(self.tag, b"".join(child.encode() for child in self.children))


def parse_der(data: bytes, depth: int = 0) -> list[Node]:
    """The TLVs of a well-formed DER (the seeds are ours, so no defensive checks beyond bounds)."""
    nodes, pos = [], 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        length = first
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        content = data[pos:pos + length]
        pos += length
        # a BIT STRING or OCTET STRING often wraps DER too (a public key, an extension value): leave it raw
        nodes.append(Node(tag, children=parse_der(content, depth + 1)) if tag & 0x20 and depth < 16
                     else Node(tag, content=content))
    return nodes


def _walk(nodes: list[Node]) -> list[tuple[list[Node], int]]:
    """Every (parent list, index) in the tree, depth first."""
    found = []
    for index, node in enumerate(nodes):
        found.append((nodes, index))
        if node.children is not None:
            found.extend(_walk(node.children))
    return found


_TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1E, 0x80, 0x81, 0x82, 0x30, 0x31,
         0xA0, 0xA1, 0xA2, 0xA3, 0x1F, 0x00, 0xFF]

primitive_tlvs = st.builds(tlv, st.sampled_from(_TAGS), st.binary(max_size=48))
# lengths a strict parser must refuse: long form for a short length, indefinite, too long, 0x80 + 0 octets
odd_lengths = st.builds(lambda tag, length, body: bytes((tag,)) + length + body, st.sampled_from(_TAGS),
                        st.sampled_from([b"\x80", b"\x81\x01", b"\x82\x00\x01", b"\x84\xff\xff\xff\xff",
                                         b"\x85\x01\x00\x00\x00\x00", b"\x7f", b"\x89"]),
                        st.binary(max_size=16))
der_tlvs = st.recursive(
    st.one_of(primitive_tlvs, odd_lengths),
    lambda children: st.builds(lambda tag, parts: tlv(tag, b"".join(parts)),
                               st.sampled_from([0x30, 0x31, 0xA0, 0xA2, 0xA3]), st.lists(children, max_size=4)),
    max_leaves=24,
)


@st.composite
def spliced(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed's DER tree with one TLV replaced, removed, duplicated or retagged; outer lengths recomputed."""
    tree = parse_der(seed)
    parent, index = draw(st.sampled_from(_walk(tree)))
    action = draw(st.sampled_from(["replace", "remove", "duplicate", "retag", "recontent"]))
    node = parent[index]
    if action == "replace":
        parent[index] = _Raw(draw(der_tlvs))
    elif action == "remove":
        del parent[index]
    elif action == "duplicate":
        parent.insert(index, node)
    elif action == "retag":
        node.tag = draw(st.sampled_from(_TAGS))
    else:
        node.children = None
        node.content = draw(st.binary(max_size=64))
    return b"".join(n.encode() for n in tree)


class _Raw(Node):
    """A node whose encoding is given bytes (possibly not DER at all)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(0)
        self.raw = raw

    def encode(self) -> bytes:
        return self.raw


# --- bytes ----------------------------------------------------------------------------------------------


@st.composite
def byte_mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A few random edits: bit flips, a truncation, inserted, deleted or overwritten bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        if not data:
            data = bytearray(draw(st.binary(min_size=1, max_size=8)))
            continue
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
    return bytes(data)


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed damaged bytewise or structurally (structurally only for seeds that are DER)."""
    der_seeds = [s for s in seeds if s[:1] == b"\x30" and _is_der(s)]
    options = [st.sampled_from(seeds).flatmap(byte_mutated)]
    if der_seeds:
        options.append(st.sampled_from(der_seeds).flatmap(spliced))
        options.append(st.sampled_from(der_seeds).flatmap(spliced).flatmap(byte_mutated))
    return st.one_of(options)


def _is_der(data: bytes) -> bool:
    try:
        return b"".join(n.encode() for n in parse_der(data)) == data
    except IndexError:
        return False


# --- PEM ------------------------------------------------------------------------------------------------

LABELS = [b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST", b"CERTIFICATE", b"certificate request",
          b"PRIVATE KEY", b"X509 CRL", b"", b"CERTIFICATE  REQUEST", b"CERTIFICATE REQUEST\x00"]


@st.composite
def pem_armoured(draw: st.DrawFn, der: bytes) -> bytes:
    """`der` in PEM armour, the armour varied: labels, line widths and endings, headers, junk around,
    a missing or mismatched END line, characters outside base64, two blocks."""
    label = draw(st.sampled_from(LABELS))
    end_label = label if draw(st.booleans()) else draw(st.sampled_from(LABELS))
    text = base64.b64encode(der)
    width = draw(st.sampled_from([64, 76, 1, 3, 10_000]))
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b" "]))
    body = newline.join(text[i:i + width] for i in range(0, len(text), width))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"!", b"\x00", b"=", b"-", b"\xff", b"====", b"\t"])) + body[at:]
    headers = draw(st.sampled_from([b"", b"Proc-Type: 4,ENCRYPTED" + newline + b"DEK-Info: DES-EDE3-CBC,00" + newline
                                    + newline, b"Comment: hello" + newline + newline]))
    begin = b"-----BEGIN " + label + b"-----" + newline
    end = b"" if draw(st.integers(0, 5)) == 0 else newline + b"-----END " + end_label + b"-----" + newline
    block = begin + headers + body + end
    before = draw(st.sampled_from([b"", b"junk\n", b"\xef\xbb\xbf", b"   ", b"-----BEGIN X-----\n"]))
    after = draw(st.sampled_from([b"", b"trailing text\n", b"\x00" * 4, block]))
    return before + block + after
