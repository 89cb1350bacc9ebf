"""`petition doctor`: what a deployment's settings get right and wrong, found without changing
anything — no mail sent, no login tried, no file or table written.

Each check is a small function yielding findings; `examine` runs them all in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import sqlalchemy
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, make_url

from petition import migrate
from petition.db import create_engine, is_sqlite
from petition.doctor_findings import (
    Finding,
    Options,
    fail,
    host_kind,
    ok,
    reason_of,
    site_kind,
    warn,
)
from petition.doctor_mail import sender, smtp
from petition.settings import MIN_SECRET_LENGTH, PLACEHOLDER_SECRETS, Settings

_WIDE_PREFIX = {4: 24, 6: 48}  # a public range wider than this is more than one proxy
_LOOPBACK = {4: ip_address("127.0.0.1"), 6: ip_address("::1")}
_UPGRADE = "run `petition db upgrade`"


async def examine(settings: Settings, options: Options) -> list[Finding]:
    """Every check, in the order an operator fixes things."""
    found = [
        base_url(settings),
        cookies(settings),
        *trusted_proxies(settings),
        *secret(settings),
        live_updates(settings),
        await database(settings, options),
        await redis(settings, options),
    ]
    found += [finding async for finding in smtp(settings, options)]
    found += [finding async for finding in sender(settings, options)]
    return found


# --- the web side -------------------------------------------------------------------------


def base_url(settings: Settings) -> Finding:
    raw = settings.base_url
    if not raw:
        what = (
            f"PETITION_BASE_URL is not set: links use {settings.public_url}, wrong behind a proxy"
        )
        hint = "set PETITION_BASE_URL to the public address, e.g. https://petitions.example.org"
        local = host_kind(settings.host) == "local"
        return warn("base url", what, hint) if local else fail("base url", what, hint)
    parts = urlsplit(raw.strip())
    shown = f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    junk = [
        label
        for label, present in (
            ("a path", parts.path not in ("", "/")),
            ("a query", bool(parts.query) or raw.rstrip().endswith("?")),
            ("a fragment", "#" in raw),
            ("a user name or password", parts.username is not None),
            ("spaces", raw != raw.strip() or " " in parts.netloc),
        )
        if present
    ]
    if junk or not parts.hostname:
        what = f"PETITION_BASE_URL has {', '.join(junk) or 'no host'}: links append paths to it"
        return fail("base url", what, f"give the scheme and host only, e.g. {shown}")
    kind = host_kind(parts.hostname)
    if parts.scheme == "https":
        return ok("base url", shown)
    if kind == "local":
        return ok("base url", f"{shown} (http, on this machine only)")
    what = f"{shown} is served over http: links, logins and signers' data travel in clear"
    hint = "serve it over https through a reverse proxy (ops/nginx.conf) and say https:// here"
    if kind == "private":
        return warn("base url", f"{what} (a private name)", hint)
    return fail("base url", what, hint)


def cookies(settings: Settings) -> Finding:
    if not settings.secure_cookies and (settings.https or site_kind(settings) == "public"):
        return fail(
            "cookies",
            "cookies are not marked Secure on a public site: a browser may send the session"
            " cookie over a plain http request",
            "serve the site over https and set PETITION_SECURE_COOKIES=true",
        )
    if settings.secure_cookies and not settings.https:
        return warn(
            "cookies",
            "cookies are marked Secure but the site is http: browsers drop them, so logins"
            " and forms break (except on localhost)",
            "serve over https, or set PETITION_SECURE_COOKIES=false",
        )
    return ok("cookies", "marked Secure" if settings.secure_cookies else "plain (http site)")


def trusted_proxies(settings: Settings) -> list[Finding]:
    proxies = settings.proxies
    listening = host_kind(settings.host)
    # `petition serve` speaks plain http: an https address means TLS ends in a proxy before it.
    proxied = settings.https or (listening != "public" and site_kind(settings) == "public")
    if not proxies and not proxied:
        return [ok("trusted proxies", "none (no reverse proxy expected)")]
    if not proxies:
        suggestion = "127.0.0.1" if listening == "local" else "the proxy's address"
        what = (
            "a reverse proxy is in front, but PETITION_TRUSTED_PROXIES is empty: every client"
            " looks like the proxy to the rate limits, which then stop everyone at once"
        )
        hint = f"set PETITION_TRUSTED_PROXIES={suggestion} (the proxy as petition sees it)"
        return [fail("trusted proxies", what, hint)]
    found = [finding for finding in map(_too_wide, proxies) if finding is not None]
    if listening == "local" and not any(_LOOPBACK[n.version] in n for n in proxies):
        what = "petition listens on loopback, but no trusted proxy is a loopback address"
        found.append(warn("trusted proxies", what, "add 127.0.0.1 (or ::1) to the list"))
    shown = ", ".join(str(n.network_address if n.num_addresses == 1 else n) for n in proxies)
    return found or [ok("trusted proxies", f"X-Forwarded-For believed from {shown}")]


def _too_wide(network: IPv4Network | IPv6Network) -> Finding | None:
    if network.prefixlen == 0:
        what = (
            f"{network} trusts everyone: any client can write another address in"
            " X-Forwarded-For and escape the rate limits"
        )
        return fail("trusted proxies", what, "name only your reverse proxy, e.g. 127.0.0.1")
    if not network.is_private and network.prefixlen < _WIDE_PREFIX[network.version]:
        what = f"{network} is a wide public range: anyone in it can pose as any client"
        hint = "keep it only if all of it is your proxy or CDN; else name the proxy alone"
        return warn("trusted proxies", what, hint)
    return None


def secret(settings: Settings) -> list[Finding]:
    path = settings.var_dir / "secret.key"
    if settings.secret_key and _weak(settings.secret_key):
        hint = f"use a random value of {MIN_SECRET_LENGTH} characters or more"
        return [fail("secret", "PETITION_SECRET_KEY is a placeholder or too short", hint)]
    if settings.secret_key:
        return [ok("secret", "set by PETITION_SECRET_KEY (not shown)")]
    if not path.exists():
        what = f"{path} does not exist yet: `petition serve` makes it at its first start"
        hint = (
            "back it up once made; if this site has signers already, restore it from your backup"
            " instead (with a new one, earlier signers' addresses look new)"
        )
        return [warn("secret", what, hint)]
    return list(_secret_file(path))


def _secret_file(path: Path) -> Iterator[Finding]:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        what = f"{path} has mode {mode:04o}: others on this machine can read the server secret"
        yield fail("secret", what, f"chmod 600 {path}")
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII"
        yield fail("secret", f"{path} cannot be read: {reason}", "run this as the service's user")
        return
    if _weak(value):
        yield fail(
            "secret",
            f"{path} holds a placeholder or fewer than {MIN_SECRET_LENGTH} characters",
            "restore it from your backup, or remove it to start with a new one",
        )
    elif not mode & 0o077:
        yield ok("secret", f"{path}, mode 0600 (not shown)")


def _weak(value: str) -> bool:
    return value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH


def live_updates(settings: Settings) -> Finding:
    backend = settings.resolved_live_backend
    if backend == "memory" and settings.workers > 1:
        return fail(
            "live updates",
            f"the memory backend with PETITION_WORKERS={settings.workers}: each worker hears"
            " only its own signatures, so watchers see counts that differ per worker",
            "set PETITION_LIVE_BACKEND=redis (with PETITION_REDIS_URL), use PostgreSQL,"
            " or PETITION_WORKERS=1",
        )
    return ok("live updates", f"{backend} backend, {settings.workers} worker(s)")


# --- the services -------------------------------------------------------------------------


async def database(settings: Settings, options: Options) -> Finding:
    url = settings.resolved_database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        current = set(await _current_revisions(url, options.timeout))
    except FileNotFoundError:
        return fail("database", f"{shown} does not exist", _UPGRADE)
    except Exception as exc:  # any driver's failure to connect is the finding
        hint = "check PETITION_DATABASE_URL, and that the server runs"
        return fail("database", f"{shown} cannot be reached: {reason_of(exc)}", hint)
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    heads = set(script.get_heads())
    at, latest = ", ".join(sorted(current)), ", ".join(sorted(heads))
    if not current:
        return fail("database", f"{shown} is reachable but not migrated", _UPGRADE)
    if current == heads:
        return ok("database", f"{shown}, migrations current ({latest})")
    try:
        for revision in current:
            script.get_revision(revision)
    except CommandError:
        what = f"{shown} is at revision {at}, unknown to this version of petition"
        return fail("database", what, "was it migrated by a newer release? run that one")
    return fail("database", f"{shown} is at revision {at}, the latest is {latest}", _UPGRADE)


async def _current_revisions(url: str, seconds: float) -> tuple[str, ...]:
    """The database's Alembic revisions, read without writing anything (SQLite: read-only)."""
    if is_sqlite(url):
        return await asyncio.to_thread(_sqlite_revisions, make_url(url).database or "")
    engine = create_engine(url, connect_args={"timeout": seconds})
    try:
        async with asyncio.timeout(seconds * 2), engine.connect() as connection:
            return await connection.run_sync(_revisions)
    finally:
        await engine.dispose()


def _sqlite_revisions(database: str) -> tuple[str, ...]:
    path = Path(database).resolve()
    if not path.is_file():
        raise FileNotFoundError(path)  # connecting would create it
    engine = sqlalchemy.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    )
    try:
        with engine.connect() as connection:
            return _revisions(connection)
    finally:
        engine.dispose()


def _revisions(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


async def redis(settings: Settings, options: Options) -> Finding:
    backend = settings.resolved_live_backend
    if not settings.redis_url:
        return ok("redis", f"not used (live backend: {backend})")
    shown = make_url(settings.redis_url).render_as_string(hide_password=True)
    client = aioredis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=options.timeout, socket_timeout=options.timeout
    )
    try:
        await client.ping()
    except Exception as exc:  # whatever stops the ping is the finding
        hint = "check PETITION_REDIS_URL, and that Redis runs"
        return fail("redis", f"{shown} cannot be reached: {reason_of(exc)}", hint)
    finally:
        await client.aclose()
    if backend != "redis":
        what = f"{shown} answers, but the live backend is {backend}: Redis is not used"
        return warn("redis", what, "set PETITION_LIVE_BACKEND=redis, or drop PETITION_REDIS_URL")
    return ok("redis", f"{shown} answers")
