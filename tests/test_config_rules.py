"""The rules with the server's configuration (issue #12): the CLI options and the report's
config section, safe remediation on every sample scenario, severities from evidence, the
counting defects (each on real lines of the sample logs or of Postfix's templates), and logs
that hold several hosts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from postfix_diag import config as C
from postfix_diag.analyze import analyze
from postfix_diag.cli import app
from postfix_diag.config import safety
from postfix_diag.rules import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
SCENARIOS = sorted(d.name for d in SAMPLES.iterdir() if (d / "maillog").is_file())
runner = CliRunner()


def cfg_of(name: str):
    return C.load([str(SAMPLES / name / "postconf-n.txt"), str(SAMPLES / name / "master.cf")])


def log_of(name: str) -> str:
    return str(SAMPLES / name / "maillog")


def by_id(findings, rid, key=None):
    found = [f for f in findings if f.id == rid and (key is None or f.key == key)]
    assert found, f"{rid} missing: {[(f.id, f.key) for f in findings]}"
    return found[0]


# --- CLI and report --------------------------------------------------------------------------

def test_analyze_with_config_reports_what_it_read_and_matches_the_schema():
    d = SAMPLES / "relay-abuse"
    r = runner.invoke(app, ["analyze", "--format", "json", str(d / "maillog"), "--config", str(d / "postconf-n.txt"),
                            "--config", str(d / "master.cf")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, json.loads((ROOT / "docs/report-schema.json").read_text()))
    cfg = doc["config"]
    assert cfg["read"] is True and [s["kind"] for s in cfg["sources"]] == ["main.cf", "master.cf"]
    assert cfg["parameters_used"]["mynetworks"] == {"value": "127.0.0.1/32",
                                                    "where": f"{d / 'postconf-n.txt'}:17"}
    assert cfg["would_sharpen"] == [] and cfg["applied_to_hosts"] == ["mail"]
    sec002 = next(f for f in doc["findings"] if f["id"] == "SEC002")
    assert sec002["host"] == "mail" and sec002["config"]["mynetworks"]["value"] == "127.0.0.1/32"


def test_without_config_the_report_says_what_it_would_sharpen():
    r = runner.invoke(app, ["analyze", "--format", "json", log_of("relay-abuse")])
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, json.loads((ROOT / "docs/report-schema.json").read_text()))
    assert doc["config"]["read"] is False and "without --config" in doc["config"]["how"]
    assert {h["id"] for h in doc["config"]["would_sharpen"]} == {"SEC002", "SEC003"}
    text = runner.invoke(app, ["analyze", log_of("relay-abuse")]).stdout
    assert "--config would sharpen: SEC002, SEC003" in text
    assert "  with --config: Tells your own clients from outsiders by mynetworks" in text


def test_config_problems_are_one_line_each_and_the_analysis_runs(tmp_path):
    bad = tmp_path / "main.cf"
    bad.write_text("mynetworks = 127.0.0.0/8\n  continued before anything? no: this continues mynetworks\n"
                   "not a parameter line\nmynetworks = 127.0.0.1/32\n")
    r = runner.invoke(app, ["analyze", log_of("relay-abuse"), "--config", str(bad), "--config",
                            str(tmp_path / "missing.cf")])
    assert r.exit_code == 0
    problems = [line for line in r.stderr.splitlines() if line.startswith("postfix-diag: config: ")]
    assert problems and all(re.match(rf"postfix-diag: config: {re.escape(str(tmp_path))}/\S+?(:\d+)?: ", p)
                            for p in problems), r.stderr
    assert any(p.endswith("missing.cf: no such file") for p in problems)
    assert any("main.cf:3: missing '=' after parameter name" in p for p in problems)
    assert any(":4: overriding earlier entry: mynetworks=127.0.0.1/32" in p for p in problems)
    assert "Relay access denied" in r.stdout and "Traceback" not in r.stderr


def test_config_and_no_config_exclude_each_other():
    r = runner.invoke(app, ["analyze", log_of("healthy"), "--config", "/etc/postfix", "--no-config"])
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_on_the_server_the_configuration_is_discovered_and_said(monkeypatch, tmp_path):
    """No log path: the local configuration is read (here switched off by the environment, the
    same path --no-config takes), and stderr says what happened."""
    monkeypatch.setenv(C.ENV_OFF, "1")
    r = runner.invoke(app, ["analyze"])
    assert "postfix-diag: configuration: configuration not read (POSTFIX_DIAG_NO_CONFIG is set)" in r.stderr
    found = C.choose(None, on_server=False)
    assert found.config is None and "without --config" in found.how
    assert C.choose(None, enabled=False, on_server=True).how == "configuration not read (--no-config)"
    d = SAMPLES / "healthy"
    assert C.choose([str(d / "postconf-n.txt")], on_server=True).config.has_main


def test_summary_and_check_take_config():
    d = SAMPLES / "relay-abuse"
    args = ["--config", str(d / "postconf-n.txt"), "--config", str(d / "master.cf")]
    r = runner.invoke(app, ["check", str(d / "maillog"), "--fail-on", "warning", *args])
    assert r.exit_code == 0, r.stdout  # with mynetworks known, the relay probes are notices
    assert runner.invoke(app, ["check", str(d / "maillog"), "--fail-on", "warning"]).exit_code == 1
    r = runner.invoke(app, ["summary", "--format", "json", str(d / "maillog"), *args])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["meta"]["config"]["read"] is True


# --- safe remediation --------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_remediation_drops_a_current_value(scenario):
    """Every rule's remediation, as produced on the sample log with its postconf -n and master.cf
    and without them, checked against that configuration: no command may drop part of a
    current value; with the configuration no command may even miss its target."""
    cfg = cfg_of(scenario)
    for with_config in (False, True):
        for f in analyze([log_of(scenario)], config=cfg if with_config else None).findings:
            for step in f.remediation:
                assert not safety.drops(step, cfg), (f.id, with_config, step, safety.drops(step, cfg))
                if with_config:
                    assert not safety.check_remediation(step, cfg), (f.id, step)


@pytest.mark.parametrize("rid", sorted(REGISTRY))
def test_default_remediation_drops_nothing_anywhere(rid):
    """A rule's default steps (what explain prints and a run without configuration uses) drop
    nothing, whatever the configuration: against none and against every sample's."""
    configs = [None] + [cfg_of(s) for s in SCENARIOS]
    for step in REGISTRY[rid].remediation:
        for cfg in configs:
            assert not safety.drops(step, cfg), (step, safety.drops(step, cfg))


