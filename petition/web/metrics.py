"""For operators: GET /metrics (Prometheus, behind a token), GET /readyz, and each request timed.

/readyz tells a load balancer whether to send visitors here: the database answers, Redis too
when the site uses one, and the mail is leaving. /healthz (petition.web.public) only says the
process answers, for a supervisor deciding whether to restart it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.utils import normalize_path

from petition import metrics
from petition.metrics import Metrics
from petition.web.deps import Services, ServicesDep
from petition.web.head import Site

if TYPE_CHECKING:
    from litestar.types import Message, Scope

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}
EXPOSITION = "text/plain; version=0.0.4"  # Prometheus's text format; Litestar adds the charset
READY_TIMEOUT = 2.0  # seconds for each readiness check: a probe must not hang
OK = "ok"


@get("/metrics", include_in_schema=False)
async def metrics_page(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    """The figures, for whoever holds PETITION_METRICS_TOKEN; as if absent when it is unset."""
    token = services.settings.metrics_token
    if not token:
        raise NotFoundException
    if not _bearer_is(request.headers.get("authorization", ""), token):
        return Response(
            b"a bearer token is needed\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": "Bearer", **NO_STORE},
        )
    async with services.reading() as session:
        figures = await metrics.read_figures(session, services.clock())
    return Response(services.metrics.exposition(figures), media_type=EXPOSITION, headers=NO_STORE)


def _bearer_is(authorization: str, token: str) -> bool:
    scheme, _, given = authorization.partition(" ")
    # Digests compared, so that the time taken says nothing of the token, not even its length.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


@get("/readyz", include_in_schema=False)
async def readiness(services: ServicesDep) -> Response[dict[str, Any]]:
    """200 when this process can serve visitors and the mail leaves; 503 with what fails."""
    (database, outbox), redis = await asyncio.gather(
        _database_and_outbox(services), _redis(services.settings.redis_url)
    )
    checks = {"database": database, "redis": redis, "outbox": outbox}
    ready = database == OK and outbox == OK and redis in (OK, "not used")
    return Response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def _database_and_outbox(services: Services) -> tuple[str, str]:
    now = services.clock()
    try:
        async with asyncio.timeout(READY_TIMEOUT), services.reading() as session:
            await metrics.database_answers(session)
            waited = await metrics.oldest_waiting(session, now)
    except TimeoutError:
        log.warning("not ready: the database did not answer within %s s", READY_TIMEOUT)
        return "timed out", "unknown"
    except Exception as exc:
        # Its type only: a driver's message may quote the address and user of the database.
        log.warning("not ready: the database does not answer (%s)", type(exc).__name__)
        return "unreachable", "unknown"
    limit = services.settings.ready_outbox_max_age
    if waited > limit:
        return OK, f"a mail has waited {int(waited)} s to leave (more than {limit})"
    return OK, OK


async def _redis(url: str) -> str:
    if not url:
        return "not used"
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await metrics.redis_answers(url)
    except TimeoutError:
        log.warning("not ready: Redis did not answer within %s s", READY_TIMEOUT)
        return "timed out"
    except Exception as exc:
        log.warning("not ready: Redis does not answer (%s)", type(exc).__name__)
        return "unreachable"
    return OK


class MeasuredSite(Site):
    """The site, each request timed from its arrival to the end of its answer, kept-ready
    answers (petition.web.ready) included; labelled by route template, never by path."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the application ends without answering
        counted = False

        def count() -> None:
            nonlocal counted
            counted = True
            seconds = time.perf_counter() - started
            self._metrics.observe(self._route(scope), scope["method"], status, seconds)

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                count()  # before the client has it all: a scrape after it sees it counted
            await send(message)

        try:
            await super().__call__(scope, receive, noting)
        finally:
            if not counted:
                count()

    def _route(self, scope: Scope) -> str:
        """The template of the route that answered; looked up for an answer kept ready or a
        HEAD (answered as a GET, in a scope of its own); OTHER for a path the site lacks."""
        template = scope.get("path_template")
        if template:
            return str(template)
        try:
            found = self.asgi_router.handle_routing(
                path=normalize_path(scope["path"]), method="GET"
            )
        except Exception:  # not found, or no GET there: the client's own invention
            return metrics.OTHER
        return str(found[4])
