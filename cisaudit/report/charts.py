"""Chart geometry for the reports.

Charts are computed here as plain numbers (rows of coloured segments) and drawn as
inline SVG by the ``chart`` macro in ``reports/_macros.html.j2``: no markup is built in
Python, and the same chart works in the PDF and the offline HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Order of the segments in a bar: bad news first so that it lines up on the left.
SEGMENT_ORDER = ("FAIL", "ERROR", "MANUAL", "WAIVED", "NOT_APPLICABLE", "PASS")

LABEL_WIDTH = 190  # SVG units kept for row labels
BAR_WIDTH = 290
TOTAL_WIDTH = 40  # room for the count after the bar
ROW_HEIGHT = 18
BAR_HEIGHT = 12
LABEL_CHARS = 30


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    # CJK glyphs are about twice as wide as Latin ones in the label column.
    width, out = 0, list[str]()
    for ch in label:
        width += 2 if ord(ch) > 0x2E80 else 1
        if width > limit:
            return "".join(out).rstrip() + "…"
        out.append(ch)
    return label


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]],
    colors: Mapping[str, str],
) -> dict[str, Any]:
    """100 % stacked horizontal bars: one row per ``(label, {STATUS: count})``."""
    out_rows = []
    for index, (label, counts) in enumerate(rows):
        total = sum(counts.get(s, 0) for s in SEGMENT_ORDER)
        x = float(LABEL_WIDTH)
        segments = []
        for status in SEGMENT_ORDER:
            count = counts.get(status, 0)
            if not count or not total:
                continue
            width = BAR_WIDTH * count / total
            segments.append(
                {
                    "status": status,
                    "count": count,
                    "x": round(x, 2),
                    "width": round(width, 2),
                    "color": colors.get(status, "#888888"),
                }
            )
            x += width
        y = index * ROW_HEIGHT
        out_rows.append(
            {
                "label": _short(label),
                "full_label": label,
                "total": total,
                "y": y,
                "text_y": y + BAR_HEIGHT - 2,
                "segments": segments,
            }
        )
    legend = [{"status": s, "color": colors.get(s, "#888888")} for s in SEGMENT_ORDER]
    return {
        "width": LABEL_WIDTH + BAR_WIDTH + TOTAL_WIDTH,
        "height": max(len(out_rows), 1) * ROW_HEIGHT,
        "bar_height": BAR_HEIGHT,
        "label_width": LABEL_WIDTH,
        "total_x": LABEL_WIDTH + BAR_WIDTH + 4,
        "rows": out_rows,
        "legend": legend,
    }


LINE_WIDTH = 520
LINE_HEIGHT = 160
LINE_PAD = 30


def score_line(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A score-over-time line (0–100 %) from ``[{started_at, score, score_without_waivers}]``,
    oldest first: the polyline points of both series, the axis ticks and the dates."""
    usable = [p for p in points if p.get("score") is not None]
    width, height, pad = LINE_WIDTH, LINE_HEIGHT, LINE_PAD
    span = max(len(usable) - 1, 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / span if len(usable) > 1 else 0.5)
        y = pad / 2 + (height - pad) * (1 - value / 100.0)
        return round(x, 1), round(y, 1)

    def line(key: str) -> str:
        return " ".join(
            "{},{}".format(*xy(i, float(p[key])))
            for i, p in enumerate(usable)
            if p.get(key) is not None
        )

    dots = [
        {
            "x": xy(i, float(p["score"]))[0],
            "y": xy(i, float(p["score"]))[1],
            "label": f"{str(p.get('started_at', ''))[:10]}: {float(p['score']):.1f} %",
        }
        for i, p in enumerate(usable)
    ]
    return {
        "width": width,
        "height": height,
        "score": line("score"),
        "unwaived": line("score_without_waivers"),
        "dots": dots,
        "ticks": [{"y": xy(0, v)[1], "label": f"{v} %"} for v in (0, 50, 100)],
        "first": str(usable[0].get("started_at", ""))[:10] if usable else "",
        "last": str(usable[-1].get("started_at", ""))[:10] if usable else "",
        "points": len(usable),
    }
