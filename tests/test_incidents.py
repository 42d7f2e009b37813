"""Occurrences in time and incidents: the timeline of the captured multi-incident day against
what was injected (injected.json), the broken-chroot sample's one root cause, states, impact,
quiet gaps, cause links, and the JSON report against its schema."""

from __future__ import annotations

import calendar
import json
import random
import time
from pathlib import Path

import jsonschema
import pytest

from postfix_diag.analyze import analyze, conclude, stream
from postfix_diag.model import MAX_BUCKETS, Occurrences, timeline
from postfix_diag.parse import Parser
from postfix_diag.report import render_analysis
from postfix_diag.rules import REGISTRY, explain

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
TOLERANCE = 5  # seconds between an injection's measured start/end and the incident's


def epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")))


def analysis_of(lines: str, **kw):
    s = stream()
    s.feed_all(Parser(year=2025).parse_lines(lines.splitlines(), "test.log"))
    return conclude(s, ["test.log"], **kw)


# --- occurrences ---------------------------------------------------------------------------------

def test_occurrences_merge_of_any_split_equals_one_pass():
    """Enough times to coarsen the buckets several times: any cut, merged, gives one pass."""
    rng = random.Random(5)
    times = sorted(rng.uniform(1.7e9, 1.7e9 + 40 * 86400) for _ in range(6000))
    one = Occurrences()
    for ts in times:
        one.add(ts)
    assert one.level > 0 and len(one.buckets) <= MAX_BUCKETS
    assert one.count == len(times) and one.first == times[0] and one.last == times[-1]
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(times)), 3))
        parts = []
        for a, b in zip([0, *cuts], [*cuts, len(times)], strict=True):
            o = Occurrences()
            for ts in rng.sample(times[a:b], b - a):  # any order inside a piece, too
                o.add(ts)
            parts.append(o)
        merged = parts[0]
        for later in parts[1:]:
            merged.merge(later)
        assert merged.level == one.level
        assert merged.items() == one.items()


def test_occurrences_windows_peak_and_first_after():
    o = Occurrences()
    for ts in (100, 101, 101, 102, 700, 701):
        o.add(ts)
    o.add(705, 0)  # noted, not counted
    spans = o.windows(gap=300)
    assert [(s.start, s.end, s.count) for s in spans] == [(100, 102, 4), (700, 705, 2)]
    assert o.peak() == (4, 100)
    assert o.first_after(102) == 700 and o.first_after(102, before=600) is None
    assert o.count_between(600, 800) == 2
    assert o.as_dict()["bucket_seconds"] == 10


def test_every_finding_knows_when():
    """Group records the occurrences of every rule: findings made by Rule.make carry them."""
    a = analyze([str(SAMPLES / "multi-incident/maillog")])
    by_id = {f.id: f for f in a.findings}
    mlt = by_id["MLT001"].occurrences
    assert mlt.count == 6 and mlt.first == by_id["MLT001"].first_seen and mlt.last == by_id["MLT001"].last_seen
    assert by_id["MLT001"].as_dict()["occurrences"]["peak"] == {"count": 2, "at": "2026-12-01T22:10:01"}


# --- the captured multi-incident day --------------------------------------------------------------

def test_multi_incident_timeline_lists_each_injected_incident_once():
    injected = json.loads((SAMPLES / "multi-incident/injected.json").read_text())["incidents"]
    a = analyze([str(SAMPLES / "multi-incident/maillog")])
    roots = [i for i in a.incidents if i.caused_by is None]
    assert len(roots) == len(injected), [(i.title, i.start) for i in roots]
    for inj in injected:
        start, end = epoch(inj["start"]), epoch(inj["end"])
        matching = [i for i in roots if abs(i.start - start) <= TOLERANCE
                    and i.end is not None and abs(i.end - end) <= TOLERANCE]
        assert len(matching) == 1, (inj["what"], [(i.title, i.start, i.end) for i in roots])
        assert matching[0].state == inj["state"], (inj["what"], matching[0].recovery)


