"""`analyze --format prometheus`: parsed with prometheus_client's own text parser, values checked
against the log's lines and the JSON report, label values escaped, --output written atomically,
and the traffic counters of pieces merged equal to one pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from postfix_diag import analyze as A
from postfix_diag import pipeline
from postfix_diag.inputs import resolve
from postfix_diag.metrics import REJECT_CLASS_NAMES, Traffic
from postfix_diag.parse import Parser
from postfix_diag.report.prometheus import METRICS, PREFIX
from postfix_diag.rules.delivery import CAUSES

ROOT = Path(__file__).resolve().parents[1]
STORM = ROOT / "sample_logs/bounce-storm/maillog"
RELAY = ROOT / "sample_logs/relay-abuse/maillog"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postfix_diag", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"})


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, name, **labels) -> float:
    fam = fams[name]
    got = [s.value for s in fam.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(got) == 1, (name, labels, fam.samples)
    return got[0]


def test_metrics_parse_and_match_the_log(tmp_path):
    out = tmp_path / "postfix_diag.prom"
    run = cli("analyze", "--format", "prometheus", "--output", str(out), "--year", "2026", str(STORM), str(RELAY))
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and [p.name for p in tmp_path.iterdir()] == ["postfix_diag.prom"]  # no temp file left
    text = out.read_text()
    fams = families(text)
    # every family documented, named postfix_diag_*; counters' samples end in _total
    assert set(fams) == {(PREFIX + n).removesuffix("_total") for n in METRICS}
    documented = (ROOT / "docs/metrics.md").read_text()
    for name in METRICS:
        assert f"`{PREFIX}{name}`" in documented
    report = json.loads(cli("analyze", "--format", "json", "--year", "2026", str(STORM), str(RELAY)).stdout)
    assert value(fams, "postfix_diag_log_lines") == report["lines"]["total"]
    assert value(fams, "postfix_diag_unrecognized_lines") == report["lines"]["unrecognized"]
    lines = STORM.read_text().splitlines() + RELAY.read_text().splitlines()
    for status in ("sent", "deferred", "bounced"):
        n = sum(f"status={status} " in ln for ln in lines)
        assert value(fams, "postfix_diag_deliveries", host="mail", status=status) == n
    assert value(fams, "postfix_diag_rejects", host="mail", **{"class": "relay"}) == sum(
        "Relay access denied" in ln for ln in lines)
    assert value(fams, "postfix_diag_deferrals", host="mail", cause="connection_refused") == sum(
        "status=deferred" in ln and "Connection refused" in ln for ln in lines)
    assert value(fams, "postfix_diag_messages_queued", host="mail") == report["queued_at_end"]
    for f in report["findings"]:
        assert value(fams, "postfix_diag_finding_events", rule=f["id"], severity=f["severity"]) >= f["count"]
    assert sum(s.value for s in fams["postfix_diag_findings"].samples) == len(report["findings"])
    causes = {c.replace(" ", "_").replace("/", "_") for c in CAUSES}
    assert {s.labels["cause"] for s in fams["postfix_diag_deferrals"].samples} <= causes
    assert {s.labels["class"] for s in fams["postfix_diag_rejects"].samples} <= set(REJECT_CLASS_NAMES)
    last = max(ln[:15] for ln in lines)  # Nov 25 13:34:31 (both captures are in November)
    assert value(fams, "postfix_diag_last_log_timestamp_seconds") % 86400 == (
        int(last[7:9]) * 3600 + int(last[10:12]) * 60 + int(last[13:15]))


def test_label_values_are_escaped(tmp_path):
    hostile = tmp_path / "maillog"
    host = 'ma"il\\x\x1b'
    hostile.write_text(RELAY.read_text().replace(" mail postfix/", f" {host} postfix/"))
    run = cli("analyze", "--format", "prometheus", "--year", "2026", str(hostile))
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout
    fams = families(run.stdout)
    hosts = {s.labels["host"] for s in fams["postfix_diag_rejects"].samples}
    assert hosts == {'ma"il\\x\\x1b'}  # the control made visible, quote and backslash round-trip


def test_traffic_of_pieces_merges_to_one_pass():
    source = pipeline.ranked(resolve([str(STORM)]))[0]
    events = list(Parser(year=2026).parse_source(source))
    make = lambda head=True: A.stream(head=head, metrics=True)  # noqa: E731
    one = make()
    one.feed_all(events)
    cut = [0, len(events) // 3, 2 * len(events) // 3, len(events)]
    head = make()
    head.feed_all(events[cut[0]:cut[1]])
    for a, b in zip(cut[1:-1], cut[2:], strict=True):
        piece = make(head=False)
        piece.feed_all(events[a:b])
        head.merge(piece)

    def counts(s):
        t = next(c for c in s.consumers if isinstance(c, Traffic))
        return (t.received, t.deliveries, t.left, t.rejects, t.deferrals)

    assert counts(head) == counts(one) and sum(counts(one)[1].values()) > 0


def test_finding_free_log_declares_every_family_in_order():
    run = cli("analyze", "--format", "prometheus", "--year", "2026", str(ROOT / "sample_logs/healthy/maillog"))
    assert run.returncode == 0, run.stderr
    names = re.findall(r"^# TYPE (\S+) ", run.stdout, re.M)
    assert names == [PREFIX + n for n in METRICS]
    fams = families(run.stdout)
    assert not fams["postfix_diag_findings"].samples and fams["postfix_diag_deliveries"].samples


def test_incidents_by_rule_severity_and_state():
    log = str(ROOT / "sample_logs/multi-incident/maillog")
    fams = families(cli("analyze", "--format", "prometheus", "--year", "2026", log).stdout)
    report = json.loads(cli("analyze", "--format", "json", "--year", "2026", log).stdout)
    assert report["incidents"]
    want: dict = {}
    for inc in report["incidents"]:
        key = (inc["findings"][0], inc["severity"], inc["state"])
        want[key] = want.get(key, 0) + 1
    got = {(s.labels["rule"], s.labels["severity"], s.labels["state"]): s.value
           for s in fams["postfix_diag_incidents"].samples}
    assert got == want
