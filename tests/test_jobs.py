"""`--jobs N`: the input cut into pieces (files, byte ranges of plain files, a compressed file or
stdin whole) read by N worker processes, each returning its piece's merged state, gives the
output of one process byte for byte: every format of analyze, summary and check, on the sample
logs (every one cut into N pieces) and the 100k-line bench log, for N = 1..4; several files with a compressed one; an explicit
year across a December to January step; and once through the real command with stdin."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postfix_diag import pipeline, workers
from postfix_diag import summary as S
from postfix_diag.analyze import analyze
from postfix_diag.check import DEFAULT_FAIL_ON, evaluate
from postfix_diag.report import render_analysis, render_check, writer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import golden  # noqa: E402

YEAR = 2025
SAMPLES = sorted(str(p) for p in (ROOT / "sample_logs").glob("*/maillog"))


@pytest.fixture
def pools(monkeypatch):
    """Pieces for every input however small (each file cut in about N pieces), and a count of
    the worker pools started."""
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(pipeline, "MIN_PIECE_BYTES", 1)
    started = []
    real = workers.worker_pool

    def counting(n, **kwargs):
        started.append(n)
        return real(n, **kwargs)

    monkeypatch.setattr(workers, "worker_pool", counting)
    return started


def outputs(paths: list[str], jobs: int, *, year: int | None = YEAR, check: bool = True) -> dict[str, str]:
    """Every format of analyze, summary (and check) of ``paths`` read with ``jobs`` processes."""
    result = analyze(paths, year=year, jobs=jobs)
    out = {f"analyze.{fmt}": render_analysis(result, fmt) for fmt in ("text", "markdown", "json")}
    summary = S.summary(paths, year=year, jobs=jobs)
    out.update({f"summary.{fmt}": writer("summary", fmt)(summary) for fmt in ("text", "markdown", "json")})
    if check:  # (what run_check does after its analysis; test_the_command... runs the command)
        gate = evaluate(result.findings, None, DEFAULT_FAIL_ON, sources=result.sources, lines=result.coverage.total)
        out.update({f"check.{fmt}": f"{render_check(gate, fmt)}\nexit {gate.exit_code}"
                    for fmt in ("text", "junit", "github", "sarif")})
    return out


def assert_same(one: dict, many: dict, what: str) -> None:
    assert one.keys() == many.keys()
    for name in one:
        assert many[name] == one[name], f"{what}: {name} differs from --jobs 1"


def test_every_sample_log_every_format_for_1_to_4_jobs(pools, monkeypatch):
    """All the sample logs in one run (one pool per run, not one per log: lean), each file cut
    into N pieces."""
    one = outputs(SAMPLES, 1)
    assert not pools  # one process: no pool
    assert json.loads(one["analyze.json"])["lines"]["total"] > 1000
    split = pipeline.split
    for jobs in (2, 3, 4):
        monkeypatch.setattr(pipeline, "split", lambda path, parts, n=jobs: split(path, n))
        plan = pipeline.plan(pipeline.ranked(pipeline.resolve(SAMPLES)), jobs)
        assert [sum(p.path == log for p in plan) for log in SAMPLES] == [jobs] * len(SAMPLES)
        assert_same(one, outputs(SAMPLES, jobs), f"--jobs {jobs}")
    assert pools and max(pools) == 4


def test_bench_log_for_1_to_4_jobs(pools):
    golden.ensure_bench_log()
    log = str(golden.BENCH_LOG)
    one = outputs([log], 1, check=False)
    assert json.loads(one["analyze.json"])["lines"]["total"] > 90_000
    for jobs in (2, 3, 4):
        assert_same(one, outputs([log], jobs, check=False), f"--jobs {jobs}")
    assert len(pools) == 6


def test_several_files_and_a_compressed_one(tmp_path, pools):
    """Files are pieces of their own, a .gz whole (never cut by bytes), plain files cut too."""
    logs = [ROOT / "sample_logs" / name / "maillog" for name in ("relay-down", "sasl-bruteforce", "healthy")]
    gz = tmp_path / "mail.log.1.gz"
    gz.write_bytes(gzip.compress(logs[1].read_bytes()))
    paths = [str(logs[0]), str(gz), str(logs[2])]
    plan = pipeline.plan(pipeline.ranked(pipeline.resolve(paths)), 8)
    assert [p.end is None for p in plan if p.path == str(gz)] == [True]
    assert sum(p.path == str(logs[0]) for p in plan) >= 2
    one = outputs(paths, 1, check=False)
    for jobs in (2, 3, 4):
        assert_same(one, outputs(paths, jobs, check=False), f"--jobs {jobs}")


def test_small_input_is_read_in_one_process(monkeypatch):
    """Below PARALLEL_MIN_BYTES no pool is started, whatever --jobs says."""
    log = SAMPLES[0]
    assert os.path.getsize(log) < pipeline.PARALLEL_MIN_BYTES
    assert pipeline.plan(pipeline.ranked(pipeline.resolve([log])), 4) is None
    monkeypatch.setattr(workers, "worker_pool", None)  # would fail if called
    assert analyze([log], year=YEAR, jobs=4).coverage.total > 0


def _new_year_log(path: Path) -> None:
    """A sample log whose first half is stamped December 31 and the rest January 1."""
    lines = (ROOT / "sample_logs/relay-down/maillog").read_text().splitlines(keepends=True)
    half = len(lines) // 2
    out = [("Dec 31" if i < half else "Jan  1") + line[6:] for i, line in enumerate(lines)]
    path.write_text("".join(out))


def test_explicit_year_across_new_year(tmp_path, pools, monkeypatch):
    """With --year, a piece after the December to January step is read with the next year (a
    piece read with the wrong one is read again): the same output as one pass."""
    log = tmp_path / "mail.log"
    _new_year_log(log)
    one = outputs([str(log)], 1, check=False)
    assert "2026-01-01" in one["summary.json"] and "2025-12-31" in one["summary.json"]
    _AGAIN.clear()
    monkeypatch.setattr(pipeline, "read_piece", _counting_read_piece)
    for jobs in (2, 3, 4):
        assert_same(one, outputs([str(log)], jobs, check=False), f"--jobs {jobs}")
    assert _AGAIN and set(_AGAIN) == {YEAR + 1}


_AGAIN: list = []  # the start years of the pieces read again (in this process)
_READ_PIECE = pipeline.read_piece


def _counting_read_piece(task, start_year=None):  # (module-level: the pool pickles it by name)
    if start_year is not None:
        _AGAIN.append(start_year)
    return _READ_PIECE(task, start_year)


def test_year_from_the_modification_time(tmp_path, pools):
    log = tmp_path / "mail.log"
    _new_year_log(log)
    stamp = 1767261600  # 2026-01-01 10:00 UTC
    os.utime(log, (stamp, stamp))
    one = outputs([str(log)], 1, year=None, check=False)
    assert "2025-12-31" in one["summary.json"]
    assert_same(one, outputs([str(log)], 3, year=None, check=False), "--jobs 3")


def test_the_command_with_stdin_and_files_in_worker_processes(tmp_path):
    """The real command: stdin (read by the main process) and two files cut into pieces by
    POSTFIX_DIAG_PARALLEL_MIN_BYTES=1: analyze JSON, summary text, check SARIF and its exit
    status as with --jobs 1."""
    exe = shutil.which("postfix-diag", path=str(Path(sys.executable).parent))
    assert exe
    first = ROOT / "sample_logs/relay-down/maillog"
    rest = [str(ROOT / "sample_logs/sasl-bruteforce/maillog"), str(ROOT / "sample_logs/healthy/maillog")]
    env = dict(os.environ, POSTFIX_DIAG_PARALLEL_MIN_BYTES="1")
    script = (f"import sys; from postfix_diag import pipeline; print(pipeline.PARALLEL_MIN_BYTES); "
              f"print(len(pipeline.plan(pipeline.ranked(pipeline.resolve({rest!r})), 3)))")
    probe = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.split()[0] == "1" and int(probe.stdout.split()[1]) >= 3
    for command in (["analyze", "--format", "json"], ["summary"], ["check", "--format", "sarif"]):
        runs = {}
        for jobs in ("1", "3"):
            with open(first, "rb") as stdin:
                r = subprocess.run([exe, *command, "--year", str(YEAR), "--jobs", jobs, "-", *rest], stdin=stdin,
                                   env=env, capture_output=True, timeout=120)
            assert r.returncode in (0, 1) and not r.stderr, r.stderr
            runs[jobs] = (r.returncode, r.stdout)
        assert runs["3"] == runs["1"] and len(runs["1"][1]) > 1000


def test_jobs_must_be_positive():
    from typer.testing import CliRunner

    from postfix_diag.cli import app

    r = CliRunner().invoke(app, ["analyze", "--jobs", "0", SAMPLES[0]])
    assert r.exit_code == 2
    assert pipeline.default_jobs() == len(os.sched_getaffinity(0))
