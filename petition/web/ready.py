"""Answers kept ready: the most viewed public GETs are made once per change, not once per view.

When a campaign goes viral, most requests are views of its page and reads of its count, and
they ask for the same bytes again and again. A handler whose answer depends only on one
campaign's live snapshot (`petition.live`) and on the language asked for says so with `keep`.
Its whole answer — status, headers as the middleware left them, body — is then kept, and the
next identical request is answered from it without entering the framework, for as long as:

- the process's snapshot of that campaign is the very one the answer was made from (a
  confirmation, an organiser's edit or another process's news replaces it at once), and
- the site's clock is in the same second (the form stamp, the status turning with the hour,
  Last-Modified and "closes in" have a resolution of a second at most).

Only a plain request is answered this way: GET, no query string, no conditional header, no
cookie but the CSRF token's and the language's. Anything else goes to the framework as before.

A page with a form carries each visitor's own CSRF token: the kept body is split around the
token it was made with, and each answer puts in the visitor's (their cookie's, or a new one
with its Set-Cookie, exactly as the CSRF middleware would). No visitor ever gets another's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.enums import ScopeType
from litestar.middleware.csrf import generate_csrf_token
from litestar.utils.scope.state import ScopeState

from petition.live import CampaignState, Hub
from petition.web.csrf import cookie as csrf_cookie

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Where a handler leaves its word in the request's scope state.
_MARK = "petition.ready"
_TOKEN = re.compile(rb"[0-9a-f]{128}")
_CONDITIONAL = frozenset({b"if-none-match", b"if-modified-since", b"if-match", b"range"})
MAX_ANSWERS = 512  # campaigns × languages × with and without a cookie; the oldest go first


@dataclass(frozen=True, slots=True)
class _Answer:
    state: CampaignState  # the snapshot it was made from (compared by identity)
    until: datetime  # the end of the second it was made in (only a 200 is kept)
    headers: tuple[tuple[bytes, bytes], ...]  # without the CSRF cookie
    pieces: tuple[bytes, ...]  # the body, split around the CSRF token
    csrf: bool  # the route hands out a CSRF token (and a cookie to whoever has none)


@dataclass(frozen=True, slots=True)
class _Ask:
    key: tuple[str, bytes, bytes]  # path, Accept-Language, language cookie
    token: bytes | None  # the visitor's CSRF cookie


def keep(request: Request[Any, Any, Any], state: CampaignState) -> None:
    """This answer depends on `state` and the language asked for, nothing else of the request."""
    request.scope["state"][_MARK] = state


class Ready:
    """The answers kept by this process, and how to tell whether one still holds."""

    def __init__(
        self, hub: Hub, clock: Callable[[], datetime], csrf: CSRFConfig, language_cookie: str
    ) -> None:
        self._hub = hub
        self._clock = clock
        self._answers: dict[tuple[str, bytes, bytes], _Answer] = {}
        self._secret = csrf.secret
        self._cookie_names = (csrf.cookie_name.encode(), language_cookie.encode())
        # The CSRF middleware's own Set-Cookie, with the token to be put in its place.
        placeholder = "0" * 128
        header = csrf_cookie(csrf, placeholder).to_header(header="")
        self._cookie_parts = tuple(part.encode("latin-1") for part in header.split(placeholder))

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """`app` (the whole site, its send hooks included) behind the answers kept ready."""

        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            ask = _plain(scope, *self._cookie_names)
            if ask is None:
                await app(scope, receive, send)
                return
            answer = self._answers.get(ask.key)
            if answer is not None and self._holds(answer):
                await self._send(answer, ask.token, send)
                return
            recorded: list[Message] = []

            async def recording(message: Message) -> None:
                recorded.append(message)
                await send(message)

            await app(scope, receive, recording)
            self._take(ask, scope, recorded)

        return handle

    def _holds(self, answer: _Answer) -> bool:
        return self._clock() < answer.until and self._hub.current(answer.state.id) is answer.state

    async def _send(self, answer: _Answer, token: bytes | None, send: Send) -> None:
        headers = answer.headers
        if answer.csrf:
            if token is None:
                token = generate_csrf_token(self._secret).encode()
                headers = (*headers, (b"set-cookie", token.join(self._cookie_parts)))
            body = token.join(answer.pieces)
        else:
            body = answer.pieces[0]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _take(self, ask: _Ask, scope: Scope, recorded: list[Message]) -> None:
        state = scope.get("state", {}).get(_MARK)
        if not isinstance(state, CampaignState) or len(recorded) != 2:
            return
        start, end = recorded
        if start["type"] != "http.response.start" or start["status"] != 200:
            return
        if end["type"] != "http.response.body" or end.get("more_body", False):
            return
        headers = []
        for name, value in start.get("headers", ()):
            if name.lower() == b"set-cookie":
                if not value.startswith(self._cookie_names[0] + b"="):
                    return  # a cookie of its own: not the same answer for everyone
                continue
            headers.append((name, value))
        made_with = ScopeState.from_scope(scope).csrf_token
        csrf = isinstance(made_with, str)
        token = made_with.encode() if isinstance(made_with, str) else b""
        if csrf and not _TOKEN.fullmatch(token):
            return
        body = bytes(end.get("body", b""))
        pieces = tuple(body.split(token)) if csrf else (body,)
        now = self._clock()
        answer = _Answer(
            state=state,
            until=now.replace(microsecond=0) + timedelta(seconds=1),
            headers=tuple(headers),
            pieces=pieces,
            csrf=csrf,
        )
        if len(self._answers) >= MAX_ANSWERS and ask.key not in self._answers:
            del self._answers[next(iter(self._answers))]
        self._answers[ask.key] = answer


def _plain(scope: Scope, token_cookie: bytes, language_cookie: bytes) -> _Ask | None:
    """What a plain GET asks for, or None when it is anything more."""
    if scope["type"] != ScopeType.HTTP or scope["method"] != "GET" or scope["query_string"]:
        return None
    language = b""
    cookie = b""
    for name, value in scope["headers"]:
        if name == b"accept-language":
            language = value
        elif name == b"cookie":
            cookie = value if not cookie else cookie + b"; " + value
        elif name in _CONDITIONAL:
            return None
    token: bytes | None = None
    lang = b""
    if cookie:
        for part in cookie.split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == token_cookie and token is None and _TOKEN.fullmatch(value):
                token = value
            elif name == language_cookie and not lang:
                lang = value
            elif name:
                return None  # a session, a cookie twice or unknown: the framework decides
    return _Ask((scope["path"], language, lang), token)
