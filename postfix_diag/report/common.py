"""Numbers and phrases the text, Markdown and HTML writers share."""

from __future__ import annotations

import time

from ..limits import describe as describe_limits
from ..model import RECOVERED, duration, iso, timeline
from .escape import terminal as t


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"


def coverage_line(cov) -> str:
    """The one-line parse coverage that ends every text report."""
    reached = getattr(cov, "limits", None)
    return (f"Parse coverage: {cov.total} lines, {cov.recognized} recognized "
            f"({percent(cov.recognized, cov.total)}), {cov.unrecognized} unrecognized"
            + (f", {cov.foreign} from other programs" if cov.foreign else "")
            + (f"; limits reached: {describe_limits(reached)}" if reached else ""))


def span_text(cov_dict: dict) -> str:
    span = cov_dict["time_span"]
    if not span["first"]:
        return "no timestamps"
    return f"{span['first']} .. {span['last']}"


ZONE = "the log's own local time (classic syslog stamps carry no zone)"


def header_items(analysis, top: int = 10) -> list[tuple[str, object]]:
    """The header of a full incident report (Markdown, HTML), as (label, value) pairs of plain,
    unescaped text in order: logs, time span, a year assumed per source, time zone, window,
    findings, parse coverage, configuration (a list of lines: how it was read, then indented
    details), configuration sources, tool version. Each writer escapes and lays them out."""
    from .. import __version__

    cov = analysis.coverage
    items: list[tuple[str, object]] = [("Logs", ", ".join(analysis.sources) or "-"),
                                       ("Time span", span_text(cov.as_dict(top)))]
    items += [("Year assumed", f"{source}: {year}") for source, year in (analysis.year_assumptions or {}).items()]
    items.append(("Time zone assumed", (analysis.time or {}).get("zone") or ZONE))
    w = analysis.window
    if w is not None:
        items.append(("Window", f"lines from {w.get('since') or 'the start'} until {w.get('until') or 'the end'} "
                                f"only ({w.get('lines_left_out', 0)} lines left out)"))
    worst = analysis.findings[0].severity if analysis.findings else "none"
    items.append(("Findings", f"{len(analysis.findings)} (most severe: {worst})"))
    items.append(("Parse coverage", coverage_line(cov).removeprefix("Parse coverage: ")))
    summary = config_summary(analysis.config)
    if summary:
        items.append(("Configuration", [summary[0].removeprefix("Configuration: "), *summary[1:]]))
    sources = [f"{s.get('path')} ({s.get('kind')})" if isinstance(s, dict) else str(s)
               for s in (analysis.config or {}).get("sources") or []]
    if sources:
        items.append(("Configuration sources", ", ".join(sources)))
    items.append(("Tool", f"postfix-diag {__version__}"))
    return items


def top_evidence(evidence: dict, limit: int = 3) -> list[str]:
    """Short "name: a (3), b (2)" lines from the list-valued parts of a finding's evidence."""
    out = []
    for name, value in evidence.items():
        if isinstance(value, list) and value and isinstance(value[0], (list, tuple)) and len(value[0]) == 2:
            items = ", ".join(f"{k} ({v})" for k, v in value[:limit])
            out.append(f"{name.replace('_', ' ')}: {items}")
        elif isinstance(value, dict) and value:
            items = ", ".join(f"{k} ({v})" for k, v in list(value.items())[:limit])
            out.append(f"{name.replace('_', ' ')}: {items}")
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out.append(f"{name.replace('_', ' ')}: {value}")
    return out


def config_facts(f) -> str:
    """A finding's configuration facts in one line: ``mynetworks = 127.0.0.1/32 (main.cf:20); ...``."""
    return "; ".join(f"{name} = {fact.get('value')} ({fact.get('where')})" for name, fact in f.config.items())