def test_issue_examples_are_gone():
    """The fixes the issue found: mydestination replaced, mynetworks widened for a probe, a
    smtpd_sasl_path that submission's -o overrides, smtp/inet for the smtp client, newaliases
    for a table that is not alias_database, maxproc for postconf -F."""
    cm = analyze([log_of("config-mistakes")], config=cfg_of("config-mistakes")).findings
    loops = by_id(cm, "CFG006")
    assert loops.remediation[0].startswith("127.0.0.1 is the relayhost: relayhost = [127.0.0.1]:25")
    assert "mydestination" not in " ".join(loops.remediation[:1])
    assert "postmap hash:/etc/postfix/missing" in " ".join(by_id(cm, "CFG004").remediation)
    assert "newaliases" not in " ".join(by_id(cm, "CFG004").remediation[1:2])
    ra = analyze([log_of("relay-abuse")], config=cfg_of("relay-abuse")).findings
    assert "127.0.0.0/8" not in " ".join(by_id(ra, "SEC002").remediation)
    cs = analyze([log_of("chroot-sockets")], config=cfg_of("chroot-sockets")).findings
    steps = " ".join(by_id(cs, "CHR003").remediation)
    assert "`postconf -P '127.0.0.1:submission/inet/smtpd_sasl_path=private/auth'`" in steps
    assert "postconf -e 'smtpd_sasl_path" not in steps
    cb = analyze([log_of("chroot-broken")], config=cfg_of("chroot-broken")).findings
    chr001 = " ".join(by_id(cb, "CHR001").remediation)
    assert "`postconf -F 'smtp/unix/chroot=n'`" in chr001 and "smtp/inet" not in chr001
    assert "smtp/unix" in " ".join(by_id(analyze([log_of("chroot-broken")]).findings, "CHR001").remediation)
    pl = analyze([log_of("process-limit")], config=cfg_of("process-limit")).findings
    assert "`postconf -F 'smtp/inet/process_limit=10'`" in " ".join(by_id(pl, "PRC001").remediation)
    assert "maxproc=" not in " ".join(step for rid in REGISTRY for step in REGISTRY[rid].remediation)


