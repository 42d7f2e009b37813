"""`analyze --state` / `check --state`: cron-style runs that read only what is new, across a
rotation between runs (rename: the old file is now mail.log.1 and a new mail.log appears;
copytruncate: the same inode, shorter), a line half written at the end, a directory holding the
rotated set; each run's report equals one pass over every line so far (no line counted twice,
none missed). A corrupt, foreign, crafted or unsafe state file is one warning and a full run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postfix_diag import snapshot
from postfix_diag.state import FORMAT

ROOT = Path(__file__).resolve().parents[1]
LOG = (ROOT / "sample_logs/bounce-storm/maillog").read_text().splitlines(keepends=True)
EXTRA = (ROOT / "sample_logs/relay-abuse/maillog").read_text().splitlines(keepends=True)
ALL = LOG + EXTRA
THIRD = len(ALL) // 3
A, B, C = "".join(ALL[:THIRD]), "".join(ALL[THIRD:2 * THIRD]), "".join(ALL[2 * THIRD:])


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postfix_diag", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"})


def numbers(cwd: Path, *paths: str, state: str | None = None) -> tuple:
    """What must not depend on how the lines were split into runs: the metrics (every count) and
    the findings (rule, key, count, first and last seen)."""
    extra = ("--state", state) if state else ()
    prom = cli("analyze", "--year", "2026", "--format", "prometheus", *extra, *paths, cwd=cwd)
    assert prom.returncode == 0 and "Traceback" not in prom.stderr, prom.stderr
    js = cli("analyze", "--year", "2026", "--format", "json", *paths, cwd=cwd) if not state else None
    findings = None
    if js is not None:
        findings = sorted((f["id"], f["key"], f["count"], f["first_seen"], f["last_seen"])
                          for f in json.loads(js.stdout)["findings"])
    return prom.stdout, findings, prom.stderr


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory) -> tuple:
    d = tmp_path_factory.mktemp("one")
    (d / "mail.log").write_text(A + B + C)
    prom, findings, _ = numbers(d, "mail.log")
    return prom, findings


def state_findings(cwd: Path, state: str, *paths: str) -> list:
    js = cli("analyze", "--year", "2026", "--format", "json", "--state", state, *paths, cwd=cwd)
    assert js.returncode == 0, js.stderr
    return sorted((f["id"], f["key"], f["count"], f["first_seen"], f["last_seen"])
                  for f in json.loads(js.stdout)["findings"])


def test_rename_rotation_between_runs(tmp_path, one_pass):
    log = tmp_path / "mail.log"
    log.write_text(A)
    first, _, _ = numbers(tmp_path, "mail.log", state="st.json")
    assert first != one_pass[0]
    with log.open("a") as fh:  # written after the first run, then rotated away
        fh.write(B)
    log.rename(tmp_path / "mail.log.1")
    log.write_text(C)
    second, _, err = numbers(tmp_path, "mail.log", state="st.json")
    assert err == ""
    assert second == one_pass[0]
    # nothing new: a third run says the same (the counters do not move); then the findings
    third = state_findings(tmp_path, "st.json", "mail.log")
    assert third == one_pass[1]
    again, _, _ = numbers(tmp_path, "mail.log", state="st.json")
    assert again == one_pass[0]
    assert oct((tmp_path / "st.json").stat().st_mode & 0o777) == "0o600"


def test_copytruncate_between_runs(tmp_path, one_pass):
    log = tmp_path / "mail.log"
    log.write_text(A)
    numbers(tmp_path, "mail.log", state="st.json")
    inode = log.stat().st_ino
    with log.open("a") as fh:
        fh.write(B)
    shutil.copyfile(log, tmp_path / "mail.log.1")  # logrotate's copytruncate: copy, then truncate in place
    with log.open("r+") as fh:
        fh.truncate(0)
    empty, _, _ = numbers(tmp_path, "mail.log", state="st.json")  # the rest of A+B is read from mail.log.1
    with log.open("a") as fh:
        fh.write(C)
    assert log.stat().st_ino == inode
    final, _, _ = numbers(tmp_path, "mail.log", state="st.json")
    assert final == one_pass[0]
    assert empty != final


def test_directory_with_the_rotated_set_and_a_half_written_line(tmp_path, one_pass):
    d = tmp_path / "log"
    d.mkdir()
    log = d / "mail.log"
    cut = len(B) // 2
    while B[cut] != "\n":
        cut += 1
    half = B[:cut - 20]  # the last line is still being written
    log.write_text(A + half)
    numbers(tmp_path, "log", state="st.json")
    with log.open("a") as fh:
        fh.write(B[len(half):])
    log.rename(d / "mail.log.1")
    (d / "mail.log").write_text(C)
    final, _, _ = numbers(tmp_path, "log", state="st.json")  # mail.log.1 and mail.log, oldest first
    assert final == one_pass[0]


def test_check_state(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(A)
    first = cli("check", "--year", "2026", "--state", "st.json", "--fail-on", "critical", "mail.log", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    with log.open("a") as fh:
        fh.write(B + C)
    second = cli("check", "--year", "2026", "--state", "st.json", "--fail-on", "error", "mail.log", cwd=tmp_path)
    assert second.returncode == 1 and "DLV002" in second.stdout


def _crafted(tmp_path: Path) -> list[tuple[str, str]]:
    good = tmp_path / "good.json"
    (tmp_path / "mail.log").write_text(A)
    cli("analyze", "--state", str(good), "mail.log", cwd=tmp_path)
    data = json.loads(good.read_text())
    out = [("junk", "not valid JSON"), (good.read_text()[:5000], "not valid JSON"), ("[1, 2]", "state must be")]
    out.append((json.dumps({**data, "format": "something else"}), "not a postfix-diag state file"))
    out.append((json.dumps({**data, "fingerprint": "0" * 64}), "for other rules or another version"))
    evil = {**data, "stream": {"$o": "os:system", "s": {"$d": []}}}
    out.append((json.dumps(evil), "not allowed: class 'os:system'"))
    evil = {**data, "stream": {"$fn": "postfix_diag.safewrite:write_text"}}
    out.append((json.dumps(evil), "unusable stream state"))
    evil = {**data, "stream": {"$m": [{"$o": "postfix_diag.pipeline:Stream"}, "__init__"]}}
    out.append((json.dumps(evil), "not a method"))
    out.append(("[" * 100000 + "]" * 100000, "nested more than"))
    return out


def test_unusable_state_files_are_one_warning_and_a_full_run(tmp_path):
    from postfix_diag.analyze import analyze

    crafted = _crafted(tmp_path)
    st = tmp_path / "st.json"
    for n, (text, why) in enumerate(crafted):
        st.write_text(text)
        st.chmod(0o600)
        if n == 0:  # the command as cron runs it: exit 0, one line on stderr, no traceback
            run = cli("analyze", "--year", "2026", "--state", str(st), "mail.log", cwd=tmp_path)
            assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
            lines = run.stderr.splitlines()
            assert f"Parse coverage: {THIRD} lines" in run.stdout
        else:
            lines = []
            result = analyze([str(tmp_path / "mail.log")], year=2026, state=str(st), warn=lines.append)
            assert result.coverage.total == THIRD
            lines = [f"postfix-diag: warning: {line}" for line in lines]
        assert len(lines) == 1 and why in lines[0], (why, lines)
        assert lines[0].endswith("reading every line, as without a state file")
        assert json.loads(st.read_text())["format"] == FORMAT  # replaced by a good one
    st.chmod(0o666)
    run = cli("analyze", "--year", "2026", "--state", str(st), "mail.log", cwd=tmp_path)
    assert "writable by other users" in run.stderr and f"Parse coverage: {THIRD} lines" in run.stdout


def test_snapshot_refuses_what_it_cannot_write_back():
    import re

    with pytest.raises(snapshot.SnapshotError):
        snapshot.dumps_value({"x": re.compile("a")})
    with pytest.raises(snapshot.SnapshotError):
        snapshot.dumps_value([lambda: 1])
    graph = {"a": [1, 2], "t": (1, "x"), "s": {3}, 7: b"\x00"}
    graph["self"] = [graph["a"], graph["a"]]
    back = snapshot.loads_value(json.loads(json.dumps(snapshot.dumps_value(graph))))
    assert back["t"] == (1, "x") and back["s"] == {3} and back[7] == b"\x00"
    assert back["self"][0] is back["self"][1] is back["a"]
