"""`petition doctor`, the mail side: the SMTP server (no login, no mail) and the DNS records
receivers check on the sender's domain (SPF, DMARC, DKIM, MX).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import parseaddr

import aiosmtplib
import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

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
from petition.settings import Settings

Resolver = dns.asyncresolver.Resolver
_ONLINE = "run without --offline to check"


async def smtp(settings: Settings, options: Options) -> AsyncIterator[Finding]:
    """Connect, EHLO, STARTTLS when set, QUIT: never a login, never a mail."""
    if not settings.smtp_host:
        what = f"mail is written to files, nobody receives it ({settings.mail_dir})"
        yield warn("smtp", what, "set PETITION_SMTP_HOST (and its port, TLS mode, login)")
        return
    if options.offline:
        yield warn("smtp", "not checked (--offline)", _ONLINE)
        return
    mode = settings.smtp_tls
    port = settings.smtp_port or {"none": 25, "starttls": 587, "tls": 465}[mode]
    where = f"{settings.smtp_host}:{port} ({mode})"
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=port,
        use_tls=mode == "tls",
        start_tls=mode == "starttls",
        timeout=min(settings.smtp_timeout, options.timeout),
    )  # no username or password: connect() would log in with them
    try:
        await client.connect()  # with start_tls, aiosmtplib says EHLO, then STARTTLS
        await client.ehlo()
        offers_auth = client.supports_extension("auth")
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        hint = "check PETITION_SMTP_HOST, PETITION_SMTP_PORT and PETITION_SMTP_TLS"
        yield fail("smtp", f"{where}: {reason_of(exc)}", hint)
        return
    steps = "EHLO, STARTTLS, QUIT" if mode == "starttls" else "EHLO, QUIT"
    yield ok("smtp", f"{where} answered {steps} (no login tried, no mail sent)")
    if mode == "none" and host_kind(settings.smtp_host) != "local":
        what = f"mail to {settings.smtp_host} travels in clear (PETITION_SMTP_TLS=none)"
        hint = "use PETITION_SMTP_TLS=starttls or tls"
        if settings.smtp_username:
            yield fail("smtp", f"{what}, and so does the SMTP password", hint)
        else:
            yield warn("smtp", what, hint)
    if settings.smtp_username and not offers_auth:
        what = "the server offers no AUTH after EHLO: petition's login would be refused"
        yield warn("smtp login", what, "check the TLS mode and the port")
    elif settings.smtp_username:
        yield ok("smtp login", "the server offers AUTH (the login was not tried)")


# --- the sender's domain ------------------------------------------------------------------


async def sender(settings: Settings, options: Options) -> AsyncIterator[Finding]:
    """The domain of PETITION_MAIL_FROM (the address itself is not printed), then its DNS."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2].rstrip(".").lower()
    if not domain:
        hint = "set it to an address at your domain, e.g. petition@example.org"
        yield fail("sender", "PETITION_MAIL_FROM is not an email address", hint)
        return
    if host_kind(domain) != "public":
        if site_kind(settings) != "public":
            yield ok("sender", f"@{domain} (a local site: DNS not checked)")
        else:
            what = f"mail comes from @{domain}, which no receiver can check: spam, or refused"
            yield fail("sender", what, "set PETITION_MAIL_FROM to an address at your domain")
        return
    yield ok("sender", f"@{domain}")
    if options.offline:
        yield warn("dns", "SPF, DMARC, DKIM and MX not checked (--offline)", _ONLINE)
        return
    try:
        resolver = _resolver(options)
    except dns.exception.DNSException as exc:
        yield warn("dns", f"no resolver: {reason_of(exc)}", "give --nameserver HOST[:PORT]")
        return
    for finding in await asyncio.gather(
        _asking("spf", domain, lambda: spf(resolver, domain)),
        _asking("dmarc", f"_dmarc.{domain}", lambda: dmarc(resolver, domain)),
        dkim(resolver, domain, options.dkim_selector),
        _asking("mx", domain, lambda: mx(resolver, domain)),
    ):
        yield finding


def _resolver(options: Options) -> Resolver:
    if options.nameserver is None:
        resolver = Resolver()
    else:
        resolver = Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*options.nameserver)]
    resolver.lifetime = options.timeout
    return resolver


async def _asking(check: str, name: str, lookup: Callable[[], Awaitable[Finding]]) -> Finding:
    """A DNS failure (timeout, SERVFAIL) is a warning: the records may well be right."""
    try:
        return await lookup()
    except dns.exception.DNSException as exc:
        what = f"could not ask DNS about {name}: {reason_of(exc)}"
        return warn(check, what, "check the network, or give --nameserver HOST[:PORT]")


