"""A root ceremony described in one TOML file (issue 6 §4): generate the root, sign issuers, make the
root CRL, each step recorded in the transcript. All outputs are checked before the first step, so a
ceremony never overwrites anything and never stops half-way because of an existing file.

    operator = "A. Martin"            # optional; default: the OS user
    root_dir = "root-ca"
    passphrase_file = "root.pass"     # or: pin_file = "...", key_uri = "pkcs11:token=...;object=..."
    [root]                            # optional: omit to use an existing root
    subject = "CN=Grid Root CA,O=Grid Operator,C=FR"
    key_type = "ec-p384"
    validity_years = 20
    base_url = "http://pki.example"
    [[sign_issuer]]
    csr = "issuing-ca-1.csr"
    out = "issuing-ca-1.crt"
    validity_years = 8
    [crl]
    out = "root.crl"
    validity_days = 365

Relative paths are relative to the ceremony file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from ca import root as root_ca
from ca.errors import BadRequestError, ConflictError
from ca.files import write_new_file
from ca.secrets import DEFAULT_PKCS11_MODULE, read_passphrase, read_pin
from ca.transcript import append_entry
from ca.x509.names import parse_dn


@dataclass
class Ceremony:
    base: Path
    root_dir: Path
    secret: root_ca.RootSecret
    operator: str | None
    root: dict[str, Any] | None
    issuers: list[dict[str, Any]] = field(default_factory=list)
    crl: dict[str, Any] | None = None
    key_uri: str | None = None


def _path(base: Path, value: object, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"ceremony: {what} must be a file path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def load_ceremony(path: Path) -> Ceremony:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BadRequestError(f"ceremony file {path} is not valid TOML: {exc}") from None
    base = path.resolve().parent
    unknown = set(data) - {"operator", "root_dir", "passphrase_file", "pin_file", "pkcs11_module", "key_uri",
                           "root", "sign_issuer", "crl"}
    if unknown:
        raise BadRequestError(f"ceremony: unknown keys {', '.join(sorted(unknown))}")
    if "passphrase_file" in data:
        secret = root_ca.RootSecret(passphrase=read_passphrase(_path(base, data["passphrase_file"], "passphrase_file")))
    elif "pin_file" in data:
        secret = root_ca.RootSecret(pin=read_pin(_path(base, data["pin_file"], "pin_file")),
                                    module=data.get("pkcs11_module", DEFAULT_PKCS11_MODULE))
    else:
        raise BadRequestError("ceremony: give passphrase_file or pin_file")
    return Ceremony(base=base, root_dir=_path(base, data.get("root_dir"), "root_dir"), secret=secret,
                    operator=data.get("operator"), root=data.get("root"), issuers=list(data.get("sign_issuer", [])),
                    crl=data.get("crl"), key_uri=data.get("key_uri"))


def _outputs(plan: Ceremony) -> list[Path]:
    outputs = []
    if plan.root is not None:
        outputs += [plan.root_dir / "root.crt", plan.root_dir / "root.key.pem"]
    outputs += [_path(plan.base, i.get("out"), "sign_issuer.out") for i in plan.issuers]
    if plan.crl is not None:
        outputs.append(_path(plan.base, plan.crl.get("out"), "crl.out"))
    return outputs


def run_ceremony(plan: Ceremony, *, operator: str, now: datetime) -> list[str]:
    outputs = _outputs(plan)
    existing = [str(p) for p in outputs if p.exists()]
    if existing:
        raise ConflictError(f"ceremony refused, nothing done: outputs already exist: {', '.join(existing)}")
    if len(set(outputs)) != len(outputs):
        raise BadRequestError("ceremony: two steps write the same output file")
    for issuer in plan.issuers:
        if not _path(plan.base, issuer.get("csr"), "sign_issuer.csr").exists():
            raise BadRequestError(f"ceremony refused, nothing done: CSR {issuer.get('csr')} not found")
    who = plan.operator or operator
    report = []

    def log(command: str, der: bytes, **kwargs: Any) -> None:
        append_entry(plan.root_dir, at=now, operator=who, command=f"root ceremony: {command}", signed=der, **kwargs)

    if plan.root is not None:
        cert = root_ca.init_root(
            plan.root_dir, subject=parse_dn(str(plan.root.get("subject", ""))),
            key_type=plan.root.get("key_type", "ec-p384"), validity_years=int(plan.root.get("validity_years", 20)),
            passphrase=plan.secret, base_url=str(plan.root.get("base_url", "http://127.0.0.1:8080")), now=now,
            key_uri=plan.key_uri,
        )
        log("init", cert.public_bytes(Encoding.DER), outputs={"root.crt": plan.root_dir / "root.crt"})
        report.append(f"root created: {cert.subject.rfc4514_string()}")
    for issuer in plan.issuers:
        csr_path = _path(plan.base, issuer["csr"], "sign_issuer.csr")
        out = _path(plan.base, issuer["out"], "sign_issuer.out")
        cert = root_ca.sign_issuer(plan.root_dir, csr_data=csr_path.read_bytes(), passphrase=plan.secret,
                                   validity_years=int(issuer.get("validity_years", 8)), now=now)
        write_new_file(out, cert.public_bytes(Encoding.PEM))
        log("sign-issuer", cert.public_bytes(Encoding.DER), inputs={"csr": csr_path}, outputs={"certificate": out})
        report.append(f"issuer signed: {cert.subject.rfc4514_string()} -> {out}")
    if plan.crl is not None:
        out = _path(plan.base, plan.crl["out"], "crl.out")
        crl = root_ca.make_root_crl(plan.root_dir, passphrase=plan.secret, now=now,
                                    validity_days=int(plan.crl.get("validity_days", 365)))
        write_new_file(out, crl)
        log("crl", crl, outputs={"crl": out})
        report.append(f"root CRL written -> {out}")
    return report
