"""`summary --format html`: the traffic summary (pflogsumm's numbers) as one self-contained HTML
file, with the same page, escaping and charts as the incident report (report/html_page.py,
report/charts.py): traffic per hour (a log of one day) or per day, deferrals and rejects by
cause, the busiest client domains. Reads the summary dict only (summary.summarize)."""

from __future__ import annotations

import calendar

from .escape import html as h
from .html_page import Markup, figure, meta, page, table

TITLE = "Postfix traffic summary"
_KINDS = ("received", "delivered", "deferred", "bounced", "rejected")


def _epoch(iso: str) -> float:
    y, mo, d = (int(x) for x in iso[:10].split("-"))
    return float(calendar.timegm((y, mo, d, 0, 0, 0)))


def _timeline(result: dict) -> dict | None:
    """The traffic table as charts.traffic_chart wants it: per hour for a log of one day, else
    per day."""
    meta_, traffic = result["meta"], result["traffic"]
    if not meta_.get("first"):
        return None
    if meta_.get("days", 0) <= 1:
        day = _epoch(meta_["first"])
        rows = [(day + r["hour"] * 3600, r) for r in traffic["per_hour"] if any(r.get(k) for k in _KINDS)]
        size = 3600
    else:
        rows = [(_epoch(r["date"]), r) for r in traffic["per_day"]]
        size = 86400
    if not rows:
        return None
    return {"bucket_seconds": size, "buckets": [[t, {k: int(r.get(k) or 0) for k in _KINDS}] for t, r in rows]}


def render(result: dict) -> str:
    from . import charts

    m, totals = result["meta"], result["totals"]
    items: list = [("Logs", ", ".join(m["sources"]) or "-"),
                   ("Time span", f"{m['first']} .. {m['last']}" if m.get("first") else "no timestamps"),
                   ("Lines", f"{m['lines']} ({m['unrecognized']} unrecognized)")]
    if m.get("year_assumptions"):
        items.append(("Year assumed", "; ".join(f"{k}: {v}" for k, v in m["year_assumptions"].items())))
    items.append(("Time zone", "the log's own local time (classic syslog stamps carry no zone)"))
    config = m.get("config")
    if config:
        items.append(("Configuration", config.get("how", "")))
    from .. import __version__

    items.append(("Tool", f"postfix-diag {__version__}"))
    body = [f"<h1>{h(TITLE)}</h1>", meta(items), '<h2 id="totals">Grand totals</h2>',
            table(["What", "Count"], [[k.replace("_", " "), v] for k, v in totals.items()], numeric={1})]
    tl = _timeline(result)
    if tl:
        body += ['<h2 id="charts">Traffic</h2>',
                 figure(charts.traffic_chart(tl, []), f"Mail per {charts.bucket_text(tl['bucket_seconds'])}.")]
    reasons = result["reasons"]
    for name, key, colour, what in (("deferrals", "deferrals", "#E69F00", "Deferrals by cause"),
                                    ("bounces", "bounces", "#CC79A7", "Bounces by cause"),
                                    ("rejects", "rejects", "#D55E00", "Rejects by reason")):
        rows = [(r.get("cause") or "-", int(r.get("count") or 0)) for r in reasons.get(key, [])]
        if rows:
            body.append(figure(charts.bar_chart(rows, what, name, colour), what + "."))
    domains = [(r["domain"], int(r["connections"])) for r in result["smtpd"].get("domains", [])]
    if domains:
        body.append(figure(charts.bar_chart(domains, "smtpd connections by client domain", "clients", "#0072B2"),
                           "Client domains by smtpd connections."))
    for title, rows, cols in (
        ("Deferrals", reasons.get("deferrals", []), ["count", "program", "cause"]),
        ("Bounces", reasons.get("bounces", []), ["count", "relay", "cause"]),
        ("Rejects", reasons.get("rejects", []), ["count", "stage", "code", "cause"]),
        ("Senders", result["senders"]["by_count"], ["messages", "sender"]),
        ("Recipients", result["recipients"]["by_count"], ["messages", "recipient"]),
        ("Warnings", result["problems"]["warnings"], ["count", "program", "cause"]),
    ):
        if rows:
            body += [f"<h2>{h(title)}</h2>", table(cols, [[r.get(c, "") for c in cols] for r in rows], numeric={0})]
    body.append(Markup("").html)
    return page(TITLE, body)
