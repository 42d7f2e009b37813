"""Data-driven rule tests: every case in tests/rule_cases/*.json is a few log lines (written from
the real Postfix templates) and the findings they must produce. One parametrized test runs them.

Case format (a file holds {"cases": [...]}):
    {"name": "...", "lines": ["<syslog line>", ...],
     "config": {"main.cf": ["name = value", ...], "master.cf": [...]},   # optional: the rules' Config
     "expect": [{"id": "DNS002", "severity": "error", "count": 3, "key": "127.0.0.1"}, ...],
     "absent": ["DNS001"],                      # optional: IDs that must not fire
     "max_severity_of_others": "notice"}        # optional: bound on unexpected findings
"expect" entries may give "count_min" instead of "count", and "category"; "key" is compared
when present (null means the finding has no key).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postfix_diag.analyze import run
from postfix_diag.inputs import resolve
from postfix_diag.model import SEVERITY_RANK
from postfix_diag.parse import Parser
from postfix_diag.rules import REGISTRY, Engine

CASES_DIR = Path(__file__).parent / "rule_cases"


def load_cases():
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        for case in data["cases"]:
            out.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return out


CASES = load_cases()


def case_config(case):
    """The Config of a case's "config" (main.cf and master.cf lines), or None."""
    texts = case.get("config")
    if not texts:
        return None
    from postfix_diag.config import from_text

    return from_text(*((name, "\n".join(lines) + "\n") for name, lines in texts.items()))


def run_lines(lines, year=2026, max_samples=5, config=None):
    _, findings, _ = run(Parser(year=year).parse_lines(lines, "<case>", year),
                         Engine(max_samples=max_samples, config=config))
    return findings


def check_findings(findings, expect, absent=(), max_others=None):
    """Assert the expectations; returns a readable listing for failure messages."""
    listing = "\n".join(f"  {f.id} {f.severity} count={f.count} key={f.key!r}: {f.summary}" for f in findings)
    matched = set()
    for exp in expect:
        cands = [f for f in findings if f.id == exp["id"]]
        if "key" in exp:
            cands = [f for f in cands if f.key == exp["key"]]
        assert cands, f"expected {exp} not found; got:\n{listing}"
        # several findings of one rule (different keys): take the one that fits, if any
        fits = [f for f in cands if f.severity == exp["severity"] and id(f) not in matched
                and f.count == exp.get("count", f.count) and f.count >= exp.get("count_min", 0)]
        f = (fits or cands)[0]
        matched.add(id(f))
        assert f.severity == exp["severity"], f"{exp['id']}: severity {f.severity} != {exp['severity']}\n{listing}"
        if "category" in exp:
            assert f.category == exp["category"], f"{exp['id']}: category {f.category}"
        if "count" in exp:
            assert f.count == exp["count"], f"{exp['id']}: count {f.count} != {exp['count']}\n{listing}"
        if "count_min" in exp:
            assert f.count >= exp["count_min"], f"{exp['id']}: count {f.count} < {exp['count_min']}\n{listing}"
    for rid in absent:
        assert not [f for f in findings if f.id == rid], f"{rid} must not fire; got:\n{listing}"
    if max_others is not None:
        for f in findings:
            if id(f) in matched:
                continue
            assert SEVERITY_RANK[f.severity] <= SEVERITY_RANK[max_others], (
                f"unexpected {f.id} {f.severity} (max {max_others} for others):\n{listing}")
    return listing


@pytest.mark.parametrize("case", CASES)
def test_rule_case(case):
    findings = run_lines(case["lines"], year=case.get("year", 2026), config=case_config(case))
    check_findings(findings, case.get("expect", []), case.get("absent", ()),
                   case.get("max_severity_of_others"))


def test_every_rule_has_a_case():
    covered = set()
    for p in CASES:
        case = p.values[0]
        covered.update(e["id"] for e in case.get("expect", []))
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"rules without a positive test case in tests/rule_cases: {missing}"


def test_case_lines_are_recognized():
    """Every line of a case must parse into a typed event (no 'unrecognized' lines), so that a
    case tests the rule and not the parser's fallback."""
    parser = Parser(year=2026)
    bad = []
    for p in CASES:
        case = p.values[0]
        for line in case["lines"]:
            ev = parser.parse_line(line, "<case>", 1)
            if ev.kind == "unrecognized":
                bad.append(f"{case['name']}: {line}")
    assert not bad, "unrecognized lines in rule cases:\n" + "\n".join(bad)


def test_rules_remember_no_queue_ids():
    """What a rule knows of a message lives on the tracker's Message (its facts), so no rule
    keeps queue ids of its own (which would grow with the log): after the bench log (thousands
    of deferred, bounced and delivered messages), no queue id is anywhere in the rules' state."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import golden

    golden.ensure_bench_log()
    events = list(Parser(year=2026).parse_source(resolve([str(golden.BENCH_LOG)])[0]))
    qids = {ev.qid for ev in events if ev.qid and ev.qid != "NOQUEUE"}
    engine = Engine()
    _, findings, queued = run(events, engine)
    found = {f.id: f for f in findings}
    assert found["DLV001"].count > 500 and found["DLV003"].count > 100 and len(qids) > 10_000

    def values(value, depth=0):
        if depth > 6 or callable(value):
            return
        yield value
        if isinstance(value, dict):
            for k, v in value.items():
                yield from values(k, depth + 1)
                yield from values(v, depth + 1)
        elif isinstance(value, set | frozenset | list | tuple):
            for v in value:
                yield from values(v, depth + 1)
        elif hasattr(value, "__slots__") or hasattr(value, "__dict__") and not isinstance(value, str | type):
            for name in getattr(value, "__slots__", ()) or vars(value):
                yield from values(getattr(value, name, None), depth + 1)

    for rule in engine.rules:
        kept = [v for v in values(vars(rule)) if isinstance(v, str) and v in qids]
        assert not kept, f"{rule.id} keeps queue ids: {kept[:5]}"
