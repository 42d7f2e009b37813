"""The rules of issue #14 beyond their rule cases: preview status (analyze runs and marks them,
check leaves them out unless --preview), SEC001 leaving a backend outage to SAS001, GEN002 as
one finding with its templates, the normalized text keeping words, the OpenSSL reason kept in
full, DSN codes in words, and the grammar rules added for the new rules on real template lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from postfix_diag.analyze import analyze
from postfix_diag.check import run_check
from postfix_diag.coverage import shape
from postfix_diag.dsn import codes_in, explain
from postfix_diag.parse import Parser
from postfix_diag.rules import REGISTRY, Engine
from postfix_diag.rules import explain as explain_rule
from postfix_diag.rules.tls import openssl_reason

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
PREVIEW = sorted(rid for rid, cls in REGISTRY.items() if cls.preview)


def run_lines(lines, **engine):
    from postfix_diag.analyze import run

    _, findings, _ = run(Parser(year=2026).parse_lines(lines, "<t>", 2026), Engine(**engine))
    return findings


def test_new_rules_are_in_preview_and_documented_so():
    assert {"SAS001", "SAS002", "PRM001", "CFG008", "GRY001", "RBL001", "RBL002", "HRV001", "FLT001"} <= set(PREVIEW)
    page = explain_rule("SAS001")
    assert "Status: preview" in page and "--preview" in page
    assert "Status: stable" in explain_rule("SEC001")
    rules_md = (ROOT / "docs/rules.md").read_text()
    assert "| [SAS001](#sas001) | `sasl-backend-down` | sasl | error | preview |" in rules_md


def test_analyze_marks_preview_findings_and_check_leaves_them_out():
    log = str(SAMPLES / "saslauthd-down/maillog")
    found = {f.id: f for f in analyze([log]).findings}
    assert found["SAS001"].preview and found["SAS001"].as_dict()["preview"] is True
    assert "SEC001" not in found  # the backend outage is SAS001's, not password guessing
    # without --preview, check sees what the stable rules see: SEC001 as before the upgrade
    stable = run_check([log])
    assert [f.id for f in stable.findings] == ["SEC001"]
    assert "preview" not in stable.findings[0].as_dict()
    with_preview = run_check([log], preview=True)
    assert [f.id for f in with_preview.findings] == ["SAS001"]


def test_check_cli_preview_option_as_a_subprocess(tmp_path):
    log = str(SAMPLES / "sasl-backend-down/maillog")
    base = [sys.executable, "-m", "postfix_diag", "check", "--format", "text", log]
    plain = subprocess.run(base, capture_output=True, text=True, timeout=120)
    preview = subprocess.run([*base, "--preview"], capture_output=True, text=True, timeout=120)
    assert "SAS001" not in plain.stdout and "GEN001" in plain.stdout
    assert "SAS001" in preview.stdout and "GEN001" not in preview.stdout
    assert plain.returncode == preview.returncode == 1


def test_rules_command_lists_the_status():
    out = subprocess.run([sys.executable, "-m", "postfix_diag", "rules", "--format", "json"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["SAS001"]["status"] == "preview" and rows["DLV001"]["status"] == "stable"


def test_sec001_keeps_guesses_and_leaves_backend_failures_out():
    lines = [f"Nov 25 12:00:{i:02d} mail postfix/smtpd[1]: warning: unknown[203.0.113.50]: SASL PLAIN authentication "
             f"failed: authentication failure, sasl_username=admin" for i in range(10)]
    lines += [f"Nov 25 12:01:{i:02d} mail postfix/smtpd[2]: warning: SASL authentication failure: cannot connect to "
              f"saslauthd server: No such file or directory" for i in range(3)]
    lines += [f"Nov 25 12:01:{i:02d} mail postfix/smtpd[2]: warning: laptop.example.org[192.0.2.2]: SASL LOGIN "
              f"authentication failed: generic failure, sasl_username=carol" for i in range(3)]
    found = {f.id: f for f in run_lines(lines)}
    sec = found["SEC001"]
    assert sec.count == 10 and sec.key == "203.0.113.50"
    assert ["laptop.example.org[192.0.2.2]", 3] not in sec.evidence["top_clients"]
    assert "left out: SAS001" in sec.summary
    # without SAS001 (check without --preview) SEC001 counts every line, as it did
    alone = {f.id: f for f in run_lines(lines, preview=False)}
    assert alone["SEC001"].count == 13


def test_gen002_is_one_finding_with_its_templates():
    lines = ["Nov 25 12:00:01 mail postfix/smtpd[1]: warning: Illegal address syntax from unknown[203.0.113.9] in MAIL command: <a@@b>",
             "Nov 25 12:00:02 mail postfix/qmgr[2]: warning: private/retry socket: malformed response",
             "Nov 25 12:00:03 mail postfix/smtpd[1]: warning: Illegal address syntax from unknown[203.0.113.8] in MAIL command: <c@@d>",
             "Nov 25 12:00:04 mail postfix/smtpd[1]: warning: valid_ipv4_hostaddr: invalid octet value: 999.1.1.1"]
    gen = [f for f in run_lines(lines) if f.id == "GEN002"]
    assert len(gen) == 1 and gen[0].count == 4
    templates = gen[0].evidence["templates"]
    assert templates[0] == ["Illegal address syntax from unknown[ADDR] in MAIL command: <ADDR>", 2]
    assert [t for t, _ in templates[1:]] == ["private/retry socket: malformed response",
                                             "valid_ipv4_hostaddr: invalid octet value: N.N.N.N"]
    assert len({s.text for s in gen[0].samples}) == 4  # one sample of each text first


def test_sample_logs_never_show_two_findings_of_one_rule_with_one_title_and_no_key():
    for log in sorted(SAMPLES.glob("*/maillog")):
        findings = analyze([str(log)]).findings
        gen = [f for f in findings if f.id in ("GEN001", "GEN002")]
        assert len(gen) == len({f.id for f in gen}), log


def test_shape_keeps_words_whole():
    assert shape("valid_ipv6_hostaddr: invalid address length 17") == "valid_ipv6_hostaddr: invalid address length N"
    assert shape("sha256 x509 pid 1234") == "sha256 x509 pid N"


def test_openssl_reason_is_the_reason_not_the_function():
    assert openssl_reason("12345:error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:"
                          "s3_pkt.c:1262:SSL alert number 48:") == "tlsv1 alert unknown ca (SSL alert number 48)"
    assert openssl_reason("error:0A000418:SSL routines::tlsv1 alert unknown ca:ssl/record/rec_layer_s3.c:1584:"
                          "SSL alert number 48") == "tlsv1 alert unknown ca (SSL alert number 48)"
    lines = ["Nov 25 12:00:01 mail postfix/smtpd[1]: warning: TLS library problem: 12345:error:14094418:SSL routines:"
             "ssl3_read_bytes:tlsv1 alert unknown ca:s3_pkt.c:1262:SSL alert number 48:",
             "Nov 25 12:00:01 mail postfix/smtpd[1]: SSL_accept error from mail.example.com[192.0.2.25]: -1"]
    tls = {f.id: f for f in run_lines(lines)}["TLS002"]
    assert tls.evidence["by_openssl_reason"] == [["tlsv1 alert unknown ca (SSL alert number 48)", 1]]
    assert tls.evidence["by_reason"] == [["-1", 1]]


def test_dsn_codes_in_words():
    assert explain("5.7.8") == "permanent failure: authentication credentials invalid"
    assert explain("4.2.2") == "persistent transient failure (retried): mailbox full (over quota)"
    assert explain("5.9.99") is None or "not registered" in explain("5.9.99")
    assert list(codes_in(["version 3.7.11 at 10.0.0.1", "dsn=4.4.1, status=deferred", "said: 550-5.7.1 [x]"])) == ["4.4.1", "5.7.1"]
    sas = [f for f in analyze([str(SAMPLES / "relayhost-auth/maillog")]).findings if f.id == "SAS002"]
    assert all("dsn_codes" in f.evidence for f in sas)
    assert sas[0].evidence["dsn_codes"]["5.7.8"].endswith("authentication credentials invalid")


def test_new_grammar_rules_on_template_lines():
    parser = Parser(year=2026)
    cases = {
        "SASL: Connect to Dovecot auth socket 'private/auth' failed: No such file or directory": ("sasl_misc", "socket", "private/auth"),
        "scan_dir_push: open directory maildrop: Permission denied": ("file_access", "path", "maildrop"),
        "mail_queue_enter: create file maildrop/253061.3097: Permission denied": ("file_access", "path", "maildrop/253061.3097"),
        "bad numerical configuration: smtpd_hard_error_limit = twenty": ("config_fatal", "parameter", "smtpd_hard_error_limit"),
        "host or service policy.invalid:10040 not found: Name or service not known": ("inet_unresolved", "endpoint", "policy.invalid:10040"),
        "connect to transport private/smtp-relay: No such file or directory": ("transport_missing", "transport", "smtp-relay"),
        "connect to proxy filter 127.0.0.1:10025: Connection refused": ("proxy_error", "filter", "127.0.0.1:10025"),
    }
    programs = {"scan_dir": "pickup", "mail_queue": "postdrop", "connect to transport": "qmgr"}
    for body, (kind, field, value) in cases.items():
        program = next((p for k, p in programs.items() if body.startswith(k)), "smtpd")
        severity = "fatal" if body.startswith(("scan_dir", "bad numerical")) else "warning"
        ev = parser.parse_line(f"Nov 25 12:00:01 mail postfix/{program}[1]: {severity}: {body}", "<t>", 1)
        assert (ev.kind, ev.f.get(field)) == (kind, value), body
    # a permission rule never reads other errors
    ev = parser.parse_line("Nov 25 12:00:01 mail postfix/pickup[1]: fatal: scan_dir_push: open directory maildrop: "
                           "No such file or directory", "<t>", 1)
    assert ev.kind == "fatal"


def test_sas002_names_the_cause_and_decodes_an_oauth_challenge():
    from postfix_diag.rules.sasl import client_cause, oauth_detail

    oauth = ("SASL authentication failed; server smtp.gmail.com[142.250.1.108] said: 334 eyJzdGF0dXMiOiI0MDAiLCJz"
             "Y2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==")
    assert client_cause(oauth) == "oauth token"
    assert oauth_detail(oauth) == {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    assert oauth_detail("said: 334 eyJ!!!!notbase64") is None
    assert client_cause("SASL authentication failed; server x[192.0.2.1] said: 534-5.7.9 Application-specific "
                        "password required.") == "app password required"
    assert client_cause("SASL authentication failed; cannot authenticate to server x[192.0.2.1]: no mechanism "
                        "available") == "no mechanism available"
    found = {f.key: f for f in analyze([str(SAMPLES / "relayhost-auth/maillog")]).findings if f.id == "SAS002"}
    assert found["127.0.0.1[127.0.0.1]:2587"].evidence["by_cause"] == {"bad credentials": 6}
    assert found["127.0.0.1[127.0.0.1]:2588"].evidence["by_cause"] == {"no mechanism available": 6}
    dlv = [f for f in analyze([str(SAMPLES / "relayhost-auth/maillog")]).findings if f.id == "DLV001"][0]
    assert dlv.key == "relayhost authentication" and "remote 4xx" not in dlv.evidence["by_cause"]


def test_new_rules_print_no_command_that_drops_a_current_value(tmp_path):
    """Every postconf command in the new rules' fixes and steps, checked by config.safety against
    a configuration where the parameters they touch are already set."""
    from postfix_diag import config
    from postfix_diag.config import safety

    (tmp_path / "main.cf").write_text(
        "compatibility_level = 3.6\n"
        "smtp_sasl_password_maps = hash:/etc/postfix/a, hash:/etc/postfix/b\n"
        "smtpd_client_recipient_rate_limit = 30\nsmtp_helo_name = mx.example.org\n"
        "smtp_address_preference = ipv6\ndefault_process_limit = 150\nrelayhost = [old.example.net]:587\n"
        "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, "
        "check_policy_service inet:127.0.0.1:10023\n")
    (tmp_path / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    cfg = config.load([tmp_path])
    checked = 0
    for rid in PREVIEW:
        cls = REGISTRY[rid]
        for text in [*cls.remediation, cls.fix]:
            checked += len(safety.commands_in(text))
            assert safety.check_remediation(text, cfg) == [], (rid, text)
    assert checked > 10
