"""What operators watch: figures in the Prometheus text format, and whether the site can serve.

Two kinds of figures. Those of the site — signatures by status, the outbox — are read from the
database when Prometheus asks, so they are true whichever process answers, on whatever host.
Those of a process — requests and their time, signing forms accepted, links pressed, live
streams open — are counted where they happen; under `petition serve` the workers write them to
files in one directory (prometheus_client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR, set by
the command before the workers start), and a scrape adds up every worker's.

No label ever carries what a visitor sent: routes are the templates the site declares (never a
path, which may hold a campaign not yet public or a secret link), statuses and kinds come from
fixed lists, and no campaign is named at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import prometheus_client
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from petition import outbox, retention
from petition.models import OutboxMail, OutboxStatus, Signature, SignatureStatus

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Kept-ready answers take well under a millisecond; a signing under load, tens of them.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"  # a method or a route the site does not declare: the client chose it
# Mails given up on purpose, not failures: the signature they were about was withdrawn
# (outbox.discard_unsent's default reason) or deleted by the retention purge.
_DROPPED_ON_PURPOSE = (outbox.WITHDRAWN, retention.DELETED)
FAILURE_KINDS = ("retrying", "refused", "interrupted")
REDIS_TIMEOUT = 1.0  # seconds for a readiness probe's connection and its PING


class Metrics:
    """This process's counters, and the text a scrape answers."""

    def __init__(self) -> None:
        # One series per counter in either mode (no `_created` beside it in one of them).
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped
        # The library chose its mode when first imported: what it chose is what we read back.
        multiprocess = values.ValueClass is not values.MutexValue
        self.directory = os.environ.get(MULTIPROCESS_DIR) if multiprocess else None
        # Each site in a process (tests make many) has its registry; in multiprocess mode the
        # figures live in the directory's files, and a scrape reads every worker's there.
        registry: CollectorRegistry | None = None
        self._processes: Collector
        if self.directory is None:
            registry = self._processes = CollectorRegistry()
        else:
            self._processes = MultiProcessCollector(None, path=self.directory)  # type: ignore[no-untyped-call]  # untyped
        self._requests = Histogram(
            "petition_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ("route", "method", "status_class"),
            buckets=BUCKETS,
            registry=registry,
        )
        self._submitted = Counter(
            "petition_signatures_submitted",
            "Signing forms accepted (a mail, a reminder or a quiet quarantine follows).",
            registry=registry,
        )
        self._confirmed = Counter(
            "petition_signatures_confirmed",
            "Confirmation links pressed with success.",
            registry=registry,
        )
        self._watchers = Gauge(
            "petition_live_watchers",
            "Live count streams open now.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._timers: dict[tuple[str, str, str], Histogram] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request answered: `route` is its template (or OTHER), never its path."""
        key = (route, method if method in METHODS else OTHER, f"{status // 100}xx")
        timer = self._timers.get(key)
        if timer is None:
            timer = self._timers[key] = self._requests.labels(*key)
        timer.observe(seconds)

    def signed(self) -> None:
        self._submitted.inc()

    def confirmed(self) -> None:
        self._confirmed.inc()

    def watching(self, change: float) -> None:
        """A live stream began (+1) or ended (-1)."""
        self._watchers.inc(change)

    def exposition(self, site: SiteFigures) -> bytes:
        """The site's figures and every process's, in the Prometheus text format."""
        return prometheus_client.generate_latest(_Both(self._processes, site))

    async def close(self) -> None:
        """This process stops: its live streams no longer count (its counters still do)."""
        if self.directory is not None:
            mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]  # untyped


class _Both(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


@dataclass(frozen=True, slots=True)
class SiteFigures(Collector):
    """The site's state as the database has it, read at one moment."""

    signatures: Mapping[str, int]
    mails: Mapping[str, int]
    oldest_waiting: float
    failures: Mapping[str, int]

    def collect(self) -> Iterator[Metric]:
        yield _by("petition_signatures", "Signatures by status.", "status", self.signatures)
        yield _by("petition_outbox_mails", "Mails in the outbox by status.", "status", self.mails)
        yield GaugeMetricFamily(
            "petition_outbox_oldest_queued_seconds",
            "How long the mail waiting longest to leave has waited (0: none waits).",
            value=self.oldest_waiting,
        )
        yield _by(
            "petition_mail_failures",
            "Mails that failed: retrying (a temporary failure, tried again later), refused"
            " (for good by the mail server), interrupted (being sent when a process died).",
            "kind",
            self.failures,
        )


def _by(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=(label,))
    for value, count in counts.items():
        family.add_metric((value,), count)
    return family


async def read_figures(session: AsyncSession, now: datetime) -> SiteFigures:
    """Four aggregate queries; every status and kind is there, at 0 when none has it."""
    return SiteFigures(
        signatures=await _count_by(session, Signature.status, [s.value for s in SignatureStatus]),
        mails=await _count_by(session, OutboxMail.status, [s.value for s in OutboxStatus]),
        oldest_waiting=await oldest_waiting(session, now),
        failures=await _failures(session),
    )


async def _count_by(
    session: AsyncSession, column: InstrumentedAttribute[Any], known: list[str]
) -> dict[str, int]:
    counts = dict.fromkeys(known, 0)
    rows = await session.execute(select(column, func.count()).group_by(column))
    for value, count in rows:
        key = str(getattr(value, "value", value))
        if key in counts:  # the column's CHECK constraint allows no other value
            counts[key] = int(count)
    return counts


async def oldest_waiting(session: AsyncSession, now: datetime) -> float:
    """Seconds the mail waiting longest to leave has waited: since it fell due if never tried
    (a letter paced for later is not waiting), since it was queued if tried and postponed."""
    pending = OutboxMail.status == OutboxStatus.PENDING
    untried = await session.scalar(
        select(func.min(OutboxMail.next_attempt_at)).where(
            pending, OutboxMail.attempts == 0, OutboxMail.next_attempt_at <= now
        )
    )
    tried = await session.scalar(
        select(func.min(OutboxMail.created_at)).where(pending, OutboxMail.attempts > 0)
    )
    since = [moment for moment in (untried, tried) if moment is not None]
    return max(0.0, (now - min(since)).total_seconds()) if since else 0.0


async def _failures(session: AsyncSession) -> dict[str, int]:
    kind = case(
        (OutboxMail.status == OutboxStatus.PENDING, FAILURE_KINDS[0]),
        (OutboxMail.last_error == outbox.INTERRUPTED, FAILURE_KINDS[2]),
        else_=FAILURE_KINDS[1],
    ).label("kind")
    failed = select(kind).where(
        OutboxMail.last_error.is_not(None),
        or_(
            OutboxMail.status == OutboxStatus.PENDING,
            and_(
                OutboxMail.status == OutboxStatus.FAILED,
                OutboxMail.last_error.not_in(_DROPPED_ON_PURPOSE),
            ),
        ),
    )
    # Grouped outside: the CASE's parameters would differ between SELECT and GROUP BY.
    kinds = failed.subquery()
    rows = await session.execute(select(kinds.c.kind, func.count()).group_by(kinds.c.kind))
    counts = dict.fromkeys(FAILURE_KINDS, 0)
    for name, count in rows:
        counts[str(name)] = int(count)
    return counts


async def database_answers(session: AsyncSession) -> None:
    """Raises unless the database answers a query."""
    await session.execute(text("SELECT 1"))


async def redis_answers(url: str) -> None:
    """Raises unless the Redis server at `url` answers PING, at once and without a retry."""
    client = aioredis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await client.ping()
    finally:
        await client.aclose()
