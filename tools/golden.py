#!/usr/bin/env python3
"""Golden outputs: every report command, in every format, on every sample log and a bench log.

    python tools/golden.py record   # write tests/golden/ from the current code
    python tools/golden.py diff     # list the cases whose output differs from tests/golden/

tests/test_golden.py runs the same cases and compares byte for byte. Record only when a change of
output is intended, and name the difference in the commit message.

The cases run the CLI in-process (typer's CliRunner) from the repository root, with relative paths
and an explicit --year (the default year comes from each file's modification time, which a clone
does not keep), so that the outputs do not depend on the machine or the checkout.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
SAMPLES = ROOT / "sample_logs"
YEAR = "2025"
BENCH_LINES = 100_000
BENCH_LOG = GOLDEN / "bench" / "bench-100k.log"  # generated, not committed (see .gitignore)
QSHAPE_NOW = "2025-11-26T00:00:00"

REPORT_FORMATS = ("text", "markdown", "json")
CHECK_FORMATS = ("text", "junit", "github", "sarif")


def _log_cases(log: str) -> list[tuple[str, list[str]]]:
    cases = []
    for fmt in REPORT_FORMATS:
        cases.append((f"analyze.{fmt}", ["analyze", "--format", fmt, "--year", YEAR, log]))
    for fmt in REPORT_FORMATS:
        cases.append((f"summary.{fmt}", ["summary", "--format", fmt, "--year", YEAR, log]))
    for fmt in CHECK_FORMATS:
        cases.append((f"check.{fmt}", ["check", "--format", fmt, "--year", YEAR, log]))
    cases.append(("qshape.text", ["qshape", "--year", YEAR, log]))
    cases.append(("qshape.json", ["qshape", "--format", "json", "--year", YEAR, log]))
    cases.append(("qshape-deferred-s.text", ["qshape", "-s", "deferred", "--year", YEAR, log]))
    return cases


def cases() -> list[tuple[str, str, list[str]]]:
    """(directory under tests/golden, case name, CLI arguments)."""
    out = []
    for d in sorted(SAMPLES.iterdir()):
        log = d / "maillog"
        if not log.is_file():
            continue
        rel = str(log.relative_to(ROOT))
        for name, args in _log_cases(rel):
            out.append((d.name, name, args))
        if (d / "postconf-n.txt").is_file() and (d / "master.cf").is_file():
            config = ["--config", str((d / "postconf-n.txt").relative_to(ROOT)),
                      "--config", str((d / "master.cf").relative_to(ROOT))]
            for fmt in ("text", "json"):
                out.append((d.name, f"analyze-config.{fmt}", ["analyze", "--format", fmt, "--year", YEAR, rel,
                                                              *config]))
        snap = d / "postqueue.json"
        if snap.is_file() and snap.stat().st_size:
            srel = str(snap.relative_to(ROOT))
            out.append((d.name, "qshape-snapshot.text", ["qshape", "--from-json", srel, "--now", QSHAPE_NOW]))
            out.append((d.name, "qshape-snapshot.json",
                        ["qshape", "--from-json", srel, "--now", QSHAPE_NOW, "--format", "json"]))
        out.append((d.name, "parse.jsonl", ["parse", "--year", YEAR, rel]))
    bench = str(BENCH_LOG.relative_to(ROOT))
    for name, args in _log_cases(bench):
        if name in ("analyze.text", "analyze.json", "summary.text", "summary.json", "check.text",
                    "qshape.text", "qshape.json"):
            out.append(("bench", name, args))
    return out


def ensure_bench_log() -> None:
    if BENCH_LOG.is_file():
        return
    BENCH_LOG.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), str(BENCH_LINES), str(BENCH_LOG)],
                   check=True)


def run_case(args: list[str]) -> tuple[int, str]:
    """(exit code, stdout) of the CLI run in-process from the repository root."""
    from typer.testing import CliRunner

    from postfix_diag.cli import app

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    finally:
        os.chdir(cwd)
    return result.exit_code, result.stdout


def golden_path(directory: str, name: str) -> Path:
    return GOLDEN / directory / name


def render(code: int, out: str) -> str:
    """What a golden file holds: the output, then the exit code on a line of its own."""
    return out + f"\n# exit {code}\n"


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "diff"
    ensure_bench_log()
    differ = 0
    for directory, name, args in cases():
        code, out = run_case(args)
        text = render(code, out)
        path = golden_path(directory, name)
        if mode == "record":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            differ += 1
            print(f"differs: {directory}/{name}: postfix-diag {shlex.join(args)}")
    if mode != "record":
        print(f"{differ} case(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
