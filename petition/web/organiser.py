"""Organisers' pages: login, logout, choosing a password, resetting it, and their dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath
from litestar.response import Redirect
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from petition import i18n, mailcap, organisers, outbox, tokens, totp
from petition.forms import clean_email
from petition.i18n import _
from petition.models import Organiser
from petition.passwords import password_problem
from petition.web import csrf
from petition.web.deps import Services, ServicesDep
from petition.web.pages import client_of, locale_of, render

AnyRequest = Request[Any, Any, Any]
LOGIN = "/organiser/login"


async def current_organiser(request: AnyRequest, services: ServicesDep) -> Organiser:
    """The signed-in organiser; anyone else is sent to the login page."""
    token = request.cookies.get(services.session_cookie, "")
    organiser = None
    if token:
        async with services.transaction() as session:
            organiser = await organisers.current(
                session, token, services.clock(), services.session_policy
            )
    if organiser is None:
        raise NotAuthorizedException
    return organiser


@get(LOGIN)
async def login_page(request: AnyRequest, services: ServicesDep) -> Response[str]:
    return render(request, services, "organiser/login.html", {"error": None})


@post(LOGIN)
async def login(request: AnyRequest, services: ServicesDep) -> Response[Any]:
    form = await request.form()
    email, _problem = clean_email(str(form.get("email", "")))
    password = str(form.get("password", ""))
    attempt = await services.login_throttle.admit(
        tokens.email_hash(services.secret, email), client_of(request, services)
    )
    if attempt is None:
        return _login_refused(request, services, "throttled", 429)
    async with services.reading() as session:
        found = await organisers.find(session, secret=services.secret, email=email)
    # Hashing takes a while, and may wait for its turn: no database connection is held meanwhile.
    verified = await organisers.verify_password(services.passwords, found, password)
    cookie = None
    if verified is not None:
        async with services.transaction() as session:
            cookie = await organisers.sign_in(
                session,
                verified,
                str(form.get("code", "")),
                secret=services.secret,
                now=services.clock(),
                address=email,
            )
    if cookie is None:
        return _login_refused(request, services, "invalid", 400)
    await services.login_throttle.succeeded(attempt)
    # A new CSRF token with the new privileges: one planted in the browser before is void.
    cookies = [
        _session_cookie(services, cookie),
        csrf.fresh_cookie(services.settings, services.secret),
    ]
    return Redirect("/dashboard", status_code=303, cookies=cookies)


@post("/organiser/logout")
async def logout(request: AnyRequest, services: ServicesDep) -> Response[Any]:
    token = request.cookies.get(services.session_cookie, "")
    if token:
        async with services.transaction() as session:
            await organisers.close_session(session, token)
    expired = _session_cookie(services, "", max_age=0)
    return Redirect(LOGIN, status_code=303, cookies=[expired])


@get("/organiser/password/{token:str}")
async def password_page(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[str]:
    async with services.transaction() as session:
        await organisers.check_password_link(session, token, services.clock())
    return render(
        request,
        services,
        "organiser/password.html",
        {"token": token, "error": None},
    )


@post("/organiser/password/{token:str}")
async def choose_password(
    request: AnyRequest, services: ServicesDep, token: FromPath[str]
) -> Response[Any]:
    form = await request.form()
    password = str(form.get("password", ""))
    error = password_problem(password)
    if error is None and password != form.get("password_again"):
        error = _("The two passwords differ.")
    if error is not None:
        context = {"token": token, "error": error}
        return render(request, services, "organiser/password.html", context, status_code=422)
    async with services.transaction() as session:
        await organisers.set_password(
            session, services.passwords, token, password, services.clock()
        )
    return Redirect(f"{LOGIN}?password=changed", status_code=303)


@get("/organiser/reset")
async def reset_page(request: AnyRequest, services: ServicesDep) -> Response[str]:
    return render(
        request,
        services,
        "organiser/reset.html",
        _reset_context(services, sent=False),
    )


@post("/organiser/reset")
async def request_reset(request: AnyRequest, services: ServicesDep) -> Response[str]:
    """The same answer whether or not the address belongs to an organiser."""
    form = await request.form()
    email, problem = clean_email(str(form.get("email", "")))
    if problem is None:
        async with services.transaction() as session:
            await _queue_reset_mail(session, services, email, locale_of(request))
        services.sender.wake()
    return render(
        request,
        services,
        "organiser/reset.html",
        _reset_context(services, sent=True),
    )


async def _queue_reset_mail(
    session: AsyncSession, services: Services, email: str, locale: str
) -> None:
    now = services.clock()
    organiser = await organisers.find(session, secret=services.secret, email=email)
    if organiser is None:
        return
    if not await mailcap.take_for_organiser(session, organiser.email_hash, now):
        return
    valid_for = timedelta(minutes=services.settings.password_reset_minutes)
    token = await organisers.password_link(session, organiser, now=now, valid_for=valid_for)
    context: dict[str, object] = {
        "name": organiser.name,
        "reset_url": f"{services.settings.public_url}/organiser/password/{token}",
        "minutes": services.settings.password_reset_minutes,
    }
    await outbox.enqueue(
        session,
        template="password_reset",
        to=email,
        mail=services.render_mail("password_reset", locale, context),
        now=now,
    )


def _session_cookie(services: Services, value: str, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=services.session_cookie,
        value=value,
        path="/",
        httponly=True,
        secure=services.settings.secure_cookies,
        samesite="lax",
        max_age=max_age
        if max_age is not None
        else services.settings.organiser_session_hours * 3600,
    )


def _login_refused(
    request: AnyRequest, services: Services, reason: str, status: int
) -> Response[str]:
    return render(
        request,
        services,
        "organiser/login.html",
        {"error": reason},
        status_code=status,
    )


def _reset_context(services: Services, *, sent: bool) -> dict[str, object]:
    return {"sent": sent, "minutes": services.settings.password_reset_minutes}


@get("/organiser/2fa", dependencies={"organiser": Provide(current_organiser)})
async def two_factor_page(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[str]:
    return _two_factor(request, services, organiser, totp.new_secret(), error=False)


@post("/organiser/2fa", dependencies={"organiser": Provide(current_organiser)})
async def enable_two_factor(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[Any]:
    """The secret comes back from the page that showed it; only a matching code saves it."""
    form = await request.form()
    secret = str(form.get("secret", ""))
    async with services.transaction() as session:
        enabled = organiser.totp_secret is None and await organisers.enable_2fa(
            session,
            organiser,
            secret,
            str(form.get("code", "")),
            server_secret=services.secret,
            now=services.clock(),
        )
    if not enabled:
        return _two_factor(request, services, organiser, secret, error=True)
    return Redirect("/dashboard", status_code=303)


def _two_factor(
    request: AnyRequest, services: Services, organiser: Organiser, secret: str, *, error: bool
) -> Response[str]:
    issuer = services.settings.public_url.split("://", 1)[1]
    uri = totp.provisioning_uri(secret, organiser.name, issuer)
    with i18n.using(services.catalogs, locale_of(request)):
        title = i18n.gettext("QR code for your authenticator app")
    context = {
        "enabled": organiser.totp_secret is not None,
        "secret": secret,
        "qr": Markup(totp.qr_svg(uri, title)),  # noqa: S704  # SVG built by segno from our own URI
        "error": error,
    }
    status = 422 if error else 200
    return render(request, services, "organiser/two_factor.html", context, status_code=status)
