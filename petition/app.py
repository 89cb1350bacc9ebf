"""create_app(settings): the one place where the parts of petition are put together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap

from petition import (
    db,
    i18n,
    logs,
    mail,
    organisers,
    privacy,
    published,
    reconcile,
    retention,
    stopping,
    templating,
    tokens,
)
from petition.bus import bus_for
from petition.defences import Defences
from petition.limits import ClientKeys, Counter, MemoryCounter, RedisCounter
from petition.live import Cache, Hub, HubTiming
from petition.memo import Memo
from petition.models import utcnow
from petition.outbox import Sender
from petition.passwords import Passwords
from petition.settings import Settings
from petition.throttle import LoginThrottle
from petition.web import (
    addressees,
    affiliations,
    api,
    campaign_edit,
    csrf,
    dashboard,
    embeds,
    kit,
    letter,
    manage,
    organiser,
    public,
    quarantine,
    signatories,
    team,
)
from petition.web import privacy as privacy_pages
from petition.web.access import SecondFactorNeeded
from petition.web.deps import Services
from petition.web.head import Site
from petition.web.headers import security_headers_for
from petition.web.impossible import RefuseImpossibleAddresses
from petition.web.pages import link_problem, render

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
SHUTDOWN_GRACE = 10.0  # seconds the mail sender may take to finish its batch at shutdown


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Litestar:
    logs.install_filters()
    engine = db.create_engine(settings.resolved_database_url)
    sessions = db.create_session_factory(engine)
    read_engine = db.create_read_engine(settings.resolved_database_url)
    secret = settings.load_secret_key()
    scrub = functools.partial(db.scrub, engine)
    readers = db.create_session_factory(read_engine)
    sender = Sender(
        sessions,
        mail.backend_for(settings),
        sender_address=settings.mail_from,
        clock=clock,
        after_erasure=scrub,
        poll_interval=settings.outbox_poll_interval,
        retry_base=settings.mail_retry_base,
        retry_max=settings.mail_retry_max,
    )
    bus = bus_for(settings)
    # SQLite: short reads on connections of their own, never queueing behind the one writer;
    # PostgreSQL: the pool, so that a crowd never opens a connection per request.
    short_reads = readers if db.is_sqlite(settings.resolved_database_url) else sessions
    hub = Hub(
        short_reads,
        bus,
        clock,
        HubTiming(interval=settings.live_interval, resync=settings.live_resync),
    )
    # One site, one namespace in a shared Redis: derived from its secret and its database.
    namespace = hashlib.sha256(secret + settings.resolved_database_url.encode()).hexdigest()[:12]
    counter: Counter = (
        RedisCounter(settings.redis_url, clock, namespace)
        if settings.redis_url
        else MemoryCounter(clock)
    )
    client_keys = ClientKeys(counter, clock)
    services = Services(
        settings=settings,
        sessions=sessions,
        readers=readers,
        short_reads=short_reads,
        pages=templating.page_environment(),
        mails=templating.mail_environment(),
        catalogs=i18n.load_catalogs(),
        secret=secret,
        clock=clock,
        sender=sender,
        scrub=scrub,
        passwords=Passwords(),
        login_throttle=LoginThrottle(
            counter,
            client_keys,
            per_account=settings.login_attempts_per_account,
            per_client=settings.login_attempts_per_client,
        ),
        bus=bus,
        hub=hub,
        breakdowns=Cache(short_reads, settings.breakdown_seconds, published.breakdown),
        letters=Cache(short_reads, settings.breakdown_seconds, published.letter),
        documents=Memo(settings.breakdown_seconds),
        defences=Defences(settings, secret, counter, client_keys),
        pow_widget=(STATIC_DIR / "vendor" / "altcha" / "altcha.min.js").exists(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        async with services.transaction() as session:
            await privacy.refresh_all(session, settings, clock())
            sealed = await organisers.seal_clear_totp_secrets(session, secret)
        if sealed:
            log.info("two-factor secrets stored in clear by an earlier version: %d sealed", sealed)
        task = asyncio.create_task(sender.run()) if settings.run_mail_sender else None
        await hub.start()
        chores = [
            asyncio.create_task(_every(minutes * 60, job))
            for minutes, job in (
                (settings.counts_check_minutes, functools.partial(_check_counts, services)),
                (settings.purge_minutes, functools.partial(_purge, services)),
            )
            if minutes > 0
        ]
        try:
            with stopping.on_exit_signal(hub.end_streams):
                yield
        finally:
            for chore in chores:
                chore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
            if isinstance(counter, RedisCounter):
                await counter.close()
            await hub.stop()
            if task is not None:
                await _stop(sender, task)
            services.passwords.close()
            await engine.dispose()
            await read_engine.dispose()

    return Site(
        route_handlers=[
            public.index,
            public.campaign_page,
            public.sign,
            public.check_inbox,
            public.confirm_page,
            public.confirm,
            public.confirmed,
            public.withdraw_page,
            public.withdraw,
            public.change_publication,
            public.withdrawn,
            manage.request_page,
            manage.request_link,
            manage.link_sent,
            manage.own_page,
            manage.change_publication,
            manage.withdraw,
            manage.mail_data,
            kit.take_kit,
            _cookie_free(
                public.health,
                public.challenge,
                privacy_pages.notice_page,
                privacy_pages.notice_version,
                signatories.signatories_page,
                embeds.widget,
                embeds.badge,
                letter.letter_page,
                letter.letter_pdf,
                api.router(),
            ),
            _private(
                organiser.login_page,
                organiser.login,
                organiser.logout,
                organiser.password_page,
                organiser.choose_password,
                organiser.reset_page,
                organiser.request_reset,
                organiser.two_factor_page,
                organiser.enable_two_factor,
                campaign_edit.new_page,
                campaign_edit.create,
                campaign_edit.edit_page,
                campaign_edit.edit,
                dashboard.home,
                dashboard.campaign_page,
                dashboard.export,
                dashboard.signatures,
                dashboard.act_on_signatures,
                dashboard.rule_preview,
                dashboard.apply_rule,
                campaign_edit.open_or_close,
                team.add_member,
                team.change_member,
                affiliations.affiliations_page,
                affiliations.change_affiliations,
                addressees.addressees_page,
                addressees.import_addressees,
                addressees.pack,
                addressees.send_letters,
                quarantine.held_page,
                quarantine.act_on_held,
            ),
            create_static_files_router(
                path="/static",
                directories=[STATIC_DIR],
                name="static",
                cache_control=None,
                include_in_schema=False,
                opt=csrf.NO_CSRF_COOKIE,
            ),
        ],
        dependencies={"services": Provide(lambda: services, use_cache=True, sync_to_thread=False)},
        middleware=[RefuseImpossibleAddresses, csrf.middleware(settings, secret)],
        request_max_body_size=settings.max_body_bytes,
        exception_handlers=_error_pages(services),
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="petition",
            version="1",
            description="Public pages and the public JSON API of this petition server.",
            # The schema only (no viewer fetched from a CDN), as cacheable as the API it describes.
            openapi_router=Router(
                path="/api/v1", route_handlers=[], include_in_schema=False, opt=csrf.NO_CSRF_COOKIE
            ),
            render_plugins=[JsonRenderPlugin()],
        ),
        before_send=[security_headers_for(https=settings.https)],
    )


def _cookie_free(*handlers: Any) -> Router:
    """Public reads that proxies must be able to cache: no cookie is ever set on them."""
    return Router(path="/", route_handlers=list(handlers), opt=csrf.NO_CSRF_COOKIE)


def _private(*handlers: Any) -> Router:
    """Organisers' routes: left out of the public API description."""
    return Router(path="/", route_handlers=list(handlers), include_in_schema=False)


