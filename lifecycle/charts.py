"""Charts a manager reads at a glance, drawn on the server as inline SVG (no script, nothing fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#64748b", "#be185d")


def color(n: int) -> str:
    return PALETTE[n % len(PALETTE)]


def funnel_svg(rows: Sequence[tuple[str, int]], *, width: int = 560) -> SafeString:
    """One centred bar per stage, as wide as its count: the narrowing shows where contacts drop off."""
    bar, gap = 34, 6
    height = max(1, len(rows)) * (bar + gap)
    top = max([count for _, count in rows] + [1])
    parts = [
        f'<svg class="chart funnel-chart" role="img" aria-label="Funnel" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, (label, count) in enumerate(rows):
        w = max(2.0, (width - 40) * count / top)
        x, y = (width - w) / 2, n * (bar + gap)
        text = f"{label} · {count}"
        # White on the bar when it fits there; dark beside a bar too narrow to hold it, so it stays readable.
        if w >= len(text) * 8 + 16:
            place = f'x="{width / 2}" text-anchor="middle" class="funnel-label"'
        else:
            place = f'x="{x + w + 6:.1f}" text-anchor="start" class="funnel-label funnel-label-outside"'
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" rx="4" fill="{color(n)}" opacity="0.85">'
            f"<title>{escape(label)}: {count}</title></rect>"
            f'<text {place} y="{y + bar / 2 + 5}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above


def trend_svg(
    buckets: Sequence[date],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    width: int = 640,
    height: int = 220,
) -> SafeString:
    """One line per stage: moves into it per bucket of the period."""
    left, right, top_pad, bottom = 36, 10, 10, 24
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    peak = max([max(values, default=0) for _, values in series] + [1])
    count = max(1, len(buckets) - 1)

    def point(i: int, value: int) -> str:
        return f"{left + plot_w * i / count:.1f},{top_pad + plot_h * (1 - value / peak):.1f}"

    parts = [
        f'<svg class="chart trend-chart" role="img" aria-label="Moves into each stage over the period" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" class="axis">{peak}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" class="axis">0</text>',
    ]
    if buckets:
        parts.append(
            f'<text x="{left}" y="{height - 6}" class="axis">{buckets[0].isoformat()}</text>'
            f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" class="axis">'
            f"{buckets[-1].isoformat()}</text>"
        )
    for n, (label, values) in enumerate(series):
        if not values:
            continue
        points = " ".join(point(i, v) for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{color(n)}" stroke-width="2" points="{points}">'
            f"<title>{escape(label)}</title></polyline>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above
