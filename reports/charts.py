"""Inline SVG charts and the heat map, drawn in Python: a year is 366 bars, which a template loop would
spend most of the page's time on. Titles are escaped; everything else is numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WIDTH, HEIGHT, BASE = 600, 110, 105


def bar_chart_svg(
    *,
    element_id: str,
    label: str,
    css_class: str,
    days: Sequence[date],
    values: Sequence[float | None],
    describe: Callable[[float | None], str],
) -> SafeString:
    """One bar per day, scaled to the largest value; each bar's title says the day and its value."""
    most = max((v or 0 for v in values), default=0) or 1
    width = WIDTH / max(1, len(values))
    bars = []
    for n, (day, value) in enumerate(zip(days, values, strict=True)):
        height = 100 * (value or 0) / most
        title = escape(f"{day:%a %b} {day.day}: {describe(value)}")
        bars.append(
            f'<rect x="{n * width:.2f}" y="{BASE - height:.2f}" width="{max(0.5, width - 1):.2f}" '
            f'height="{height:.2f}" class="bar {css_class}"><title>{title}</title></rect>'
        )
    return mark_safe(  # noqa: S308 - numbers and escaped titles only
        f'<svg id="{element_id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(label)}">{"".join(bars)}'
        f'<line x1="0" y1="{BASE}" x2="{WIDTH}" y2="{BASE}" class="axis"/></svg>'
    )


def heatmap_table(counts: Sequence[Sequence[int]]) -> SafeString:
    """Weekday rows, hour columns; each cell shaded by its share of the busiest hour."""
    most = max((max(row) for row in counts), default=0)
    head = "".join(f'<th scope="col">{hour}</th>' for hour in range(24))
    rows = []
    for day, row in enumerate(counts):
        cells = "".join(
            f'<td style="--heat: {(n / most) if most else 0:.2f}" title="{WEEKDAY_NAMES[day]} {hour}:00: {n}">'
            f"{n or ''}</td>"
            for hour, n in enumerate(row)
        )
        rows.append(f'<tr><th scope="row">{WEEKDAY_NAMES[day]}</th>{cells}</tr>')
    return mark_safe(  # noqa: S308 - numbers only
        f'<table class="heatmap" id="heatmap"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