async def _texts(resolver: Resolver, name: str, version: str = "") -> list[str]:
    """The TXT records at `name` (strings joined) starting with tag `version`; none if none."""
    try:
        answer = await resolver.resolve(f"{name}.", "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    texts = [b"".join(r.strings).decode(errors="replace") for r in answer]
    if not version:
        return texts
    return [t for t in texts if t.lower().partition(" ")[0].partition(";")[0] == version]


def _tags(record: str) -> dict[str, str]:
    pairs = (part.partition("=") for part in record.split(";"))
    return {key.strip().lower(): value.strip() for key, _, value in pairs if key.strip()}


async def spf(resolver: Resolver, domain: str) -> Finding:
    found = await _texts(resolver, domain, "v=spf1")
    if not found:
        return fail(
            "spf",
            f"no SPF record on {domain}: receivers cannot tell our mail from forgeries,"
            " and many refuse it",
            f"add a TXT record on {domain}: v=spf1 include:<your mail provider's> -all",
        )
    if len(found) > 1:
        what = f"{len(found)} SPF records on {domain}: receivers take that as an error (RFC 7208)"
        return fail("spf", what, "merge them into one TXT record")
    if found[0].split()[-1].lower() in ("all", "+all"):
        return fail("spf", f"{found[0]!r} lets anyone send as {domain}", "end it with -all or ~all")
    return ok("spf", found[0])


async def dmarc(resolver: Resolver, domain: str) -> Finding:
    # Receivers fall back on the organisational domain: walk up to the last two labels.
    labels = domain.split(".")
    for start in range(max(len(labels) - 1, 1)):
        name = "_dmarc." + ".".join(labels[start:])
        found = await _texts(resolver, name, "v=dmarc1")
        if found:
            policy = _tags(found[0]).get("p", "")
            if policy == "none":
                what = f"{name}: p=none, receivers are asked to do nothing about forgeries"
                hint = "once reports show all your mail passes, move to p=quarantine or p=reject"
                return warn("dmarc", what, hint)
            if policy not in ("quarantine", "reject"):
                what = f"{name} has no valid policy (p=quarantine or p=reject)"
                return fail("dmarc", what, "write v=DMARC1; p=quarantine")
            return ok("dmarc", f"{name}: p={policy}")
    return fail(
        "dmarc",
        f"no DMARC record at _dmarc.{domain}: Gmail and Yahoo refuse or junk bulk mail from"
        " such domains",
        f"add a TXT record at _dmarc.{domain}: v=DMARC1; p=quarantine;"
        " rua=mailto:<an address you read>",
    )


async def dkim(resolver: Resolver, domain: str, selector: str) -> Finding:
    if not selector:
        hint = "the selector is the s= of the DKIM-Signature header in a mail petition sent"
        return warn("dkim", "not checked: give --dkim-selector to check DKIM", hint)
    name = f"{selector}._domainkey.{domain}"

    async def look() -> Finding:
        keys = [tags for tags in map(_tags, await _texts(resolver, name)) if "p" in tags]
        if not keys:
            what = f"no DKIM key at {name}: mail is not signed, or not with this selector"
            return fail("dkim", what, "publish the key your mail provider gives, as TXT")
        if not keys[0]["p"]:
            what = f"the key at {name} is revoked (empty p=)"
            return fail("dkim", what, "publish the current key, or give its selector")
        return ok("dkim", f"key at {name} ({keys[0].get('k', 'rsa')})")

    return await _asking("dkim", name, look)


async def mx(resolver: Resolver, domain: str) -> Finding:
    try:
        answer = await resolver.resolve(f"{domain}.", "MX", search=False)
    except dns.resolver.NXDOMAIN:
        what = f"{domain} does not exist in DNS: receivers refuse its mail"
        return fail("mx", what, "send from a domain you own, with its DNS records")
    except dns.resolver.NoAnswer:
        what = f"{domain} has no MX: replies and bounces have nowhere to go"
        return warn("mx", what, f"add an MX record on {domain}, or read bounces at your provider")
    hosts = [r.exchange.to_text(omit_final_dot=True) for r in sorted(answer, key=_preference)]
    if hosts in (["."], [""]):
        what = (
            f"{domain} has a null MX: it takes no mail, so replies and bounces are refused,"
            " and some receivers refuse mail from it"
        )
        return warn("mx", what, "add a real MX if signers may reply to the mails")
    return ok("mx", ", ".join(hosts))


def _preference(record: object) -> int:
    return int(getattr(record, "preference", 0))
