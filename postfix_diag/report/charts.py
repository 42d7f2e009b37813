"""The HTML report's charts: inline SVG drawn at report time with matplotlib's SVG backend.

matplotlib is imported here only, and this module only by the HTML writers, so no other command
or format pays for it at start-up (tests/test_startup.py). No pyplot: a Figure with the SVG
canvas, so no GUI backend, no global state, nothing read from the network or a display.

Every chart is an ``<svg>`` element ready to be put into the page: fonts as text (``svg.fonttype
none``: small, selectable, and the page's colour scheme colours it through ``currentColor``), no
mathtext (``text.parse_math`` off: a ``$`` in a log string is a dollar), ids prefixed per chart
(several charts share one document), no date in the metadata (the same data, the same bytes).
Labels come from the log: they are made terminal-safe here (escape.terminal) and matplotlib
escapes them as XML.
"""

from __future__ import annotations

import io
import re
import time

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from .escape import terminal

# one colour per traffic kind (colour-blind safe: Okabe-Ito), the order of traffic.KINDS
KIND_COLOURS = {"received": "#0072B2", "delivered": "#009E73", "deferred": "#E69F00",
                "bounced": "#CC79A7", "rejected": "#D55E00"}
SEVERITY_COLOURS = {"critical": "#b2182b", "error": "#d6604d", "warning": "#f4a582", "notice": "#92c5de",
                    "info": "#d1e5f0"}
NICE_BUCKETS = (10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400)
MAX_BARS = 60  # time buckets drawn at most
_RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": "#888888",
    "axes.labelcolor": "#888888",
    "xtick.color": "#888888",
    "ytick.color": "#888888",
    "axes.facecolor": "none",
    "figure.facecolor": "none",
    "savefig.facecolor": "none",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_TAG = re.compile(r"<[^<>]+>")  # a tag holds no "<": linear on a run of them
_ID_REF = re.compile(r'(\bid="|url\(#|xlink:href="#)([^")]+)')


def label(text, width: int = 60) -> str:
    """A log string as a chart label: terminal-safe, one line, at most ``width`` characters."""
    s = " ".join(terminal(text).split())
    return s if len(s) <= width else s[:width - 1] + "…"


def display_bucket(stored: int, first: float, last: float) -> int:
    """The bucket drawn for a span: the smallest nice size, a multiple of the stored one, that
    keeps the span within MAX_BARS buckets."""
    span = max(0.0, last - first)
    for size in NICE_BUCKETS:
        if size >= stored and size % stored == 0 and span / size <= MAX_BARS:
            return size
    return max(stored, NICE_BUCKETS[-1])


