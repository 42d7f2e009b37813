"""The compiled parse core under libFuzzer with AddressSanitizer and UBSan, for a bounded time.

`make fuzz` runs the same harness for long (tools/fuzz/run.py). FUZZ_SECONDS sets this run's
length (default 60). Skipped where clang or libpcre2-dev is missing, except in CI (.ci/run
installs them), where a missing toolchain is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fuzz_run", ROOT / "tools" / "fuzz" / "run.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


def test_fuzz_core_with_sanitizers(tmp_path):
    missing = [what for what, ok in (("clang", fuzz.clang()), ("libpcre2-dev", shutil.which("pcre2-config")))
               if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {', '.join(missing)} (.ci/run)")
        pytest.skip(f"no {', '.join(missing)}: the fuzz harness cannot be built")
    seconds = os.environ.get("FUZZ_SECONDS", "60")
    log = tmp_path / "fuzz.log"
    with open(log, "w") as out:
        rc = subprocess.run([sys.executable, str(ROOT / "tools/fuzz/run.py"), "--seconds", seconds],
                            stdout=out, stderr=subprocess.STDOUT).returncode
    text = log.read_text(errors="replace")
    assert rc == 0, "fuzzer found a problem:\n" + text[-4000:]
    assert "Done " in text and "stat::number_of_executed_units" in text, text[-2000:]