def test_multi_incident_impact_and_recovery():
    a = analyze([str(SAMPLES / "multi-incident/maillog")])
    by_rule = {i.rule: i for i in a.incidents}
    relay = by_rule["DLV002"]
    assert relay.severity == "warning"  # recovered, but it deferred mail
    assert relay.impact == {"deferred": 6, "delivered_later": 6}
    assert relay.recovery == "deliveries to 127.0.0.1[127.0.0.1]:2526 resumed"
    assert by_rule["DLV001"].caused_by == relay.id  # the deferrals are the outage's consequence
    assert by_rule["ERR001"].impact == {"rejected": 40, "cut_off": 2}
    assert by_rule["SEC002"].impact == {"rejected": 12}
    assert by_rule["MLT001"].impact == {"tempfailed": 18}
    assert by_rule["PRC001"].impact == {"sessions": 10}
    text = render_analysis(a, "text")
    assert text.index("Timeline") < text.index("severity    rule")
    assert "recovered after 68 s" in text and "6 messages deferred, all 6 delivered later" in text


def test_broken_chroot_is_one_incident_with_its_consequences():
    a = analyze([str(SAMPLES / "chroot-broken/maillog")])
    roots = [i for i in a.incidents if i.caused_by is None]
    assert [(r.rule, r.category) for r in roots] == [("CHR002", "chroot")]
    below = {i.rule for i in a.incidents if i.caused_by is not None}
    assert {"DNS002", "CHR001", "CFG005"} <= below  # the four errors share one cause
    assert all(i.state == "ongoing" for i in a.incidents)
    assert timeline(a.incidents)[0][1].rule == "CHR002"
    md = render_analysis(a, "markdown")
    assert md.index("## Timeline") < md.index("## Summary")


@pytest.mark.parametrize("scenario", ["multi-incident", "chroot-broken", "relay-down"])
def test_json_incidents_match_the_schema(scenario):
    doc = json.loads(render_analysis(analyze([str(SAMPLES / scenario / "maillog")]), "json"))
    jsonschema.validate(doc, json.loads((ROOT / "docs/report-schema.json").read_text()))
    assert doc["incidents"]
    ids = {i["id"] for i in doc["incidents"]}
    for i in doc["incidents"]:
        assert i["caused_by"] is None or i["caused_by"] in ids
        assert set(i["findings"]) <= {f["id"] for f in doc["findings"]}
        assert (i["end"] is None) == (i["state"] == "ongoing")


# --- states, gaps, links on template lines ---------------------------------------------------------

RELAY_DENIED = ("Nov 25 {t} mx postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[10.1.2.9]: 554 5.7.1 "
                "<v{n}@example.com>: Relay access denied; from=<a@example.net> to=<v{n}@example.com> proto=ESMTP "
                "helo=<probe>")
CONNECT = "Nov 25 {t} mx postfix/smtpd[{pid}]: connect from unknown[10.1.2.9]"
DISCONNECT = "Nov 25 {t} mx postfix/smtpd[{pid}]: disconnect from unknown[10.1.2.9] ehlo=1 mail=1 rcpt=0/3 quit=1 commands=3/6"


def probes(*clocks: str) -> str:
    lines = []
    for k, t in enumerate(clocks):
        pid = 100 + k
        lines.append(CONNECT.format(t=t, pid=pid))
        lines += [RELAY_DENIED.format(t=t, pid=pid, n=n) for n in range(3)]
        lines.append(DISCONNECT.format(t=t, pid=pid))
    return "\n".join(lines) + "\n"


def test_a_quiet_gap_splits_a_finding_into_incidents_and_is_configurable():
    log = probes("10:00:00", "10:00:20", "10:40:00") + "Nov 25 10:45:00 mx postfix/smtpd[900]: connect from localhost[127.0.0.1]\n"
    a = analysis_of(log)
    sec = [i for i in a.incidents if i.rule == "SEC002"]
    assert [(i.count, i.state) for i in sec] == [(6, "recovered"), (3, "recovered")]
    assert sec[0].recovery.startswith("the client 10.1.2.9 disconnected")
    wide = [i for i in analysis_of(log, gaps={"security": 3600}).incidents if i.rule == "SEC002"]
    assert [i.count for i in wide] == [9]


def test_a_client_still_at_it_at_the_end_of_the_log_is_ongoing():
    log = probes("10:00:00") + CONNECT.format(t="10:00:20", pid=200) + "\n" + \
        RELAY_DENIED.format(t="10:00:21", pid=200, n=9) + "\n"
    [sec] = [i for i in analysis_of(log).incidents if i.rule == "SEC002"]
    assert sec.state == "ongoing" and sec.end is None


