"""Schemathesis draws requests from the server's own OpenAPI description (/api/v1/openapi.json):
valid ones and ones that break it, with real slugs and mailed tokens mixed in so that requests
reach campaigns and signatures, not only 404 pages. None may get a 5xx or log a traceback.

The drawing runs in a worker thread with blocking requests, while the server answers on the
test's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.fuzz import budget
from tests.fuzz.conftest import World
from tests.fuzz.oracle import Sent, ServerLog, assert_quiet, judge

pytestmark = pytest.mark.filterwarnings(budget.RANDOM_IN_SERVER)
DESCRIPTION = "/api/v1/openapi.json"
EXAMPLES = 120  # about 10 s on SQLite
REQUEST_TIMEOUT = 10  # seconds; also what an event stream is read for at most
REAL_VALUE_SHARE = 0.6  # of path parameters drawn from what exists rather than made up


async def test_no_documented_request_gets_a_5xx_or_logs_a_traceback(
    world: World, server_log: ServerLog
) -> None:
    schema = schemathesis.openapi.from_dict(await _description(world), config=_config(world))
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(
        GenerationMode.NEGATIVE
    )

    @budget.profile(budget.examples(EXAMPLES, world.database_url))
    @given(case=strategy)
    def fuzz(case: schemathesis.Case[Any]) -> None:
        since = server_log.mark()
        response = case.call(base_url=world.base_url, timeout=REQUEST_TIMEOUT)
        judge(server_log, _sent(response), response.status_code, since)
        case.validate_response(response, checks=[not_a_server_error])

    start = server_log.mark()
    await asyncio.to_thread(fuzz)
    await asyncio.sleep(0.5)  # the mail sender's work started by the last requests
    assert_quiet(server_log, start, "outside the requests")


async def _description(world: World) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=world.base_url, timeout=30) as client:
        answer = await client.get(DESCRIPTION)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def _config(world: World) -> schemathesis.Config:
    def real(dictionary: str) -> dict[str, Any]:
        return {"dictionary": dictionary, "probability": REAL_VALUE_SHARE}

    return schemathesis.Config.from_dict(
        {
            "base-url": world.base_url,
            # The live stream never ends: its first event (sent at once) is enough.
            "max-stream-events": 1,
            "dictionaries": {
                "slugs": {"values": list(world.slugs)},
                "tokens": {"values": list(world.tokens)},
            },
            "parameters": {"path.slug": real("slugs"), "path.token": real("tokens")},
        }
    )


def _sent(response: schemathesis.Response) -> Sent:
    request = response.request
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    return Sent(
        method=str(request.method),
        target=str(request.path_url),
        headers={str(k): str(v) for k, v in request.headers.items()},
        body=body if isinstance(body, bytes) else b"",
    )
