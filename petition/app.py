"""create_app(settings): the one place where the parts of petition are put together."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.logging.config import LoggingConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from petition import (
    db,
    i18n,
    jobs,
    logs,
    mail,
    organisers,
    privacy,
    published,
    runtime,
    stopping,
    templating,
    tokens,
)
from petition.assets import Assets
from petition.bus import bus_for
from petition.defences import Defences
from petition.journal import Journal
from petition.limits import ClientKeys, Counter, MemoryCounter, RedisCounter
from petition.live import Cache, Hub, HubTiming
from petition.mail_shapes import ShapedRenderer
from petition.memo import Memo
from petition.metrics import Metrics
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
    key_sharing,
    kit,
    letter,
    manage,
    organiser,
    public,
    quarantine,
    reader_key,
    signatories,
    statements,
    static,
    team,
    texts,
)
from petition.web import four_eyes as four_eyes_pages
from petition.web import metrics as metrics_pages
from petition.web import milestones as milestone_pages
from petition.web import official as official_pages
from petition.web import paper as paper_pages
from petition.web import privacy as privacy_pages
from petition.web import unsubscribe as unsubscribe_pages
from petition.web import updates as update_pages
from petition.web.access import SecondFactorNeeded
from petition.web.caching import LastEncoded
from petition.web.deps import Services
from petition.web.head import Site
from petition.web.headers import security_headers_for
from petition.web.impossible import RefuseImpossibleAddresses
from petition.web.metrics import MeasuredSite
from petition.web.pages import LANG_COOKIE, link_problem, render
from petition.web.ready import Ready
from petition.writer import Writer

log = logging.getLogger(__name__)
STATIC_DIR = templating.STATIC_DIR


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Litestar:
    """The web application: the services, the routes, and the jobs this process runs."""
    services = build_services(settings, clock)
    ready = Ready(services.hub, services.clock, csrf.config(settings, services.secret), LANG_COOKIE)
    # Requests are timed only where someone may read the figures (PETITION_METRICS_TOKEN).
    measured = functools.partial(MeasuredSite, metrics=services.metrics)
    site: Callable[..., Site] = measured if settings.metrics_token else Site
    return site(
        ready=ready,
        route_handlers=routes(),
        dependencies={"services": Provide(lambda: services, use_cache=True, sync_to_thread=False)},
        middleware=[RefuseImpossibleAddresses, csrf.middleware(settings, services.secret)],
        request_max_body_size=settings.max_body_bytes,
        exception_handlers=_error_pages(services),
        lifespan=[functools.partial(_web_lifespan, services)],
        openapi_config=_openapi(),
        logging_config=_logging(settings),
        before_send=[security_headers_for(https=settings.https)],
        state=State({"services": services}),  # for tools that look inside (tests, benches)
    )


def build_services(settings: Settings, clock: Callable[[], datetime]) -> Services:
    """Engines, writer, mail sender, live counts and defences: shared by web and worker."""
    logs.install_filters()
    url = settings.resolved_database_url
    engine = db.create_engine(url)
    read_engine = db.create_read_engine(url)
    # Every write path erases through these sessions: what they erase is journalled.
    journal = Journal(settings.resolved_journal_file)
    journal.ensure()
    sessions = db.create_session_factory(engine, journal)
    readers = db.create_session_factory(read_engine)
    secret = settings.load_secret_key()
    scrub = functools.partial(db.scrub, engine)
    catalogs = i18n.load_catalogs()
    brand = settings.brand()
    assets = Assets(STATIC_DIR, brand)
    # The bulk mails of a burst rendered once per campaign, language and expiry minute.
    render_mail = ShapedRenderer(
        mail.Renderer(templating.mail_environment(brand=brand), catalogs, settings.timezone)
    )
    bus = bus_for(settings)
    counter = _counter(settings, secret, clock)
    client_keys = ClientKeys(counter, clock)
    cached = settings.breakdown_seconds
    metrics = Metrics()
    hub = Hub(
        readers,
        bus,
        clock,
        HubTiming(settings.live_interval, settings.live_resync),
        watching=metrics.watching,
    )
    return Services(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        sessions=sessions,
        writer=Writer(sessions, bus, lanes=settings.resolved_write_lanes, counted=hub.counted),
        readers=readers,
        short_reads=readers,
        pages=templating.page_environment(
            brand=brand, assets=assets, accessibility=settings.accessibility_status
        ),
        render_mail=render_mail,
        catalogs=catalogs,
        secret=secret,
        clock=clock,
        sender=_sender(settings, sessions, clock, scrub, render_mail),
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
        breakdowns=Cache(readers, cached, published.breakdown),
        letters=Cache(readers, cached, published.letter),
        documents=Memo(cached),
        encoded=LastEncoded(),
        defences=Defences(settings, secret, counter, client_keys),
        pow_widget=(STATIC_DIR / "vendor" / "altcha" / "altcha.min.js").exists(),
        brand=brand,
        assets=assets,
        metrics=metrics,
        closers=(*((counter.close,) if isinstance(counter, RedisCounter) else ()), metrics.close),
    )


def _counter(settings: Settings, secret: bytes, clock: Callable[[], datetime]) -> Counter:
    """Limits shared by the processes of one site: in Redis when there is one."""
    if not settings.redis_url:
        return MemoryCounter(clock)
    # One site, one namespace in a shared Redis: derived from its secret and its database.
    namespace = hashlib.sha256(secret + settings.resolved_database_url.encode()).hexdigest()[:12]
    return RedisCounter(settings.redis_url, clock, namespace)


def _sender(
    settings: Settings,
    sessions: db.SessionFactory,
    clock: Callable[[], datetime],
    scrub: Callable[[], Awaitable[None]],
    render: mail.Render,
) -> Sender:
    """The outbox's sender; it renders the mail queued unrendered as the pages do."""
    return Sender(
        sessions,
        mail.backend_for(settings),
        sender_address=settings.mail_from,
        clock=clock,
        render=render,
        after_erasure=scrub,
        poll_interval=settings.outbox_poll_interval,
        retry_base=settings.mail_retry_base,
        retry_max=settings.mail_retry_max,
    )