DEFERRED = ("Nov 25 {t} mx postfix/smtp[300]: {q}: to=<u@example.net>, relay=none, delay=1, delays=0/0/1/0, "
            "dsn=4.4.1, status=deferred (connect to relay.example[192.0.2.7]:25: Connection refused)")
SENT = ("Nov 25 {t} mx postfix/smtp[300]: {q}: to=<u@example.net>, relay=relay.example[192.0.2.7]:25, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
QUEUED = "Nov 25 {t} mx postfix/qmgr[9]: {q}: from=<a@example.org>, size=300, nrcpt=1 (queue active)"
REMOVED = "Nov 25 {t} mx postfix/qmgr[9]: {q}: removed"


def test_a_relay_outage_that_recovered_is_a_warning_and_says_so():
    qids = ["A1B2C3D4E1", "A1B2C3D4E2", "A1B2C3D4E3"]
    lines = [SENT.format(t="09:00:00", q="F0F0F0F0F0")]
    for k, q in enumerate(qids):
        lines += [QUEUED.format(t=f"10:0{k}:00", q=q), DEFERRED.format(t=f"10:0{k}:01", q=q)]
    lines += [DEFERRED.format(t="10:20:00", q=qids[0])]
    for q in qids:
        lines += [SENT.format(t="10:30:00", q=q), REMOVED.format(t="10:30:00", q=q)]
    a = analysis_of("\n".join(lines) + "\n")
    [relay] = [i for i in a.incidents if i.rule == "DLV002"]
    assert relay.state == "recovered" and relay.severity == "warning"
    assert relay.impact == {"deferred": 3, "delivered_later": 3}
    assert relay.end == relay.start + 30 * 60 - 1
    [finding] = [f for f in a.findings if f.id == "DLV002"]
    assert "deliveries resumed at" in finding.summary and finding.evidence["delivered_later"] == 3


def test_a_relay_that_never_came_back_is_ongoing():
    qids = ["B1B2C3D4E1", "B1B2C3D4E2", "B1B2C3D4E3"]
    lines = []
    for k, q in enumerate(qids):
        lines += [QUEUED.format(t=f"10:0{k}:00", q=q), DEFERRED.format(t=f"10:0{k}:01", q=q)]
    a = analysis_of("\n".join(lines) + "\n")
    [relay] = [i for i in a.incidents if i.rule == "DLV002"]
    assert relay.state == "ongoing" and relay.severity == "error"


def test_links_are_data_next_to_the_rules_and_explain_prints_them():
    spec = REGISTRY["CHR002"].incident
    assert any(link.effect == "DNS002" for link in spec.leads_to)
    page = explain("CHR002")
    assert "Incidents:" in page and "DNS002" in page and "quiet gap" in page
    for cls in REGISTRY.values():
        for link in cls.incident.leads_to:
            assert any(rid.startswith(link.effect) for rid in REGISTRY), (cls.id, link.effect)


def test_docs_list_the_families_and_show_real_output():
    from postfix_diag.incidents import families_markdown

    doc = (ROOT / "docs/incidents.md").read_text()
    assert families_markdown() in doc, "docs/incidents.md: regenerate the families table (families_markdown())"
    shown = doc.split("```\n", 2)[1].splitlines()  # the example timeline
    real = render_analysis(analyze([str(SAMPLES / "multi-incident/maillog")]), "text").splitlines()
    assert all(line in real for line in shown), [line for line in shown if line not in real]


def test_a_finding_active_all_month_makes_a_bounded_number_of_incidents():
    """200 bursts of a warning, 2 h and 5 h apart in turn: the quiet gap of its family (1 h) would
    make 200 incidents; the gap doubles (2 h) until at most MAX_PER_FINDING remain."""
    from postfix_diag.incidents import MAX_PER_FINDING, build
    from postfix_diag.model import Finding

    occ, t = Occurrences(), 1.7e9
    for burst in range(200):
        for k in range(3):
            occ.add(t + k)
        t += 7200 if burst % 2 == 0 else 5 * 3600
    f = Finding(id="GEN002", category="other", severity="warning", title="Other warnings and errors", count=600,
                first_seen=occ.first, last_seen=occ.last, occurrences=occ)
    incidents = build([f], None, occ.last + 60)
    assert len(incidents) == MAX_PER_FINDING == 100
    assert sum(i.count for i in incidents) == 600