async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run a chore on a schedule; a failure is logged and the next run comes as planned."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("scheduled %s failed", getattr(job, "func", job).__name__)


async def _purge(services: Services) -> None:
    """Delete what the retention periods say must go (see petition.retention)."""
    policy = retention.Policy.from_settings(services.settings)
    async with services.transaction() as session:
        report = await retention.purge(session, services.clock(), policy)
    if report.total:
        await services.scrub()
        log.info("retention purge: %s", ", ".join(f"{k} {n}" for k, n in report.items() if n))


async def _check_counts(services: Services) -> None:
    """Compare counters with signatures, repair and report any drift."""
    async with services.transaction() as session:
        drifts = await reconcile.check(session, fix=True)
    for drift in drifts:
        log.warning(
            "counter of %s was %d, %d signatures are confirmed: repaired",
            drift.slug,
            drift.counted,
            drift.actual,
        )


async def _stop(sender: Sender, task: asyncio.Task[None]) -> None:
    """Let the batch being handed over finish (a cancelled send would wait for its lease)."""
    sender.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _error_pages(services: Services) -> ExceptionHandlersMap:
    """Every error answers with a page in the visitor's language, saying nothing was recorded."""

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
        context = {"status": exc.status_code}
        headers = dict(exc.headers or {})
        return render(
            request, services, "error.html", context, status_code=exc.status_code, headers=headers
        )

    def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        # The route template, not the path: paths may carry a secret token.
        route = request.scope.get("path_template", "?")
        log.exception("unhandled error on %s %s", request.method, route, exc_info=exc)
        return render(request, services, "error.html", {"status": 500}, status_code=500)

    def sign_in_first(
        _request: Request[Any, Any, Any], _exc: NotAuthorizedException
    ) -> Response[Any]:
        return Redirect(organiser.LOGIN, status_code=303)

    def second_factor_needed(
        request: Request[Any, Any, Any], _exc: SecondFactorNeeded
    ) -> Response[str]:
        return render(request, services, "organiser/second_factor_needed.html", status_code=403)

    def unusable_link(request: Request[Any, Any, Any], exc: tokens.LinkError) -> Response[str]:
        # Raised inside a request's transaction, which is then rolled back: a clear page
        # (404 unknown, 410 expired or used) saying what to do for this kind of link.
        path = request.url.path
        kind = "manage" if path.startswith("/manage/") else "signature"
        kind = "password" if path.startswith("/organiser/") else kind
        return link_problem(request, services, exc, kind=kind)

    return {
        tokens.LinkError: unusable_link,
        SecondFactorNeeded: second_factor_needed,
        NotAuthorizedException: sign_in_first,
        HTTPException: http_error,
        Exception: server_error,
    }


def create_app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` and `petition serve`."""
    return create_app(Settings.from_env())
