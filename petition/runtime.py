"""The interpreter's garbage collector, set for a long-running server once it has started.

CPython's cyclic collector runs every 700 new container objects, and each of its full passes
walks every object the process holds: the modules, the SQLAlchemy metadata and compiled
statement caches, the templates, the live snapshot. A signing allocates a few thousand objects,
so the collector ran several times per request and a full pass took milliseconds — GC pauses
were one of the longest waits of a request under load (see bench/README.md).

Once the process has loaded what it keeps for its whole life, `settled` moves those objects out
of the collector's sight (`gc.freeze`: they are never freed anyway) and lets the young
generation grow larger before a pass. Reference cycles are still found and freed, later and in
fewer passes; memory that is not a cycle is freed at once by reference counting, as always.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG = 20_000  # new container objects before a pass over the youngest generation (700)
OLDER = 20  # passes of a generation before one of the next (10)


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """Enter once start-up is over: collect, freeze what survived, collect less often. On
    leaving, as before: what was frozen can be freed again (a process that serves again, tests)."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
