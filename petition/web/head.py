"""HEAD wherever GET is served: uptime monitors and link checkers ask with HEAD (RFC 9110 §9.3.2).

The request is handled as a GET, with its status and headers (Content-Length included), and
its body is not sent; a stream is ended at once. Nothing is computed twice for HEAD on purpose:
it is the same handler, so what a monitor sees is what a visitor gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from petition.web.ready import Ready


class Site(Litestar):
    """The application: Litestar, answering HEAD as GET without the body, and the most viewed
    public answers from those kept ready (petition.web.ready), when it is given them."""

    def __init__(self, *args: Any, ready: Ready | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        whole: ASGIApp = super().__call__  # lifespan scopes too: passed on as they are
        self._entry = ready.wrap(whole) if ready is not None else whole

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._entry(scope, receive, send)

    def _create_asgi_handler(self) -> ASGIApp:
        return head_as_get(super()._create_asgi_handler())


def head_as_get(app: ASGIApp) -> ASGIApp:
    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "HEAD":
            await app(scope, receive, send)
            return
        answered = False

        async def without_body(message: Message) -> None:
            nonlocal answered
            if answered:
                return
            if message["type"] == "http.response.body":
                answered = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        async def then_gone() -> Any:
            # Once answered, a stream still running learns that its client has gone.
            return {"type": "http.disconnect"} if answered else await receive()

        as_get: Any = {**scope, "method": "GET"}
        await app(as_get, then_gone, without_body)

    return handle
