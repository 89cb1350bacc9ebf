"""The server-drawn SVG bar chart: well-formed, accessible, escaped, self-contained."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from petition import charts
from petition.charts import bar_chart

POINTS = [("lun.", 3), ("mar.", 12), ("mer.", 0), ("jeu.", 7)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))  # noqa: S314  # our own output


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall("rect[@class='bar']")


def test_chart_is_an_accessible_svg_image() -> None:
    svg = bar_chart(POINTS, title="Signatures par jour", description="Les 4 derniers jours.")

    assert isinstance(svg, Markup)
    root = parse(svg)
    assert root.tag == "svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 {charts.WIDTH} {charts.HEIGHT}"
    # No size of its own: the page's stylesheet makes it as wide as its container.
    assert root.get("width") is None and root.get("height") is None
    title, desc = root.find("title"), root.find("desc")
    assert title is not None and title.text == "Signatures par jour"
    assert desc is not None and desc.text == "Les 4 derniers jours."
    labelledby = (root.get("aria-labelledby") or "").split()
    assert labelledby == [title.get("id"), desc.get("id")]


def test_one_bar_per_point_with_its_label_and_value() -> None:
    root = parse(bar_chart(POINTS, title="t", description="d"))

    found = bars(root)
    assert len(found) == len(POINTS)
    assert [bar.findtext("title") for bar in found] == ["lun.: 3", "mar.: 12", "mer.: 0", "jeu.: 7"]
    xs = [float(bar.get("x", "")) for bar in found]
    assert xs == sorted(xs)  # in the order given


def test_bar_heights_are_proportional_to_values() -> None:
    root = parse(bar_chart(POINTS, title="t", description="d"))

    heights = [float(bar.get("height", "")) for bar in bars(root)]
    assert heights.index(max(heights)) == 1  # "mar.", 12
    assert heights[2] == 0
    assert heights[0] / heights[1] == pytest.approx(3 / 12, abs=0.01)
    # Bars stand on the baseline.
    baseline = root.find("line[@class='baseline']")
    assert baseline is not None
    for bar in bars(root):
        bottom = float(bar.get("y", "")) + float(bar.get("height", ""))
        assert bottom == pytest.approx(float(baseline.get("y1", "")), abs=0.01)


def test_y_axis_has_round_gridlines_above_the_largest_value() -> None:
    root = parse(bar_chart([("a", 1234), ("b", 10)], title="t", description="d"))

    labels = [text.text for text in root.findall("text[@class='axis-label y-label']")]
    assert labels == ["0", "500", "1000", "1500"]
    assert len(root.findall("line[@class='grid']")) == 3
    # The tallest bar stays inside the plot, below the top gridline.
    tallest = max(float(bar.get("height", "")) for bar in bars(root))
    top_grid = min(float(line.get("y1", "")) for line in root.findall("line"))
    baseline = max(float(line.get("y1", "")) for line in root.findall("line"))
    assert tallest < baseline - top_grid


def x_labels(root: ET.Element) -> list[ET.Element]:
    return root.findall("text[@class='axis-label x-label']")


def test_x_labels_are_sparse() -> None:
    points = [(f"{day:02d}/06", day) for day in range(1, 31)]
    root = parse(bar_chart(points, title="t", description="d"))

    labels = [text.text for text in x_labels(root)]
    assert 2 <= len(labels) <= 8
    assert labels[0] == "01/06"
    assert len(bars(root)) == 30


@pytest.mark.parametrize(
    "labels",
    [
        [f"{day:02d}/06" for day in range(1, 31)],  # the last 30 days
        [f"{day:02d}/06 {hour:02d}h" for day in (1, 2) for hour in range(24)],  # 48 hours
        ["lun.", "mar."],
    ],
)
def test_x_labels_never_overlap_nor_leave_the_drawing(labels: list[str]) -> None:
    root = parse(bar_chart([(label, 1) for label in labels], title="t", description="d"))

    # The same generous glyph width the chart plans with: real glyphs are narrower.
    spans = [
        (
            float(t.get("x", "")) - len(t.text or "") * 4.25,
            float(t.get("x", "")) + len(t.text or "") * 4.25,
        )
        for t in x_labels(root)
    ]
    assert spans
    assert spans[0][0] >= 0 and spans[-1][1] <= charts.WIDTH
    assert all(left[1] < right[0] for left, right in itertools.pairwise(spans))
    assert len(spans) == len(labels) if len(labels) <= 3 else len(spans) < len(labels)


def test_text_is_readable_on_a_phone() -> None:
    """At a 390 px viewport the chart is drawn some 330 px wide: labels stay 12 px or more."""
    root = parse(bar_chart(POINTS, title="t", description="d"))

    assert float(root.get("font-size", "")) * 330 / charts.WIDTH >= 12


def test_y_axis_has_a_few_round_ticks() -> None:
    for largest in (1, 3, 7, 12, 48, 99, 250, 1234, 98765):
        root = parse(bar_chart([("a", largest)], title="t", description="d"))
        ticks = [int(t.text or "") for t in root.findall("text[@class='axis-label y-label']")]
        step = ticks[1] - ticks[0]
        assert 2 <= len(ticks) <= 6, (largest, ticks)
        assert ticks[-1] >= largest
        assert str(step).rstrip("0") in {"1", "2", "5"}, (largest, ticks)


def test_all_zeros_gives_flat_bars() -> None:
    root = parse(bar_chart([("a", 0), ("b", 0)], title="t", description="d"))

    assert [float(bar.get("height", "")) for bar in bars(root)] == [0, 0]


def test_no_points_gives_an_empty_chart() -> None:
    root = parse(bar_chart([], title="Rien", description="Aucune signature."))

    assert bars(root) == []
    assert root.findtext("title") == "Rien"


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        bar_chart([("a", -1)], title="t", description="d")


def test_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    svg = str(bar_chart([(hostile, 1)], title=hostile, description=hostile))

    assert "<script" not in svg
    assert '"x"' not in svg
    root = parse(svg)
    assert root.findtext("title") == hostile
    assert root.findtext("desc") == hostile
    assert [bar.findtext("title") for bar in bars(root)] == [f"{hostile}: 1"]


def test_chart_is_self_contained_and_styled_by_the_page() -> None:
    svg = str(bar_chart(POINTS, title="t", description="d"))

    for forbidden in ("http", "href", "<script", "<style", "url(", "<image", "<foreignObject"):
        assert forbidden not in svg
    root = parse(svg)
    assert all(bar.get("class") == "bar" for bar in bars(root))
    assert root.get("fill") == "currentColor"
