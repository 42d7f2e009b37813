"""Time sanity (TIM001): clock jumps and zone changes between consecutive lines of one host are
found and reported, and no age-based rule counts a jump as elapsed time. The main test log is a
captured sample log with a 5-hour jump inserted (the daemons restarted with another TZ)."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import jsonschema

from postfix_diag.analyze import conclude, stream
from postfix_diag.parse import Parser
from postfix_diag.report import render_analysis
from postfix_diag.rules import Engine

ROOT = Path(__file__).resolve().parents[1]
RELAY_DOWN = ROOT / "sample_logs/relay-down/maillog"
JUMP_AT = 59  # the first line of relay-down's retries, 2 s after the messages arrived
HOURS5 = 5 * 3600


def shifted(lines: list[str], start: int, seconds: int, end: int | None = None) -> list[str]:
    """Classic-stamp lines with the stamps of lines start..end (1-based, inclusive) moved."""
    out = []
    for n, line in enumerate(lines, 1):
        if n >= start and (end is None or n <= end):
            t = calendar.timegm(time.strptime("2025 " + line[:15], "%Y %b %d %H:%M:%S")) + seconds
            line = time.strftime("%b %d %H:%M:%S", time.gmtime(t)) + line[15:]
        out.append(line)
    return out


def analysis(lines: list[str], engine: Engine | None = None):
    s = stream(engine=engine)
    s.feed_all(Parser(year=2025).parse_lines(lines, "test.log"))
    return conclude(s, ["test.log"])


def finding(a, rule_id):
    found = [f for f in a.findings if f.id == rule_id]
    return found[0] if found else None


def test_a_five_hour_jump_raises_no_age_alarm():
    original = RELAY_DOWN.read_text().splitlines()
    jumped = shifted(original, JUMP_AT, HOURS5)
    before, after = analysis(original), analysis(jumped)
    q0, q1 = finding(before, "QUE001"), finding(after, "QUE001")
    assert q1.severity == "notice" and "hours" not in q1.summary
    assert abs(q1.evidence["oldest_seconds"] - q0.evidence["oldest_seconds"]) <= 3
    assert not any(f.id.startswith("QSH") for f in after.findings)
    tim = finding(after, "TIM001")
    [jump] = tim.evidence["jumps"]
    assert jump["line"] == JUMP_AT and jump["kind"] == "forward"
    assert abs(jump["seconds"] - HOURS5) <= 3
    assert "delay=" in jump["why"]
    # without the clock rule the same log reads as 5 hours of queueing: the bug this prevents
    blind = finding(analysis(jumped, Engine(ignore=["TIM001"])), "QUE001")
    assert blind.severity == "warning" and "5.0 hours" in blind.summary


def test_the_report_states_the_time_zone_and_the_jump():
    a = analysis(shifted(RELAY_DOWN.read_text().splitlines(), JUMP_AT, HOURS5))
    text = render_analysis(a, "text")
    head = text[:text.index("Timeline")]
    assert "\n  time zone: none in the stamps: times are the log's own local clock" in head
    doc = json.loads(render_analysis(a, "json"))
    jsonschema.validate(doc, json.loads((ROOT / "docs/report-schema.json").read_text()))
    assert doc["time"]["jumps"][0]["line"] == JUMP_AT
    assert "TIM001" not in {i["findings"][0] for i in doc["incidents"]}  # about the log, not the server


def test_a_quiet_night_is_not_a_jump():
    """A forward step that no message in flight contradicts is a quiet time."""
    lines = RELAY_DOWN.read_text().splitlines()[:58]  # every message here was finished or deferred
    a = analysis(lines + shifted(lines, 1, 6 * 3600)[2:4])
    assert finding(a, "TIM001") is None


def test_stamps_that_go_back_are_a_jump():
    lines = RELAY_DOWN.read_text().splitlines()
    a = analysis(shifted(lines, JUMP_AT, -3600))
    [jump] = finding(a, "TIM001").evidence["jumps"]
    assert jump["kind"] == "backward" and jump["seconds"] == -3600 + 2


def test_lines_of_a_command_in_another_zone_step_there_and_back():
    """Commands run from a shell with another TZ: their lines are 5 h ahead, then the daemons'
    lines are back; the return confirms the forward step, and both are taken out of ages."""
    lines = RELAY_DOWN.read_text().splitlines()
    a = analysis(shifted(lines, 40, HOURS5, end=45))
    jumps = finding(a, "TIM001").evidence["jumps"]
    assert [(j["line"], j["kind"]) for j in jumps] == [(40, "forward"), (46, "backward")]
    assert finding(a, "QUE001").severity == "notice"


RFC = "2025-03-30T{clock}{off} mx postfix/qmgr[9]: 3F1A2160137: removed"


def test_a_changing_rfc3339_offset_is_a_zone_change():
    lines = [RFC.format(clock="01:59:58", off="+01:00"), RFC.format(clock="01:59:59", off="+01:00"),
             RFC.format(clock="03:00:00", off="+02:00"), RFC.format(clock="03:00:01", off="+02:00")]
    a = analysis(lines)
    tim = finding(a, "TIM001")
    assert tim.severity == "notice"
    [jump] = tim.evidence["jumps"]
    assert (jump["kind"], jump["seconds"], jump["line"]) == ("zone change", 3600, 3)
    assert a.time["zone"].startswith("UTC offsets +01:00, +02:00")


def test_a_jump_at_a_cut_between_pieces_is_found_as_in_one_pass():
    from test_pieces import analysis_json, in_pieces

    from postfix_diag import analyze as A

    jumped = shifted(RELAY_DOWN.read_text().splitlines(), JUMP_AT, HOURS5)
    events = tuple(Parser(year=2025).parse_lines(jumped, "test.log"))
    one = analysis_json(in_pieces(A.stream, events, []), "test.log")
    assert '"TIM001"' in one
    for cut in (JUMP_AT - 2, JUMP_AT - 1, JUMP_AT, 70):
        assert analysis_json(in_pieces(A.stream, events, [cut]), "test.log") == one, cut
    assert analysis_json(in_pieces(A.stream, events, [20, JUMP_AT - 1, 90]), "test.log") == one
