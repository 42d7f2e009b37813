"""Time sanity: the log's own clock. Jumps and zone changes between consecutive lines of one host,
found and reported, and taken out of the ages the queue rules compute (``prepare``)."""

from __future__ import annotations

import re

from ..events import place
from ..model import Sample, iso
from .base import Rule, plural, register
from .incident_spec import IncidentSpec

STEP = 300  # seconds between consecutive lines of one host from which a step is looked at
AGREE = 120  # seconds: a message's stamps and its delay= that disagree by a step's size (± this) confirm it
MAX_STEPS = 1000  # steps (and disagreeing messages) kept, the first ones by place in the log
OFFSET_FORMATS = frozenset(("rfc3339", "rfc3339-fraction", "journal-short-iso", "journal-short-iso-precise",
                            "rfc5424"))
_OFFSET = re.compile(r"(?:<\d{1,3}>)?(?:1 )?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(Z|[+-]\d\d:?\d\d)")


def offset_of(line: str) -> str | None:
    """The UTC offset of a line's RFC 3339 stamp ("+01:00", "Z"), None without one."""
    m = _OFFSET.match(line)
    if m is None:
        return None
    off = m.group(1)
    return off if off == "Z" or ":" in off else f"{off[:3]}:{off[3:]}"


def offset_seconds(off: str) -> int:
    if off == "Z":
        return 0
    sign = -1 if off[0] == "-" else 1
    return sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)


def _keep_first(items: list, cap: int = MAX_STEPS) -> list:
    items.sort(key=lambda s: s[0])
    del items[cap:]
    return items


