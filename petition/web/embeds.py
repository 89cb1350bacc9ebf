"""What other sites may show: a widget to put in an iframe, and an SVG badge with the count."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from litestar import Request, Response, get
from litestar.params import FromPath

from petition import i18n
from petition.brand import DEFAULT_ACCENT
from petition.web import ready
from petition.web.caching import cacheable
from petition.web.deps import ServicesDep
from petition.web.pages import campaign_state, render_body

AnyRequest = Request[Any, Any, Any]
# The one route another site may frame; every other answer forbids it (web.headers).
FRAMEABLE = "frame-ancestors *"


@get("/c/{slug:str}/widget", summary="Embeddable widget: count, progress and a link to sign")
async def widget(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[bytes]:
    state = await campaign_state(services, slug)
    now = services.clock()
    context = {"state": state, "now": now, "url": f"{services.settings.public_url}/c/{slug}"}
    ready.keep(request, state)
    locale, body = render_body(request, services, "widget.html", context)
    response = cacheable(
        request, services.settings, body.encode(), "text/html", state.modified(now)
    )
    response.headers.update(
        {
            "Content-Security-Policy": FRAMEABLE,
            "Content-Language": locale,
            "Vary": "Accept-Encoding, Accept-Language, Cookie",
        }
    )
    return response


@get(
    "/c/{slug:str}/badge.svg",
    summary="SVG badge with the count",
    media_type="image/svg+xml",
)
async def badge(request: AnyRequest, services: ServicesDep, slug: FromPath[str]) -> Response[bytes]:
    state = await campaign_state(services, slug)
    ready.keep(request, state)
    locale = _locale(request)
    with i18n.using(services.catalogs, locale):
        label = i18n.ngettext("signature", "signatures", state.count)
    svg = badge_svg(label, format_decimal(state.count, locale=locale), services.brand.accent)
    response = cacheable(
        request, services.settings, svg.encode(), "image/svg+xml", state.modified(services.clock())
    )
    response.headers["Vary"] = "Accept-Encoding, Accept-Language"
    return response


def _locale(request: AnyRequest) -> str:
    # No cookie: a badge is shown on other sites, in the language its address or browser asks.
    return i18n.negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))


def _text_width(text: str) -> int:
    """Approximate width in pixels of `text` at 11 px in a common sans-serif."""
    narrow = sum(1 for c in text if c in "ijlt .,\u202f\u00a0")
    return round(7 * (len(text) - narrow) + 3.5 * narrow) + 10


# The label's side: white on it reads at 7.5:1; the value's side is the brand's accent, which
# brand.py refuses unless white text on it reaches 4.5:1.
LABEL_FILL = "#555"


def badge_svg(label: str, value: str, accent: str = DEFAULT_ACCENT) -> str:
    """The badge: `label` on grey, `value` on the accent, both named by its <title>."""
    left, right = _text_width(label), _text_width(value)
    width = left + right
    text = f"{value} {label}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img"'
        f' aria-label="{_xml(text)}"><title>{_xml(text)}</title>'
        f'<rect width="{left}" height="20" fill="{LABEL_FILL}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{_xml(accent)}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="DejaVu Sans,Verdana,sans-serif"'
        ' font-size="11">'
        f'<text x="{left / 2}" y="14">{_xml(label)}</text>'
        f'<text x="{left + right / 2}" y="14">{_xml(value)}</text>'
        "</g></svg>"
    )


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
