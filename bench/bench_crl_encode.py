"""Benchmark: ca.x509.crl (encode + sign) against `openssl ca -gencrl` and `cfssl gencrl`.

    .venv/bin/python bench/bench_crl_encode.py [N ...]        (default: 100000 1000000)

Each run is a fresh process, so peak RSS is that run's own: ours runs in a worker child (this script with
--worker) that generates N random positive serials (159 random bits, as cryptography's random_serial_number)
in memory, then times encode_tbs_crl + sign_crl. Peers read the same serials from files written beforehand.
Peak RSS comes from os.wait4 (the child's own rusage; RUSAGE_CHILDREN would report the largest child so far);
Linux carries the parent's RSS at fork across exec, so ~32 MB is the floor of every child's figure.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Reasons openssl's index.txt knows (it has no privilegeWithdrawn/aACompromise); None = unspecified.
REASONS = [None, 1, 4, 5, 3]
OPENSSL_REASON = {1: "keyCompromise", 3: "affiliationChanged", 4: "superseded", 5: "cessationOfOperation"}
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def entries(count: int, seed: int):
    """(serial, revocation_date, reason): distinct seconds over 90 days, so the time cache mostly misses."""
    rng = random.Random(seed)
    for i in range(count):
        yield rng.getrandbits(159) | 1, NOW - timedelta(seconds=rng.randrange(90 * 86400)), REASONS[i % 5]


def max_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def worker(count: int, seed: int, directory: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ca.x509.crl import encode_tbs_crl, sign_crl
    from ca.x509.der import signature_algorithm_der
    from ca.x509.signer import hash_for

    class Signer:
        key_type = "ec-p256"

        def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
            self.key = key

        def sign(self, data: bytes) -> bytes:
            return self.key.sign(data, ec.ECDSA(hash_for(self.key_type)))

    key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    revoked = list(entries(count, seed))  # in memory, as the ledger query would hand them over
    gc.collect()
    rss_before = max_rss_mb()
    started = time.perf_counter()
    tbs = encode_tbs_crl(
        issuer_name_der=cert.subject.public_bytes(),
        issuer_key_id=ski,
        signature_algorithm_der=signature_algorithm_der("ec-p256"),
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
        crl_number=2,
        entries=revoked,
    )
    crl = sign_crl(tbs, Signer(key))
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "rss_delta": max_rss_mb() - rss_before, "rss_total": max_rss_mb()}
    result["bytes"] = len(crl)
    (directory / "ours.crl").write_bytes(crl)
    print(json.dumps(result))


def make_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Issuer")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "ca.key").write_bytes(pkcs8)
    (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


OPENSSL_CONF = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
certificate = $dir/ca.pem
private_key = $dir/ca.key
crlnumber = $dir/crlnumber
new_certs_dir = $dir
unique_subject = no
default_md = sha256
default_crl_days = 7
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""


def write_peer_inputs(directory: Path, count: int, seed: int) -> None:
    expiry = (NOW + timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
    with open(directory / "index.txt", "w") as index, open(directory / "serials.txt", "w") as serials:
        for serial, date, reason in entries(count, seed):
            revoked = date.strftime("%y%m%d%H%M%SZ") + (f",{OPENSSL_REASON[reason]}" if reason else "")
            hex_serial = f"{serial:X}"
            hex_serial = "0" * (len(hex_serial) % 2) + hex_serial
            index.write(f"R\t{expiry}\t{revoked}\t{hex_serial}\tunknown\t/CN=bench\n")
            serials.write(f"{serial}\n")
    (directory / "index.txt.attr").write_text("unique_subject = no\n")
    (directory / "crlnumber").write_text("02\n")
    (directory / "openssl.cnf").write_text(OPENSSL_CONF.format(dir=directory))


def run_child(argv: list[str], stdout_path: Path) -> tuple[float, float, int]:
    """Run argv; return (wall seconds, the child's own peak RSS in MB, exit code)."""
    started = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stdout_path.with_suffix(".err"), "wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = code = os.waitstatus_to_exitcode(status)
    if code:
        print(
            f"{argv[0]} exited {code}: {stdout_path.with_suffix('.err').read_text()[-500:]}", file=sys.stderr
        )
    return time.perf_counter() - started, usage.ru_maxrss / 1024, code


def check_same_serials(path: Path, reference: Path, *, base64_der: bool = False) -> str:
    data = path.read_bytes()
    crl = x509.load_der_x509_crl(base64.b64decode(data)) if base64_der else x509.load_pem_x509_crl(data)
    ours = x509.load_der_x509_crl(reference.read_bytes())
    same = sorted(r.serial_number for r in crl) == sorted(r.serial_number for r in ours)
    return "same serials" if same else "SERIALS DIFFER"


def bench(count: int, seed: int, verify: bool) -> list[tuple[str, int, float, float, float, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-crl-") as name:
        directory = Path(name)
        make_ca(directory)
        write_peer_inputs(directory, count, seed)

        argv = [sys.executable, __file__, "--worker", str(count), "--seed", str(seed), "--dir", name]
        wall, peak, code = run_child(argv, directory / "ours.json")
        if code:
            raise SystemExit(f"worker failed ({code})")
        ours = json.loads((directory / "ours.json").read_text())
        rows.append(("ours (encode+sign)", count, ours["seconds"], ours["rss_delta"], ours["seconds"], ""))
        rows.append(
            ("ours (whole process)", count, wall, peak, ours["seconds"], "incl. generating the input")
        )

        argv = ["openssl", "ca", "-batch", "-gencrl", "-config", str(directory / "openssl.cnf")]
        argv += ["-out", str(directory / "openssl.crl")]
        wall, peak, code = run_child(argv, directory / "openssl.out")
        note = (
            "FAILED"
            if code
            else (check_same_serials(directory / "openssl.crl", directory / "ours.crl") if verify else "")
        )
        rows.append(("openssl ca -gencrl", count, wall, peak, ours["seconds"], note))

        if shutil.which("cfssl"):
            argv = [
                "cfssl",
                "gencrl",
                str(directory / "serials.txt"),
                str(directory / "ca.pem"),
                str(directory / "ca.key"),
            ]  # cfssl 1.2 takes no TIME here: one week
            wall, peak, code = run_child(argv, directory / "cfssl.crl")
            note = (
                "FAILED"
                if code
                else (
                    check_same_serials(directory / "cfssl.crl", directory / "ours.crl", base64_der=True)
                    if verify
                    else ""
                )
            )
            rows.append(("cfssl gencrl", count, wall, peak, ours["seconds"], note + " (no dates/reasons)"))
        else:
            print("cfssl: not installed, skipped")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("counts", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=5280)
    parser.add_argument("--no-verify", action="store_true", help="skip parsing the peers' CRLs")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.seed, args.dir)
        return

    print(f"{'tool':<22} {'N':>9} {'seconds':>8} {'peak MB':>8} {'x ours':>7}  note")
    for count in args.counts:
        for tool, n, seconds, peak, ours_seconds, note in bench(count, args.seed, not args.no_verify):
            ratio = seconds / ours_seconds
            print(f"{tool:<22} {n:>9} {seconds:>8.2f} {peak:>8.0f} {ratio:>7.1f}  {note}", flush=True)


if __name__ == "__main__":
    main()
