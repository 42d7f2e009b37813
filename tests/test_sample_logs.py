"""The real captured logs in sample_logs/<scenario>/ against their expected.json (written by the
person who injected the faults): every expected finding with its id/category/severity, count (or
count_min) and key; every other finding at most max_severity_of_others.

Each scenario runs twice: from the log alone, and with the scenario's own configuration
(``--config postconf-n.txt --config master.cf``). expected.json's optional ``with_config``
section says what the configuration changes: ``changes`` are entries merged into the finding of
the same id (and key, when given), ``"absent": true`` drops it, a new id adds it; its
``max_severity_of_others`` replaces the scenario's (see sample_logs/README.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from postfix_diag.model import SEVERITY_RANK

# POSTFIX_DIAG_SAMPLES points the test at another capture (e.g. a fresh `make fixtures` run with
# PFD_OUT_ROOT=/tmp/fresh) to check that the analysis holds on logs captured anew.
SAMPLES = Path(os.environ.get("POSTFIX_DIAG_SAMPLES") or Path(__file__).resolve().parents[1] / "sample_logs")


def scenarios():
    if not SAMPLES.is_dir():
        return []
    return [pytest.param(d, id=d.name) for d in sorted(SAMPLES.iterdir())
            if (d / "maillog").is_file() and (d / "expected.json").is_file()]


def scenario_config(scenario: Path):
    from postfix_diag import config

    return config.load([str(scenario / "postconf-n.txt"), str(scenario / "master.cf")])


def findings_of(path: Path, config=None):
    from postfix_diag.analyze import analyze

    return analyze([str(path)], config=config).findings


def expectations(expected: dict, with_config: bool) -> tuple[list, str]:
    """(expected findings, max severity of the others) of a run without or with the configuration."""
    found = [dict(e) for e in expected.get("findings", [])]
    limit = expected.get("max_severity_of_others", "notice")
    if not with_config:
        return found, limit
    section = expected.get("with_config", {})
    for change in section.get("changes", []):
        same = [e for e in found if e["id"] == change["id"] and e.get("key") == change.get("key", e.get("key"))]
        if change.get("absent"):
            found = [e for e in found if e not in same]
        elif same:
            same[0].update(change)
        else:
            found.append(dict(change))
    return found, section.get("max_severity_of_others", limit)


def check(scenario: Path, findings, expected_findings, limit) -> list[str]:
    problems = []
    matched = set()
    for exp in expected_findings:
        cands = [f for f in findings if f.id == exp["id"]]
        if "key" in exp:
            keyed = [f for f in cands if f.key == exp["key"]]
            if not keyed:
                problems.append(f"{exp['id']}: no finding with key {exp['key']!r} "
                                f"(keys: {[f.key for f in cands]})")
                continue
            cands = keyed
        if not cands:
            problems.append(f"{exp['id']}: missing")
            continue
        f = cands[0]
        matched.add(id(f))
        for field in ("category", "severity"):
            if field in exp and getattr(f, field) != exp[field]:
                problems.append(f"{exp['id']}: {field} {getattr(f, field)!r} != {exp[field]!r}")
        if "count" in exp and f.count != exp["count"]:
            problems.append(f"{exp['id']}: count {f.count} != {exp['count']}")
        if "count_min" in exp and f.count < exp["count_min"]:
            problems.append(f"{exp['id']}: count {f.count} < count_min {exp['count_min']}")
    for f in findings:
        if id(f) not in matched and SEVERITY_RANK[f.severity] > SEVERITY_RANK[limit]:
            problems.append(f"unexpected {f.id} ({f.severity} > {limit}): {f.summary}")
    return problems


@pytest.mark.parametrize("with_config", [False, True], ids=["log-only", "with-config"])
@pytest.mark.parametrize("scenario", scenarios())
def test_sample_log(scenario: Path, with_config: bool):
    expected = json.loads((scenario / "expected.json").read_text())
    config = scenario_config(scenario) if with_config else None
    if config is not None:
        assert not config.problems, config.problems
    findings = findings_of(scenario / "maillog", config)
    listing = "\n".join(f"  {f.id} {f.category} {f.severity} count={f.count} key={f.key!r}: {f.summary}"
                        for f in findings)
    problems = check(scenario, findings, *expectations(expected, with_config))
    assert not problems, f"{scenario.name}:\n" + "\n".join(problems) + "\nfindings:\n" + listing
    if with_config:  # every finding the configuration could sharpen was made with it
        assert all(f.host is not None for f in findings)