def test_a_down_next_hop_is_named_as_the_relayhost():
    f = by_id(analyze([log_of("relay-down")], config=cfg_of("relay-down")).findings, "DLV002")
    assert "(the relayhost)" in f.summary and f.evidence["role"] == "the relayhost"
    assert f.config["relayhost"]["value"] == "[127.0.0.1]:2599" and f.severity == "error"
    assert f.remediation[0] == "Test the connection from the mail server: `nc -vz 127.0.0.1 2599`."


def test_the_fix_names_the_real_log_path():
    f = by_id(analyze([log_of("error-limit")], config=cfg_of("error-limit")).findings, "ERR001")
    assert "/var/log/postfix-capture.log" in f.remediation[0]  # maillog_file of the scenario
    f = by_id(analyze([log_of("error-limit")]).findings, "ERR001")
    assert "/var/log/mail.log" in f.remediation[0]


# --- severity from evidence --------------------------------------------------------------------

def test_jail_file_differs_is_a_warning_on_a_healthy_host(tmp_path):
    """postfix-script's `... differ` alone: a warning, so `check --fail-on error` passes."""
    lines = [line for line in Path(log_of("chroot-broken")).read_text().splitlines() if " differ" in line]
    lines += [line for line in Path(log_of("healthy")).read_text().splitlines()]
    log = tmp_path / "maillog"
    log.write_text("\n".join(lines) + "\n")
    f = by_id(analyze([str(log)], config=cfg_of("healthy")).findings, "CHR002")
    assert f.severity == "warning"
    assert runner.invoke(app, ["check", str(log), "--fail-on", "error"]).exit_code == 0
    broken = by_id(analyze([log_of("chroot-broken")], config=cfg_of("chroot-broken")).findings, "CHR002")
    assert broken.severity == "error" and broken.evidence["lookups_failing"] == ["CHR001 (services)",
                                                                                  "DNS002 (hosts, resolv.conf)"]


@pytest.mark.parametrize("scenario", ["healthy", "content-filter"])
def test_healthy_scenarios_raise_nothing_above_notice_with_config(scenario):
    findings = analyze([log_of(scenario)], config=cfg_of(scenario)).findings
    assert all(f.severity in ("notice", "info") for f in findings), [(f.id, f.severity) for f in findings]


def test_every_rule_that_reads_the_configuration_documents_it():
    import inspect

    for rid, cls in REGISTRY.items():
        if "self.config" in inspect.getsource(cls):
            assert cls.with_config.strip(), f"{rid} reads the configuration: say how in with_config"
    from postfix_diag.rules import explain

    assert "With the configuration (--config):" in explain("SEC002") and "Severity:" in explain("CHR002")


# --- counting defects, on real lines -------------------------------------------------------------

def test_config_error_rejects_go_to_the_cause_their_process_logged():
    findings = analyze([log_of("config-mistakes")]).findings
    cfg001, cfg004 = by_id(findings, "CFG001"), by_id(findings, "CFG004")
    text = Path(log_of("config-mistakes")).read_text()
    assert text.count("Server configuration error") == 4
    assert cfg001.evidence["server_configuration_error_rejects"] == 2
    assert cfg004.evidence["rejects_by_reply"] == {"Server configuration error": 2}
    assert "2 requests rejected with 'Server configuration error'" in cfg004.summary


