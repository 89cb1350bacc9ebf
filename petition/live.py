"""Live counts: each process keeps one snapshot of every campaign and pushes it to watchers.

Readers — the count API, the streams behind campaign pages, the widget and the badge — never
ask the database for a count: they read this snapshot. The hub reads the database again when
the change bus says a campaign changed, at most once per `interval` however fast people sign,
and in any case every `resync` seconds (a lost bus message, or a count repaired from the
command line, shows up then). Every watcher of a campaign receives the same event, encoded
once per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import affiliations, texts
from petition.bus import Bus
from petition.db import SessionFactory
from petition.memo import Memo
from petition.milestones import Mark, marks_of
from petition.models import (
    Campaign,
    CampaignText,
    CounterShard,
    PrivacyNotice,
    Signature,
    SignatureStatus,
)
from petition.privacy import label_of

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_MS = 5000  # how long a browser waits before reconnecting a dropped stream
HEARTBEAT = 20.0  # seconds of silence after which a stream sends a comment, so proxies keep it


@dataclass(frozen=True, slots=True)
class CampaignState:
    """What the public may know of a campaign at one moment."""

    id: int
    slug: str
    title: str
    kind: str
    goal: int | None
    opens_at: datetime | None
    closes_at: datetime | None
    count: int
    last_signature_at: datetime | None
    # When this process last saw any of the above change; the ground of Last-Modified.
    changed_at: datetime = field(compare=False)
    # The whole campaign as last read (detached from any session), for the pages drawn from
    # this snapshot, and the label of its privacy notice in force. Not compared: a change of
    # text alone is taken silently, it is not pushed to watchers.
    campaign: Campaign = field(compare=False, repr=False, kw_only=True)
    notice: str | None = field(compare=False, kw_only=True)  # None: none written yet
    # Its mapped domains, for signing to decide verified affiliations without a lookup.
    domains: affiliations.Domains = field(compare=False, kw_only=True, repr=False)
    # Its text in more languages (petition.texts), detached like `campaign`; not pushed.
    texts: tuple[CampaignText, ...] = field(default=(), compare=False, kw_only=True, repr=False)
    # Its milestones, lowest first (petition.milestones). Compared: one reached moves
    # Last-Modified, as the page and the API then say so.
    milestones: tuple[Mark, ...] = field(default=(), kw_only=True, repr=False)

    def status(self, now: datetime) -> str:
        if self.opens_at is not None and now < self.opens_at:
            return "upcoming"
        if self.closes_at is not None and now >= self.closes_at:
            return "closed"
        return "open"

    def modified(self, now: datetime) -> datetime:
        """Last change of anything shown, including the status turning with the clock."""
        passed = [t for t in (self.opens_at, self.closes_at) if t is not None and t <= now]
        return max([self.changed_at, *passed])

    def live(self, now: datetime) -> dict[str, object]:
        """The part pushed to watchers."""
        return {
            "count": self.count,
            "goal": self.goal,
            "status": self.status(now),
            "last_signature_at": iso(self.last_signature_at),
        }


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat().replace("+00:00", "Z") if instant else None


class Topic:
    """One campaign's latest state and its pre-encoded stream event, shared by all watchers."""

    def __init__(self, state: CampaignState, now: datetime) -> None:
        self.version = 0
        self.state = state  # what pages and the API read
        self.published = state  # what watchers were last sent
        self.event = b""
        self._changed = asyncio.Event()
        self.publish(state, now)

    def publish(self, state: CampaignState, now: datetime) -> None:
        self.state = self.published = state
        self.version += 1
        data = json.dumps(state.live(now), separators=(",", ":"))
        self.event = f"id: {self.version}\nevent: count\ndata: {data}\n\n".encode()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, version: int) -> None:
        """Return when a version after `version` exists (callers bound the wait)."""
        if self.version == version:
            await self._changed.wait()


@dataclass(frozen=True, slots=True)
class HubTiming:
    interval: float = 1.0
    resync: float = 15.0
    heartbeat: float = HEARTBEAT


