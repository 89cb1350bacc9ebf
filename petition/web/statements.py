"""What the site states of itself: its accessibility (the RGAA statement) and its legal notice."""

from __future__ import annotations

import functools
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from markupsafe import Markup

from petition import campaigns, i18n
from petition.i18n import _
from petition.web.deps import Services, ServicesDep
from petition.web.pages import locale_of, render

AnyRequest = Request[Any, Any, Any]
# The recourse of the French procedure, said in both languages on every version of the page:
# it is addressed to a French authority, whichever language the reader chose.
RECOURSE = {
    "when": _(
        "Use this procedure if you have told the operator of this site about an accessibility"
        " problem that prevents you from using some content or service, and have not received"
        " a satisfactory answer."
    ),
    "you_may": _("You may:"),
    "form": _("write to the Défenseur des droits through its online form;"),
    "delegate": _("contact the delegate of the Défenseur des droits in your region;"),
    "phone": _("call the Défenseur des droits on 09 69 39 00 00 (charged as a local call);"),
    "post": _("send a letter by post, free of charge (no stamp needed):"),
}
# Where the recourse is made: plain links to the authority's own site, followed only by choice.
RECOURSE_LINKS = {
    "form": "https://formulaire.defenseurdesdroits.fr/",
    "delegate": "https://www.defenseurdesdroits.fr/",
}
MSGID_LANGUAGE = "en"  # message ids are English: the English recourse needs no catalog
LANGUAGE_NAMES = {"fr": "En français", "en": "In English"}


@get("/accessibility", summary="The accessibility statement of this site (RGAA)")
async def accessibility_page(request: AnyRequest, services: ServicesDep) -> Response[str]:
    settings = services.settings
    locale = locale_of(request)
    context = {
        "status": settings.accessibility_status,
        "audit": settings.accessibility_audit.strip(),
        "exceptions": _lines(settings.accessibility_exceptions),
        "established": settings.accessibility_statement_day,
        "site_url": settings.public_url if settings.base_url else "",
        "contact_link": _link(services.brand.contact_href),
        "recourse": _recourse_in_each_language(services, locale),
        "recourse_links": RECOURSE_LINKS,
    }
    return render(request, services, "accessibility.html", context)


@get("/legal", summary="The legal notice of this site (404 when its operator has set none)")
async def legal_page(request: AnyRequest, services: ServicesDep) -> Response[str]:
    if not services.brand.legal_notice.strip():
        raise NotFoundException
    context = {"notice": _notice_html(services.brand.legal_notice)}
    return render(request, services, "legal.html", context)


@functools.lru_cache(maxsize=4)  # one file, read at start-up: rendered once
def _notice_html(markdown: str) -> Markup:
    """The operator's Markdown, as sanitised as a campaign's text."""
    return Markup(campaigns.render_markdown(markdown))  # noqa: S704  # sanitised there, by nh3


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _link(href: str) -> str:
    """The contact as a link when it is an address or a page; other text is only shown."""
    return href if href.startswith(("mailto:", "https://", "http://")) else ""


def _recourse_in_each_language(services: Services, locale: str) -> list[dict[str, str]]:
    """The page's language first, then every other one whose catalog translates it all: a
    block marked as French must not say English words."""
    shown = []
    for lang in [locale, *(other for other in i18n.LOCALES if other != locale)]:
        catalog = services.catalogs.get(lang, services.catalogs[i18n.DEFAULT_LOCALE])
        words = {key: catalog.gettext(message) for key, message in RECOURSE.items()}
        translated = lang == MSGID_LANGUAGE or all(words[k] != m for k, m in RECOURSE.items())
        if lang == locale or translated:
            shown.append({**words, "lang": lang, "language": LANGUAGE_NAMES.get(lang, lang)})
    return shown
