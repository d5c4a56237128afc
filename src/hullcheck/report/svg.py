"""Charts as inline SVG, drawn by the server: no script, no external file, nothing for a
Content-Security-Policy to allow beyond the page's own stylesheet.

    svg = trend_chart(points)      # report.fleet.trend(...) -> markup for an HTML page

Colour is never the only signal: each line has its own dash pattern and ends in its
severity word; ``<title>``/``<desc>`` give screen readers the figures. Styling is by class
(``sev-critical``...), so the page's stylesheet colours it; presentation attributes only, no
``style=`` (which a strict CSP blocks). Only numbers and fixed words reach the markup, and
dates as ISO text, so nothing needs escaping.
"""

from __future__ import annotations

from collections.abc import Sequence

from hullcheck.report.fleet import TrendPoint

CHARTED = ("malicious", "critical", "high", "medium", "low", "negligible", "unknown")
_DASH = {"malicious": "2 3", "critical": "", "high": "8 4", "medium": "4 4", "low": "1 3",
         "negligible": "6 2 1 2", "unknown": "1 1"}


def _nice_max(value: int) -> int:
    """The smallest 1-2-5 step at or above ``value`` (the y axis' top)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def trend_chart(points: Sequence[TrendPoint], *, width: int = 720, height: int = 200,
                severities: Sequence[str] = CHARTED) -> str:
    """Open findings per day, one line per severity that had any."""
    shown = [s for s in severities if any(p.open.get(s) for p in points)]
    left, right, top, bottom = 44, 92, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((p.open.get(s, 0) for p in points for s in shown), default=0) or 1)
    n = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / n

    def y(v: int) -> float:
        return top + plot_h * (1 - v / peak)

    first = points[0].day.isoformat() if points else ""
    last = points[-1].day.isoformat() if points else ""
    latest = ", ".join(f"{s} {points[-1].open.get(s, 0)}" for s in shown) if points else ""
    out = [f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" '
           f'aria-labelledby="trend-title trend-desc" xmlns="http://www.w3.org/2000/svg">',
           '<title id="trend-title">Open findings per day</title>',
           f'<desc id="trend-desc">From {first} to {last}. '
           f'Latest: {latest or "no open findings"}.</desc>']
    for v in (0, peak // 2, peak):
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" '
                   f'y2="{y(v):.1f}"/>')
        out.append(f'<text class="axis" x="{left - 6}" y="{y(v) + 4:.1f}" '
                   f'text-anchor="end">{v}</text>')
    out.append(f'<text class="axis" x="{left}" y="{height - 8}">{first}</text>')
    out.append(f'<text class="axis" x="{left + plot_w}" y="{height - 8}" '
               f'text-anchor="end">{last}</text>')
    label_y: list[float] = []
    for s in shown:
        coords = " ".join(f"{x(i):.1f},{y(p.open.get(s, 0)):.1f}" for i, p in enumerate(points))
        dash = f' stroke-dasharray="{_DASH[s]}"' if _DASH.get(s) else ""
        out.append(f'<polyline class="line sev-{s}" fill="none" stroke-width="2"{dash} '
                   f'points="{coords}"/>')
        end = points[-1].open.get(s, 0)
        ly = y(end) + 4
        while any(abs(ly - other) < 12 for other in label_y):  # keep end labels apart
            ly += 12
        label_y.append(ly)
        out.append(f'<text class="label sev-{s}" x="{left + plot_w + 6}" y="{ly:.1f}">'
                   f'{s} {end}</text>')
    if not shown:
        out.append(f'<text class="axis" x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" '
                   'text-anchor="middle">no open findings in this period</text>')
    out.append("</svg>")
    return "".join(out)
