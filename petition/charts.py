"""Bar charts as inline SVG, drawn on the server: no JavaScript, nothing fetched from elsewhere.

The chart is meant to sit in an HTML page next to a table of the same numbers. It carries its
own accessible name and description, and every bar a tooltip ("label: value") that screen
readers read too. Colours come from `currentColor` and classes (`chart`, `grid`, `baseline`,
`bar`, `axis-label` with `x-label` or `y-label`), so a stylesheet decides how it looks; the
drawing has no width of its own and fills its container (`width: 100%; height: auto`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# The drawing is made for a phone: its viewBox is about as wide as the chart is shown on a 390 px
# screen (some 330 px once the page's margins are taken), so a font-size of 14 user units reads as
# at least 12 px there. On a wider screen it grows with its container, text included.
WIDTH = 360
HEIGHT = 200
FONT_SIZE = 14
# Room around the plot for the labels, in SVG user units (the viewBox is width × height).
_TOP = 12
_BOTTOM = 26
_RIGHT = 6
_CHAR_WIDTH = 8.5  # a generous average glyph width at FONT_SIZE, to keep labels apart
_LABEL_GAP = 12  # at least this much room between two x labels
_GRIDLINES = 4  # about this many steps up the y axis
_GAP = 0.2  # share of each bar's slot left empty between bars


@dataclass(frozen=True, slots=True)
class _Plot:
    """Where the bars go, in SVG user units."""

    left: float
    top: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height


def bar_chart(
    points: Sequence[tuple[str, int]],
    *,
    title: str,
    description: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """An `<svg>` bar chart of (label, value) points, in order, values zero or more.

    `width` and `height` set the drawing's proportions and coordinate system (the viewBox);
    on the page it takes the width of its container.
    """
    if any(value < 0 for _, value in points):
        raise ValueError("bar charts here show counts, which are never negative")
    ticks = _ticks(max((value for _, value in points), default=0))
    label_width = _CHAR_WIDTH * max(len(str(tick)) for tick in ticks) + 8
    plot = _Plot(
        left=label_width,
        top=_TOP,
        width=max(1, width - label_width - _RIGHT),
        height=max(1, height - _TOP - _BOTTOM),
    )
    ident = _ident(points, title, description)
    parts = [
        # No width or height: the chart fills the width of its container and keeps its shape.
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{ident}-title {ident}-desc" '
        f'font-size="{FONT_SIZE}" fill="currentColor">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        *_gridlines(plot, ticks),
        *_bars(plot, points, ticks[-1]),
        *_x_labels(plot, [label for label, _ in points], width),
        "</svg>",
    ]
    # Every piece of text above went through escape(); the rest is our own numbers.
    return Markup("\n".join(parts))  # noqa: S704


def _ident(points: Sequence[tuple[str, int]], title: str, description: str) -> str:
    """An id prefix tying <title> and <desc> to the chart for assistive technology. Derived
    from the content, so the output is reproducible and two different charts on a page differ."""
    digest = hashlib.sha256(repr((title, description, tuple(points))).encode()).hexdigest()
    return f"chart-{digest[:12]}"


def _ticks(largest: int) -> list[int]:
    """Round values for the y axis, from 0 to at least `largest`, in steps of 1, 2 or 5 × 10ⁿ."""
    if largest <= 0:
        return [0]
    rough = -(-largest // _GRIDLINES)  # the step that would give exactly _GRIDLINES steps
    magnitude = 10 ** (len(str(rough)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    top = -(-largest // step) * step
    return list(range(0, top + 1, step))


def _y(plot: _Plot, value: int, top: int) -> float:
    # `top` is 0 only when every value is 0: then every bar is flat on the baseline.
    return plot.bottom - (plot.height * value / top if top else 0.0)


def _gridlines(plot: _Plot, ticks: list[int]) -> list[str]:
    """A line and a label per tick; the one at 0 is the baseline."""
    lines = []
    right = _n(plot.left + plot.width)
    for tick in ticks:
        y = _n(_y(plot, tick, ticks[-1]))
        kind = "baseline" if tick == 0 else "grid"
        opacity = "0.6" if tick == 0 else "0.2"
        lines.append(
            f'<line class="{kind}" x1="{_n(plot.left)}" y1="{y}" x2="{right}" y2="{y}" '
            f'stroke="currentColor" stroke-opacity="{opacity}" stroke-width="1"/>'
        )
        lines.append(
            f'<text class="axis-label y-label" x="{_n(plot.left - 6)}" y="{y}" '
            f'text-anchor="end" dominant-baseline="middle">{tick}</text>'
        )
    return lines


def _bars(plot: _Plot, points: Sequence[tuple[str, int]], top: int) -> list[str]:
    if not points:
        return []
    slot = plot.width / len(points)
    bars = []
    for index, (label, value) in enumerate(points):
        y = _y(plot, value, top)
        bars.append(
            f'<rect class="bar" x="{_n(plot.left + slot * (index + _GAP / 2))}" y="{_n(y)}" '
            f'width="{_n(slot * (1 - _GAP))}" height="{_n(plot.bottom - y)}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
    return bars


def _x_labels(plot: _Plot, labels: list[str], width: int) -> list[str]:
    """Every n-th label under its bar, as many as fit side by side without touching.

    The first and last are pulled in from the edges rather than cut by them.
    """
    if not labels:
        return []
    room = _CHAR_WIDTH * max(len(label) for label in labels) + _LABEL_GAP
    fitting = max(1, int(plot.width // room))
    every = -(-len(labels) // fitting)
    slot = plot.width / len(labels)
    y = _n(plot.bottom + _BOTTOM - 8)
    texts = []
    for index in range(0, len(labels), every):
        half = _CHAR_WIDTH * len(labels[index]) / 2
        x = min(max(plot.left + slot * (index + 0.5), half), width - half)
        texts.append(
            f'<text class="axis-label x-label" x="{_n(x)}" y="{y}" '
            f'text-anchor="middle">{escape(labels[index])}</text>'
        )
    return texts


def _n(number: float) -> str:
    """A coordinate, short: 12.5 rather than 12.500000000001."""
    return f"{number:.2f}".rstrip("0").rstrip(".")
