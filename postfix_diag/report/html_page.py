"""The page every HTML report is: one self-contained document that makes no request and needs no
script (it reads the same in a mail client that blocks scripts), with a Content-Security-Policy
that forbids any script, any fetch and any outside style or image, colours for light and dark
mode (prefers-color-scheme), and print rules for A4.

Everything put into it from a log goes through escape.html first (the writers call ``h``)."""

from __future__ import annotations

from .. import __version__
from .escape import html as h

# No script at all, nothing fetched: styles only inline, images only as data: URLs (none are used:
# the charts are inline SVG), no <base>, no form.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

STYLE = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #5b636d; --line: #d6dbe1;
  --code-bg: #f3f5f7; --card: #fafbfc; --critical: #b2182b; --error: #d6604d; --warning: #b8860b;
  --notice: #2166ac; --info: #5b636d; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e8eb; --bg: #15181c; --muted: #a3abb5; --line: #3a4048; --code-bg: #22272e;
    --card: #1c2026; --critical: #ff6b6b; --error: #f4a582; --warning: #f2c14e; --notice: #92c5de;
    --info: #a3abb5; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; color: var(--fg); background: var(--bg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 1.6rem; margin: .5rem 0; } h2 { font-size: 1.25rem; margin: 2rem 0 .6rem;
  border-bottom: 1px solid var(--line); padding-bottom: .2rem; } h3 { font-size: 1.05rem; margin: 0 0 .4rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--card); } td.n { text-align: right; font-variant-numeric: tabular-nums; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0 1rem; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .88em; }
code { background: var(--code-bg); padding: 0 .25em; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: var(--code-bg); padding: .5rem .7rem; border-radius: 4px; overflow-x: auto;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0 .6rem; }
pre code { background: none; padding: 0; }
.finding { border: 1px solid var(--line); border-left: 6px solid var(--info); border-radius: 4px;
  background: var(--card); padding: .7rem 1rem; margin: 0 0 1rem; break-inside: avoid-page; }
.sev-critical { border-left-color: var(--critical); } .sev-error { border-left-color: var(--error); }
.sev-warning { border-left-color: var(--warning); } .sev-notice { border-left-color: var(--notice); }
.badge { display: inline-block; font-size: .75rem; font-weight: 600; text-transform: uppercase;
  padding: 0 .4em; border-radius: 3px; border: 1px solid currentColor; margin-right: .4em; }
.badge.critical { color: var(--critical); } .badge.error { color: var(--error); }
.badge.warning { color: var(--warning); } .badge.notice { color: var(--notice); } .badge.info { color: var(--info); }
.depth-1 { padding-left: 1em; } .depth-2 { padding-left: 2em; } .depth-3 { padding-left: 3em; }
.muted { color: var(--muted); } .small { font-size: .85rem; }
figure.chart { margin: .5rem 0 1.2rem; break-inside: avoid-page; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart svg text { fill: currentColor; }
figcaption { color: var(--muted); font-size: .85rem; }
details { margin: .4rem 0; } summary { cursor: pointer; color: var(--muted); }
details pre { white-space: pre-wrap; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; color: #000; background: #fff; }
  :root { --fg: #000; --bg: #fff; --muted: #444; --line: #bbb; --code-bg: #f2f2f2; --card: #fff; }
  h2 { break-after: avoid-page; } pre, table, figure { break-inside: avoid-page; }
  a { color: inherit; text-decoration: none; }
}
"""


def page(title: str, body: list[str]) -> str:
    """The whole document: ``title`` (escaped here) and the already escaped ``body`` parts."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        '<meta name="referrer" content="no-referrer">',
        f'<meta name="generator" content="postfix-diag {h(__version__)}">',
        f"<title>{h(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
    ]
    foot = [f'<footer>Written by postfix-diag {h(__version__)}. This file is self-contained: it loads '
            "nothing and runs no script.</footer>", "</body>", "</html>", ""]
    return "\n".join(head + body + foot)


def table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    """A table; cells are escaped here (pass text, numbers or ``Markup``)."""
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{h(c)}</th>" for c in headers) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            text = c.html if isinstance(c, Markup) else h(c)
            cells.append(f'<td class="n">{text}</td>' if i in numeric else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


class Markup:
    """HTML that is already escaped (built by a writer from escaped parts)."""

    __slots__ = ("html",)

    def __init__(self, html: str):
        self.html = html


def meta(items: list[tuple[str, str | Markup]]) -> str:
    """A definition list of (name, value) pairs (values escaped unless ``Markup``)."""
    rows = "".join(f"<dt>{h(k)}</dt><dd>{v.html if isinstance(v, Markup) else h(v)}</dd>" for k, v in items)
    return f'<dl class="meta">{rows}</dl>'


def figure(svg: str, caption: str) -> str:
    return f'<figure class="chart">{svg}<figcaption>{h(caption)}</figcaption></figure>'
