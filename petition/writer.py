"""Group commit: the write work of requests that arrive together, committed together.

A commit costs an fsync (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit=on`), and
on SQLite one connection writes at a time. One transaction per request makes every signer of a
viral campaign wait for every fsync before theirs. Instead, requests hand their write work to
the writer, which runs whatever has queued up meanwhile in one transaction — each piece of work
isolated from the others, so that one bad request fails alone — commits once, and only then
answers each request. Nothing is answered as done before it is on disk.

Isolation is paid for only when it is needed: a batch runs first without savepoints (each is
two more statements per piece), and a request that comes alone runs in a transaction of its
own. If a piece raises, the whole transaction is rolled back and the batch runs again with each
piece in a savepoint of its own, where the failing one is rolled back alone and answered with
its error.

Pieces of one kind may be done together (`Together`): signings on PostgreSQL are one
statement for the whole batch. If that fails, the batch runs again isolated, each piece in its
own form (`Together.alone`).

A piece of work may therefore run twice, or more: if a batch's commit fails (a deadlock between
two PostgreSQL lanes, a full disk), each piece that had succeeded is run again alone, in its own
transaction. Work must keep its effects inside the session it is given. Once a batch has
committed, it is never run again: a failure of what follows the commit (telling other processes)
is logged, and each piece answered with its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, counts
from petition.bus import Bus
from petition.db import SessionFactory

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")
Work = Callable[[AsyncSession], Awaitable[T]]

_COMMITTED = "petition.committed"
MAX_BATCH = 128  # pieces of work per transaction: bounds the time a batch holds the writer


Counted = Callable[[dict[int, int]], Awaitable[None]]  # told of committed count changes


async def _nobody(_counted: dict[int, int]) -> None:
    return None


@contextlib.asynccontextmanager
async def transaction(
    sessions: SessionFactory,
    bus: Bus,
    counted: Counted = _nobody,
    reread: Callable[[frozenset[int]], Awaitable[None]] | None = None,
) -> AsyncIterator[AsyncSession]:
    """One transaction, committed on leaving, rolled back on error.

    Campaigns whose counts or details it changed are announced on the change bus, inside the
    transaction (PostgreSQL NOTIFY) or once it has committed (memory, Redis); the moves of
    their counts are told to `counted` (this process's live snapshot) once committed, and
    `reread`, if given, reads the changed campaigns again before the caller goes on.
    """
    async with sessions() as session:
        async with session.begin():
            yield session
            changed = changes.take(session)
            moves = changes.take_counted(session)
            if changed:
                await bus.in_transaction(session, changed)
        session.info[_COMMITTED] = True
        if moves:
            await counted(moves)
        if changed:
            await bus.after_commit(changed)
            if reread is not None:
                await reread(changed)


@dataclass(frozen=True, slots=True)
class Rest(Generic[T]):
    """What a piece done together leaves to do on its own, in the same transaction, after."""

    work: Work[T]


@dataclass(frozen=True, slots=True, eq=False)
class Together(Generic[P, T]):
    """A kind of work whose pieces can be done in one go: `together` gets the payloads of a
    batch's pieces of this kind and returns, for each in order, its result or its `Rest`."""

    together: Callable[[AsyncSession, list[P]], Awaitable[list[T | Rest[T]]]]

    def alone(self, payload: P) -> Work[T]:
        """The work of one piece, as it runs alone or isolated: `together` with itself only."""

        async def work(session: AsyncSession) -> T:
            (outcome,) = await self.together(session, [payload])
            return await outcome.work(session) if isinstance(outcome, Rest) else outcome

        return work


@dataclass(slots=True)
class _Item(Generic[T]):
    work: Work[T]
    kind: Together[Any, T] | None = None
    payload: Any = None
    answer: asyncio.Future[T] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Writer:
    """Runs write work in batches, `lanes` batches at a time (one on SQLite: one writer)."""

    def __init__(
        self, sessions: SessionFactory, bus: Bus, *, lanes: int = 1, counted: Counted = _nobody
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._lanes = lanes
        self._counted = counted
        self._queue: asyncio.Queue[_Item[Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._lane()) for _ in range(self._lanes)]

    async def stop(self) -> None:
        """Finish what was handed over, then stop."""
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run(self, work: Work[T]) -> T:
        """Run `work` in the next batch; return its result once the batch has committed."""
        return await self._run(_Item(work))

    async def run_together(self, kind: Together[P, T], payload: P) -> T:
        """The same for a piece of a kind done together with the others of the batch."""
        return await self._run(_Item(kind.alone(payload), kind, payload))

    async def _run(self, item: _Item[T]) -> T:
        if not self._tasks:  # not started (a command-line tool, a test of one function)
            async with transaction(self._sessions, self._bus, self._counted) as session:
                return await item.work(session)
        # Read its outcome even if nobody awaits it any more, so none is reported as lost.
        item.answer.add_done_callback(lambda answer: answer.cancelled() or answer.exception())
        self._queue.put_nowait(item)
        # The request may be abandoned (the client went away): its work still runs or not,
        # as a whole, but nobody waits for it.
        return await asyncio.shield(item.answer)

    async def _lane(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # never let the writer die: answer the batch with it
                log.exception("write batch failed")
                _fail(batch, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Item[Any]]) -> None:
        if len(batch) == 1:  # nothing to isolate it from: its own transaction, no savepoint
            await self._alone(batch[0])
            return
        results: list[Any] = []
        session: AsyncSession | None = None
        try:
            async with transaction(self._sessions, self._bus, self._counted) as session:
                results = await _all_or_nothing(batch, session)
        except _OneFailed:
            await self._each_isolated(batch)  # rolled back whole: each in a savepoint, again
            return
        except Exception:
            if not _committed(session):
                await self._each_isolated(batch)  # the commit failed: the same way
                return
            log.exception("a batch committed, but what follows its commit failed")
        _answer_all(batch, results)

    async def _each_isolated(self, batch: list[_Item[Any]]) -> None:
        done: list[tuple[_Item[Any], Any]] = []
        session: AsyncSession | None = None
        try:
            async with transaction(self._sessions, self._bus, self._counted) as session:
                for item in batch:
                    try:
                        async with session.begin_nested():
                            result = await item.work(session)
                    except Exception as exc:  # rolled back to its savepoint: nothing of it stays
                        _answer(item, exc=exc)
                    else:
                        done.append((item, result))
        except Exception:
            if _committed(session):
                log.exception("a batch committed, but what follows its commit failed")
            else:
                log.warning("a batch of %d could not commit; each is tried alone", len(done))
                for item, _ in done:
                    await self._alone(item)
                return
        for item, result in done:
            _answer(item, result=result)

    async def _alone(self, item: _Item[Any]) -> None:
        session: AsyncSession | None = None
        try:
            async with transaction(self._sessions, self._bus, self._counted) as session:
                result = await item.work(session)
        except Exception as exc:
            if not _committed(session):
                _answer(item, exc=exc)
                return
            log.exception("a piece of work committed, but what follows its commit failed")
        _answer(item, result=result)


async def _all_or_nothing(batch: list[_Item[Any]], session: AsyncSession) -> list[Any]:
    """The common case, without a savepoint per piece: every piece succeeds, or the first
    that raises rolls the whole batch back. Pieces of a kind done together go first.
    What the pieces add to the counters is written once, at the end (`counts.batched`)."""
    results: dict[int, Any] = {}
    kinds: dict[Together[Any, Any], list[_Item[Any]]] = {}
    for item in batch:
        if item.kind is not None:
            kinds.setdefault(item.kind, []).append(item)
    async with counts.batched(session):
        try:
            for kind, items in kinds.items():
                outcomes = await kind.together(session, [item.payload for item in items])
                for item, outcome in zip(items, outcomes, strict=True):
                    if isinstance(outcome, Rest):
                        outcome = await outcome.work(session)
                    results[id(item)] = outcome
            for item in batch:
                if item.kind is None:
                    results[id(item)] = await item.work(session)
        except Exception as exc:
            raise _OneFailed from exc
    return [results[id(item)] for item in batch]


def _committed(session: AsyncSession | None) -> bool:
    return session is not None and bool(session.info.get(_COMMITTED))


def _answer_all(batch: list[_Item[Any]], results: list[Any]) -> None:
    for item, result in zip(batch, results, strict=True):
        _answer(item, result=result)


class _OneFailed(Exception):
    """A piece of a batch run without savepoints raised: the batch is run again, isolated."""


def _answer(item: _Item[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if item.answer.done():
        return
    if exc is not None:
        item.answer.set_exception(exc)
    else:
        item.answer.set_result(result)


def _fail(batch: list[_Item[Any]], exc: BaseException) -> None:
    for item in batch:
        _answer(item, exc=exc)
