"""Who runs the site, as every page and mail shows it: name, logo, accent colour, legal footer.

The accent colour is the organisation's; the colours derived from it are ours, chosen so that
text and controls keep WCAG 2.2 AA contrast in the light and the dark scheme alike. A colour
that cannot carry white text on a button and links on a white page is refused at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ACCENT = "#0b5cad"
# The dark scheme's page background (site.css, --color-bg in the dark scheme).
DARK_BACKGROUND = "#14161a"
AA_TEXT = 4.5
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".webp": "image/webp"}


class BrandError(ValueError):
    """A brand setting that the site cannot show as it is (bad colour, missing logo)."""


@dataclass(frozen=True)
class Brand:
    name: str = ""  # empty: the interface's own "Petitions", translated
    accent: str = DEFAULT_ACCENT
    logo: Path | None = None
    operator: str = ""  # who runs the site, as the footer names it
    contact: str = ""  # an address or a page where people reach them
    legal_notice: str = ""  # Markdown: the legal notice page (/legal); empty: no such page

    @property
    def accent_dark(self) -> str:
        """The accent lightened until it reads on the dark scheme's background."""
        return lighten_until(self.accent, DARK_BACKGROUND, AA_TEXT)

    @property
    def accent_hover(self) -> str:
        return mix(self.accent, "#000000", 0.18)

    @property
    def contact_href(self) -> str:
        if "@" in self.contact and not self.contact.startswith(("http://", "https://")):
            return f"mailto:{self.contact}"
        return self.contact

    def css(self) -> str:
        """The stylesheet that carries the brand (served as brand.css, fingerprinted)."""
        return (
            f":root{{--color-accent:{self.accent};--color-accent-hover:{self.accent_hover};"
            "--color-on-accent:#ffffff;}\n"
            "@media (prefers-color-scheme: dark){:root{"
            f"--color-accent:{self.accent_dark};"
            f"--color-accent-hover:{mix(self.accent_dark, '#ffffff', 0.2)};"
            f"--color-on-accent:{DARK_BACKGROUND};}}}}\n"
        )


def brand(
    *,
    name: str,
    accent: str,
    logo: str,
    operator: str,
    contact: str,
    legal_notice_file: str,
) -> Brand:
    """The brand from its settings; BrandError says what is wrong with them."""
    accent = accent.strip() or DEFAULT_ACCENT
    if not _HEX.match(accent):
        raise BrandError(f"PETITION_SITE_ACCENT must be a colour like #0b5cad, not {accent!r}")
    if contrast(accent, "#ffffff") < AA_TEXT:
        raise BrandError(
            f"PETITION_SITE_ACCENT {accent} is too light: white text on it and links on a white"
            f" page need a contrast of {AA_TEXT}:1 (it has {contrast(accent, '#ffffff'):.1f}:1);"
            " choose a darker shade"
        )
    logo_path = Path(logo) if logo else None
    if logo_path is not None:
        if logo_path.suffix.lower() not in LOGO_TYPES:
            raise BrandError("PETITION_SITE_LOGO must be an .svg, .png or .webp file")
        if not logo_path.is_file():
            raise BrandError(f"PETITION_SITE_LOGO: no file at {logo_path}")
    legal = ""
    if legal_notice_file:
        try:
            legal = Path(legal_notice_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise BrandError(f"PETITION_LEGAL_NOTICE_FILE: {exc}") from exc
    return Brand(
        name=name.strip(),
        accent=accent.lower(),
        logo=logo_path,
        operator=operator.strip(),
        contact=contact.strip(),
        legal_notice=legal,
    )


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _rgb(colour: str) -> tuple[int, int, int]:
    raw = colour.lstrip("#")
    return int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16)


def luminance(colour: str) -> float:
    r, g, b = (_channel(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: str, other: str) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def mix(colour: str, towards: str, share: float) -> str:
    ours, theirs = _rgb(colour), _rgb(towards)
    mixed = (round(a + (b - a) * share) for a, b in zip(ours, theirs, strict=True))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def lighten_until(colour: str, background: str, ratio: float) -> str:
    """The first mix of `colour` towards white that reaches `ratio` against `background`."""
    for step in range(21):
        candidate = mix(colour, "#ffffff", step / 20)
        if contrast(candidate, background) >= ratio:
            return candidate
    return "#ffffff"
