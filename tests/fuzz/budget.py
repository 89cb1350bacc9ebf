"""How long the fuzz tests run, and the hypothesis profile they share.

Each fuzz target draws `default` examples (its own, chosen so that the whole folder takes about a
minute on SQLite plus one short PostgreSQL pass), or PETITION_FUZZ_EXAMPLES of them when that
variable is set, for a longer search:

    PETITION_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/fuzz

On PostgreSQL every target draws a tenth as many: the database-specific paths are few, the ones
through the web layer are the same on both.

A failure prints the falsifying example and a `@reproduce_failure` blob (`print_blob`). Examples
are random on each run (`derandomize` off) and none is kept between runs (`database=None`).
Hypothesis still keeps caches (Unicode tables, constants read from our source): in the system's
temporary directory, not in a `.hypothesis/` directory of the working tree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

VARIABLE = "PETITION_FUZZ_EXAMPLES"
# Hypothesis warns when the global `random` state changes while it draws an example, taking it
# for a strategy that uses `random`. Here the server answers in the same process meanwhile, and
# it draws from `random` itself (counter shards, retry jitter): the change is not ours. Each fuzz
# module applies this filter to its own tests only (`pytestmark`).
RANDOM_IN_SERVER = (
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
PROFILE = "petition-fuzz"
POSTGRESQL_SHARE = 10  # PostgreSQL draws 1/POSTGRESQL_SHARE of the examples
MINIMUM = 5

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "petition-hypothesis")
settings.register_profile(
    PROFILE,
    deadline=None,  # a request to a live server has no stable duration
    database=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[
        # Every example is a round trip to the server: slow by nature.
        HealthCheck.too_slow,
        # Fields of 10,000 characters and more are built on purpose.
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def examples(default: int, database_url: str) -> int:
    """The number of examples for one fuzz target on this database."""
    raw = os.environ.get(VARIABLE, "").strip()
    try:
        count = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{VARIABLE} must be a whole number, not {raw!r}") from None
    if database_url.startswith("postgresql"):
        count //= POSTGRESQL_SHARE
    return max(MINIMUM, count)


def profile(max_examples: int) -> settings:
    """The shared profile with this target's number of examples."""
    return settings(settings.get_profile(PROFILE), max_examples=max_examples)
