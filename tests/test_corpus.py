"""The parser against the real-world corpus in ../shared/corpus (kept outside the repository).

Coverage of all-lines.txt, and the expectations other projects wrote for their own Postfix
parsers (grok patterns, postfix_exporter counters, fail2ban failJSON, crowdsec header fields),
mapped onto our events. Expectations that cannot be mapped are skipped in code, with the reason.
Every check counts itself and each test asserts a minimum, so none can silently check nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from postfix_diag.events import UNRECOGNIZED
from postfix_diag.parse import Parser, YearGuesser

MIN_COVERAGE = 0.97


# --- 1. coverage ----------------------------------------------------------------------------------
def test_all_lines_coverage(corpus, capsys):
    parser = Parser(year=2024)
    total = recognized = unrecognized = 0
    with open(corpus / "all-lines.txt", "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
            ev = parser.parse_line(line, "all-lines.txt", lineno)
            total += 1
            if ev.kind == UNRECOGNIZED:
                unrecognized += 1
            else:
                recognized += 1
    assert total == 46_333
    assert recognized + unrecognized == total
    share = recognized / total
    with capsys.disabled():
        print(f"\ncorpus coverage: {recognized}/{total} lines recognized = {100 * share:.2f}%")
    assert share >= MIN_COVERAGE, f"only {100 * share:.2f}% of the corpus recognized"


# --- 2a. grok patterns (message bodies) --------------------------------------------------------------
def _yaml_scalar(raw: str) -> str:
    """The tiny subset of YAML scalars the grok test files use: plain, '...' and "..."."""
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return json.loads(raw)  # YAML double-quoted escapes used there (\" \\ \r \n) are JSON's
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    return raw


def _read_grok_case(text: str) -> dict:
    case: dict = {"results": []}
    in_results = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("results:"):
            in_results = True
            continue
        if not line.startswith(" "):
            in_results = False
            key, _, value = line.partition(":")
            case[key] = _yaml_scalar(value)
        elif in_results:
            key, _, value = line.strip().partition(":")
            case["results"].append((key, _yaml_scalar(value)))
    return case


def _grok_cases(corpus):
    cases = []
    for path in sorted((corpus / "postfix-grok-patterns" / "test").glob("*.yaml")):
        case = _read_grok_case(path.read_text(encoding="utf-8"))
        m = re.fullmatch(r"\^%\{POSTFIX_([A-Z_]+)\}\$", case.get("pattern", ""))
        case["file"] = path.name
        if path.name == "relay_0001.yaml":
            continue  # not a log message: a relay value split out by logstash (its own comment)
        # Fragment patterns (COMMAND_COUNTER_DATA, TLS_FEATURES, DELAYS) test sub-patterns on
        # fragments or lines of several daemons, not a whole message of one daemon: no daemon to
        # wrap them with, so they are skipped.
        if not m or m.group(1) in ("COMMAND_COUNTER_DATA", "TLS_FEATURES", "DELAYS"):
            continue
        program = {"SCRIPT": "postfix-script"}.get(m.group(1), m.group(1).lower().replace("_", "-"))
        # YAML decoded \r\n into real CR/LF in three files; Postfix logs them as backslash text.
        case["data"] = case["data"].replace("\r", "\\r").replace("\n", "\\n")
        case["program"] = program
        cases.append(case)
    return cases


def _relay_parts(relay: str):
    m = re.fullmatch(r"([^\[\]]*)(?:\[([^\]]*)\])?(?::(\d+))?", relay or "")
    return (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)


def _kv_data(text: str) -> dict:
    """to=<a>, relay=r, delay=1, ... (grok's postfix_keyvalue_data) as a dict of strings."""
    return {k: v for k, v in re.findall(r"(\w+)=(<[^>]*>|[^,\s]*)", text)}


def _ours_for_grok(ev, key: str, expected: str):
    """Our value(s) for a grok capture name, or None when the capture does not map onto ours."""
    f = ev.f
    relay_host, relay_ip, relay_port = _relay_parts(f.get("relay", ""))
    # anvil keys are service:address (old form: local-ip:port:address)
    key_ip = [f["key"].split(":", 1)[1], f["key"].split(":", 2)[-1]] if ":" in f.get("key", "") else []
    # smtp "in reply to RCPT TO command": grok keeps the command without " command"
    command = f.get("command", "").removesuffix(" command") or None
    simple = {
        "postfix_queueid": [ev.qid, f.get("new_qid"), f.get("orig_queue_id")],
        "postfix_client_ip": [f.get("client_ip"), f.get("peer_ip"), f.get("address"), *key_ip],
        "postfix_client_hostname": [f.get("client_host"), f.get("peer_host"), f.get("hostname")],
        "postfix_client_port": [f.get("client_port"), f.get("peer_port")],
        "postfix_relay_hostname": [f.get("relay_host"), relay_host, f.get("peer_host")],
        "postfix_relay_ip": [f.get("relay_ip"), relay_ip, f.get("peer_ip")],
        "postfix_relay_port": [f.get("relay_port"), relay_port, f.get("peer_port")],
        "postfix_status": [f.get("status")],
        "postfix_status_code": [f.get("code")],
        "postfix_status_code_enhanced": [f.get("dsn")],
        "postfix_from": [f.get("from")],
        "postfix_smtp_stage": [f.get("stage"), f.get("after"), command],
        "postfix_message-id": [f.get("message_id")],
        "postfix_dnsbl_domain": [f.get("dnsbl")],
        "postfix_dnsbl_result": [f.get("result")],
        "postfix_postscreen_violation": [f.get("verdict")],
        "postfix_postscreen_violation_time": [f.get("after")],
        "postfix_tls_cipher": [f.get("cipher")],
        "postfix_tls_trustlevel": [f.get("trust")],
        "postfix_tls_version": [f.get("protocol")],
        "postfix_anvil_cache_size": [f.get("value")] if f.get("metric") == "cache size" else [],
    }
    if key in simple:
        return [str(v) for v in simple[key] if v is not None]
    if key == "postfix_keyvalue_data":
        # Compare the key=value pairs grok saw with our fields of the same name.
        exp = _kv_data(expected)
        names = {"to": "to", "orig_to": "orig_to", "relay": "relay", "delay": "delay", "delays": "delays",
                 "dsn": "dsn", "conn_use": "conn_use", "from": "from", "proto": "proto", "helo": "helo"}
        got = []
        for k, v in exp.items():
            if k not in names or names[k] not in f:
                continue  # e.g. size=/nrcpt= live in other grok captures; not a value we keep
            ours = f[names[k]]
            v = v[1:-1] if v.startswith("<") else v
            if isinstance(ours, float):
                ours, v = ours, float(v)
            got.append((k, ours, v))
        return got
    return None  # not a field we model (grok's free-text splits, counters, milter/prepend parts)


def test_grok_expected_captures(corpus, parser, syslog):
    cases = _grok_cases(corpus)
    assert len(cases) >= 170
    checked = skipped_keys = 0
    failures = []
    for case in cases:
        ev = parser.parse_line(syslog(case["data"], case["program"]), case["file"], 1)
        if ev.kind == UNRECOGNIZED:
            failures.append(f"{case['file']}: unrecognized: {case['data'][:100]!r}")
            continue
        checked += 1  # recognized as a specific event
        for key, expected in case["results"]:
            ours = _ours_for_grok(ev, key, expected)
            if ours is None:
                skipped_keys += 1
                continue
            if key == "postfix_keyvalue_data":
                for k, got, want in ours:
                    checked += 1
                    if got != want:
                        failures.append(f"{case['file']}: {k}: ours {got!r} != grok {want!r}")
                continue
            checked += 1
            if expected not in ours:
                failures.append(f"{case['file']}: {key}: grok {expected!r} not in ours {ours!r} ({ev!r})")
    assert not failures, "\n".join(failures)
    assert checked >= 400, checked


# --- 2b. postfix_exporter counters --------------------------------------------------------------------
_POSTSCREEN_TESTS = ("PREGREET", "COMMAND PIPELINING", "NON-SMTP COMMAND", "BARE NEWLINE",
                     "COMMAND TIME LIMIT", "COMMAND COUNT LIMIT", "COMMAND LENGTH LIMIT")
_ACCESS_LIST = ("ALLOWLISTED", "WHITELISTED", "DENYLISTED", "BLACKLISTED")


def _exporter_counters(events) -> Counter:
    """The exporter's counters (its JSON key names) computed from our events."""
    c: Counter = Counter()
    for ev in events:
        p, k, f = ev.program, ev.kind, ev.f
        verdict = f.get("verdict")
        if k == "removed" and p == "qmgr":
            c["removedCount"] += 1
        elif k == "expired" and p == "qmgr":
            c["expiredCount"] += 1
        elif k == "sasl_failure" and p == "smtpd" and "authentication failed" in ev.text:
            c["saslFailedCount"] += 1
        elif k == "tls_established" and p == "smtp" and f.get("direction") == "to":
            c["outgoingTLS"] += 1
        elif k == "client" and p == "smtpd":
            c["smtpdMessagesProcessed"] += 1
        elif k == "delivery" and p == "smtp":
            c["smtpMessagesProcessed"] += 1
            if f.get("status") == "deferred":
                c["smtpDeferred"] += 1
            elif f.get("status") == "bounced":
                c["smtpBounced"] += 1
        elif k == "delivery" and p == "virtual" and f.get("status") == "sent":
            c["virtualDelivered"] += 1
        elif k == "bounce_notice" and p == "bounce" and "non-delivery" in f.get("notice", ""):
            c["bounceNonDelivery"] += 1
        elif p == "postscreen":
            if k == "postscreen" and verdict == "CONNECT":
                c["postscreenConnects"] += 1
            elif k == "reject" and f.get("stage") == "CONNECT":
                c["postscreenConnectsRejected"] += 1
            elif k == "reject" and f.get("stage") == "RCPT":
                c["postscreenRejects"] += 1
            elif verdict in ("PASS NEW", "PASS OLD"):
                c["postscreenPasses"] += 1
            elif verdict in _POSTSCREEN_TESTS:
                c["postscreenTests"] += 1
            elif verdict == "HANGUP":
                c["postscreenHangups"] += 1
            elif verdict in _ACCESS_LIST:
                c["postscreenAccessList"] += 1
            elif verdict == "DNSBL":
                c["psdnsblRankSampleCount"] += 1
                c["psdnsblRankSampleSum"] += f["rank"]
    return c


def test_postfix_exporter_counters(corpus):
    data = json.loads((corpus / "postfix_exporter" / "collect_from_logline_cases.json").read_text())
    parser = Parser(year=2024)
    checked = 0
    failures = []
    for upstream, cases in data.items():
        for case in cases:
            events = list(parser.parse_lines(case["lines"], f"{upstream}:{case['name']}"))
            assert all(ev.kind != UNRECOGNIZED for ev in events), [ev.line for ev in events
                                                                   if ev.kind == UNRECOGNIZED]
            ours = _exporter_counters(events)
            if "serviceLabels_go" in case:
                # The exporter was configured so that only postfix/relay/smtp counts as smtp: a
                # label setting of that tool, not a property of the lines. We check instead that
                # the service is kept apart, so the same split can be made from our events.
                assert sorted(ev.service for ev in events) == ["relay", "smtp"]
                checked += 1
                continue
            for key, want in case["expected_counts"].items():
                if want == 0 and not key.startswith("psdnsbl"):
                    # Upstream's assertCounterEquals returns without checking when the expected
                    # value is 0 (SOURCE.md), so zeros are not expectations; we check them anyway
                    # where they hold for us, and do not count them.
                    continue
                checked += 1
                if ours[key] != want:
                    failures.append(f"{upstream} / {case['name']}: {key}: ours {ours[key]} != {want}")
            if "unsupportedLogEntries" in case:
                # The exporter's "unsupported" lines are ones *it* has no metric for; we type them
                # (table_changed, fatal, warning). Check only that the severities line up.
                for entry in case["unsupportedLogEntries"]:
                    level = entry["labels"]["level"] or "info"
                    service = entry["labels"]["service"]
                    n = sum(1 for ev in events if ev.program == service and ev.severity == level)
                    checked += 1
                    if n != entry["value"]:
                        failures.append(f"{case['name']}: {service}/{level}: {n} != {entry['value']}")
    assert not failures, "\n".join(failures)
    assert checked >= 30, checked


# --- 2c. fail2ban failJSON ------------------------------------------------------------------------------
FAIL2BAN_NOW = 1124013600  # fail2ban's TEST_NOW, 2005-08-14 10:00:00


def _fail2ban_cases(corpus):
    pending = None
    for line in (corpus / "fail2ban" / "postfix").read_text(encoding="utf-8").splitlines():
        if line.startswith("# failJSON:"):
            pending = json.loads(line.split(":", 1)[1])
        elif line.startswith("#") or not line.strip():
            continue
        elif pending is not None:
            yield pending, line
            pending = None


def _client_ip(ev):
    # "hostname X does not resolve to address Y" names the client as `address`.
    return ev.f.get("client_ip") or (ev.f.get("address") if ev.kind == "reverse_dns" else None)


def test_fail2ban_hosts_and_times(corpus):
    parser = Parser()
    checked = 0
    failures = []
    cases = list(_fail2ban_cases(corpus))
    assert len(cases) >= 55
    for exp, line in cases:
        # fail2ban's year rule (no date after "now") is our mtime rule with mtime = its "now";
        # its times are local wall-clock times, as are ours.
        years = YearGuesser(None, FAIL2BAN_NOW)
        ev = parser.parse_line(line, "fail2ban/postfix", 1, years)
        assert ev.kind != UNRECOGNIZED, line
        if not exp.get("match"):
            # match=false lines are ones a fail2ban *mode* ignores (policy, not parsing); nothing
            # to compare except that we still read them.
            continue
        checked += 1
        if _client_ip(ev) != exp["host"]:
            failures.append(f"host {exp['host']!r} != ours {_client_ip(ev)!r} ({ev.kind}): {line[:100]}")
        if "time" in exp:
            want = time.strptime(exp["time"], "%Y-%m-%dT%H:%M:%S")
            got = time.gmtime(ev.ts)
            checked += 1
            if got[:6] != want[:6]:
                failures.append(f"time {exp['time']} != ours {time.strftime('%F %T', got)}: {line[:60]}")
        if "user" in exp:
            checked += 1
            if exp["user"] not in ev.text:
                failures.append(f"user {exp['user']} not in {ev.text!r}")
        allowed = {"reject", "access", "sasl_failure", "pipelining", "error_limit", "lost_connection",
                   "disconnect", "postscreen", "rate_limit", "reverse_dns"}
        if ev.kind not in allowed:
            failures.append(f"unexpected kind {ev.kind}: {line[:100]}")
    assert not failures, "\n".join(failures)
    assert checked >= 90, checked


# --- 2d. crowdsec header fields ----------------------------------------------------------------------------
_ASSERT = re.compile(
    r'results\["s00-raw"\]\["crowdsecurity/syslog-logs"\]\[(\d+)\]\.Evt\.'
    r'(Parsed|Meta)\["(\w+)"\](\[4:\])? == "((?:[^"\\]|\\.)*)"$'
)


def test_crowdsec_header_fields(corpus, parser):
    tests = corpus / "crowdsec-hub" / ".tests"
    checked = 0
    failures = []
    for assert_file in sorted(tests.glob("*/parser.assert")):
        log_name = re.search(r"log_file: (\S+)", (assert_file.parent / "config.yaml").read_text()).group(1)
        lines = (assert_file.parent / log_name).read_text(encoding="utf-8").splitlines()
        events = [parser.parse_line(line, log_name, i) for i, line in enumerate(lines, 1)]
        for text in assert_file.read_text(encoding="utf-8").splitlines():
            m = _ASSERT.match(text.strip())
            if not m:
                continue  # s01-parse fields, scenario counts, Success flags: not header fields
            index, where, name, slice4, value = m.groups()
            value = json.loads(f'"{value}"')
            ev = events[int(index)]
            if (where, name) == ("Parsed", "timestamp"):
                ours = ev.line[: len(value)] if ev.fmt == "classic" else None
            elif (where, name) == ("Parsed", "timestamp8601"):
                ours = ev.line.split(" ", 1)[0]
                if slice4:
                    ours = ours[4:]
                checked += 1
                if ev.fmt not in ("rfc3339", "rfc3339-fraction"):
                    failures.append(f"{log_name}:{index}: format {ev.fmt}")
            elif (where, name) == ("Parsed", "program"):
                ours = ev.line.split(" ")[ev.line.split(" ").index(ev.host) + 1].split("[")[0]
                checked += 1  # and the daemon is its last component
                if ours.rsplit("/", 1)[-1] != ev.program:
                    failures.append(f"{log_name}:{index}: program {ev.program} vs tag {ours}")
            elif (where, name) == ("Parsed", "pid"):
                ours = str(ev.pid)
            elif (where, name) == ("Parsed", "message"):
                ours = ev.line.split("]: ", 1)[1]
                checked += 1  # our text is the message without its severity prefix
                if not ours.endswith(ev.text):
                    failures.append(f"{log_name}:{index}: text {ev.text!r}")
            elif (where, name) == ("Meta", "machine"):
                ours = ev.host
            else:
                continue  # logsource/datasource_*: facts about crowdsec's acquisition, not the line
            checked += 1
            if ours != value:
                failures.append(f"{log_name}:{index}: {name}: ours {ours!r} != {value!r}")
        # (some .log files end with a blank line, which is no log line)
        assert all(ev.kind != UNRECOGNIZED for ev in events if ev.line.strip()), log_name
    assert not failures, "\n".join(failures)
    assert checked >= 50, checked


def test_crowdsec_client_addresses(corpus, parser):
    """s01-parse remote_addr/remote_host: the client our event names."""
    tests = corpus / "crowdsec-hub" / ".tests"
    pat = re.compile(r'results\["s01-parse"\]\["[^"]+"\]\[(\d+)\]\.Evt\.Parsed\["(remote_addr|remote_host)"\]'
                     r' == "([^"]*)"$')
    checked = 0
    failures = []
    for assert_file in sorted(tests.glob("*/parser.assert")):
        log_name = re.search(r"log_file: (\S+)", (assert_file.parent / "config.yaml").read_text()).group(1)
        lines = (assert_file.parent / log_name).read_text(encoding="utf-8").splitlines()
        events = [parser.parse_line(line, log_name, i) for i, line in enumerate(lines, 1)]
        for text in assert_file.read_text(encoding="utf-8").splitlines():
            m = pat.match(text.strip())
            if not m:
                continue
            # The index counts events that reached that parser; every line of these files does.
            ev = events[int(m.group(1))]
            field = "client_ip" if m.group(2) == "remote_addr" else "client_host"
            checked += 1
            if ev.f.get(field) != m.group(3):
                failures.append(f"{log_name}:{m.group(1)}: {field} {ev.f.get(field)!r} != {m.group(3)!r}")
    assert not failures, "\n".join(failures)
    assert checked >= 10, checked


@pytest.mark.parametrize("name", ["fail2ban/postfix", "crowdsec-hub/.tests", "postfix_exporter"])
def test_expectation_sources_present(corpus, name):
    assert (corpus / name).exists()