@contextlib.asynccontextmanager
async def running(services: Services, *, background: bool) -> AsyncIterator[None]:
    """Everything a process of this site keeps going while it serves or works."""
    await _bring_up_to_date(services)
    await services.writer.start()
    try:
        async with jobs.running(services, background=background):
            yield
    finally:
        await services.writer.stop()
        await services.close()


async def _bring_up_to_date(services: Services) -> None:
    """Privacy notices that the settings changed, secrets an earlier version left in clear."""
    async with services.transaction() as session:
        await privacy.refresh_all(session, services.settings, services.clock())
        sealed = await organisers.seal_clear_totp_secrets(session, services.secret)
    if sealed:
        log.info("two-factor secrets stored in clear by an earlier version: %d sealed", sealed)


@contextlib.asynccontextmanager
async def _web_lifespan(services: Services, _app: Litestar) -> AsyncIterator[None]:
    async with running(services, background=services.settings.run_mail_sender):
        await services.hub.start()
        try:
            # What start-up loaded stays for good: out of the collector's way.
            with runtime.settled(), stopping.on_exit_signal(services.hub.end_streams):
                yield
        finally:
            await services.hub.stop()


def routes() -> list[Any]:
    """Every route of the site, by audience."""
    return [
        *_signers(),
        _cookie_free(
            public.health,
            metrics_pages.readiness,
            metrics_pages.metrics_page,
            public.challenge,
            privacy_pages.notice_page,
            privacy_pages.notice_version,
            signatories.signatories_page,
            embeds.widget,
            embeds.badge,
            letter.letter_page,
            letter.letter_pdf,
            statements.accessibility_page,
            statements.legal_page,
            api.router(),
        ),
        _private(*_organisers()),
        Router(
            path="/", route_handlers=[static.static_file, static.robots], opt=csrf.NO_CSRF_COOKIE
        ),
    ]


def _signers() -> list[Any]:
    return [
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
        unsubscribe_pages.unsubscribe_page,
        unsubscribe_pages.unsubscribe,
    ]


def _organisers() -> list[Any]:
    return [
        organiser.login_page,
        organiser.login,
        organiser.logout,
        organiser.password_page,
        organiser.choose_password,
        organiser.reset_page,
        organiser.request_reset,
        organiser.two_factor_page,
        organiser.enable_two_factor,
        reader_key.key_page,
        reader_key.give_key,
        reader_key.open_page,
        key_sharing.sharing_page,
        key_sharing.share,
        campaign_edit.new_page,
        campaign_edit.create,
        campaign_edit.edit_page,
        campaign_edit.edit,
        dashboard.home,
        dashboard.campaign_page,
        dashboard.audit_page,
        dashboard.export,
        four_eyes_pages.decide,
        four_eyes_pages.fetch,
        dashboard.signatures,
        dashboard.act_on_signatures,
        dashboard.rule_preview,
        dashboard.apply_rule,
        campaign_edit.open_or_close,
        team.team_page,
        team.add_member,
        team.change_member,
        affiliations.affiliations_page,
        affiliations.change_affiliations,
        addressees.addressees_page,
        addressees.import_addressees,
        addressees.pack,
        addressees.send_letters,
        milestone_pages.milestones_page,
        milestone_pages.add_milestone,
        milestone_pages.change_milestone,
        milestone_pages.remove_milestone,
        paper_pages.paper_page,
        paper_pages.record_counted,
        paper_pages.import_named,
        paper_pages.correct_batch,
        paper_pages.delete_batch,
        texts.texts_page,
        texts.save_text,
        texts.remove_text,
        official_pages.official_page,
        official_pages.save_official,
        official_pages.enter_count,
        official_pages.read_now,
        quarantine.held_page,
        quarantine.act_on_held,
        update_pages.updates_page,
        update_pages.write_update,
        update_pages.update_page,
        update_pages.act_on_update,
    ]


def _logging(settings: Settings) -> LoggingConfig:
    """Litestar sets up the process's logging as the app starts (in each worker): its own
    way, or one JSON object per line (PETITION_LOG_FORMAT=json)."""
    if settings.log_format == "json":
        return LoggingConfig(formatters={"standard": {"()": logs.JsonFormatter}})
    return LoggingConfig()


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="petition",
        version="1",
        description="Public pages and the public JSON API of this petition server.",
        # The schema only (no viewer fetched from a CDN), as cacheable as the API it describes.
        openapi_router=Router(
            path="/api/v1", route_handlers=[], include_in_schema=False, opt=csrf.NO_CSRF_COOKIE
        ),
        render_plugins=[JsonRenderPlugin()],
    )


def _cookie_free(*handlers: Any) -> Router:
    """Public reads that proxies must be able to cache: no cookie is ever set on them."""
    return Router(path="/", route_handlers=list(handlers), opt=csrf.NO_CSRF_COOKIE)


def _private(*handlers: Any) -> Router:
    """Organisers' routes: left out of the public API description."""
    return Router(path="/", route_handlers=list(handlers), include_in_schema=False)


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
