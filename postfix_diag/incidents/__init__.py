"""Incidents: the findings of a log as faults active over windows of time, whether each is over,
and which one caused which.

    incidents = build(findings, evidence, end_ts)   # model.Incident, in timeline order

1. **Windows.** A finding's occurrences (model.Occurrences) are cut where the log is quiet for
   longer than the *quiet gap* of the rule's family (its category, FAMILIES; ``--quiet-gap
   CATEGORY=DURATION`` overrides it): each stretch is one incident, from its first to its last
   occurrence. A finding whose key is an SMTP client (``IncidentSpec.subject == "client"``)
   also takes in that client's rejects next to the stretch when the finding is about that one
   client (a dictionary attack starts with its first rejected RCPT, not with the error limit);
   one whose key is a master.cf service
   takes in the busy period around it (the sessions of the service at half its process limit
   or more). For a family whose faults last until fixed (``persists``), stretches are cut only
   where a sign of recovery lies between them.
2. **State.** An incident is ``recovered`` when a sign of recovery follows its last occurrence:
   the rule's own "resumed" signal (deliveries to that next hop resumed, smtpd accepted mail
   again after milter failures), the client's sessions closed (the one client of the finding,
   and the log went on for SETTLE seconds after), the service's sessions fell below half its process limit; then it ends there.
   Without such a sign a fault of a persisting family is ``ongoing``; another is ``recovered``
   when the log went on for a quiet gap after it (it ends at its last occurrence), else
   ``ongoing``.
3. **Impact.** What one occurrence costs (``IncidentSpec.unit``: rejected, cut_off, ...), the
   rule's other signals within the incident (deferred messages, delivered later), the client's
   rejects, the service's sessions.
4. **Causes.** A rule's ``IncidentSpec.leads_to`` links (data next to the rules, printed by
   ``explain``) name the findings its incidents cause, within what time and for which key; an
   incident takes as its cause the best-matching incident that links to it (one with a key
   condition before one on time alone, then the nearest in time), never one it causes itself.
   Roots lead; an incident group is kept when its most severe incident is at least MIN_SEVERITY
   (findings below that are conditions, not incidents, unless they are a consequence).
"""

from __future__ import annotations

import re

from ..model import (
    ONGOING,
    RECOVERED,
    SEVERITY_RANK,
    Finding,
    Incident,
    Occurrences,
    Span,
    at_least,
    duration,
)
from ..rules.incident_spec import IncidentSpec
from .families import DEFAULT_FAMILY, FAMILIES, Family, families_markdown, family  # noqa: F401

MIN_SEVERITY = "warning"  # an incident group needs one incident at least this severe
MAX_PER_FINDING = 100  # incidents of one finding; beyond, its quiet gap doubles until they fit
SETTLE = 30.0  # seconds the log must go on after a client's last session for its incident to be over
SLACK = 60.0  # a consequence may start this long before its cause (lines of one moment, any order)


def _spec(rule_id: str) -> IncidentSpec:
    from ..rules import REGISTRY

    cls = REGISTRY.get(rule_id)
    return cls.incident if cls is not None else IncidentSpec()


def build(findings: list[Finding], evidence=None, end_ts: float | None = None, gaps: dict | None = None,
          min_severity: str = MIN_SEVERITY) -> list[Incident]:
    """The incidents of ``findings`` (see the module docstring), in timeline order with ids
    I1, I2, ...; ``evidence``: the stream's incidents.evidence.Evidence; ``end_ts``: when the
    log ends; ``gaps``: quiet gaps by category (seconds) replacing FAMILIES' defaults."""
    gaps = gaps or {}
    out: list[Incident] = []
    for f in findings:
        spec = _spec(f.id)
        if not spec.makes_incidents:
            continue
        fam = family(f.category)
        gap = gaps.get(f.category, spec.gap if spec.gap is not None else fam.gap)
        persists = spec.persists if spec.persists is not None else fam.persists
        spans = _spans(f, gap)
        one_client = spec.subject == "client" and f.subjects == 1 and evidence is not None
        if one_client and f.key in evidence.rejects:
            spans = _with(spans, evidence.rejects[f.key].windows(gap), gap)
        sessions = limit = None
        if spec.subject == "service" and evidence is not None:
            limit = f.evidence.get("process_limit") if isinstance(f.evidence, dict) else None
            if isinstance(limit, int) and limit > 0 and f.key:
                sessions = evidence.sessions(f.key)
                spans = [_busy_start(sp, sessions, limit / 2, gap) for sp in spans]
        spans = _joined(spans)
        if persists:
            spans = _unless_recovered(spans, f)
        for i, sp in enumerate(spans):
            nxt = spans[i + 1].start if i + 1 < len(spans) else None
            state, end, recovery = _state(f, spec, sp, nxt, evidence if one_client or spec.subject != "client"
                                          else None, sessions, limit, end_ts, gap, persists)
            out.append(Incident(
                id="", rule=f.id, key=f.key, title=_title(spec, f), category=f.category, severity=f.severity,
                start=sp.start, last_seen=sp.end, end=end, state=state, count=sp.count, peak=sp.peak,
                peak_at=sp.peak_at, peak_seconds=f.occurrences.size if f.occurrences else 0, recovery=recovery,
                impact=_impact(f, spec, sp, nxt, end, evidence if one_client or spec.subject != "client"
                               else None)))
    _link(out, end_ts)
    return _ordered(out, max(min_severity, MIN_SEVERITY, key=lambda s: SEVERITY_RANK[s]))


