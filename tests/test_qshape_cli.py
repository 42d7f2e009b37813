"""`postfix-diag qshape`: the command wired to postfix_diag.qshape.qshape_main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

typer_testing = pytest.importorskip("typer.testing")

from postfix_diag.qshape import canonical_tie_order  # noqa: E402

FIX = Path(__file__).parent / "fixtures" / "qshape" / "capture1"


def _run(args, stdin=None):
    from postfix_diag.cli import app

    if not any(c.name == "qshape" for c in app.registered_commands):
        pytest.skip("cli has no qshape command")
    return typer_testing.CliRunner().invoke(app, ["qshape", *args], input=stdin)


def test_cli_snapshot_matches_real_qshape():
    meta = json.loads((FIX / "cases.json").read_text())
    case = next(c for c in meta["cases"] if c["args"] == ["-s", "-p", "-m", "3", "deferred"])
    r = _run([*case["args"], "--from-json", str(FIX / "postqueue.json"), "--now", str(case["now"])])
    assert r.exit_code == 0, r.output
    assert r.stdout == canonical_tie_order((FIX / case["file"]).read_text())


def test_cli_stdin_json_and_errors():
    data = (FIX / "postqueue.json").read_text()
    r = _run(["hold", "--from-json", "-", "--now", "+0s", "--format", "json"], stdin=data)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["queues"] == ["hold"] and d["rows"][0]["domain"] == "TOTAL" and d["rows"][0]["total"] > 0
    assert d["source"] == "postqueue -j" and isinstance(d["findings"], list)
    bad = _run(["--from-json", "-"], stdin="{nope\n")
    assert bad.exit_code == 2 and "not valid JSON" in bad.output
    assert _run(["--from-json", "/nonexistent/q.json"]).exit_code == 2
    assert _run(["--from-json", "-", "--now", "someday"], stdin=data).exit_code == 2


def test_cli_log_mode_and_help():
    meta = json.loads((FIX / "cases.json").read_text())
    import time

    from postfix_diag.qshape import qshape_main

    now = meta["captured_at"]
    year = str(time.gmtime(now).tm_year)
    r = _run(["deferred", "hold", str(FIX / "maillog"), "--year", year, "--now", str(now), "-s"])
    assert r.exit_code == 0, r.output
    snap = qshape_main(["deferred", "hold"], from_json=str(FIX / "postqueue.json"), now=now, senders=True)
    assert r.stdout == snap
    assert r.stdout.splitlines()[1].split()[:2] == ["TOTAL", "24"]
    h = _run(["--help"])
    for q in ("incoming", "active", "deferred", "hold", "corrupt", "maildrop"):
        assert q in h.stdout
