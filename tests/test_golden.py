"""Every report command, in every format, on every sample log and a generated bench log, against
the golden outputs in tests/golden/ (recorded with `python tools/golden.py record`). A difference
is either a regression or an intended change: record again and name it in the commit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import golden  # noqa: E402

CASES = golden.cases()


@pytest.fixture(scope="module", autouse=True)
def _bench_log():
    golden.ensure_bench_log()


@pytest.mark.parametrize(("directory", "name", "args"), CASES, ids=[f"{d}/{n}" for d, n, _ in CASES])
def test_golden(directory, name, args):
    path = golden.golden_path(directory, name)
    assert path.is_file(), f"no golden file {path}: run `python tools/golden.py record`"
    code, out = golden.run_case(args)
    assert golden.render(code, out) == path.read_text(encoding="utf-8")
