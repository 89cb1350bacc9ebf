"""One typed, frozen settings object, read from PETITION_* environment variables."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal, get_args

from petition import brand, clients
from petition.brand import Brand, BrandError

SmtpTls = Literal["none", "starttls", "tls"]
LiveBackend = Literal["auto", "memory", "postgresql", "redis"]
HttpServer = Literal["granian", "uvicorn"]
AccessibilityStatus = Literal["full", "partial", "none"]
LogFormat = Literal["text", "json"]

# Values that must never be used as a real secret: they are published in our own docs.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "please-change-me"})


MIN_SECRET_LENGTH = 32
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class SettingsError(ValueError):
    """A PETITION_* variable has a value we cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can set. Each field maps to PETITION_<FIELD NAME IN CAPITALS>."""

    var_dir: Path = Path("var")
    """Where the embedded database, the generated secret key and the mail files live."""

    database_url: str = ""
    """`sqlite:///path` or `postgresql://user@host/db`; empty means `<var_dir>/petition.db`."""

    secret_key: str = field(default="", repr=False)
    """Server secret for keyed email hashes; empty: generated once into `<var_dir>/secret.key`."""

    base_url: str = ""
    """Public address used in every mailed link (never the request's Host); empty: host and port."""

    host: str = "127.0.0.1"
    """Address `petition serve` listens on."""

    port: int = 8000
    """Port `petition serve` listens on."""

    smtp_host: str = ""
    """SMTP server; empty means mail is written as .eml files under `<var_dir>/mail/`."""

    smtp_port: int = 0
    """SMTP port; 0 means the usual one for the TLS mode (25, 587 or 465)."""

    smtp_username: str = ""
    """SMTP login, if the server wants one."""

    smtp_password: str = field(default="", repr=False)
    """SMTP password, if the server wants one."""

    smtp_tls: SmtpTls = "starttls"
    """`none`, `starttls` or `tls` (implicit TLS, usually port 465)."""

    smtp_timeout: float = 30.0
    """Seconds before an SMTP conversation is given up (and retried later)."""

    mail_from: str = "petition@localhost"
    """Sender address of every mail."""

    mail_per_address_per_day: int = 3
    """At most this many mails to one address in 24 hours; further ones are silently skipped."""

    mail_retry_base: float = 30.0
    """Seconds before the first retry of a temporarily failed mail; doubles at each attempt."""

    mail_retry_max: float = 3600.0
    """Longest wait between two attempts of one mail, in seconds."""

    outbox_poll_interval: float = 5.0
    """Seconds between two looks at the outbox when nothing woke the sender up."""

    run_mail_sender: bool = True
    """Whether this server process does the background work: drains the outbox and runs the
    scheduled jobs (retention purge, counts check). Several processes may, safely: each mail
    leaves once, each job runs once per period. Turn it off in the web processes when `petition
    worker` runs beside them, and they only answer requests."""

    write_lanes: int = 0
    """Write batches committed at the same time by one process (group commit). 0 chooses:
    1 on SQLite (it has one writer), 4 on PostgreSQL."""

    token_ttl_days: int = 7
    """Days a confirmation link stays valid."""

    timezone: str = "Europe/Paris"
    """Time zone in which campaign closing dates are understood."""

    organiser_idle_minutes: int = 30
    """An organiser's session ends after this long without a request."""

    organiser_session_hours: int = 8
    """An organiser's session ends this long after login, however active."""

    password_reset_minutes: int = 30
    """How long a mailed password-reset link stays valid."""

    invitation_days: int = 3
    """How long the link printed by `petition organiser add` stays valid."""

    login_attempts_per_account: int = 5
    """Failed logins allowed per account in 15 minutes before it is throttled."""

    login_attempts_per_client: int = 20
    """Failed logins allowed per client address in 15 minutes before it is throttled."""

    exports_require_2fa: bool = True
    """Seeing signers' names — exports, search, moderation, quarantine — requires two-factor
    authentication (turn off only knowingly)."""

    max_body_bytes: int = 64 * 1024
    """Largest request body accepted, in bytes."""

    secure_cookies: bool = False
    """Mark cookies Secure; turn on when the site is served over HTTPS."""

    workers: int = 1
    """Worker processes started by `petition serve`."""

    server: HttpServer = "uvicorn"
    """HTTP server `petition serve` runs: `uvicorn`, or `granian` (faster on reads, but it sends
    `Server: granian`, which the reverse proxy must drop; bench/README.md, "Side by side")."""

    live_backend: LiveBackend = "auto"
    """How count changes reach every worker: `memory` (one process), `postgresql`
    (LISTEN/NOTIFY on the database), `redis`; `auto`: postgresql on PostgreSQL, else memory."""

    redis_url: str = ""
    """Redis server for `PETITION_LIVE_BACKEND=redis`, e.g. `redis://127.0.0.1:6379/0`."""

    live_interval: float = 1.0
    """Counts pushed to watchers at most this often, in seconds, whatever the signing rate."""

    live_resync: float = 15.0
    """Seconds after which counts are read again even if no change was announced."""

    api_max_age: int = 5
    """Seconds a browser or proxy may reuse a count from the API without asking again."""

    api_stale_while_revalidate: int = 30
    """Seconds a proxy may serve a stale count while it fetches a fresh one."""

    api_stale_if_error: int = 86400
    """Seconds a proxy may serve a stale count while petition cannot answer."""

    breakdown_seconds: int = 60
    """Published breakdowns by role and organisation are computed at most this often."""

    letter_mails_per_hour: int = 60
    """Letters to addressees leave at most this many an hour (receiving servers dislike bursts)."""

    counts_check_minutes: float = 60
    """Counters are compared with the signatures (and repaired) this often; 0 turns it off."""

    milestones_check_seconds: float = 15
    """Campaigns' milestones are looked for this often (seconds), and their organisers told
    when one is reached; 0 turns it off."""

    official_feed_minutes: float = 30
    """The official petitions' count feeds (given by organisers) are read this often; 0 turns
    it off (organisers may still read a feed from its page, or type the count)."""

    update_batch_size: int = 200
    """A campaign's news leave in batches of this many mails (their status is shown per batch)."""

    update_batch_minutes: float = 1
    """One batch of each news being sent is queued this often: 200 a minute is 12,000 an hour;
    0 stops sending news."""

    unconfirmed_days: int = 7
    """Signatures never confirmed are deleted this many days after they were made."""

    anonymise_after_days: int = 183
    """A campaign's personal data are anonymised this many days after it closes (counts stay)."""

    signals_days: int = 30
    """Anti-abuse signals (which rule caught what, spent challenges) are deleted after this."""

    purge_minutes: float = 60
    """The retention purge runs this often in the server; 0 leaves it to `petition purge`."""

    journal_file: str = ""
    """The erasure journal (withdrawals, invalidations, purges: ids and keyed hashes, no name),
    which `petition restore` applies again to an older backup; empty: `<var_dir>/erasures.journal`.
    It must live outside the database (a restore must not replace it); on several hosts, on
    storage every host writes, or one file per host, each given to `petition restore`."""

    backup_age_recipient: str = ""
    """An age public key (age1...): `petition backup` encrypts the archive and the secret to it."""

    form_min_seconds: int = 3
    """A signing form sent back sooner than this after it was shown is held in quarantine."""

    form_max_hours: int = 24
    """A signing form sent back later than this after it was shown is held in quarantine."""

    pow_cost: int = 5000
    """Proof of work: a browser computes 256 × this PBKDF2 iterations on average (5000: half a
    second in Chromium), in attempts of 312 iterations at most; the server derives one attempt."""

    pow_minutes: int = 30
    """A proof-of-work challenge must be solved and sent within this many minutes."""

    burst_limit: int = 10
    """Signatures from one client address to one campaign in 10 minutes before quarantine."""

    sustained_limit: int = 60
    """Signatures from one client address to one campaign in 24 hours before quarantine."""

    nojs_burst_limit: int = 3
    """Same as burst_limit, for forms sent without the proof-of-work (no JavaScript)."""

    nojs_sustained_limit: int = 15
    """Same as sustained_limit, for forms sent without the proof-of-work (no JavaScript)."""

    trusted_proxies: str = ""
    """Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed."""

    manage_link_hours: int = 24
    """How long a "manage my signature" link stays valid."""

    site_name: str = ""
    """The organisation's name, shown at the top of every page and in mails (default: the
    interface's own "Petitions")."""

    site_accent: str = "#0b5cad"
    """The accent colour (#rrggbb) of buttons, links and the progress bar; refused when white text
    on it would be under 4.5:1. The dark scheme derives its own lighter shade."""

    site_logo: str = ""
    """A logo file (.svg, .png or .webp) shown beside the name; served by us, fingerprinted."""

    site_operator: str = ""
    """Who runs the site, named in every page's footer (e.g. "InterHop, association loi 1901")."""

    site_contact: str = ""
    """How to reach who runs the site (an address or a page), in the footer and the statements."""

    legal_notice_file: str = ""
    """A Markdown file: the legal notice (publisher, host), shown at /legal and linked from the
    footer."""

    accessibility_status: AccessibilityStatus = "partial"
    """How far the site conforms to the RGAA 4.1.2 (WCAG 2.2 AA), as the accessibility statement
    (/accessibility) says: full, partial or none. The RGAA asks for "none" until an audit of the
    site has measured it."""

    accessibility_audit: str = ""
    """Which accessibility audit was made, by whom and when, in the statement's words (e.g.
    "Audit by an independent firm, March 2027: 87 % of the RGAA criteria met"); empty: none has
    been made."""

    accessibility_exceptions: str = ""
    """The contents known not to be accessible, and why; one per line. Empty: none known."""

    accessibility_statement_date: str = ""
    """The day the accessibility statement was established (YYYY-MM-DD); empty: not yet dated."""

    metrics_token: str = field(default="", repr=False)
    """Bearer token (32+ random characters) that Prometheus sends to read GET /metrics; empty:
    no /metrics at all (404)."""

    log_format: LogFormat = "text"
    """`text`, or `json`: one JSON object per log line (time, level, logger, message), for a log
    collector; the same for `petition serve`'s HTTP server."""

    ready_outbox_max_age: int = 900
    """GET /readyz answers 503 when a mail due has waited longer than this many seconds."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'petition.db'}"

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_live_backend(self) -> LiveBackend:
        if self.live_backend != "auto":
            return self.live_backend
        is_postgresql = self.resolved_database_url.startswith(("postgresql", "postgres:"))
        return "postgresql" if is_postgresql else "memory"

    @property
    def proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The trusted reverse proxies, as networks."""
        return clients.networks(self.trusted_proxies)

    def brand(self) -> Brand:
        """Who runs the site, as pages and mails show it (reads the legal notice file)."""
        return brand.brand(
            name=self.site_name,
            accent=self.site_accent,
            logo=self.site_logo,
            operator=self.site_operator,
            contact=self.site_contact,
            legal_notice_file=self.legal_notice_file,
        )

    @property
    def accessibility_statement_day(self) -> date | None:
        """The statement's date, as a day (validate() refused any other value)."""
        raw = self.accessibility_statement_date.strip()
        return date.fromisoformat(raw) if raw else None

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def resolved_journal_file(self) -> Path:
        return Path(self.journal_file) if self.journal_file else self.var_dir / "erasures.journal"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from PETITION_* variables; unknown values raise SettingsError."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"PETITION_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _convert(f.name, f.type, raw)
        settings = cls(**values)  # type: ignore[arg-type]  # values are converted per field above
        settings.validate()
        return settings

    @property
    def resolved_write_lanes(self) -> int:
        if self.write_lanes:
            return self.write_lanes
        return 1 if self.resolved_database_url.startswith("sqlite") else 4

    def validate(self) -> None:
        if self.write_lanes < 0:
            raise SettingsError("PETITION_WRITE_LANES must be 0 (automatic) or more")
        if self.smtp_tls not in get_args(SmtpTls):
            raise SettingsError(f"PETITION_SMTP_TLS must be one of {get_args(SmtpTls)}")
        if self.secret_key and (
            self.secret_key.lower() in PLACEHOLDER_SECRETS
            or len(self.secret_key) < MIN_SECRET_LENGTH
        ):
            raise SettingsError(
                "PETITION_SECRET_KEY must be a random value of 32 characters or more"
            )
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise SettingsError("PETITION_BASE_URL must start with http:// or https://")
        if self.server not in get_args(HttpServer):
            raise SettingsError(f"PETITION_SERVER must be one of {get_args(HttpServer)}")
        if self.live_backend not in get_args(LiveBackend):
            raise SettingsError(f"PETITION_LIVE_BACKEND must be one of {get_args(LiveBackend)}")
        if self.resolved_live_backend == "postgresql" and not self.resolved_database_url.startswith(
            ("postgresql", "postgres:")
        ):
            raise SettingsError("PETITION_LIVE_BACKEND=postgresql needs a PostgreSQL database")
        if self.resolved_live_backend == "redis" and not self.redis_url:
            raise SettingsError("PETITION_LIVE_BACKEND=redis needs PETITION_REDIS_URL")
        for name in ("unconfirmed_days", "anonymise_after_days", "signals_days"):
            if getattr(self, name) < 1:
                raise SettingsError(f"PETITION_{name.upper()} must be at least 1")
        if self.pow_cost < 1 or self.pow_minutes < 1:
            raise SettingsError("PETITION_POW_COST and PETITION_POW_MINUTES must be positive")
        try:
            _ = self.brand()
        except BrandError as exc:
            raise SettingsError(str(exc)) from exc
        try:
            _ = self.proxies  # parsed here so that a bad value fails at start-up
        except ValueError as exc:
            raise SettingsError(f"PETITION_TRUSTED_PROXIES: {exc}") from exc
        if self.live_interval <= 0 or self.live_resync < self.live_interval:
            raise SettingsError(
                "PETITION_LIVE_INTERVAL must be positive and PETITION_LIVE_RESYNC at least as long"
            )
        self._validate_accessibility()
        self._validate_observability()

    def _validate_observability(self) -> None:
        if self.metrics_token and (
            self.metrics_token.lower() in PLACEHOLDER_SECRETS
            or len(self.metrics_token) < MIN_SECRET_LENGTH
        ):
            raise SettingsError(
                "PETITION_METRICS_TOKEN must be a random value of 32 characters or more"
            )
        if self.log_format not in get_args(LogFormat):
            raise SettingsError(f"PETITION_LOG_FORMAT must be one of {get_args(LogFormat)}")
        if self.ready_outbox_max_age < 1:
            raise SettingsError("PETITION_READY_OUTBOX_MAX_AGE must be at least 1 (seconds)")

    def _validate_accessibility(self) -> None:
        if self.accessibility_status not in get_args(AccessibilityStatus):
            raise SettingsError(
                f"PETITION_ACCESSIBILITY_STATUS must be one of {get_args(AccessibilityStatus)},"
                f" not {self.accessibility_status!r}"
            )
        raw = self.accessibility_statement_date.strip()
        if raw and not _is_iso_day(raw):
            raise SettingsError(
                "PETITION_ACCESSIBILITY_STATEMENT_DATE must be a day written YYYY-MM-DD"
                f" (e.g. 2026-12-01), not {raw!r}"
            )

    def load_secret_key(self) -> bytes:
        """The server secret: from the setting, or generated once into var/secret.key (0600).

        Several worker processes may start at once: the file appears whole or not at all, and
        the first one to write it wins; an empty or truncated file is refused, never used.
        """
        if self.secret_key:
            return self.secret_key.encode()
        path = self.var_dir / "secret.key"
        if not path.exists():
            _create_secret_file(path)
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"{path} holds no usable secret (fewer than {MIN_SECRET_LENGTH} characters):"
                " restore it from your backup, or remove it to start with a new one"
                " (earlier signers' addresses will then look new)"
            )
        return secret.encode()


def _create_secret_file(path: Path) -> None:
    """Write a new secret beside `path`, then link it into place: atomic, and exclusive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret.key.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: theirs stands
            os.link(draft, path)
    finally:
        Path(draft).unlink()


def _is_iso_day(raw: str) -> bool:
    """YYYY-MM-DD and a real day: fromisoformat alone also takes 20261201 or 2026-W48-2."""
    try:
        return bool(_ISO_DAY.fullmatch(raw)) and bool(date.fromisoformat(raw))
    except ValueError:
        return False


def _convert(name: str, kind: object, raw: str) -> object:
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind_name == "int":
            return int(raw)
        if kind_name == "float":
            return float(raw)
        if kind_name == "bool":
            return _parse_bool(raw)
        if kind_name == "Path":
            return Path(raw)
    except ValueError as exc:
        raise SettingsError(f"PETITION_{name.upper()}: {exc}") from exc
    return raw


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")
