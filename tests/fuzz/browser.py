"""Blocking, browser-like clients for the fuzzing thread, judging every answer they get.

Hypothesis runs each property in a worker thread (`asyncio.to_thread`) while the server answers on
the test's event loop: a blocking client there cannot stall the server. Each example opens its own
browser (a fresh cookie jar), so that any example replays alone; the browsers of one test share a
connection pool (a new httpx client each would build an SSL context, 20 ms, for nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

import httpx

from tests.fuzz.oracle import Sent, ServerLog, judge
from tests.fuzz.submissions import CSRF_FIELD, Submission, Wire, encode
from tests.support.journey import csrf_of, hidden_fields

TOKEN_PAGE = "/manage"  # a page with a form: its CSRF token is the site's, valid on every form

# Past the size limit: refused as too large, or, at an address no page has (an empty token),
# not found before any body is read.
TOO_LARGE = frozenset({413, 404})


class Site:
    """The server under test as the fuzzing thread reaches it."""

    def __init__(self, base_url: str, log: ServerLog, max_body_bytes: int) -> None:
        self.base_url = base_url
        self.log = log
        self.max_body_bytes = max_body_bytes
        self._pool = httpx.HTTPTransport()

    def browser(self) -> Browser:
        """A new browser: no cookie yet. Loopback only: no proxy from the environment."""
        client = httpx.Client(
            base_url=self.base_url, transport=self._pool, timeout=30, trust_env=False
        )
        return Browser(client, self.log, self.max_body_bytes)

    def __enter__(self) -> Site:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pool.close()


class Browser:
    def __init__(self, client: httpx.Client, log: ServerLog, max_body_bytes: int) -> None:
        self.log = log
        self.max_body_bytes = max_body_bytes
        self._client = client  # its transport is the site's, closed with the site

    def open(self, target: str, headers: dict[str, bytes] | None = None) -> httpx.Response:
        """GET a page, as a link or the address bar does."""
        return self.send("GET", target, headers or {}, b"")

    def form_of(self, target: str) -> tuple[str, dict[str, str]]:
        """The CSRF token and the hidden fields a browser sends with the form of this page; the
        site's token when the page has no form (a closed campaign, an error page)."""
        page = self.open(target)
        fields = hidden_fields(page) if 'name="_csrf_token"' in page.text else {}
        token = fields.get(CSRF_FIELD) or csrf_of(self.open(TOKEN_PAGE))
        return token, fields

    def submit(
        self, target: str, drawn: Submission, fields: dict[str, str], token: str
    ) -> httpx.Response:
        """POST the form as the drawn submission says, with the page's hidden fields."""
        wire = encode(drawn, fields, token)
        return self.send("POST", target, wire.headers, wire.body, wire=wire)

    def send_oversized(
        self, target: str, body: bytes, content_type: str, *, chunked: bool
    ) -> httpx.Response:
        """POST a body past the limit: announced by Content-Length, or in chunks without one."""
        headers = {"content-type": content_type.encode()}
        return self.send("POST", target, headers, body, chunked=chunked, expected=TOO_LARGE)

    def send(
        self,
        method: str,
        target: str,
        headers: dict[str, bytes],
        body: bytes,
        *,
        wire: Wire | None = None,
        chunked: bool = False,
        expected: frozenset[int] | None = None,
    ) -> httpx.Response:
        content = _chunks(body) if chunked else body
        raw = [(name.encode(), value) for name, value in headers.items()]
        request = self._client.build_request(method, target, headers=raw, content=content)
        if wire is not None and wire.read_for_token and len(body) > self.max_body_bytes:
            expected = TOO_LARGE  # a body it does not read, the server may refuse otherwise
        since = self.log.mark()
        response = self._client.send(request)
        judge(self.log, _sent(request, body), response.status_code, since, expected=expected)
        return response


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _sent(request: httpx.Request, body: bytes) -> Sent:
    return Sent(
        method=request.method,
        target=request.url.raw_path.decode("ascii"),
        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw},
        body=body,
    )
