"""An organiser's reader key, given in the dashboard: the public half, made in the browser
(/static/keys.js) or pasted from the file that `petition keys create` wrote on their own
machine. The secret half never comes here; nor does a sealed export opened in the browser."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect

from petition import readers, sealing
from petition.i18n import _
from petition.models import Organiser
from petition.web.deps import Services, ServicesDep
from petition.web.organiser import AnyRequest, current_organiser
from petition.web.pages import render

SIGNED_IN = {"organiser": Provide(current_organiser)}


@get("/organiser/key", dependencies=SIGNED_IN)
async def key_page(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[str]:
    return await _page(request, services, organiser, error=None)


@post("/organiser/key", dependencies=SIGNED_IN)
async def give_key(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[Any]:
    form = await request.form()
    try:
        public = sealing.decode_public(str(form.get("public_key", "")))
    except sealing.SealError:
        return await _page(request, services, organiser, error=NOT_A_KEY, status_code=422)
    async with services.transaction() as session:
        try:
            await readers.add_organiser_key(session, organiser.id, public, services.clock())
        except readers.KeyInUse:
            return await _page(request, services, organiser, error=IN_USE, status_code=422)
    await services.scrub()  # campaigns sealed now: their clear copies out of the files too
    return Redirect("/organiser/key?saved=1", status_code=303)


@get("/organiser/open", dependencies=SIGNED_IN)
async def open_page(request: AnyRequest, services: ServicesDep) -> Response[str]:
    """A sealed export opened in the browser: the page has nothing of the server's to show."""
    return render(request, services, "organiser/open_export.html", {})


NOT_A_KEY = _("This is not a public key of petition: paste the whole line of your .pub file.")
IN_USE = _("This key is given already.")


async def _page(
    request: AnyRequest,
    services: Services,
    organiser: Organiser,
    *,
    error: str | None,
    status_code: int = 200,
) -> Response[str]:
    async with services.reading() as session:
        current = await readers.current_key(session, organiser.id)
    context = {
        "fingerprint": sealing.fingerprint(current) if current else None,
        "saved": request.query_params.get("saved") == "1",
        "error": error,
    }
    return render(request, services, "organiser/reader_key.html", context, status_code=status_code)
