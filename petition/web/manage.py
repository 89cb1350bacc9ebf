"""'Manage my signature': a link by mail, then the signer's own page, with no account.

An unusable link raises LinkError inside the transaction: the app's handler rolls back and shows
the link page (404 unknown, 410 expired).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from petition import forms, manage, signing
from petition.defences import HONEYPOT
from petition.i18n import _
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, client_of, locale_of, render

AnyRequest = Request[Any, Any, Any]
# Link requests from one client address in 10 minutes before they are quietly dropped.
REQUESTS_PER_CLIENT = 10


@get("/manage")
async def request_page(request: AnyRequest, services: ServicesDep) -> Response[str]:
    return render(request, services, "manage_request.html", {"form": {}, "errors": {}})


@post("/manage")
async def request_link(request: AnyRequest, services: ServicesDep) -> Response[Any]:
    """The same answer whatever the address: signed, pending, withdrawn, unknown or capped."""
    form = await request.form()
    address, problem = forms.clean_email(str(form.get("email", "")))
    if problem:
        context = {
            "form": {"email": str(form.get("email", ""))[:254]},
            "errors": {"email": problem},
        }
        return render(request, services, "manage_request.html", context, status_code=422)
    if not await _quiet(request, services, form):
        async with services.transaction() as session:
            await manage.request_link(
                session, address, locale_of(request), _valid(services), services.signing_context()
            )
        services.sender.wake()
    return Redirect("/manage/sent", status_code=303)


@get("/manage/sent")
async def link_sent(request: AnyRequest, services: ServicesDep) -> Response[str]:
    hours = services.settings.manage_link_hours
    return render(request, services, "manage_sent.html", {"hours": hours})


@get("/manage/{token:str}")
async def own_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.reading() as session:
        email_hash = await manage.resolve(session, token, services.clock())
        signed = await manage.signatures(session, email_hash)
    done = DONE.get(str(request.query_params.get("done", "")), "")
    context = {"token": token, "signed": signed, "done": done, "errors": {}}
    return render(request, services, "manage.html", context)


@post("/manage/{token:str}/{ident:int}/publication")
async def change_publication(
    request: AnyRequest, services: ServicesDep, token: FromPath[str], ident: RowId
) -> Response[Any]:
    form = await request.form()
    choice = forms.publication_choice(str(form.get("publication", "")))
    async with services.transaction() as session:
        email_hash = await manage.resolve(session, token, services.clock())
        found = await manage.one(session, email_hash, ident)
        if found is not None and choice is not None:
            retyped = forms.retyped(form)
            try:
                await signing.set_publication(
                    session, found.signature, choice, services.clock(), retyped
                )
            except signing.MustRetype:
                return Redirect(f"/manage/{token}?done=retype", status_code=303)
    return Redirect(f"/manage/{token}?done=saved", status_code=303)


@post("/manage/{token:str}/{ident:int}/withdraw")
async def withdraw(
    request: AnyRequest, services: ServicesDep, token: FromPath[str], ident: RowId
) -> Response[Any]:
    async with services.transaction() as session:
        email_hash = await manage.resolve(session, token, services.clock())
        found = await manage.one(session, email_hash, ident)
        if found is not None:
            await signing.erase(session, found.signature.id, found.campaign.id, services.clock())
    await services.scrub()
    return Redirect(f"/manage/{token}?done=withdrawn", status_code=303)


@post("/manage/{token:str}/data")
async def mail_data(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    """A copy of the data goes to the address the link was sent to, never to the screen."""
    form = await request.form()
    address, problem = forms.clean_email(str(form.get("email", "")))
    async with services.transaction() as session:
        email_hash = await manage.resolve(session, token, services.clock())
        if problem:
            signed = await manage.signatures(session, email_hash)
            context = {"token": token, "signed": signed, "done": "", "errors": {"email": problem}}
            return render(request, services, "manage.html", context, status_code=422)
        await manage.mail_data(
            session, email_hash, address, locale_of(request), services.signing_context()
        )
    services.sender.wake()
    return Redirect(f"/manage/{token}?done=data", status_code=303)


async def _quiet(request: AnyRequest, services: Services, form: Any) -> bool:
    """Whether to drop this request silently: a robot filled the trap, or this connection
    asks too often (each request may send a mail to someone)."""
    if str(form.get(HONEYPOT, "")).strip():
        return True
    key = await services.defences.client_keys.key(client_of(request, services))
    hits = await services.defences.counter.hit(f"manage:{key}", timedelta(minutes=10))
    return hits > REQUESTS_PER_CLIENT


def _valid(services: Services) -> timedelta:
    return timedelta(hours=services.settings.manage_link_hours)


# Message ids used by the page for the result of an action (translated where rendered).
DONE = {
    "saved": _("Your choice is saved."),
    "retype": forms.RETYPE,
    "withdrawn": _("The signature is withdrawn and its data erased."),
    "data": _(
        "If this is the address our link was sent to, a copy of your data is on its way there."
    ),
}
