"""Jinja environments for pages and for mail, both translated through petition.i18n."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from petition import audit, campaigns, charts, dates, forms, i18n
from petition.assets import Assets
from petition.brand import Brand

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def page_environment(
    templates_dir: Path = TEMPLATES_DIR,
    *,
    brand: Brand | None = None,
    assets: Assets | None = None,
    accessibility: str = "partial",
) -> Environment:
    """Pages: every template autoescaped; static files linked by their fingerprinted names;
    `accessibility` the declared conformity (the footer names it, as the RGAA asks)."""
    env = _environment(templates_dir, autoescape=True, brand=brand or Brand())
    env.globals["accessibility"] = accessibility
    if assets is None:
        assets = Assets(STATIC_DIR, brand or Brand())
    env.globals["asset"] = assets.url
    env.globals["logo_url"] = assets.url(assets.logo_name) if assets.logo_name else None
    return env


def mail_environment(
    templates_dir: Path = TEMPLATES_DIR, *, brand: Brand | None = None
) -> Environment:
    """Mail: only the .html parts are escaped; plain-text parts must stay plain."""
    autoescape = select_autoescape(["html"], default=False)
    return _environment(templates_dir, autoescape=autoescape, brand=brand or Brand())


def _environment(templates_dir: Path, autoescape: Any, brand: Brand) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=autoescape,  # noqa: S701  # always given: True for pages, .html parts of mail
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates are part of the release: compiled once, not checked on disk per use
        # (a stat of each file and of what it extends, per page and per mail).
        auto_reload=False,
        cache_size=-1,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals["brand"] = brand
    env.globals["bar_chart"] = charts.bar_chart
    env.globals["publication_labels"] = forms.PUBLICATION_LABELS
    env.globals["audit_actions"] = audit.ACTIONS
    env.filters["number"] = _number
    env.filters["date"] = _date
    env.filters["datetime"] = _datetime
    env.filters["closing_day"] = _closing_day
    env.filters["time_left"] = time_left
    env.filters["excerpt"] = campaigns.excerpt
    env.filters["own_lang"] = _own_lang
    return env


@pass_context
def _own_lang(context: Context, text: str, language: str) -> Markup | str:
    """A campaign's words inside a page in another language, marked with their own (WCAG 3.1.2)."""
    if language == context.get("locale", i18n.DEFAULT_LOCALE):
        return text
    return Markup('<span lang="{}">{}</span>').format(language, text)


@pass_context
def _number(context: Context, value: int) -> str:
    return format_decimal(value, locale=context.get("locale", i18n.DEFAULT_LOCALE))


@pass_context
def _date(context: Context, value: date | datetime, tz: str = "Europe/Paris") -> str:
    return dates.long_date(value, context.get("locale", i18n.DEFAULT_LOCALE), tz)


@pass_context
def _datetime(context: Context, value: datetime, tz: str = "Europe/Paris") -> str:
    return dates.long_datetime(value, context.get("locale", i18n.DEFAULT_LOCALE), tz)


@pass_context
def _closing_day(context: Context, closes_at: datetime, tz: str = "Europe/Paris") -> str:
    """Campaigns close at midnight after their last day; people think in that last day."""
    return _date(context, closes_at - timedelta(seconds=1), tz)


def time_left(closes_at: datetime, now: datetime) -> str:
    """ "12 days left", "5 hours left", "less than an hour left": the signer's sense of urgency."""
    remaining = closes_at - now
    if remaining >= timedelta(days=2):
        days = remaining.days
        return i18n.ngettext("%(num)s day left", "%(num)s days left", days) % {"num": days}
    hours = int(remaining.total_seconds() // 3600)
    if hours >= 1:
        return i18n.ngettext("%(num)s hour left", "%(num)s hours left", hours) % {"num": hours}
    return i18n.gettext("Less than an hour left")