class Hub:
    """The process's view of every campaign's count, and the watchers of each."""

    def __init__(
        self,
        sessions: SessionFactory,
        bus: Bus,
        clock: Callable[[], datetime],
        timing: HubTiming = HubTiming(),
        *,
        watching: Callable[[float], None] = lambda _change: None,
    ) -> None:
        self._sessions = sessions
        self._watching = watching  # told +1 when a stream begins, -1 when it ends
        self._bus = bus
        self._clock = clock
        self._timing = timing
        self._topics: dict[int, Topic] = {}
        self._slugs: dict[str, int] = {}
        self._dirty: set[int] = set()
        self._everything_dirty = True
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._unknown = asyncio.Lock()
        self._loaded_at = -math.inf  # the last reading of every campaign
        self._read_at = -math.inf  # the last reading of any
        # Moves this process added to the snapshot (`counted`), numbered: a reading that began
        # before a move may not see it, and must not take it back.
        self._moves = 0
        self._moved: dict[int, int] = {}  # campaign id -> number of its latest move
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.started_at = clock()

    async def start(self) -> None:
        await self._bus.start(self.changed)
        self._task = asyncio.create_task(self._run())

    def end_streams(self) -> None:
        """End every live stream now (the server is shutting down); new ones end at once."""
        self._closing = True
        for topic in self._topics.values():
            topic.publish(topic.state, self._clock())  # wakes every watcher, which then ends

    async def stop(self) -> None:
        self.end_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._bus.stop()

    def changed(self, ids: frozenset[int] | None) -> None:
        """Called by the bus: these campaigns (None: any) changed somewhere."""
        if ids is None:
            self._everything_dirty = True
        else:
            self._dirty |= ids
        self._wake.set()

    async def reread(self, ids: frozenset[int]) -> None:
        """Read these campaigns again now: this process just changed them (an organiser's edit)."""
        if self._loaded_at != -math.inf:
            await self._refresh(ids)

    async def counted(self, moves: dict[int, int]) -> None:
        """This process committed these count changes: its own pages show them at once.

        Confirmations are added to the snapshot (the latest is the one just made); watchers
        hear of them with the next reading, at most once per interval, which also replaces
        these figures with the database's. A count that fell (a withdrawal, rare) is read
        again now: which confirmation is now the latest only the database knows.
        """
        now = self._clock()
        for campaign_id in moves:
            self._moves += 1
            self._moved[campaign_id] = self._moves
        fell = frozenset(campaign_id for campaign_id, delta in moves.items() if delta < 0)
        for campaign_id, delta in moves.items():
            topic = self._topics.get(campaign_id)
            if topic is not None and delta > 0:
                state = topic.state
                topic.state = dataclasses.replace(
                    state, count=state.count + delta, last_signature_at=now, changed_at=now
                )
        if fell:
            await self.reread(fell)

    def current(self, campaign_id: int) -> CampaignState | None:
        """The snapshot pages are drawn from now (no reading: None if not loaded)."""
        topic = self._topics.get(campaign_id)
        return topic.state if topic is not None else None

    async def states(self) -> list[CampaignState]:
        await self._ensure_loaded()
        return [topic.state for topic in self._topics.values()]

    async def by_slug(self, slug: str) -> CampaignState | None:
        await self._ensure_loaded()
        campaign_id = self._slugs.get(slug)
        if campaign_id is None:
            # Perhaps created since the last reading; unknown addresses read again at most
            # once per interval, however many are asked for.
            wait = self._timing.interval - self._since_load()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._unknown:
                if self._since_load() >= self._timing.interval:
                    await self._refresh(None)
            campaign_id = self._slugs.get(slug)
        return self._topics[campaign_id].state if campaign_id is not None else None

    async def watch(self, campaign_id: int) -> AsyncIterator[bytes]:
        """A campaign's stream: its count now, then each change, with heartbeats between."""
        topic = self._topics[campaign_id]
        version = topic.version
        self._watching(+1)
        try:
            yield f"retry: {RETRY_MS}\n\n".encode() + topic.event
            while not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._timing.heartbeat):
                        await topic.wait(version)
                if self._closing:
                    break
                if topic.version == version:
                    yield b": keep-alive\n\n"
                else:
                    version = topic.version
                    yield topic.event
        finally:
            self._watching(-1)

    def _since_load(self) -> float:
        return asyncio.get_running_loop().time() - self._loaded_at

    async def _ensure_loaded(self) -> None:
        if self._loaded_at == -math.inf:
            await self._refresh(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._timing.resync)
            if not self._wake.is_set():
                self._everything_dirty = True  # nothing announced for a while: read anyway
            # However many changes arrive, read at most once per interval.
            await asyncio.sleep(max(0.0, self._read_at + self._timing.interval - loop.time()))
            self._wake.clear()
            everything, self._everything_dirty = self._everything_dirty, False
            dirty, self._dirty = self._dirty, set()
            try:
                await self._refresh(None if everything else dirty)
            except Exception:
                log.exception("could not read the counts; trying again")
                self.changed(None if everything else frozenset(dirty))
                await asyncio.sleep(self._timing.interval)

    async def _refresh(self, ids: Collection[int] | None) -> None:
        """Read the given campaigns again (None: all of them) and publish what changed."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            started = loop.time()
            now = self._clock()
            moves_before = self._moves
            async with self._sessions() as session, session.begin():
                fresh = await read_states(session, ids, now)
            self._read_at = started
            if ids is None:
                for gone in set(self._topics) - {state.id for state in fresh}:
                    del self._slugs[self._topics.pop(gone).state.slug]
                self._loaded_at = started
            for state in fresh:
                topic = self._topics.get(state.id)
                if topic is None:
                    self._topics[state.id] = Topic(state, now)
                    self._slugs[state.slug] = state.id
                elif self._moved.get(state.id, 0) > moves_before:
                    # Counted here while we read: this reading may be older than the count
                    # pages show now. Keep theirs; the next reading settles it.
                    self.changed(frozenset({state.id}))
                elif state != topic.published:
                    topic.publish(state, now)
                else:  # the same for watchers; its text or notice may be new
                    topic.state = dataclasses.replace(state, changed_at=topic.state.changed_at)


async def read_states(
    session: AsyncSession, ids: Collection[int] | None, now: datetime
) -> Sequence[CampaignState]:
    """Campaigns with their counter sums and last confirmation: a few rows per campaign."""
    campaigns = select(Campaign)
    sums = select(CounterShard.campaign_id, func.sum(CounterShard.confirmed)).group_by(
        CounterShard.campaign_id
    )
    if ids is not None:
        if not ids:
            return ()
        campaigns = campaigns.where(Campaign.id.in_(ids))
        sums = sums.where(CounterShard.campaign_id.in_(ids))
    rows = list((await session.execute(campaigns)).scalars())
    totals = {campaign_id: int(total or 0) for campaign_id, total in await session.execute(sums)}
    latest = await session.execute(
        select(PrivacyNotice.campaign_id, func.max(PrivacyNotice.version))
        .where(PrivacyNotice.campaign_id.in_([c.id for c in rows]))
        .group_by(PrivacyNotice.campaign_id)
    )
    notices = {campaign_id: int(version) for campaign_id, version in latest}
    domains = await affiliations.domains_of(session, [c.id for c in rows])
    versions = await texts.of_campaigns(session, [c.id for c in rows])
    marks = await marks_of(session, [c.id for c in rows])
    states = []
    for campaign in rows:
        last = await session.scalar(
            select(func.max(Signature.confirmed_at)).where(
                Signature.campaign_id == campaign.id,
                Signature.status == SignatureStatus.CONFIRMED,
            )
        )
        states.append(
            CampaignState(
                id=campaign.id,
                slug=campaign.slug,
                title=campaign.title,
                kind=campaign.kind.value,
                goal=campaign.goal,
                opens_at=campaign.opens_at,
                closes_at=campaign.closes_at,
                count=totals.get(campaign.id, 0),
                last_signature_at=last,
                changed_at=now,
                campaign=campaign,
                notice=label_of(notices[campaign.id]) if campaign.id in notices else None,
                domains=domains.get(campaign.id, affiliations.NO_DOMAINS),
                texts=versions.get(campaign.id, ()),
                milestones=marks.get(campaign.id, ()),
            )
        )
    return states


class Cache(Generic[T]):
    """Per-campaign values read from the database, through a Memo of `ttl` seconds."""

    def __init__(
        self,
        sessions: SessionFactory,
        ttl: float,
        compute: Callable[[AsyncSession, int], Awaitable[T]],
    ) -> None:
        self._sessions = sessions
        self._compute = compute
        self._memo: Memo[int, T] = Memo(ttl)

    async def get(self, key: int) -> T:
        async def load() -> T:
            async with self._sessions() as session, session.begin():
                return await self._compute(session, key)

        return await self._memo.get(key, load)
