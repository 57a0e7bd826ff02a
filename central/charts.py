"""Server-rendered SVG charts (no script, no CDN): a horizontal bar chart and a daily column chart."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR_H = 18
LABEL_W = 170
WIDTH = 560


def bars(title: str, items: list[tuple[str, int]], *, max_items: int = 15) -> Markup:
    """Labelled horizontal bars, largest first; `items` are (label, count)."""
    items = sorted(items, key=lambda kv: -kv[1])[:max_items]
    top = max((v for _, v in items), default=0) or 1
    height = 28 + BAR_H * max(1, len(items))
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title><text x="0" y="14" class="t">{escape(title)}</text>']
    if not items:
        parts.append('<text x="0" y="38" class="l">no crossings in this period</text>')
    for i, (label, value) in enumerate(items):
        y = 22 + i * BAR_H
        w = round((WIDTH - LABEL_W - 60) * value / top)
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end" class="l">{escape(str(label))}</text>'
                     f'<rect x="{LABEL_W}" y="{y + 2}" width="{max(w, 1)}" height="{BAR_H - 4}" class="b"/>'
                     f'<text x="{LABEL_W + w + 4}" y="{y + 13}" class="v">{value}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(title: str, items: list[tuple[str, int]]) -> Markup:
    """One column per day (in the order given)."""
    height, base = 190, 160
    n = max(1, len(items))
    step = (WIDTH - 40) / n
    top = max((v for _, v in items), default=0) or 1
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title><text x="0" y="14" class="t">{escape(title)}</text>',
             f'<text x="0" y="34" class="l">{top}</text>']
    for i, (label, value) in enumerate(items):
        h = round((base - 30) * value / top)
        x = 40 + i * step
        parts.append(f'<rect x="{x:.1f}" y="{base - h}" width="{max(step - 2, 1):.1f}" height="{max(h, 1)}" '
                     f'class="b"><title>{escape(label)}: {value}</title></rect>')
    if items:
        parts.append(f'<text x="40" y="{base + 18}" class="l">{escape(items[0][0])}</text>'
                     f'<text x="{WIDTH}" y="{base + 18}" text-anchor="end" class="l">{escape(items[-1][0])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
