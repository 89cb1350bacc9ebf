"""Jinja environments for pages and for mail, both translated through petition.i18n."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from petition import audit, charts, forms, i18n
from petition.assets import Assets
from petition.brand import Brand

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def page_environment(
    templates_dir: Path = TEMPLATES_DIR, *, brand: Brand | None = None, assets: Assets | None = None
) -> Environment:
    """Pages: every template autoescaped; static files linked by their fingerprinted names."""
    env = _environment(templates_dir, autoescape=True, brand=brand or Brand())
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
    return env


@pass_context
def _number(context: Context, value: int) -> str:
    return format_decimal(value, locale=context.get("locale", i18n.DEFAULT_LOCALE))


@pass_context
def _date(context: Context, value: datetime, tz: str = "Europe/Paris") -> str:
    local = value.astimezone(ZoneInfo(tz))
    return format_date(local, format="long", locale=context.get("locale", i18n.DEFAULT_LOCALE))


@pass_context
def _datetime(context: Context, value: datetime, tz: str = "Europe/Paris") -> str:
    # Day, month, year and minutes: seconds and UTC offsets mean nothing to a signer.
    local = value.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0)
    return _minute(local, context.get("locale", i18n.DEFAULT_LOCALE))


@functools.lru_cache(maxsize=256)
def _minute(local: datetime, locale: str) -> str:
    """Formatted once per minute and language: the mails of a burst share their expiry's."""
    return format_datetime(local, format="d MMMM y, HH:mm", tzinfo=local.tzinfo, locale=locale)


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