def _title(spec: IncidentSpec, f: Finding) -> str:
    if spec.title == "{title}":
        return f.title + (f" ({f.key})" if f.key else "")
    return spec.title.format(title=f.title, key=f.key or "?")


# --- windows -------------------------------------------------------------------------------------

def _spans(f: Finding, gap: float) -> list[Span]:
    if f.occurrences:
        spans = f.occurrences.windows(gap)
        while len(spans) > MAX_PER_FINDING:  # memory and time stay bounded on a long log
            gap *= 2
            spans = f.occurrences.windows(gap)
        return spans
    if f.first_seen is None:
        return []
    last = f.last_seen if f.last_seen is not None else f.first_seen
    return [Span(f.first_seen, last, f.count, f.count, f.first_seen)]


def _with(spans: list[Span], extra: list[Span], gap: float) -> list[Span]:
    """``spans`` widened by the ``extra`` stretches within a gap of them (not counted)."""
    out = []
    for sp in spans:
        sp = Span(sp.start, sp.end, sp.count, sp.peak, sp.peak_at)
        for x in extra:
            if x.end >= sp.start - gap and x.start <= sp.end + gap:
                sp.start, sp.end = min(sp.start, x.start), max(sp.end, x.end)
        out.append(sp)
    return out


def _joined(spans: list[Span]) -> list[Span]:
    """Overlapping spans as one."""
    out: list[Span] = []
    for sp in sorted(spans, key=lambda s: s.start):
        if out and sp.start <= out[-1].end:
            last = out[-1]
            last.end = max(last.end, sp.end)
            last.count += sp.count
            if sp.peak > last.peak:
                last.peak, last.peak_at = sp.peak, sp.peak_at
        else:
            out.append(sp)
    return out


def _unless_recovered(spans: list[Span], f: Finding) -> list[Span]:
    """Stretches of a persisting fault joined unless the rule's "resumed" signal lies between."""
    resumed = f.signals.get("resumed")
    out: list[Span] = []
    for sp in spans:
        if out and not (resumed and resumed.first_after(out[-1].end, before=sp.start) is not None):
            last = out[-1]
            last.end, last.count = sp.end, last.count + sp.count
            if sp.peak > last.peak:
                last.peak, last.peak_at = sp.peak, sp.peak_at
        else:
            out.append(sp)
    return out


def _busy_start(sp: Span, sessions: list, threshold: float, gap: float) -> Span:
    """A process-limit stretch from the start of the busy period around it: the first connect
    of the bucket from which the service's sessions stayed at ``threshold`` or more."""
    i = _bucket_at(sessions, sp.start)
    if i is None:
        return sp
    start = None
    while i >= 0 and sessions[i][1] >= threshold:
        first = sessions[i][2]
        if first is not None and first >= sp.start - gap:
            start = first
        i -= 1
    if start is not None and start < sp.start:
        return Span(start, sp.end, sp.count, sp.peak, sp.peak_at)
    return sp


def _bucket_at(sessions: list, ts: float) -> int | None:
    """The index of the last bucket starting at or before ``ts``."""
    found = None
    for i, (start, *_rest) in enumerate(sessions):
        if start > ts:
            break
        found = i
    return found


# --- state ---------------------------------------------------------------------------------------

def _state(f, spec, sp, nxt, evidence, sessions, limit, end_ts, gap, persists):
    """(state, end, what showed it)."""
    resumed = f.signals.get("resumed")
    if resumed:
        t = resumed.first_after(sp.end, before=nxt)
        if t is not None:
            return RECOVERED, t, (spec.resumed or "the rule's sign of recovery").format(key=f.key or "?")
    if spec.subject == "client" and evidence is not None and f.key in evidence.gone:
        t = evidence.gone[f.key].first_after(sp.end - 0.5, before=nxt)
        after = (nxt if nxt is not None else end_ts)
        if t is not None and after is not None and after - sp.end >= SETTLE:
            return RECOVERED, max(t, sp.end), f"the client {f.key} disconnected and did not come back"
    if sessions is not None:
        t = _busy_end(sp, sessions, limit / 2, nxt)
        if t is not None:
            return RECOVERED, t, (f"the sessions of service {f.key} fell below half its process limit "
                                  f"({limit})")
    if persists:
        return ONGOING, None, f"no sign of recovery ({f.category} faults last until they are fixed)"
    if nxt is not None:
        return RECOVERED, sp.end, f"quiet for {duration(nxt - sp.end)} before it came back"
    if end_ts is not None and end_ts - sp.end >= gap:
        return RECOVERED, sp.end, f"no occurrence in the last {duration(end_ts - sp.end)} of the log"
    tail = f"last seen {duration(end_ts - sp.end)} before the end of the log" if end_ts is not None else ""
    return ONGOING, None, tail or None


