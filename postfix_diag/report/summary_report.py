"""Writers for `postfix-diag summary`: text (pflogsumm's section titles), Markdown and JSON.

Every string that comes from the log goes through escape.terminal (text) or escape.markdown.
"""

from __future__ import annotations

import json
import re

from tabulate import tabulate

from ..limits import describe as describe_limits
from .escape import markdown as md_escape
from .escape import terminal

_NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?[%smh]?$|^\d+:\d\d:\d\d$|^\(\d+%\)$")

GRAND_TOTALS = (
    ("received", "received"),
    ("delivered", "delivered"),
    ("forwarded", "forwarded"),
    ("deferred", "deferred"),
    ("bounced", "bounced"),
    ("rejected", "rejected"),
    ("reject_warnings", "reject warnings"),
    ("held", "held"),
    ("discarded", "discarded"),
)
VOLUME = (
    ("bytes_received", "bytes received"),
    ("bytes_delivered", "bytes delivered"),
    ("senders", "senders"),
    ("sending_domains", "sending hosts/domains"),
    ("recipients", "recipients"),
    ("recipient_domains", "recipient hosts/domains"),
)
TRAFFIC_COLS = ("received", "delivered", "deferred", "bounced", "rejected")


def render_text(result: dict) -> str:
    return _Writer(result, markdown=False).render()


def render_markdown(result: dict) -> str:
    return _Writer(result, markdown=True).render()


def render_json(result: dict) -> str:
    # ensure_ascii: every control, bidi and invisible character as \uNNNN (README: JSON is ASCII-escaped)
    return json.dumps(result, indent=2, ensure_ascii=True) + "\n"


def render(result: dict, fmt: str = "text") -> str:
    """The summary in ``fmt`` (one of FORMATS["summary"] of report/__init__.py)."""
    from . import writer

    return writer("summary", fmt)(result)


def _secs(value) -> str:
    """Seconds as pflogsumm shows them: s, m above a minute, h above an hour."""
    v = float(value or 0)
    if v > 3600:
        return f"{v / 3600:.1f}h"
    if v > 60:
        return f"{v / 60:.1f}m"
    return f"{v:.1f}s"