def test_connection_attempts_are_counted_once():
    """relay-down: each attempt is one `connect to` line of smtp; the deferral that follows it and
    the retry transport's `delivery temporarily suspended` lines are no attempts."""
    text = Path(log_of("relay-down")).read_text()
    connects = len(re.findall(r"postfix/smtp\[\d+\]: connect to 127\.0\.0\.1\[127\.0\.0\.1\]:2599: ", text))
    f = by_id(analyze([log_of("relay-down")]).findings, "DLV002")
    assert f.evidence["attempts"] == connects == 14
    assert f.evidence["attempts_by_reason"] == {"Connection refused": connects}
    assert f"every one of {connects} connection attempts" in f.summary


def test_a_late_bounce_notice_leaves_no_phantom_message(tmp_path):
    """outbound-dns, with the bounce daemon's notice written after the notification's removed
    line (as two processes writing one log may order them)."""
    lines = Path(log_of("outbound-dns")).read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if "sender non-delivery notification: DD96D160286" in line)
    j = next(n for n, line in enumerate(lines) if "DD96D160286: removed" in line)
    assert i < j
    lines.insert(j, lines.pop(i))
    log = tmp_path / "maillog"
    log.write_text("\n".join(lines) + "\n")
    late, original = analyze([str(log)]), analyze([log_of("outbound-dns")])
    assert len(late.queued) == len(original.queued) == 5
    assert by_id(late.findings, "QUE001").count == by_id(original.findings, "QUE001").count


def test_domain_counts_say_their_unit():
    """Evidence about domains names what it counts; the delivery rules count messages."""
    for scenario in SCENARIOS:
        for f in analyze([log_of(scenario)]).findings:
            for key in f.evidence:
                if "domain" in key and not f.id.startswith("QSH"):
                    assert key.split("_", 1)[0] in ("messages", "recipients", "rejects", "deliveries",
                                                    "warnings"), (f.id, key)
    relay = analyze([log_of("relay-down")]).findings
    assert by_id(relay, "DLV001").evidence["messages_by_domain"] == by_id(relay, "DLV002").evidence[
        "messages_by_domain"] == [["example.net", 6], ["example.com", 1]]


# --- hosts --------------------------------------------------------------------------------------

def two_host_log(tmp_path) -> Path:
    """relay-down as host `mail`, sasl-bruteforce renamed to host `mx2`, one file."""
    first = Path(log_of("relay-down")).read_text()
    second = Path(log_of("sasl-bruteforce")).read_text().replace(" mail postfix/", " mx2 postfix/")
    log = tmp_path / "maillog"
    log.write_text(first + second)
    return log


def test_findings_carry_their_host_and_match_each_host_alone(tmp_path):
    log = two_host_log(tmp_path)
    merged = analyze([str(log)], year=2026).findings
    alone = {"mail": analyze([log_of("relay-down")], year=2026).findings,
             "mx2": analyze([log_of("sasl-bruteforce")], year=2026).findings}
    assert {f.host for f in merged} == {"mail", "mx2"}
    for host, findings in alone.items():
        mine = sorted((f.id, f.key, f.count, f.severity) for f in merged if f.host == host)
        assert mine == sorted((f.id, f.key, f.count, f.severity) for f in findings), host


def test_text_and_markdown_group_findings_by_host(tmp_path):
    log = two_host_log(tmp_path)
    text = runner.invoke(app, ["analyze", str(log)]).stdout
    assert text.index("=== host mail: ") < text.index("=== host mx2: ")
    mx2 = text[text.index("=== host mx2: "):]
    assert "[WARNING] SEC001" in mx2 and "DLV002" not in mx2
    md = runner.invoke(app, ["analyze", "--format", "markdown", str(log)]).stdout
    assert "## Host mail" in md and "## Host mx2" in md and "### ERROR DLV002" in md
    assert md.index("## Host mail") < md.index("### ERROR DLV002") < md.index("## Host mx2")
    one = runner.invoke(app, ["analyze", log_of("relay-down")]).stdout
    assert "=== host" not in one