def rebucket(buckets: list, stored: int, kinds) -> tuple[int, list[float], dict[str, list[int]]]:
    """(display bucket, bucket starts, counts per kind) with the empty buckets in between filled
    with zeros, from traffic's [start, {kind: n}] list."""
    if not buckets:
        return stored, [], {k: [] for k in kinds}
    size = display_bucket(stored, buckets[0][0], buckets[-1][0])
    first, last = int(buckets[0][0] // size), int(buckets[-1][0] // size)
    starts = [float(k * size) for k in range(first, last + 1)]
    series = {k: [0] * len(starts) for k in kinds}
    for start, counts in buckets:
        i = int(start // size) - first
        for k in kinds:
            series[k][i] += counts.get(k, 0)
    return size, starts, series


def bucket_text(seconds: int) -> str:
    for unit, n in (("week", 7 * 86400), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{seconds // n} {unit}" if unit in ("h", "min") else (f"1 {unit}" if seconds == n else f"{seconds // n} {unit}s")
    return f"{seconds} s"


def _svg(fig: Figure, name: str) -> str:
    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    prefix = f"{name}-"
    svg = _TAG.sub(lambda tag: _ID_REF.sub(lambda m: m.group(1) + prefix + m.group(2), tag.group(0)), svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{name}" class="chart-svg" ', 1)


def _tick_format(size: int, first: float, last: float) -> str:
    one_day = time.gmtime(first)[:3] == time.gmtime(last)[:3]
    if size >= 86400:
        return "%m-%d"
    if one_day:
        return "%H:%M:%S" if size < 60 else "%H:%M"
    return "%m-%d %H:%M"


def traffic_chart(traffic: dict, windows: list[dict], name: str = "traffic") -> str:
    """Mail received, delivered, deferred, bounced and rejected per time bucket (chosen from the
    span), with the incident windows shaded and labelled (``windows``: dicts with ``label``,
    ``start``, ``end``, ``severity``)."""
    kinds = tuple(KIND_COLOURS)
    size, starts, series = rebucket(traffic["buckets"], traffic["bucket_seconds"], kinds)
    with matplotlib.rc_context({**_RC, "svg.hashsalt": name}):
        fig = Figure(figsize=(9, 3.4))
        fig.subplots_adjust(left=0.07, right=0.99, bottom=0.1, top=0.98)
        ax = fig.subplots()
        if starts:
            xs = [s + size / 2 for s in starts]
            for k in kinds:
                ax.plot(xs, series[k], label=k, color=KIND_COLOURS[k], linewidth=1.6, marker="o", markersize=2.5)
            lo, hi = starts[0], starts[-1] + size
            for w in windows:
                lo, hi = min(lo, w["start"]), max(hi, w["end"])
            pad = (hi - lo) * 0.01 or size
            ax.set_xlim(lo - pad, hi + pad)
            top = max(max(v) for v in series.values()) or 1
            ax.set_ylim(0, top * (1.25 + 0.1 * min(len(windows), 6)))
            min_width = (hi - lo) / 150
            for i, w in enumerate(windows):
                start, end = w["start"], max(w["end"], w["start"] + min_width)
                colour = SEVERITY_COLOURS.get(w.get("severity"), "#bbbbbb")
                ax.axvspan(start, end, color=colour, alpha=0.2, linewidth=0)
                ax.text(start, 1 - 0.07 * (i % 6), " " + label(w["label"], 24), transform=ax.get_xaxis_transform(),
                        fontsize=7, va="top", ha="left")  # black: no fill written, the page's colour
            ticks = _ticks(starts, size)
            fmt = _tick_format(size, starts[0], starts[-1])
            ax.set_xticks(ticks, [time.strftime(fmt, time.gmtime(t)) for t in ticks])
            ax.legend(loc="upper right", fontsize=7, ncols=5, frameon=False)
        ax.set_ylabel(f"per {bucket_text(size)}")
        return _svg(fig, name)


def _ticks(starts: list[float], size: int) -> list[float]:
    step = max(1, len(starts) // 8)
    return starts[::step]


def bar_chart(rows: list[tuple[str, int]], title: str, name: str, colour: str = "#0072B2") -> str:
    """A horizontal bar per (label, count), largest on top (labels made safe with ``label``)."""
    rows = rows[:10]
    with matplotlib.rc_context({**_RC, "svg.hashsalt": name}):
        labels = [label(text, 70) for text, _ in rows][::-1]
        height = 0.6 + 0.3 * max(1, len(rows))
        fig = Figure(figsize=(9, height))
        # no layout engine (a tenth of a second per chart): the left margin from the longest label
        left = min(0.62, (0.2 + 0.062 * max((len(t) for t in labels), default=1)) / 9)
        fig.subplots_adjust(left=left, right=0.97, bottom=0.3 / height, top=1 - 0.3 / height)
        ax = fig.subplots()
        values = [n for _, n in rows][::-1]
        bars = ax.barh(range(len(rows)), values, color=colour, height=0.6)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.bar_label(bars, padding=2, fontsize=7, color="#888888")
        ax.set_xlim(0, (max(values) if values else 1) * 1.12)
        ax.set_title(title, fontsize=9, loc="left", color="#888888")
        return _svg(fig, name)