def _busy_end(sp: Span, sessions: list, threshold: float, nxt: float | None) -> float | None:
    """When the service's sessions fell below ``threshold`` after the stretch (the last
    disconnect of the first bucket that ends below it)."""
    i = _bucket_at(sessions, sp.end)
    if i is None:
        return None
    for start, open_, _, last in sessions[i:]:
        if nxt is not None and start > nxt:
            return None
        if open_ < threshold:
            t = last if last is not None else start
            return max(t, sp.end)
    return None


# --- impact --------------------------------------------------------------------------------------

def _count(occ: Occurrences | None, start: float, end: float) -> int:
    return occ.count_between(start, end) if occ else 0


def _impact(f, spec, sp, nxt, end, evidence) -> dict:
    out: dict = {}
    upto = end if end is not None else sp.end
    if spec.unit:
        out[spec.unit] = _count(f.occurrences, sp.start, upto) if f.occurrences else f.count
    for name, occ in f.signals.items():
        if name != "resumed" and occ:
            out[name] = _count(occ, sp.start, nxt if nxt is not None else float("inf"))
    if evidence is not None and spec.subject == "client" and f.key in evidence.rejects:
        out["rejected"] = max(out.get("rejected", 0), _count(evidence.rejects[f.key], sp.start, upto))
    if evidence is not None and spec.subject == "service" and f.key:
        out["sessions"] = sum(_count(occ, sp.start, upto) for (_, svc), occ in evidence.connects.items()
                              if svc == f.key)
    return {k: v for k, v in out.items() if v}


# --- causes --------------------------------------------------------------------------------------

def _mentions(text: str | None, word: str | None) -> bool:
    if not text or not word:
        return False
    return re.search(r"(?<![\w.-])" + re.escape(word) + r"(?![\w.-])", text) is not None


def _link(incidents: list[Incident], end_ts: float | None) -> None:
    """Set each incident's ``caused_by`` (to the index of its cause, made an id by _ordered)."""
    for n, inc in enumerate(incidents):
        inc.id = str(n)
    parent: dict[str, str] = {}
    by_rule: dict[str, list[Incident]] = {}
    for inc in incidents:
        by_rule.setdefault(inc.rule, []).append(inc)
    causes_of: dict[str, list] = {}  # effect rule -> [(link, incidents of the rule that links to it)]
    for rule, members in by_rule.items():
        for link in _spec(rule).leads_to:
            for effect in by_rule:
                if effect.startswith(link.effect):
                    causes_of.setdefault(effect, []).append((link, members))
    for e in sorted(incidents, key=lambda i: (i.start, i.rule)):
        best = None
        for link, members in causes_of.get(e.rule, ()):
            for c in members:
                if c is e:
                    continue
                c_end = c.end if c.end is not None else (end_ts if end_ts is not None else c.last_seen)
                if not (c.start - SLACK <= e.start <= c_end + link.within):
                    continue
                if link.same == "key" and e.key != c.key:
                    continue
                if link.same == "mention" and not _mentions(e.key, c.key):
                    continue
                score = (0 if link.same else 1, abs(e.start - c.start), c.rule, c.start)
                if best is None or score < best[0]:
                    best = (score, c)
        if best is None:
            continue
        cause = best[1]
        up = cause.id  # never a cause that this incident causes itself
        while up is not None and up != e.id:
            up = parent.get(up)
        if up is None:
            parent[e.id] = cause.id
    for inc in incidents:
        inc.caused_by = parent.get(inc.id)


def _ordered(incidents: list[Incident], min_severity: str) -> list[Incident]:
    """Roots in time order, each followed by its consequences; ids I1, I2, ... in that order;
    groups whose most severe incident is below ``min_severity`` left out."""
    children: dict = {}
    for inc in incidents:
        children.setdefault(inc.caused_by, []).append(inc)
    for kids in children.values():
        kids.sort(key=lambda i: (i.start, i.rule, i.key or ""))

    def group(inc):
        yield inc
        for kid in children.get(inc.id, ()):
            yield from group(kid)

    out: list[Incident] = []
    for root in children.get(None, []):
        members = list(group(root))
        if any(at_least(m.severity, min_severity) for m in members):
            out.extend(members)
    ids = {inc.id: f"I{n}" for n, inc in enumerate(out, 1)}
    for inc in out:
        inc.consequences = [ids[k.id] for k in children.get(inc.id, ())]
    for inc in out:
        inc.id = ids[inc.id]
        inc.caused_by = ids.get(inc.caused_by) if inc.caused_by is not None else None
    return out