@register
class ClockJumps(Rule):
    id = "TIM001"
    name = "clock-jumps"
    title = "The log's clock jumps (a time zone change or a clock step between consecutive lines)"
    category = "time"
    severity = "warning"
    message_kinds = ("delivery",)  # Postfix's own delay= against the stamps of the message's lines
    every_line = True
    count_unit = "jumps (steps of the clock between consecutive lines of one host)"
    what = """The time stamps of one host's consecutive lines step back by more than five minutes, step
    forward by more than five minutes while a message in flight says (by Postfix's own `delay=`) that
    no such time passed, or change their RFC 3339 UTC offset (`+01:00` then `+02:00`). Typical
    causes: daemons and commands running with different TZ settings (Postfix started from a shell
    with another TZ than at boot), a daylight saving change in a log without offsets, a clock
    stepped by NTP or by hand, logs of two machines or two rotations mixed. A forward step that no
    message contradicts is taken as a quiet time, not a jump."""
    why = """Every age computed from the stamps is wrong across a jump: mail that is 33 seconds old reads
    as queued for 5 hours, incidents seem to last hours, and --since/--until select the wrong lines.
    postfix-diag takes each confirmed jump out of the ages of the queue rules (QUE001, QSH*), and
    reports the time zone it assumed."""
    example = (
        "Nov 25 13:30:39 mail postfix/qmgr[598]: 1C15316033C: removed",
        "Nov 25 18:30:41 mail postfix/qmgr[598]: E8FEB160329: from=<alice@capture.example>, size=618, nrcpt=1 (queue active)",
        "Nov 25 18:30:41 mail postfix/smtp[612]: E8FEB160329: to=<user2@example.net>, relay=none, delay=3, delays=3/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:2599: Connection refused)",
    )
    fix = """Run every Postfix daemon and command with one time zone: set TZ the same for the init system
    and interactive shells (or none at all), restart Postfix from the init system (`systemctl restart
    postfix`), keep the chroot's etc/localtime equal to the host's. Prefer RFC 3339 stamps with
    offsets in the syslog daemon (rsyslog's RSYSLOG_FileFormat template) so that zone changes are
    visible. Check NTP (`timedatectl`, `chronyc tracking`)."""
    remediation = (
        "Compare the time zones: `date; ls -l /etc/localtime /var/spool/postfix/etc/localtime; systemctl show postfix -p Environment`.",
        "Restart Postfix the same way it starts at boot: `systemctl restart postfix` (not `postfix start` from a shell with another TZ).",
        "Make syslog write offsets: rsyslog `$ActionFileDefaultTemplate RSYSLOG_FileFormat`; check NTP with `timedatectl`.",
    )
    references = ("DEBUG_README: Look for obvious signs of trouble", "postconf(5): maillog_file")
    incident = IncidentSpec(makes_incidents=False)

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.first: dict = {}  # host -> (place, ts, offset, file, line, text) of its first line here
        self.last: dict = {}  # host -> [ts, offset] of its latest line
        # steps between consecutive lines of one host:
        # (place, host, file, line, text, ts before, ts after, offset before, offset after)
        self.steps: list = []
        # messages whose stamps disagree with their delay=: (place of the line, place of the
        # message's first line, host, seconds the stamps run ahead of delay=)
        self.skews: list = []
        self.offsets: dict = {}  # offset -> lines (at most 50 distinct)

    def feed(self, ev):
        ts = ev.ts
        if ts is None:
            return None
        off = None
        if ev.fmt in OFFSET_FORMATS:
            off = offset_of(ev.line or "")
            if off is not None:
                n = self.offsets.get(off)
                if n is not None or len(self.offsets) < 50:
                    self.offsets[off] = (n or 0) + 1
        host = ev.host
        last = self.last.get(host)
        if last is None:
            self.last[host] = [ts, off]
            self.first[host] = (place(ev), ts, off, ev.file, ev.lineno, ev.line or ev.text)
            return None
        before = last[0]
        if ts - before > STEP or before - ts > STEP or off != last[1]:
            self._step(place(ev), host, ev.file, ev.lineno, ev.line or ev.text, before, ts, last[1], off)
            last[1] = off
        last[0] = ts
        return None

    def _step(self, *step) -> None:
        self.steps.append(step)
        if len(self.steps) > 2 * MAX_STEPS:
            _keep_first(self.steps)

    def feed_message_line(self, ev, msg):
        delay = ev.f.get("delay")
        if (not msg.arrival_known or msg.arrival_ts is None or ev.ts is None
                or not isinstance(delay, int | float)):
            return
        skew = (ev.ts - msg.arrival_ts) - delay
        if abs(skew) > STEP:
            self.skews.append((place(ev), (getattr(msg.first_file, "rank", 0), msg.first_line), ev.host, skew))
            if len(self.skews) > 2 * MAX_STEPS:
                _keep_first(self.skews)

    def merge(self, later):
        for host, first in later.first.items():
            where, ts, off, file, line, text = first
            mine = self.last.get(host)
            if mine is None:
                self.first[host] = first
            elif ts - mine[0] > STEP or ts - mine[0] < -STEP or off != mine[1]:
                self._step(where, host, file, line, text, mine[0], ts, mine[1], off)
        for host, (ts, off) in later.last.items():
            self.last[host] = [ts, off]
        self.steps.extend(later.steps)
        self.skews.extend(later.skews)
        for off, n in later.offsets.items():
            if off in self.offsets or len(self.offsets) < 50:
                self.offsets[off] = self.offsets.get(off, 0) + n

    # --- what the steps mean ------------------------------------------------------------------
    def jumps(self) -> list[dict]:
        """The confirmed jumps in log order: {"host", "file", "line", "text", "at", "seconds",
        "kind", "why"}; ``seconds``: how far the clock moved (what elapsed time must not count)."""
        steps = _keep_first(list(self.steps))
        skews = _keep_first(list(self.skews))
        out = []
        for i, (where, host, file, line, text, before, after, off_a, off_b) in enumerate(steps):
            step = after - before
            if off_a is not None and off_b is not None and off_a != off_b:
                shift = offset_seconds(off_b) - offset_seconds(off_a)
                kind, why, seconds = "zone change", f"the UTC offset changes from {off_a} to {off_b}", shift
            elif step < -STEP:
                kind, why, seconds = "backward", "the stamps go back in time", step
            else:
                agree = [s for s in skews if s[2] == host and s[1] < where <= s[0] and abs(s[3] - step) <= AGREE]
                back = [s for s in steps[i + 1:] if s[1] == host and abs((s[6] - s[5]) + step) <= AGREE]
                if agree:
                    seconds = agree[0][3]
                    why = "a message in flight across it says less time passed (delay=)"
                elif back:
                    seconds = step
                    why = f"the stamps step back by as much at line {back[0][3]}"
                else:
                    continue  # a quiet time, not a jump
                kind = "forward"
            out.append({"host": host, "file": str(file or ""), "line": line, "text": text, "at": after,
                        "seconds": round(seconds, 3), "kind": kind, "why": why, "place": where})
        return out

    def zone(self) -> str:
        """The time zone the report assumed, in words."""
        return zone_words(self.offsets)

    def report(self) -> dict:
        jumps = self.jumps()
        return {"zone": self.zone(), "offsets": dict(sorted(self.offsets.items())),
                "jumps": [{k: (iso(v) if k == "at" else v) for k, v in j.items() if k not in ("text", "place")}
                          for j in jumps]}

    def prepare(self, queued, end_ts):
        """The queued messages with each jump after their first line taken out of their arrival
        time, and the end of the log on the clock of its last lines (not the latest stamp, which
        may lie before a step back), so that ages count no jump."""
        import dataclasses

        jumps = self.jumps()
        if not jumps:
            return queued, end_ts
        end_ts = max(ts for ts, _ in self.last.values())
        out = []
        for m in queued:
            first = (getattr(m.first_file, "rank", 0), m.first_line)
            shift = sum(j["seconds"] for j in jumps if j["host"] == m.host and j["place"] > first)
            if shift and m.arrival_ts is not None:
                m = dataclasses.replace(m, arrival_ts=m.arrival_ts + shift)
            out.append(m)
        return out, end_ts

    def finish(self, queued, end_ts):
        jumps = self.jumps()
        if not jumps:
            return []
        g = self.group()
        for j in jumps:
            g.count += 1
            g.first = j["at"] if g.first is None else min(g.first, j["at"])
            g.last = j["at"] if g.last is None else max(g.last, j["at"])
        g.samples = [Sample(j["file"], j["line"], j["text"]) for j in jumps[: self.max_samples]]
        worst = max(jumps, key=lambda j: abs(j["seconds"]))
        hours = abs(worst["seconds"]) / 3600
        size = f"{hours:.1f} h" if hours >= 1 else f"{abs(worst['seconds']) / 60:.0f} min"
        sign = "+" if worst["seconds"] > 0 else "-"
        only_zones = all(j["kind"] == "zone change" for j in jumps)
        return [self.make(
            g, f"{plural(len(jumps), 'jump')} of the log's clock, the largest {sign}{size} at "
               f"{worst['file']}:{worst['line']} ({worst['why']}); ages across them are corrected.",
            key=worst["host"], severity="notice" if only_zones else self.severity,
            evidence={"jumps": [{k: (iso(v) if k == "at" else v) for k, v in j.items() if k not in ("text", "place")}
                                for j in jumps], "zone": self.zone()})]


def zone_words(offsets) -> str:
    """The time zone a report assumed, in words, from the UTC offsets seen in the stamps."""
    if not offsets:
        return "none in the stamps: times are the log's own local clock, as written"
    offs = ", ".join(sorted(offsets))
    if len(offsets) == 1:
        return f"UTC offset {offs} in the stamps: times are shown in that local clock, as written"
    return f"UTC offsets {offs} in the stamps: times are shown as written, each in its own offset"


def combined_report(clocks: list) -> dict:
    """The time report of a log from the clock rules of each of its hosts (Engine keeps one set
    of rules per syslog host): offsets added up, jumps of every host in time order."""
    if len(clocks) == 1:
        return clocks[0].report()
    offsets: dict = {}
    jumps: list = []
    for c in clocks:
        r = c.report()
        for k, v in r["offsets"].items():
            offsets[k] = offsets.get(k, 0) + v if isinstance(v, (int, float)) else v
        jumps += r["jumps"]
    jumps.sort(key=lambda j: (j.get("at") or "", j.get("host") or ""))
    return {"zone": zone_words(offsets), "offsets": dict(sorted(offsets.items())), "jumps": jumps}