def _hms(value) -> str:
    s = int(value or 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _pct(share) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


class _Writer:
    def __init__(self, result: dict, markdown: bool):
        self.r = result
        self.md = markdown
        self.out: list[str] = []
        self.esc = md_escape if markdown else terminal

    # -- primitives ----------------------------------------------------------------------------
    def title(self, text: str, level: int = 2) -> None:
        if self.md:
            self.out += ["", "#" * level + " " + text, ""]
        else:
            self.out += ["", text, "-" * len(text)]

    def table(self, headers, rows, plain: bool = False) -> None:
        """A table; columns whose cells are all numbers (or numeric strings) are right-aligned."""
        if not rows:
            self.out.append("none" if not self.md else "_none_")
            return
        cells = [["" if c is None else (self.esc(c) if isinstance(c, str) else str(c)) for c in row] for row in rows]
        align = []
        for i in range(len(headers)):
            col = [row[i] for row in rows]
            numeric = all(isinstance(c, (int, float)) or (isinstance(c, str) and _NUMERIC.match(c)) for c in col)
            align.append("right" if numeric and any(c != "" for c in col) else "left")
        fmt = "pipe" if self.md else ("plain" if plain else "simple")
        self.out.append(tabulate(cells, headers=[] if plain and not self.md else list(headers), tablefmt=fmt,
                                 colalign=align, disable_numparse=True))

    def line(self, text: str = "") -> None:
        self.out.append(text)

    # -- sections ------------------------------------------------------------------------------
    def render(self) -> str:
        r = self.r
        meta = r["meta"]
        if self.md:
            self.out.append("# Postfix traffic summary")
            self.out.append("")
        else:
            self.out.append("Postfix traffic summary")
        srcs = ", ".join(self.esc(s) for s in meta["sources"]) or "-"
        self.line(f"Sources: {srcs}")
        span = f"{meta['first']} .. {meta['last']}" if meta["first"] else "no timestamps"
        self.line(f"Period: {span} ({meta['days']} day(s)); {meta['lines']} lines, "
                  f"{meta['unrecognized']} unrecognized" + (f", {meta['filtered_out']} outside --since/--until"
                                                           if meta["filtered_out"] else ""))
        for src, assumption in meta["year_assumptions"].items():
            self.line(f"Year: {self.esc(src)}: {self.esc(assumption)}")
        if meta.get("limits"):
            self.line(f"Limits reached: {self.esc(describe_limits(meta['limits']))}")
        cfg = meta.get("config")
        if cfg is not None:
            how = cfg["how"][len("configuration "):] if cfg["how"].startswith("configuration ") else cfg["how"]
            self.line(f"Configuration: {self.esc(how)}")
            for problem in cfg.get("problems", [])[:20]:
                self.line(f"  config problem: {self.esc(problem)}")
        self.grand_totals()
        self.traffic()
        self.domains()
        self.users()
        self.reasons()
        self.smtpd()
        self.problems()
        self.beyond()
        return "\n".join(self.out).rstrip("\n") + "\n"

    def grand_totals(self) -> None:
        t = self.r["totals"]
        self.title("Grand Totals")
        rows = []
        for key, label in GRAND_TOTALS:
            extra = ""
            if key == "deferred" and t["deferrals"]:
                extra = f"({t['deferrals']} deferrals)"
            elif key == "rejected":
                extra = f"({t['rejected_pct']}%)"
            elif key == "discarded":
                extra = f"({t['discarded_pct']}%)"
            rows.append([str(t[key]), label, extra])
        self.line("messages" if not self.md else "**messages**")
        self.line()
        self.table(["count", "", ""], rows, plain=True)
        self.line()
        self.line("volume" if not self.md else "**volume**")
        self.line()
        self.table(["count", ""], [[str(t[k]), label] for k, label in VOLUME], plain=True)

    def traffic(self) -> None:
        tr = self.r["traffic"]
        days = tr["days"]
        if len(tr["per_day"]) > 1:
            self.title("Per-Day Traffic Summary")
            self.table(["date", *TRAFFIC_COLS], [[d["date"], *(str(d[c]) for c in TRAFFIC_COLS)]
                                                 for d in tr["per_day"]])
        if days > 1:
            self.title("Per-Hour Traffic Daily Average")
            rows = [[f"{h['hour']:02d}00-{h['hour'] + 1:02d}00",
                     *(str(int(h[c] / days + 0.5)) for c in TRAFFIC_COLS)] for h in tr["per_hour"]]
        else:
            self.title("Per-Hour Traffic Summary")
            rows = [[f"{h['hour']:02d}00-{h['hour'] + 1:02d}00", *(str(h[c]) for c in TRAFFIC_COLS)]
                    for h in tr["per_hour"]]
        self.table(["time", *TRAFFIC_COLS], rows)

    def _top(self, title: str) -> str:
        top = self.r["meta"]["top"]
        return f"{title} (top {top})" if top is not None and top > 0 else title

    def domains(self) -> None:
        top = self.r["meta"]["top"]
        if top == 0:
            return
        d = self.r["domains"]
        self.title(self._top("Host/Domain Summary: Message Delivery"))
        self.table(["sent cnt", "bytes", "defers", "avg dly", "max dly", "host/domain"],
                   [[str(x["sent"]), str(x["bytes"]), str(x["defers"]), _secs(x["avg_delay"]),
                     _secs(x["max_delay"]), x["domain"]] for x in d["delivery"]])
        self.title(self._top("Host/Domain Summary: Messages Received"))
        self.table(["msg cnt", "bytes", "host/domain"],
                   [[str(x["messages"]), str(x["bytes"]), x["domain"]] for x in d["received"]])

    def users(self) -> None:
        top = self.r["meta"]["top"]
        if top == 0:
            return
        s, rc = self.r["senders"], self.r["recipients"]
        for title, rows, value, label in (
            ("Senders by message count", s["by_count"], "messages", "sender"),
            ("Recipients by message count", rc["by_count"], "messages", "recipient"),
            ("Senders by message size", s["by_size"], "bytes", "sender"),
            ("Recipients by message size", rc["by_size"], "bytes", "recipient"),
        ):
            self.title(self._top(title))
            self.table([value, label], [[str(x[value]), x[label]] for x in rows])

    def reasons(self) -> None:
        if self.r["meta"]["detail"] == 0:
            return
        rs = self.r["reasons"]
        self.title("message deferral detail")
        self.table(["count", "program", "cause"], [[str(x["count"]), x["program"], x["cause"]] for x in rs["deferrals"]])
        self.title("message bounce detail (by relay)")
        self.table(["count", "relay", "cause"], [[str(x["count"]), x["relay"], x["cause"]] for x in rs["bounces"]])
        for key, title in (("rejects", "message reject detail"), ("reject_warnings", "message reject warning detail"),
                           ("holds", "message hold detail"), ("discards", "message discard detail")):
            if key != "rejects" and not rs[key]:
                continue
            self.title(title)
            self.table(["count", "stage", "code", "reason"],
                       [[str(x["count"]), x["stage"], "" if x["code"] is None else str(x["code"]), x["cause"]]
                        for x in rs[key]])
        self.title("smtp delivery failures")
        self.table(["count", "hosts", "reason"], [[str(x["count"]), str(x["hosts"]), x["reason"]]
                                                  for x in rs["smtp_failures"]])

    def smtpd(self) -> None:
        s = self.r["smtpd"]
        self.title("smtpd connection statistics")
        self.table(["value", ""], plain=True, rows=[
            [str(s["connections"]), "connections"],
            [str(s["sessions_timed"]), "connections with connect and disconnect in the log"],
            [str(s["hosts_domains"]), "hosts/domains"],
            [f"{s['avg_connect_time']:.1f}", "avg. connect time (seconds)"],
            [f"{s['max_connect_time']:.1f}", "max. connect time (seconds)"],
            [_hms(s["total_connect_time"]), "total connect time"],
        ])
        if s["domains"] and self.r["meta"]["top"] != 0:
            self.title(self._top("Host/Domain Summary: SMTPD Connections"))
            self.table(["connections", "time conn.", "avg./conn.", "max. time", "host/domain"],
                       [[str(x["connections"]), _hms(x["total_time"]), f"{x['avg_time']:.1f}s",
                         f"{x['max_time']:.0f}s", x["domain"]] for x in s["domains"]])

    def problems(self) -> None:
        p = self.r["problems"]
        for key, title in (("warnings", "Warnings"), ("errors", "Errors"), ("fatals", "Fatal Errors"),
                           ("panics", "Panics")):
            if key == "errors" and not p[key]:
                continue
            self.title(title)
            self.table(["count", "program", "message"], [[str(x["count"]), x["program"], x["cause"]] for x in p[key]])

    def beyond(self) -> None:
        r = self.r
        if self.md:
            self.out += ["", "## Beyond pflogsumm"]
        else:
            self.out += ["", "", "Beyond pflogsumm", "================"]
        self.title("Received by instance and service", 3)
        self.table(["count", "instance", "service"],
                   [[str(x["count"]), x["instance"], x["service"]] for x in r["received_by_service"]])
        self.title("Per-instance breakdown", 3)
        cols = ["received", "delivered", "forwarded", "deferrals", "bounced", "rejected"]
        self.table(["instance", *cols], [[x["instance"], *(str(x[c]) for c in cols)] for x in r["instances"]])
        self.title("postscreen verdicts", 3)
        self.table(["count", "verdict"], [[str(x["count"]), x["verdict"]] for x in r["postscreen"]["verdicts"]])
        self.title("DNSBL hits (dnsblog)", 3)
        self.table(["hits", "clients", "DNSBL"], [[str(x["hits"]), str(x["clients"]), x["dnsbl"]]
                                                  for x in r["postscreen"]["dnsbl"]])
        t = r["tls"]
        self.title("TLS", 3)
        self.table(["direction", "sessions", "with TLS", "share"], [
            ["inbound (smtpd connections)", str(t["inbound_sessions"]), str(t["inbound_tls"]), _pct(t["inbound_share"])],
            ["outbound (smtp/lmtp, approx.)", str(t["outbound_sessions"]), str(t["outbound_tls"]),
             _pct(t["outbound_share"])],
        ])
        if t["protocols"]:
            self.line()
            self.table(["count", "direction", "program", "protocol"],
                       [[str(x["count"]), x["direction"], x["program"], x["protocol"]] for x in t["protocols"]])
        self.title("smtpd session errors by stage", 3)
        names = ["too many errors", "lost connection", "timeout", "total"]
        self.table(["stage", *names], [[x["stage"], *(str(x[n]) for n in names)] for x in r["session_errors"]])