def config_summary(config: dict | None) -> list[str]:
    """The report's lines about the configuration: how it was read (or why not), its problems,
    and, for findings made without it, which ones it would sharpen."""
    if config is None:
        return []
    how = config.get("how", "")
    out = [f"Configuration: {how[len('configuration '):] if how.startswith('configuration ') else how}"]
    if config.get("not_applied_to_hosts"):
        out.append(f"  not applied to hosts {', '.join(config['not_applied_to_hosts'])} (their name is not "
                   "the configuration's myhostname)")
    for problem in config.get("problems", [])[:20]:
        out.append(f"  config problem: {problem}")
    hints = config.get("would_sharpen") or []
    if hints:
        out.append("  --config would sharpen: " + ", ".join(h["id"] for h in hints)
                   + " (each finding says how)")
    return out


def sharpen_hint(f, config: dict | None) -> str | None:
    """What --config would make exact in this finding, when it was made without one."""
    for hint in (config or {}).get("would_sharpen") or ():
        if hint["id"] == f.id and not f.config:
            return hint["what"]
    return None


def by_host(findings) -> list[tuple]:
    """[(host, findings)] in the order hosts first appear, when the findings are about several
    hosts; [] when they are about one (the report then does not group them)."""
    groups: dict = {}
    for f in findings:
        groups.setdefault(f.host, []).append(f)
    return list(groups.items()) if len(groups) > 1 else []


# --- incidents ----------------------------------------------------------------------------------

