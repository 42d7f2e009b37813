"""--since/--until on analyze and check (when.parse_when: absolute, today, yesterday, now, -2h),
--quiet-gap, and check --fail-on-ongoing, through the CLI as users run it."""

from __future__ import annotations

import calendar
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postfix_diag.cli import app
from postfix_diag.when import Window, local_now, parse_duration, parse_when

ROOT = Path(__file__).resolve().parents[1]
MULTI = str(ROOT / "sample_logs/multi-incident/maillog")
RELAY_DOWN = str(ROOT / "sample_logs/relay-down/maillog")
runner = CliRunner()


def epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")))


# --- times and durations -----------------------------------------------------------------------

NOW = 1_764_000_000.0  # a fixed "now" for the relative forms


def test_relative_and_named_times():
    here = local_now(NOW)
    assert parse_when("now", NOW) == here
    assert parse_when("-2h", NOW) == here - 7200
    assert parse_when("-90m", NOW) == here - 5400
    assert parse_when("-1d", NOW) == here - 86400
    assert parse_when("-1h30m", NOW) == here - 5400
    assert parse_when("today", NOW) == here - here % 86400
    assert parse_when("yesterday", NOW) == here - here % 86400 - 86400
    assert parse_when("2025-11-25 13:30") == epoch("2025-11-25 13:30:00")
    assert parse_when("2025-11-25T13:30:05") == epoch("2025-11-25 13:30:05")


@pytest.mark.parametrize("bad", ["last tuesday", "-", "-2x", "2025-13-01", ""])
def test_unreadable_times_are_one_line_errors(bad):
    with pytest.raises(ValueError, match="cannot read time"):
        parse_when(bad)


def test_durations():
    assert [parse_duration(d) for d in ("90", "90s", "10m", "10min", "2h", "1d", "1w", "1h 30m")] == \
        [90, 90, 600, 600, 7200, 86400, 604800, 5400]
    with pytest.raises(ValueError):
        parse_duration("soon")


# --- analyze --since/--until ---------------------------------------------------------------------

def test_analyze_window_keeps_the_incidents_inside_it():
    r = runner.invoke(app, ["analyze", MULTI, "--format", "json", "--since", "2026-12-01 22:09:50",
                            "--until", "2026-12-01 22:10:30"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["time_span"]["first"] >= "2026-12-01T22:09:50" and doc["time_span"]["last"] < "2026-12-01T22:10:30"
    assert {i["findings"][0] for i in doc["incidents"]} == {"SEC002", "MLT001"}
    assert doc["window"]["lines_left_out"] == 233 - doc["lines"]["total"] > 0
    text = runner.invoke(app, ["analyze", MULTI, "--since", "2026-12-01 22:09:50"]).stdout
    assert "window: lines from 2026-12-01T22:09:50 until the end only" in text


def test_a_window_that_is_all_in_the_future_is_empty():
    r = runner.invoke(app, ["analyze", MULTI, "--since", "now"])
    assert r.exit_code == 2 and "no log lines" in r.output


def test_bad_window_and_gap_values_are_one_line_errors():
    for args in (["--since", "someday"], ["--since", "2025-11-02", "--until", "2025-11-01"],
                 ["--quiet-gap", "delivery"], ["--quiet-gap", "nosuch=10m"], ["--quiet-gap", "delivery=soon"]):
        r = runner.invoke(app, ["analyze", MULTI, *args])
        assert r.exit_code == 2, (args, r.output)
        assert "error:" in r.output and "Traceback" not in r.output


def test_quiet_gap_option_cuts_incidents():
    """A 10 s gap for the error-limit family cuts the dictionary attack's 23 s into pieces."""
    base = json.loads(runner.invoke(app, ["analyze", MULTI, "-f", "json"]).stdout)
    cut = json.loads(runner.invoke(app, ["analyze", MULTI, "-f", "json", "--quiet-gap", "error-limit=1s"]).stdout)
    count = lambda doc: sum(1 for i in doc["incidents"] if i["findings"] == ["ERR001"])  # noqa: E731
    assert count(base) == 1 and count(cut) == 2


def test_window_left_out_count_merges_across_pieces():
    from postfix_diag.analyze import stream
    from postfix_diag.parse import Parser

    events = list(Parser(year=2026).parse_lines(Path(MULTI).read_text().splitlines(), "m"))
    since, until = epoch("2026-12-01 22:09:50"), epoch("2026-12-01 22:10:30")
    one = stream(since=since, until=until)
    one.feed_all(events)
    head, tail = stream(since=since, until=until), stream(head=False, since=since, until=until)
    head.feed_all(events[:100])
    tail.feed_all(events[100:])
    head.merge(tail)
    assert isinstance(head.consumers[-1], Window)
    assert head.consumers[-1].left_out == one.consumers[-1].left_out > 0


# --- check ---------------------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postfix_diag", *args], capture_output=True, text=True,
                          cwd="/", timeout=120)


def test_fail_on_ongoing_gates_on_what_is_still_broken():
    """multi-incident: every incident recovered (exit 0 with the gate, 1 without);
    relay-down: the relay never came back (exit 1 either way)."""
    plain = run_cli("check", MULTI)
    gated = run_cli("check", MULTI, "--fail-on-ongoing")
    assert plain.returncode == 1 and gated.returncode == 0, gated.stdout + gated.stderr
    assert "with an ongoing incident" in gated.stdout
    down = run_cli("check", RELAY_DOWN, "--fail-on-ongoing")
    assert down.returncode == 1
    assert "ongoing  ERROR    DLV002" in down.stdout
    assert "NEW ERROR    DLV002" in down.stdout


def test_check_window_leaves_out_the_outage():
    """The relay outage of multi-incident is over by 22:09:50: checking from then on, only what
    happened after it counts."""
    r = runner.invoke(app, ["check", MULTI, "--since", "2026-12-01 22:09:50", "--format", "github"])
    assert r.exit_code == 1
    assert "DLV002" not in r.stdout and "MLT001" in r.stdout
