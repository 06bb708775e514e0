"""Settings: default.toml + optional site file + PKI_SECTION__KEY environment overrides (DESIGN §7).

This is the only module that reads the environment; everything below receives explicit arguments.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ca.errors import BadRequestError
from ca.locales import check_locale

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "default.toml"
PROFILES_FILE = Path(__file__).resolve().parent.parent / "config" / "profiles.toml"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    sqlite_busy_timeout_ms: int
    connect_timeout_seconds: int

    def __post_init__(self) -> None:
        if not 1 <= self.sqlite_busy_timeout_ms <= 600_000:
            raise BadRequestError("database.sqlite_busy_timeout_ms must be 1 to 600000")
        if not 2 <= self.connect_timeout_seconds <= 600:  # libpq waits at least 2 s when a timeout is set
            raise BadRequestError("database.connect_timeout_seconds must be 2 to 600")


@dataclass(frozen=True)
class CASettings:
    key_dir: Path
    passphrase_file: Path
    pkcs11_module: str
    pkcs11_pin_file: Path
    country: str
    lint_before_sign: bool
    signing_processes: int  # 0: issue_many signs in the caller's thread (ca.signing_pool)

    def __post_init__(self) -> None:
        if not 0 <= self.signing_processes <= 64:
            raise BadRequestError("ca.signing_processes must be 0 to 64")


@dataclass(frozen=True)
class RootSettings:
    dir: Path


@dataclass(frozen=True)
class RepositorySettings:
    base_url: str
    host: str
    port: int
    crl_dir: Path
    cross_dir: Path
    maintenance: bool


@dataclass(frozen=True)
class CRLSettings:
    validity_hours: int
    publish_delay_seconds: int
    refresh_seconds: int = 0  # 0: at half of validity_hours (revocation.crl_schedule)

    def __post_init__(self) -> None:
        if self.refresh_seconds < 0 or self.refresh_seconds > self.validity_hours * 3600 // 2:
            raise BadRequestError("crl.refresh_seconds must be 0 (half of the validity) up to half of "
                                  "crl.validity_hours in seconds")


@dataclass(frozen=True)
class OCSPSettings:
    validity_hours: int
    responder_days: int


@dataclass(frozen=True)
class PortalSettings:
    host: str
    port: int
    secret_file: Path
    smtp_host: str
    smtp_port: int
    mail_from: str
    outbox_dir: Path
    base_url: str
    session_idle_minutes: int
    session_absolute_hours: int
    activation_hours: int
    login_limit_account: str
    login_limit_ip: str
    ratelimit_storage: str
    proxy_hops: int
    client_cert_header: str
    trusted_proxies: str
    proxy_verify_header: str
    services_file: str
    default_locale: str = "fr"  # issue 15: the language when neither the person nor the browser chose one

    def __post_init__(self) -> None:
        check_locale(self.default_locale, "portal.default_locale")


@dataclass(frozen=True)
class FrontOfficeSettings:
    """The front-office gate (issue 5); every key is documented in config/default.toml [frontoffice]."""

    host: str
    port: int
    last_use_interval_seconds: int
    mode: str  # direct (HTTPS with client certificates) | proxy (plain HTTP behind a TLS-terminating nginx)
    portal_url: str
    decision_cache_ms: int
    refusal_audit_interval_seconds: int
    trusted_proxies: str
    proxy_header: str
    proxy_verify_header: str
    server_cert_file: Path
    server_key_file: Path
    server_key_passphrase_file: Path
    server_names: str
    client_ca_file: Path
    missing_certificate_page: bool
    threads: int
    public_url: str  # where people reach the gate ("test my certificate"); empty: https://host:port/

    @property
    def address(self) -> str:
        return self.public_url or f"https://{self.host}:{self.port}/"

    def __post_init__(self) -> None:
        if self.mode not in ("direct", "proxy"):
            raise BadRequestError(f"frontoffice.mode must be 'direct' or 'proxy', not {self.mode!r}")
        if not 0 <= self.decision_cache_ms <= 1000:
            raise BadRequestError("frontoffice.decision_cache_ms must be 0 to 1000 (revocation is seen within 1 s)")
        if self.last_use_interval_seconds < 1 or self.threads < 1:
            raise BadRequestError("frontoffice.last_use_interval_seconds and frontoffice.threads must be positive")

    @property
    def trusted_proxy_addresses(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.trusted_proxies.split(",") if part.strip())

    @property
    def server_name_list(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.server_names.split(",") if part.strip())


@dataclass(frozen=True)
class LifecycleSettings:
    """Expiry warnings, digests and renewal (issue 11); every key is documented in config/default.toml."""

    expiry_warning_days: str  # comma-separated thresholds before notAfter, e.g. "30,7,1"
    escalation_days: int
    digest_weekday: int  # ISO weekday, 1 = Monday
    digest_expiring_days: int
    digest_unused_days: int
    notice_hour: int  # UTC hour at which the maintenance loop computes the day's notices
    notice_retry_minutes: int
    notice_max_attempts: int
    renewal_grace_days: int

    def __post_init__(self) -> None:
        try:
            days = self.warning_days
        except ValueError:
            raise BadRequestError("lifecycle.expiry_warning_days must be comma-separated whole numbers") from None
        if not days or any(d < 1 or d > 3650 for d in days):
            raise BadRequestError("lifecycle.expiry_warning_days must list days from 1 to 3650")
        if not 1 <= self.digest_weekday <= 7 or not 0 <= self.notice_hour <= 23:
            raise BadRequestError("lifecycle.digest_weekday must be 1-7 and lifecycle.notice_hour 0-23")
        if min(self.escalation_days, self.digest_expiring_days, self.digest_unused_days, self.notice_retry_minutes,
               self.notice_max_attempts, self.renewal_grace_days) < 1:
            raise BadRequestError("lifecycle day counts, retry minutes and attempts must be positive")

    @property
    def warning_days(self) -> tuple[int, ...]:
        return tuple(sorted({int(part) for part in self.expiry_warning_days.split(",") if part.strip()},
                            reverse=True))


@dataclass(frozen=True)
class LoggingSettings:
    format: str  # text | json
    level: str

    def __post_init__(self) -> None:
        if self.format not in ("text", "json"):
            raise BadRequestError(f"logging.format must be 'text' or 'json', not {self.format!r}")
        if self.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise BadRequestError(f"logging.level must be debug, info, warning, error or critical, not {self.level!r}")


@dataclass(frozen=True)
class OAuthSettings:
    """OAuth2 for API clients (issue 12 item 1); every key is documented in config/default.toml [oauth]."""

    issuer: str
    token_lifetime_seconds: int
    client_limit_ip: str
    mtls_base_url: str
    mtls_host: str
    mtls_port: int
    mtls_server_names: str
    mtls_server_cert_file: Path
    mtls_server_key_file: Path
    mtls_server_key_passphrase_file: Path
    mtls_client_ca_file: Path
    mtls_client_ca_refresh_seconds: int

    def __post_init__(self) -> None:
        if not 60 <= self.token_lifetime_seconds <= 3600:
            raise BadRequestError("oauth.token_lifetime_seconds must be 60 to 3600")
        if not 1 <= self.mtls_client_ca_refresh_seconds <= 3600:
            raise BadRequestError("oauth.mtls_client_ca_refresh_seconds must be 1 to 3600")

    @property
    def mtls_server_name_list(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.mtls_server_names.split(",") if part.strip())


@dataclass(frozen=True)
class AcmeSettings:
    """The ACME server (RFC 8555, issue 12); every key is documented in config/default.toml [acme]."""

    host: str
    port: int
    base_url: str
    server_cert_file: Path
    server_key_file: Path
    server_key_passphrase_file: Path
    server_names: str
    http01_port: int
    tlsalpn01_port: int
    resolve: str
    validation_timeout_seconds: int
    nonce_minutes: int
    order_days: int
    certificate_days: int
    retry_after_seconds: int

    def __post_init__(self) -> None:
        if not 1 <= self.http01_port <= 65535 or not 1 <= self.tlsalpn01_port <= 65535:
            raise BadRequestError("acme.http01_port and acme.tlsalpn01_port must be 1 to 65535")
        if not 1 <= self.validation_timeout_seconds <= 60:
            raise BadRequestError("acme.validation_timeout_seconds must be 1 to 60")
        if self.nonce_minutes < 1 or self.order_days < 1 or self.certificate_days < 1 or self.retry_after_seconds < 1:
            raise BadRequestError("acme.nonce_minutes, order_days, certificate_days and retry_after_seconds "
                                  "must be positive")
        self.resolved_addresses  # noqa: B018  (a malformed acme.resolve is refused at start)

    @property
    def directory_base(self) -> str:
        """The public base of every ACME URL (RFC 8555 §7.1): base_url, or https://host:port."""
        return (self.base_url or f"https://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_addresses(self) -> dict[str, str]:
        """`name=address,...`: fixed addresses for validation (tests and closed networks, like Pebble's resolver
        option); not for production."""
        table: dict[str, str] = {}
        for part in self.resolve.split(","):
            if not part.strip():
                continue
            name, sep, address = part.partition("=")
            if not sep or not name.strip() or not address.strip():
                raise BadRequestError(f"acme.resolve: expected name=address, got {part.strip()!r}")
            table[name.strip().lower().rstrip(".")] = address.strip()
        return table

    @property
    def server_name_list(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.server_names.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    ca: CASettings
    root: RootSettings
    repository: RepositorySettings
    crl: CRLSettings
    ocsp: OCSPSettings
    portal: PortalSettings
    frontoffice: FrontOfficeSettings
    logging: LoggingSettings
    lifecycle: LifecycleSettings
    oauth: OAuthSettings
    acme: AcmeSettings
    profiles: Mapping[str, Mapping[str, Any]]
    base_dir: Path


_SECTIONS = {
    "database": DatabaseSettings,
    "ca": CASettings,
    "root": RootSettings,
    "repository": RepositorySettings,
    "crl": CRLSettings,
    "ocsp": OCSPSettings,
    "portal": PortalSettings,
    "frontoffice": FrontOfficeSettings,
    "logging": LoggingSettings,
    "lifecycle": LifecycleSettings,
    "oauth": OAuthSettings,
    "acme": AcmeSettings,
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise BadRequestError(f"configuration file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadRequestError(f"configuration file {path} is not valid TOML: {exc}") from None


def _coerce(raw: Any, current: Any, where: str) -> Any:
    """Give a value the type of the default it replaces: environment values are strings, and a site file
    must not slip a bool, a float or a list where a port, a flag or a path is expected."""
    expected = type(current)
    if isinstance(raw, str) and expected is not str:
        try:
            if expected is bool:
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            if expected is int:
                return int(raw)
        except ValueError:
            raise BadRequestError(f"{where}: cannot read {raw!r} as {expected.__name__}") from None
    if type(raw) is not expected:  # `type is`, not isinstance: True is an int to Python, not to us
        raise BadRequestError(f"{where}: expected {expected.__name__}, got {raw!r}")
    return raw


def _merge(base: dict[str, Any], override: Mapping[str, Any], origin: str) -> None:
    for section, values in override.items():
        if section not in base:
            raise BadRequestError(f"{origin}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise BadRequestError(f"{origin}: {section} must be a [{section}] table, not a single value")
        for key, value in values.items():
            if key not in base[section]:
                raise BadRequestError(f"{origin}: unknown setting {section}.{key}")
            base[section][key] = _coerce(value, base[section][key], f"{origin} {section}.{key}")


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith("PKI_") or "__" not in name:
            continue
        section, _, key = name[4:].partition("__")
        result.setdefault(section.lower(), {})[key.lower()] = value
    return result


def _build_section(cls: type, values: Mapping[str, Any], base_dir: Path) -> Any:
    kwargs = {}
    for field in fields(cls):
        value = values[field.name]
        if field.type in ("Path", Path):
            path = Path(value).expanduser()
            value = path if path.is_absolute() else base_dir / path
        kwargs[field.name] = value
    return cls(**kwargs)


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build the one frozen Settings; relative paths resolve against the working directory."""
    environ = environ if environ is not None else {}
    data = _read_toml(DEFAULT_FILE)
    site = path or environ.get("PKI_CONFIG")
    if site:
        _merge(data, _read_toml(Path(site)), str(site))
    _merge(data, _env_overrides(environ), "environment")
    base_dir = Path.cwd()
    sections = {name: _build_section(cls, data[name], base_dir) for name, cls in _SECTIONS.items()}
    profiles = _read_toml(PROFILES_FILE)
    return Settings(**sections, profiles=profiles, base_dir=base_dir)