def clock(ts: float | None, day: bool = True) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (or the time alone) of a wall-clock epoch, as the log wrote it."""
    if ts is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S" if day else "%H:%M:%S", time.gmtime(ts))


_IMPACT = (  # impact name -> how one number reads
    ("deferred", "message deferred", "messages deferred"),
    ("bounced", "message bounced", "messages bounced"),
    ("rejected", "request rejected", "requests rejected"),
    ("tempfailed", "request tempfailed", "requests tempfailed"),
    ("cut_off", "session cut off", "sessions cut off"),
    ("sessions", "session", "sessions"),
)


def impact_text(impact: dict) -> str:
    """"6 messages deferred, all 6 delivered later; 40 requests rejected" from an impact dict."""
    parts = []
    for name, one, many in _IMPACT:
        n = impact.get(name)
        if not n:
            continue
        text = f"{n} {one if n == 1 else many}"
        if name == "deferred" and "delivered_later" in impact:
            later = impact["delivered_later"]
            text += f", all {later} delivered later" if later >= n else f", {later} of them delivered later"
        parts.append(text)
    if "deferred" not in impact and impact.get("delivered_later"):
        parts.append(f"{impact['delivered_later']} delivered later")
    return ", ".join(parts)


def state_text(inc) -> str:
    """"recovered after 68 s" or "ongoing"."""
    if inc.state == RECOVERED:
        return f"recovered after {duration(inc.duration)}"
    return "ongoing"


def timeline_rows(incidents) -> list[tuple[int, object, str, str, str]]:
    """(depth, incident, when, state, what) for each line of a timeline: each root first, what
    it caused below it; ``what`` is the title, the impact and what showed the recovery (or when
    an ongoing incident was last seen), unescaped."""
    out = []
    for depth, inc in timeline(incidents):
        end = inc.end
        if end is None:
            when = f"{clock(inc.start)} .. end of log"
        else:
            when = f"{clock(inc.start)} .. {clock(end, day=clock(end)[:10] != clock(inc.start)[:10])}"
        impact = impact_text(inc.impact)
        what = inc.title + (f": {impact}" if impact else "")
        if inc.state == RECOVERED:
            what += f" ({inc.recovery})" if inc.recovery else ""
        elif inc.last_seen != inc.start:
            what += f" (last seen {clock(inc.last_seen, day=False)})"
        out.append((depth, inc, when, state_text(inc), what))
    return out


# --- check results (text, junit, github, sarif) -----------------------------------------------

def first_location(f) -> tuple[str, int] | None:
    """(file, line) of the first sample line, if the finding has one."""
    for s in f.samples:
        if s.file:
            return s.file, s.line
    return None


def label(f) -> str:
    """`ID title (key)`, unescaped."""
    return f"{f.id} {f.title}" + (f" ({f.key})" if f.key else "")


def details(f, max_samples: int = 3) -> list[str]:
    """The evidence of one finding as plain, unescaped lines (every writer escapes them)."""
    out = []
    if f.summary:
        out.append(f.summary)
    seen = f"seen {f.count} time(s)"
    if f.first_seen is not None:
        seen += f", {iso(f.first_seen)} .. {iso(f.last_seen)}"
    out.append(seen)
    out.extend(top_evidence(f.evidence))
    for s in f.samples[:max_samples]:
        out.append(f"{s.file}:{s.line}: {s.text[:500]}")
    if f.remediation:
        out.append(f"fix: {f.remediation[0]}")
    out.append(f"more: postfix-diag explain {f.id}")
    return out


def summary_line(result) -> str:
    """One line, already terminal-safe: the verdict and the counts."""
    failing, new, known = len(result.failing), len(result.new) - len(result.failing), len(result.known)
    verdict = "FAIL" if failing else "OK"
    gate = " with an ongoing incident" if result.fail_on_ongoing else ""
    parts = [f"{failing} new finding(s) at or above {result.fail_on}{gate}"]
    if new:
        parts.append(f"{new} new without an ongoing incident or below {result.fail_on}" if gate
                     else f"{new} new below {result.fail_on}")
    if result.baseline is not None:
        parts.append(f"{known} known (matched by baseline {t(result.baseline.path)})")
        if result.gone:
            parts.append(f"{len(result.gone)} baseline entr{'y' if len(result.gone) == 1 else 'ies'} no longer seen")
    else:
        parts.append("no baseline")
    if result.wrote_baseline:
        parts.append(f"wrote {result.wrote_entries} finding(s) to {t(result.wrote_baseline)}")
    return f"postfix-diag check: {verdict}: " + "; ".join(parts)


# --- fixes: prose and commands --------------------------------------------------------------------

# the first word of a code span that makes it a command to paste (the rest are names and values)
COMMAND_WORDS = frozenset((
    "postconf", "postfix", "postqueue", "postsuper", "postmap", "postalias", "postcat", "postlog", "postmulti",
    "qshape", "mailq", "newaliases", "sendmail", "posttls-finger", "postfix-diag", "grep", "zgrep", "dig", "host",
    "nslookup", "nc", "telnet", "openssl", "swaks", "systemctl", "service", "journalctl", "ps", "ss", "netstat",
    "ls", "chmod", "chown", "chgrp", "mkdir", "cp", "mv", "ln", "tail", "less", "df", "du", "ulimit", "sysctl",
    "doveadm", "ip", "iptables", "nft", "mount", "cat", "test", "find", "kill", "rndc", "unbound-control",
))


def step_parts(step: str) -> list[tuple[str, str]]:
    """A fix step as ``[(kind, text)]``: ``text`` (prose), ``code`` (a backticked name or value)
    and ``command`` (a backticked shell command, one of COMMAND_WORDS first). An unpaired
    backtick stays prose."""
    pieces = step.split("`")
    if len(pieces) % 2 == 0:  # an odd number of backticks: the last one is prose
        last = pieces.pop()
        pieces[-1] += "`" + last
    out = []
    for i, piece in enumerate(pieces):
        if not piece:
            continue
        if i % 2 == 0:
            out.append(("text", piece))
        else:
            first = piece.split(None, 1)[0] if piece.strip() else ""
            out.append(("command" if first in COMMAND_WORDS and " " in piece.strip() else "code", piece))
    return out


def step_commands(step: str) -> list[str]:
    """The commands of a fix step, in order."""
    return [text for kind, text in step_parts(step) if kind == "command"]
