"""Settings: config/default.toml, then a site file (--config / PKI_CONFIG), then PKI_SECTION__KEY (DESIGN §7)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ca.errors import BadRequestError
from ca.settings import DEFAULT_FILE, load_settings


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _site(tmp_path: Path, content: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def _refused(path: Path | None, environ: dict[str, str], *fragments: str) -> str:
    with pytest.raises(BadRequestError) as info:
        load_settings(path, environ)
    message = str(info.value)
    assert message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_defaults(tmp_path):
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite:///var/ledger.sqlite3"
    assert settings.ca.key_dir == tmp_path / "var" / "keys"
    assert settings.ca.passphrase_file == tmp_path / "var" / "secrets" / "issuer.passphrase"
    assert settings.ca.lint_before_sign is True and settings.ca.country == "FR"
    assert settings.root.dir == tmp_path / "root-ca"
    assert settings.repository.base_url == "http://127.0.0.1:8080"
    assert settings.repository.port == 8080 and type(settings.repository.port) is int
    assert settings.repository.crl_dir == tmp_path / "var" / "crl"
    assert settings.crl.validity_hours <= 240  # BR §4.9.7: at most 10 days
    assert settings.ocsp.responder_days <= 30
    assert set(settings.profiles) >= {"browser", "tls-server", "ocsp-responder"}
    assert settings.base_dir == tmp_path


def test_settings_are_frozen():
    settings = load_settings(None, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.repository.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.database = None  # type: ignore[misc]


def test_every_default_key_is_documented():
    """Each key of default.toml has a comment above it or in its section's comment block."""
    lines = DEFAULT_FILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = lines[number - 1].strip()
            assert above.startswith("#") or above.startswith("[") or "=" in above, f"undocumented: {line}"


def test_site_file_overrides_defaults(tmp_path):
    site = _site(tmp_path, '[repository]\nport = 9000\nbase_url = "https://pki.example"\n'
                           '[ca]\nlint_before_sign = false\nkey_dir = "/srv/keys"\n')
    settings = load_settings(site, {})
    assert settings.repository.port == 9000 and settings.repository.base_url == "https://pki.example"
    assert settings.ca.lint_before_sign is False and settings.ca.key_dir == Path("/srv/keys")
    assert settings.repository.host == "127.0.0.1"  # untouched keys keep their default
    assert load_settings(None, {"PKI_CONFIG": str(site)}).repository.port == 9000


def test_environment_overrides_site_file_with_types(tmp_path):
    site = _site(tmp_path, "[repository]\nport = 9000\n")
    settings = load_settings(site, {"PKI_REPOSITORY__PORT": "9100", "PKI_CA__LINT_BEFORE_SIGN": "false",
                                    "PKI_DATABASE__URL": "postgresql+psycopg://pki@db/pki",
                                    "PKI_CA__KEY_DIR": "keys", "OTHER": "ignored", "PKI_TEST_DATABASE_URL": "x"})
    assert settings.repository.port == 9100 and type(settings.repository.port) is int
    assert settings.ca.lint_before_sign is False
    assert settings.database.url == "postgresql+psycopg://pki@db/pki"
    assert settings.ca.key_dir == tmp_path / "keys"


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("False", False), ("no", False),
    ("off", False)])
def test_environment_bool_spellings(raw, expected):
    assert load_settings(None, {"PKI_CA__LINT_BEFORE_SIGN": raw}).ca.lint_before_sign is expected


@pytest.mark.parametrize(("environ", "fragments"), [
    ({"PKI_REPOSITORY__PORT": "eighty"}, ("repository.port", "'eighty'", "int")),
    ({"PKI_CA__LINT_BEFORE_SIGN": "maybe"}, ("ca.lint_before_sign", "bool")),
    ({"PKI_NOPE__KEY": "1"}, ("unknown section [nope]",)),
    ({"PKI_CA__NOPE": "1"}, ("unknown setting ca.nope",)),
])
def test_bad_environment(environ, fragments):
    _refused(None, environ, *fragments)


@pytest.mark.parametrize(("content", "fragments"), [
    ("[nope]\nkey = 1\n", ("unknown section [nope]",)),
    ("[ca]\nnope = 1\n", ("unknown setting ca.nope",)),
    ("[ca]\nkey_dir = \n", ("not valid TOML",)),
    ("[ca\n", ("not valid TOML",)),
    ("database = 1\n", ("[database] table",)),
    ('[repository]\nport = "eighty"\n', ("repository.port", "int")),
    ("[repository]\nport = true\n", ("repository.port", "int")),
    ("[repository]\nport = 80.5\n", ("repository.port", "int")),
    ('[ca]\nlint_before_sign = "sometimes"\n', ("ca.lint_before_sign", "bool")),
    ("[ca]\nlint_before_sign = 1\n", ("ca.lint_before_sign", "bool")),
    ("[ca]\nkey_dir = 5\n", ("ca.key_dir", "str")),
    ("[database]\nurl = []\n", ("database.url", "str")),
])
def test_bad_site_file(tmp_path, content, fragments):
    message = _refused(_site(tmp_path, content), {}, *fragments)
    assert "site.toml" in message


def test_missing_site_file(tmp_path):
    _refused(tmp_path / "absent.toml", {}, "not found", "absent.toml")
    _refused(None, {"PKI_CONFIG": str(tmp_path / "absent.toml")}, "not found")
