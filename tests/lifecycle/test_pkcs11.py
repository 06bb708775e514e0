"""Root and issuer keys on a PKCS#11 token (SoftHSM2): the whole chain works like with key files and the
private keys cannot be read out (issue 6 §3)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ca.runtime import build_runtime
from cli.main import cli
from revocation.ocsp import OCSPService
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import good_csr

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PIN = "24681357"
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture(scope="session")
def token_pool(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """SoftHSM2 tokens made before the library is first loaded: it reads its configuration and token list
    once per process, so a token created later would stay invisible to it."""
    util = require_tool("softhsm2-util")
    if not Path(MODULE).exists():
        pytest.fail(f"softhsm2 is installed but {MODULE} is missing")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    labels = ["t" + uuid.uuid4().hex[:10] for _ in range(6)]
    for label in labels:
        subprocess.run([util, "--init-token", "--free", "--label", label, "--so-pin", "0000", "--pin", PIN],
                       check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    return labels


@pytest.fixture
def token(token_pool: list[str], environ: dict[str, str]) -> str:
    if not token_pool:
        pytest.fail("the SoftHSM2 token pool is exhausted: raise its size")
    pin_file = Path(environ["PKI_CA__PKCS11_PIN_FILE"])
    pin_file.parent.mkdir(parents=True, exist_ok=True)
    pin_file.write_text(PIN)
    return token_pool.pop()


def _ok(runner: CliRunner, *args: object) -> str:
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_full_run_with_keys_on_the_token(runtime, settings, runner, environ, token, tmp_path):
    openssl = require_tool("openssl")
    pin_file = Path(environ["PKI_CA__PKCS11_PIN_FILE"])
    root_dir = tmp_path / "hsm-root"
    _ok(runner, "root", "init", "--root-dir", root_dir, "--subject", "CN=HSM Root,O=Portail Tests,C=FR",
        "--key-uri", f"pkcs11:token={token};object=root", "--pin-file", pin_file)
    assert not (root_dir / "root.key.pem").exists()
    _ok(runner, "issuer", "create", "--name", f"hsm-{token}", "--subject", "CN=HSM Issuer,O=Portail Tests,C=FR",
        "--out-csr", tmp_path / "issuer.csr", "--key-uri", f"pkcs11:token={token};object=issuer")
    _ok(runner, "root", "sign-issuer", "--root-dir", root_dir, "--csr", tmp_path / "issuer.csr", "--out",
        tmp_path / "issuer.crt", "--pin-file", pin_file)
    _ok(runner, "issuer", "install", "--name", f"hsm-{token}", "--cert", tmp_path / "issuer.crt", "--root-cert",
        root_dir / "root.crt")
    _key, csr = good_csr("ec-p256")
    (tmp_path / "leaf.csr").write_bytes(csr)
    _ok(runner, "cert", "issue", "--csr", tmp_path / "leaf.csr", "--user", "alice@example.com", "--out",
        tmp_path / "leaf.pem")
    chain = subprocess.run([openssl, "verify", "-CAfile", root_dir / "root.crt", "-untrusted",
                            tmp_path / "issuer.crt", tmp_path / "leaf.pem"], capture_output=True, text=True)
    assert chain.returncode == 0, chain.stdout + chain.stderr

    # CRL signed on the token, verified by openssl and pkilint.
    _ok(runner, "crl", "publish", "--issuer", f"hsm-{token}")
    crl_path = Path(environ["PKI_REPOSITORY__CRL_DIR"]) / f"hsm-{token}.crl"
    both = tmp_path / "cas.pem"
    both.write_bytes((tmp_path / "issuer.crt").read_bytes() + (root_dir / "root.crt").read_bytes())
    crl_check = subprocess.run([openssl, "crl", "-inform", "DER", "-in", crl_path, "-CAfile", both, "-noout",
                                "-verify"], capture_output=True, text=True)
    assert crl_check.returncode == 0 and "verify OK" in crl_check.stderr + crl_check.stdout
    lint = subprocess.run([require_tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", crl_path],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout

    # OCSP: the token-held issuer signs the responder certificate; the answer verifies with openssl.
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    issuer = x509.load_pem_x509_certificate((tmp_path / "issuer.crt").read_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    (tmp_path / "req.der").write_bytes(request.public_bytes(serialization.Encoding.DER))
    live = build_runtime(settings)  # the wall clock, like the CLI commands above
    try:
        (tmp_path / "resp.der").write_bytes(OCSPService(live).respond(body=request.public_bytes(
            serialization.Encoding.DER)).der)
    finally:
        live.close()
    check = subprocess.run([openssl, "ocsp", "-respin", tmp_path / "resp.der", "-reqin", tmp_path / "req.der",
                            "-CAfile", root_dir / "root.crt", "-issuer", tmp_path / "issuer.crt", "-no_nonce",
                            "-verify_other", tmp_path / "issuer.crt"],
                           capture_output=True, text=True)
    assert "Response verify OK" in check.stderr + check.stdout, check.stderr


def test_private_keys_cannot_be_read_from_the_token(runtime, runner, environ, token, tmp_path):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    from ca.keys.pkcs11 import _open_session, parse_key_uri  # noqa: PLC2701  (the test inspects the token)

    pin_file = Path(environ["PKI_CA__PKCS11_PIN_FILE"])
    _ok(runner, "root", "init", "--root-dir", tmp_path / "r", "--subject", "CN=HSM Root,C=FR",
        "--key-uri", f"pkcs11:token={token};object=root", "--pin-file", pin_file)
    session = _open_session(MODULE, parse_key_uri(f"pkcs11:token={token};object=root"), PIN)
    private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="root")
    assert private[Attribute.SENSITIVE] is True
    assert private[Attribute.EXTRACTABLE] is False
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        private[Attribute.VALUE]
    with pytest.raises(pkcs11.PKCS11Error):
        wrapping = session.generate_key(pkcs11.KeyType.AES, 256, template={Attribute.WRAP: True})
        wrapping.wrap_key(private)


def test_wrong_pin_is_one_clear_error(runner, environ, token, tmp_path):
    bad = tmp_path / "bad.pin"
    bad.write_text("99999999")
    result = runner.invoke(cli, ["root", "init", "--root-dir", str(tmp_path / "r"), "--subject", "CN=x,C=FR",
                                 "--key-uri", f"pkcs11:token=nonexistent-{token};object=root", "--pin-file",
                                 str(bad)])
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "token" in result.stderr
    assert not (tmp_path / "r").exists()
