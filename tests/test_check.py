"""`postfix-diag check`: baseline matching, exit codes, and the text/JUnit/GitHub/SARIF writers.

Most tests use Finding objects built here (log content is attacker-controlled, so several carry
hostile text); the end-to-end tests run on the captured scenarios in sample_logs/ and skip with
a reason when a scenario or the rule engine is not available yet.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from postfix_diag.check import (
    baseline_dict,
    dump_baseline,
    evaluate,
    load_baseline,
    parse_baseline,
    write_baseline,
)
from postfix_diag.inputs import InputError
from postfix_diag.model import FAIL, KNOWN, NEW, Finding, Sample
from postfix_diag.report import render_check

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
SCHEMA = Path(__file__).resolve().parent / "fixtures" / "sarif-2.1.0-subset.schema.json"

EVIL = "50% of \x1b[31mred\x1b[0m\r\n::set-output name=x::pwned, a:b\x00\x07 \u202eevil"


def finding(id="DLV002", severity="error", key="[relay.example]:25", count=12, category="delivery",
            title="Relay host unreachable", samples=None, **kw) -> Finding:
    if samples is None:
        samples = [Sample("logs/maillog", 345, "Nov 25 12:00:00 mail postfix/smtp[1]: connect to relay: refused")]
    return Finding(id=id, category=category, severity=severity, title=title, count=count, key=key,
                   samples=samples, summary=kw.pop("summary", "every delivery attempt failed"),
                   remediation=kw.pop("remediation", ["start the relay"]), **kw)


def evil_finding(**kw) -> Finding:
    return finding(id="GEN002", category="other", severity="warning", key=EVIL, title=f"title {EVIL}",
                   summary=f"summary {EVIL}", samples=[Sample(f"dir,with:odd%name\n{EVIL}", 7, f"line {EVIL}")],
                   remediation=[f"fix {EVIL}"], evidence={"clients": [[EVIL, 3]]}, **kw)


# --- baseline and evaluation -------------------------------------------------------------------

def test_no_baseline_exit_codes():
    assert evaluate([]).exit_code == 0
    assert evaluate([finding(severity="notice")], fail_on="warning").exit_code == 0
    assert evaluate([finding(severity="warning")], fail_on="warning").exit_code == 1
    assert evaluate([finding(severity="critical")], fail_on="critical").exit_code == 1
    assert evaluate([finding(severity="error")], fail_on="critical").exit_code == 0
    assert evaluate([finding(severity="info")], fail_on="info").exit_code == 1


def test_states_and_order():
    base = parse_baseline(baseline_dict([finding(id="CON001", severity="critical", key="a")]))
    r = evaluate([finding(id="CON001", severity="critical", key="a"), finding(id="DNS001", severity="notice"),
                  finding(id="DLV002", severity="error")], base, "warning")
    assert [(f.id, s) for f, s in r.items()] == [("DLV002", FAIL), ("DNS001", NEW), ("CON001", KNOWN)]
    assert [f.id for f in r.failing] == ["DLV002"]
    assert [f.id for f in r.new] == ["DLV002", "DNS001"]
    assert r.exit_code == 1


def test_baseline_matches_rule_and_key_not_count_or_severity():
    base = parse_baseline(baseline_dict([finding(count=12, severity="warning"), finding(id="RES001", key=None)]))
    r = evaluate([finding(count=13, severity="error"), finding(id="RES001", key=None, count=1)], base, "info")
    assert r.exit_code == 0 and len(r.known) == 2
    r = evaluate([finding(key="[other.example]:25")], base, "warning")
    assert r.exit_code == 1 and [f.key for f in r.failing] == ["[other.example]:25"]
    assert r.gone == [("DLV002", "[relay.example]:25"), ("RES001", None)]
    # key None is not the same as the empty string or any key
    r = evaluate([finding(id="RES001", key="")], base, "warning")
    assert r.exit_code == 1


def test_baseline_file_roundtrip_sorted_and_stable(tmp_path):
    fs = [finding(id="ZZZ001", key="b"), finding(id="AAA001", key="z"), finding(id="AAA001", key=None),
          finding(id="AAA001", key="a\u00e9\n")]
    path = tmp_path / "sub" / "baseline.json"
    path.parent.mkdir()
    write_baseline(fs, path)
    text = path.read_text()
    assert text == dump_baseline(list(reversed(fs)))  # order of the findings does not matter
    data = json.loads(text)
    assert data["version"] == 1 and data["tool"] == "postfix-diag"
    assert [(e["id"], e["key"]) for e in data["findings"]] == [
        ("AAA001", None), ("AAA001", "a\u00e9\n"), ("AAA001", "z"), ("ZZZ001", "b")]
    assert set(data["findings"][0]) == {"id", "key", "severity", "count", "title"}
    assert set(load_baseline(path).entries) == {(f.id, f.key) for f in fs}
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"version": 2, "findings": []}', "unsupported version"),
    ('{"version": 1, "findings": {}}', "must be a list"),
    ('{"version": 1, "findings": [{"key": "x"}]}', 'needs a string "id"'),
    ('{"version": 1, "findings": [{"id": "A", "key": 3}]}', "string or null"),
    ('{"version": 1, "tool": "other", "findings": []}', "written by"),
    (b"\xff\xfe{", "not valid JSON"),
])
def test_bad_baseline(tmp_path, content, message):
    p = tmp_path / "b.json"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=re.escape(message)):
        load_baseline(p)


def test_missing_baseline_and_bad_threshold(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_baseline(tmp_path / "nope.json")
    with pytest.raises(InputError, match="unknown severity"):
        evaluate([], fail_on="fatal")


# --- text --------------------------------------------------------------------------------------

def test_text_format():
    base = parse_baseline(baseline_dict([finding(id="CON001", key="k")]), "ci/baseline.json")
    out = render_check(evaluate([finding(), finding(id="CON001", key="k"), finding(id="DNS001", severity="notice")],
                                base, "warning"), "text")
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("NEW ERROR") and "DLV002" in lines[0] and "logs/maillog:345" in lines[0]
    assert lines[1].startswith("new NOTICE") and "DNS001" in lines[1]
    assert lines[2] == ("postfix-diag check: FAIL: 1 new finding(s) at or above warning; 1 new below warning; "
                        "1 known (matched by baseline ci/baseline.json)")
    assert render_check(evaluate([]), "text") == "postfix-diag check: OK: 0 new finding(s) at or above warning; no baseline\n"


def test_text_format_escapes_log_content():
    out = render_check(evaluate([evil_finding()]), "text")
    assert "\x1b" not in out and "\r" not in out and "\x00" not in out and "\u202e" not in out
    assert out.count("\n") == 2  # one finding line, one verdict line
    assert "\\x1b[31mred" in out and "\\x0d\\x0a::set-output" in out


# --- GitHub workflow commands ------------------------------------------------------------------

def _unescape_data(s: str) -> str:
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_prop(s: str) -> str:
    return _unescape_data(s.replace("%3A", ":").replace("%2C", ","))


def _parse_command(line: str):
    """Parse one workflow command as the runner does: ::name props::data."""
    m = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line)
    assert m, line
    props = {}
    for part in (m.group(2) or "").split(","):
        if part:
            k, v = part.split("=", 1)
            props[k] = _unescape_prop(v)
    return m.group(1), props, _unescape_data(m.group(3))


def test_github_levels_and_location():
    base = parse_baseline(baseline_dict([finding(id="CON001")]))
    fs = [finding(id="RES001", severity="critical"), finding(severity="error"), finding(id="ERR001", severity="warning"),
          finding(id="DNS001", severity="notice", samples=[]), finding(id="X", severity="info"), finding(id="CON001")]
    out = render_check(evaluate(fs, base, "error"), "github").splitlines()
    assert len(out) == 6  # 5 new annotations (the known one has none) + the verdict
    parsed = [_parse_command(line) for line in out[:5]]
    assert [p[0] for p in parsed] == ["error", "error", "warning", "notice", "notice"]
    name, props, data = parsed[0]
    assert props["file"] == "logs/maillog" and props["line"] == "345"
    assert props["title"] == "postfix-diag critical: RES001 Relay host unreachable ([relay.example]:25)"
    assert "every delivery attempt failed" in data and "more: postfix-diag explain RES001" in data
    assert "file" not in parsed[3][1] and "line" not in parsed[3][1]
    assert out[5].startswith("postfix-diag check: FAIL: 2 new finding(s) at or above error")


def test_github_escaping_of_hostile_content():
    out = render_check(evaluate([evil_finding()]), "github")
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 3  # no injected line
    assert lines[1].startswith("postfix-diag check:")
    annotation = lines[0]
    assert "\r" not in out and "\x1b" not in out and "\x00" not in out and "\u202e" not in out
    name, props, data = _parse_command(annotation)
    assert name == "warning"
    props_text = annotation[len("::warning "):annotation.index("::", 2)]
    assert ":" not in props_text.replace("%3A", "")
    assert set(props) == {"file", "line", "title"}  # the commas in values were escaped
    assert props["file"] == "dir,with:odd%name\\x0a" + EVIL.replace("\x1b", "\\x1b").replace("\r", "\\x0d").replace(
        "\n", "\\x0a").replace("\x00", "\\x00").replace("\x07", "\\x07").replace("\u202e", "\\u202e")
    assert props["line"] == "7"
    assert "::set-output name=x::pwned, a:b" in data  # harmless inside the data part...
    assert not any(line.startswith("::set-output") for line in data.split("\n"))  # ...and never a command
    assert "50% of \\x1b[31mred" in data
    assert "%25" in annotation and "%0A" in annotation


# --- JUnit -------------------------------------------------------------------------------------

def test_junit_structure():
    base = parse_baseline(baseline_dict([finding(id="CON001", category="connection")]), "b.json")
    fs = [finding(), finding(id="CON001", category="connection"), finding(id="DNS001", category="dns", severity="notice")]
    root = ET.fromstring(render_check(evaluate(fs, base, "warning"), "junit"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == ("3", "1", "1", "0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"postfix-diag.delivery", "postfix-diag.connection", "postfix-diag.dns"}
    case = suites["postfix-diag.delivery"].find("testcase")
    assert case.get("classname") == "postfix-diag.delivery"
    assert case.get("name") == "DLV002 Relay host unreachable ([relay.example]:25)"
    failure = case.find("failure")
    assert failure.get("type") == "error" and "new error finding" in failure.get("message")
    assert "logs/maillog:345:" in failure.text and "fix: start the relay" in failure.text
    assert suites["postfix-diag.connection"].find("testcase/skipped").get("message") == "known: matched by baseline b.json"
    dns = suites["postfix-diag.dns"].find("testcase")
    assert dns.find("failure") is None and dns.find("skipped") is None
    props = {p.get("name"): p.get("value") for p in suites["postfix-diag.dns"].iter("property")}
    assert props == {"fail-on": "warning", "baseline": "b.json"}


def test_junit_without_findings_has_one_passing_case():
    root = ET.fromstring(render_check(evaluate([], sources=["maillog"], lines=10), "junit"))
    assert root.get("tests") == "1" and root.get("failures") == "0"
    case = root.find("testsuite/testcase")
    assert case.get("name") == "no findings" and len(case.findall("failure")) == 0


def test_junit_hostile_content_is_escaped_and_well_formed():
    hostile = evil_finding()
    hostile.title += "</failure><testcase name='x'/>]]><!-- & \ud800 \ufffe \U0001f600"
    hostile.samples.append(Sample("f", 1, "<script>&amp;\x0b\x0c\x1f\x7f\x85"))
    out = render_check(evaluate([hostile]), "junit")
    root = ET.fromstring(out)  # parses: no raw illegal characters, markup escaped
    assert len(root.findall(".//testcase")) == 1
    case = root.find(".//testcase")
    assert "</failure><testcase name='x'/>" in case.get("name")
    assert "\\ud800" in case.get("name") and "\\ufffe" in case.get("name") and "\U0001f600" in case.get("name")
    text = case.find("failure").text
    assert "<script>&amp;\\x0b\\x0c\\x1f\\x7f\\x85" in text
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x1b]", out)


def test_junit_well_formed_for_any_text():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(st.text(), st.text(), st.text())
    def check(title, key, line):
        f = finding(title=title, key=key, summary=line, samples=[Sample(line, 1, line)])
        ET.fromstring(render_check(evaluate([f]), "junit"))

    check()


# --- SARIF -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _errors(validator, doc) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def test_sarif_validates_and_maps_fields(sarif_validator):
    base = parse_baseline(baseline_dict([finding(id="CON001", category="connection", severity="notice")]), "b.json")
    fs = [finding(), finding(id="CON001", category="connection", severity="notice"),
          finding(id="DNS001", severity="info", samples=[]), evil_finding(),
          finding(id="ABS001", samples=[Sample("/var/log/mail log", 0, "x")])]
    result = evaluate(fs, base, "warning", sources=["logs/maillog"])
    doc = json.loads(render_check(result, "sarif"))
    assert _errors(sarif_validator, doc) == []
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "postfix-diag"
    by_id = {r["ruleId"]: r for r in run["results"]}
    assert set(by_id) == {"DLV002", "CON001", "DNS001", "GEN002", "ABS001"}
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    dlv = by_id["DLV002"]
    assert dlv["level"] == "error" and dlv["baselineState"] == "new" and "suppressions" not in dlv
    assert dlv["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "logs/maillog"},
                                                       "region": {"startLine": 345}}
    assert by_id["CON001"]["level"] == "note" and by_id["CON001"]["baselineState"] == "unchanged"
    assert by_id["CON001"]["suppressions"][0]["kind"] == "external"
    assert by_id["DNS001"]["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "logs/maillog"}}
    assert by_id["ABS001"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "file:///var/log/mail%20log"}}
    assert by_id["GEN002"]["level"] == "warning"
    assert "\x1b" not in by_id["GEN002"]["message"]["text"]
    # the fingerprint is rule + key: stable when counts and lines change
    again = json.loads(render_check(evaluate([finding(count=99, samples=[Sample("x", 1, "y")])]), "sarif"))
    assert again["runs"][0]["results"][0]["partialFingerprints"] == dlv["partialFingerprints"]
    assert json.loads(render_check(evaluate([]), "sarif"))["runs"][0]["results"] == []


def test_sarif_subset_schema_rejects_what_the_spec_forbids(sarif_validator):
    doc = json.loads(render_check(evaluate([finding()]), "sarif"))
    assert _errors(sarif_validator, doc) == []

    def broken(mutate):
        d = json.loads(json.dumps(doc))
        mutate(d)
        return _errors(sarif_validator, d)

    assert broken(lambda d: d.update(version="2.0.0"))
    assert broken(lambda d: d.pop("runs"))
    assert broken(lambda d: d["runs"][0]["tool"]["driver"].pop("name"))
    assert broken(lambda d: d["runs"][0]["results"][0].update(level="critical"))
    assert broken(lambda d: d["runs"][0]["results"][0]["message"].pop("text"))
    assert broken(lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine=0))
    assert broken(lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].pop("id"))
    assert broken(lambda d: d["runs"][0]["results"][0].update(severity="error"))  # not a SARIF property


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown check format"):
        render_check(evaluate([]), "html")


# --- command line, end to end ------------------------------------------------------------------

def _invoke(*args):
    from typer.testing import CliRunner

    from postfix_diag.cli import app

    result = CliRunner().invoke(app, ["check", *map(str, args)])
    if not hasattr(result, "exit_code"):
        pytest.fail(str(result))
    return result


@pytest.fixture(scope="module")
def has_check_command():
    from postfix_diag.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else None) for c in app.registered_commands}
    if "check" not in names:
        pytest.skip("the `check` command is not registered in postfix_diag/cli.py yet")


@pytest.fixture(scope="module")
def engine_ready():
    """The end-to-end tests need the rule engine (postfix_diag/rules/, written concurrently)."""
    try:
        from postfix_diag.analyze import analyze  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"the rule engine is not usable yet (postfix_diag.analyze import failed: {exc!r})")


def _scenario(name: str) -> Path:
    log = SAMPLES / name / "maillog"
    if not log.is_file():
        pytest.skip(f"captured scenario {name!r} not present at {log} (run tools/capture/run_all.sh {name})")
    return log


def _faulty_scenario() -> tuple[Path, str]:
    """A captured scenario other than `healthy` whose expected.json lists findings, with the
    severity to pass as --fail-on (the most severe expected one, or warning)."""
    from postfix_diag.model import SEVERITY_RANK

    others = sorted(p for p in SAMPLES.iterdir() if p.is_dir()) if SAMPLES.is_dir() else []
    for d in [SAMPLES / "relay-down", SAMPLES / "error-limit", *others]:
        if d.name == "healthy" or not (d / "maillog").is_file() or not (d / "expected.json").is_file():
            continue
        try:
            expected = json.loads((d / "expected.json").read_text()).get("findings") or []
        except (OSError, ValueError, AttributeError):
            continue
        if not expected:
            continue
        sevs = [e["severity"] for e in expected if isinstance(e, dict) and e.get("severity") in SEVERITY_RANK]
        return d / "maillog", (max(sevs, key=SEVERITY_RANK.get) if sevs else "warning")
    pytest.skip(f"no captured faulty scenario with expected findings in {SAMPLES} yet")


def test_cli_missing_file_is_usage_error(has_check_command, tmp_path):
    r = _invoke(tmp_path / "no-such-maillog")
    assert r.exit_code == 2, r.output
    assert "no such file" in r.output


def test_cli_bad_fail_on_is_usage_error(has_check_command, tmp_path):
    log = tmp_path / "maillog"
    log.write_text("Nov 25 12:28:25 mail postfix/master[4454]: daemon started -- version 3.7.11\n")
    r = _invoke(log, "--fail-on", "fatal")
    assert r.exit_code == 2, r.output
    r = _invoke(log, "--format", "html")
    assert r.exit_code == 2, r.output


def test_cli_missing_or_bad_baseline_is_usage_error(has_check_command, tmp_path):
    log = tmp_path / "maillog"
    log.write_text("Nov 25 12:28:25 mail postfix/master[4454]: daemon started -- version 3.7.11\n")
    r = _invoke(log, "--baseline", tmp_path / "missing.json")
    assert r.exit_code == 2 and "baseline file not found" in r.output
    (tmp_path / "bad.json").write_text("{")
    r = _invoke(log, "--baseline", tmp_path / "bad.json")
    assert r.exit_code == 2 and "not valid JSON" in r.output


def test_cli_empty_log_is_usage_error(has_check_command, engine_ready, tmp_path):
    log = tmp_path / "maillog"
    log.write_text("")
    r = _invoke(log)
    assert r.exit_code == 2, r.output


def test_cli_healthy_scenario_passes(has_check_command, engine_ready, tmp_path):
    log = _scenario("healthy")
    r = _invoke(log)  # README: nothing above notice, and --fail-on defaults to warning
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1].startswith("postfix-diag check: OK:")
    for fmt in ("junit", "github", "sarif"):
        r = _invoke(log, "--format", fmt)
        assert r.exit_code == 0, (fmt, r.output)
    ET.fromstring(_invoke(log, "--format", "junit").output)


def test_cli_faulty_scenario_fails_until_baselined(has_check_command, engine_ready, tmp_path, sarif_validator):
    log, fail_on = _faulty_scenario()
    r = _invoke(log, "--fail-on", fail_on)
    assert r.exit_code == 1, r.output
    assert "postfix-diag check: FAIL:" in r.output

    root = ET.fromstring(_invoke(log, "--fail-on", fail_on, "--format", "junit").output)
    assert int(root.get("failures")) >= 1
    sarif = _invoke(log, "--fail-on", fail_on, "--format", "sarif")
    assert sarif.exit_code == 1
    assert _errors(sarif_validator, json.loads(sarif.output)) == []
    gh = _invoke(log, "--fail-on", fail_on, "--format", "github")
    assert gh.exit_code == 1 and gh.output.startswith("::")

    baseline = tmp_path / "baseline.json"
    r = _invoke(log, "--fail-on", fail_on, "--write-baseline", baseline)
    assert r.exit_code == 0, r.output  # what was just recorded is known
    data = json.loads(baseline.read_text())
    assert data["version"] == 1 and data["findings"]
    r = _invoke(log, "--fail-on", fail_on, "--baseline", baseline)
    assert r.exit_code == 0, r.output
    assert "known (matched by baseline" in r.output

    # a baseline from the healthy log does not hide the faults
    healthy = SAMPLES / "healthy" / "maillog"
    if healthy.is_file():
        other = tmp_path / "healthy.json"
        assert _invoke(healthy, "--write-baseline", other).exit_code == 0
        assert _invoke(log, "--fail-on", fail_on, "--baseline", other).exit_code == 1


def test_hostile_newlines_do_not_add_lines_to_junit_or_sarif_bodies():
    f = evil_finding()
    failure = ET.fromstring(render_check(evaluate([f]), "junit")).find(".//failure")
    plain = evaluate([finding(id="GEN002", category="other", severity="warning")])
    plain_failure = ET.fromstring(render_check(plain, "junit")).find(".//failure")
    assert failure.text.count("\n") == plain_failure.text.count("\n") + 1  # + the evidence line
    sarif = json.loads(render_check(evaluate([f]), "sarif"))["runs"][0]["results"][0]["message"]["text"]
    assert not any(line.startswith("::") for line in sarif.split("\n"))


@pytest.fixture
def stub_analysis(monkeypatch):
    """Replace the analysis with canned findings, so that the command's plumbing (exit codes,
    baseline files, formats) is tested independently of the rule engine."""
    import sys
    import types

    state = {"findings": [], "lines": 5, "preview": []}

    def analyze(paths, year=None, min_severity="info", progress=None, preview=True, since=None, until=None,
                gaps=None, **config):
        assert min_severity == "info"  # the baseline records findings of every severity
        state["preview"].append(preview)
        coverage = types.SimpleNamespace(total=state["lines"], recognized=state["lines"], foreign=0)
        return types.SimpleNamespace(coverage=coverage,
                                     findings=list(state["findings"]), sources=list(paths), incidents=[])

    monkeypatch.setitem(sys.modules, "postfix_diag.analyze", types.SimpleNamespace(analyze=analyze))
    return state


def test_cli_plumbing_with_stubbed_analysis(has_check_command, stub_analysis, tmp_path):
    log = tmp_path / "maillog"
    log.write_text("x\n")
    stub_analysis["findings"] = [finding(severity="notice")]
    assert _invoke(log).exit_code == 0
    assert _invoke(log, "--fail-on", "notice").exit_code == 1
    stub_analysis["findings"] = [finding(), finding(id="DNS001", severity="notice", key=None)]
    r = _invoke(log)
    assert r.exit_code == 1 and r.output.startswith("NEW ERROR    DLV002")
    # rules in preview run only with --preview (an upgrade adds no failing finding to a CI job)
    assert stub_analysis["preview"] and not any(stub_analysis["preview"])
    _invoke(log, "--preview")
    assert stub_analysis["preview"][-1] is True

    base = tmp_path / "baseline.json"
    r = _invoke(log, "--write-baseline", base)
    assert r.exit_code == 0, r.output
    assert "wrote 2 finding(s) to" in r.output
    assert [e["id"] for e in json.loads(base.read_text())["findings"]] == ["DLV002", "DNS001"]
    stub_analysis["findings"] = [finding(count=13), finding(id="DNS001", severity="notice", key=None)]
    assert _invoke(log, "--baseline", base).exit_code == 0
    stub_analysis["findings"].append(finding(id="RES001", severity="critical", key=None))
    for fmt in ("text", "junit", "github", "sarif"):
        assert _invoke(log, "--baseline", base, "--format", fmt).exit_code == 1, fmt
    assert _invoke(log, "--baseline", base, "--fail-on", "critical").exit_code == 1
    # comparing with the old baseline while recording a new one: still 1, and the file is updated
    assert _invoke(log, "--baseline", base, "--write-baseline", base).exit_code == 1
    assert _invoke(log, "--baseline", base).exit_code == 0

    stub_analysis["lines"] = 0
    r = _invoke(log)
    assert r.exit_code == 2 and "no log lines" in r.output
    assert not (tmp_path / "never.json").exists()
    assert _invoke(log, "--write-baseline", tmp_path / "never.json").exit_code == 2
    assert not (tmp_path / "never.json").exists()
    stub_analysis["lines"] = 5
    r = _invoke(log, "--write-baseline", tmp_path / "no-such-dir" / "b.json")
    assert r.exit_code == 2 and "cannot write baseline" in r.output