def test_the_configuration_applies_to_the_host_it_names(tmp_path):
    log = two_host_log(tmp_path)
    result = analyze([str(log)], config=cfg_of("relay-down"))
    assert result.config["applied_to_hosts"] == ["mail"] and result.config["not_applied_to_hosts"] == ["mx2"]
    assert by_id(result.findings, "DLV002").config  # mail: myhostname = mail.capture.example
    assert not by_id(result.findings, "SEC001").config
    assert [h["id"] for h in result.config["would_sharpen"]] == ["SEC001"]


# --- pieces --------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
def test_analysis_with_config_in_pieces_equals_one_pass(scenario):
    """The configuration is no state: a log cut into pieces gives the findings of one pass."""
    import functools

    from test_pieces import analysis_json, cut_sets, events_of, in_pieces

    from postfix_diag import analyze as A

    log = f"sample_logs/{scenario}/maillog"
    cfg = cfg_of(scenario)
    make = functools.partial(A.stream, config=cfg)
    events = events_of(log)
    expected = analysis_json(in_pieces(make, events, []), log)
    for what, cuts in list(cut_sets(events, seed=5))[1:5]:
        assert analysis_json(in_pieces(make, events, cuts), log) == expected, f"{what}: cuts {cuts}"


# --- the printed fixes, applied by the real postconf ------------------------------------------

POSTCONF = C.find_postconf()


def _edits(findings) -> list[str]:
    """The postconf commands of the findings' fixes that change the configuration."""
    out = []
    for f in findings:
        for step in f.remediation:
            for span in safety.commands_in(step):
                if span.startswith("postconf ") and "=" in span and re.search(r"postconf (-e|-P|-F) ", span):
                    out.append(span)
    return list(dict.fromkeys(out))


@pytest.mark.skipif(POSTCONF is None, reason="Postfix's postconf is not installed (apt-get install postfix)")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_printed_fixes_applied_by_postconf_keep_every_item(tmp_path, scenario):
    """Every configuration change the report prints for a scenario (with its configuration and
    without), pasted into a shell on a copy of that configuration: the real postconf accepts each
    command, and every list parameter and every service keeps all it had."""
    import os
    import shutil
    import subprocess

    for with_config in (True, False):
        d = tmp_path / f"{scenario}-{with_config}"
        d.mkdir()
        shutil.copy(SAMPLES / scenario / "postconf-n.txt", d / "main.cf")
        shutil.copy(SAMPLES / scenario / "master.cf", d / "master.cf")
        for p in d.iterdir():  # Postfix pauses on a main.cf changed within the last second
            os.utime(p, (p.stat().st_atime - 60, p.stat().st_mtime - 60))
        before = C.load(d)
        findings = analyze([log_of(scenario)], config=before if with_config else None).findings
        env = {**os.environ, "MAIL_CONFIG": str(d), "PATH": f"{Path(POSTCONF).parent}:{os.environ.get('PATH', '')}"}
        for command in _edits(findings):
            done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=60, text=True)
            assert done.returncode == 0, (command, done.stderr)
        after = C.load(d)
        from postfix_diag.config.defaults import is_list
        from postfix_diag.config.syntax import split_quoted

        for name in before.definitions:
            if is_list(name):
                lost = set(split_quoted(before.value(name) or "")) - set(split_quoted(after.value(name) or ""))
                assert not lost, (name, lost)
        for key, svc in before.services.items():
            kept = after.services[key]
            assert set(svc.overrides) <= set(kept.overrides) and svc.args[:1] == kept.args[:1], key
