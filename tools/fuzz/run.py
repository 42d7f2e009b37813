#!/usr/bin/env python3
"""Fuzz the compiled parse core with libFuzzer under AddressSanitizer and UBSan.

    python tools/fuzz/run.py [--seconds N] [--jobs N]    # make fuzz (long), make test (bounded)
    python tools/fuzz/run.py --python-asan [--examples N] # the extension itself under ASan

Builds csrc/fuzz_core.c with csrc/pd_core.c (clang -fsanitize=fuzzer,address,undefined), writes
the grammar as the harness reads it (tools/fuzz/spec.py), seeds it with the sample logs and the
public corpus (../shared/corpus: read from there, seeds stay under build/fuzz/, never in the
repository), and runs it for N seconds. Exit status 0: no crash, leak, read past a buffer,
undefined behaviour, or JIT/interpreter disagreement. A finding leaves its input in build/fuzz/
(crash-*, leak-*) and exits non-zero; `build/fuzz/fuzz_core FILE` replays it.
--python-asan builds the whole extension (csrc/pd_module.c too) with -fsanitize=address,undefined
and runs tests/test_core_differential.py on it in the normal interpreter (libasan preloaded, leak
detection off: the interpreter keeps memory to its exit), with N hypothesis examples.
Needs clang and its fuzzer and sanitizer runtimes (Debian 12: clang-14 libclang-rt-14-dev
libfuzzer-14-dev) and libpcre2-dev.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "fuzz"
HARNESS = BUILD / "fuzz_core"
SPEC = BUILD / "grammar.spec"
SEEDS = BUILD / "seeds"
WORK = BUILD / "corpus"  # what libFuzzer finds interesting, kept between runs
CORPUS = Path(os.environ.get("POSTFIX_DIAG_CORPUS", ROOT.parent / "shared" / "corpus" / "all-lines.txt"))
MAX_LEN = 40_000  # past parse.MAX_LINE (32 KiB), so over-long lines are tried too
SOURCES = [ROOT / "csrc" / "fuzz_core.c", ROOT / "csrc" / "pd_core.c"]


def clang() -> str | None:
    for name in ("clang", "clang-14", "clang-15", "clang-16"):
        if shutil.which(name):
            return name
    return None


def build() -> None:
    cc = clang()
    if cc is None:
        raise SystemExit("fuzz: no clang (Debian 12: apt-get install clang-14 libclang-rt-14-dev libfuzzer-14-dev)")
    try:
        pcre = subprocess.run(["pcre2-config", "--cflags", "--libs8"], capture_output=True, text=True,
                              check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit("fuzz: no libpcre2-dev (apt-get install libpcre2-dev)") from None
    BUILD.mkdir(parents=True, exist_ok=True)
    newest = max(p.stat().st_mtime for p in [*SOURCES, ROOT / "csrc" / "pd_core.h"])
    if HARNESS.exists() and HARNESS.stat().st_mtime > newest:
        return
    cmd = [cc, "-g", "-O1", "-fno-omit-frame-pointer", "-fsanitize=fuzzer,address,undefined",
           "-fno-sanitize-recover=undefined", "-Wall", "-Werror", *map(str, SOURCES), *pcre, "-o", str(HARNESS)]
    subprocess.run(cmd, check=True)


def write_seeds() -> int:
    """Seed files of a few consecutive real lines each."""
    lines = []
    for log in sorted((ROOT / "sample_logs").glob("*/maillog")):
        lines += log.read_bytes().splitlines()
    if CORPUS.is_file():
        corpus = CORPUS.read_bytes().splitlines()
        lines += corpus[:: max(1, len(corpus) // 3000)]
    SEEDS.mkdir(parents=True, exist_ok=True)
    for old in SEEDS.iterdir():
        old.unlink()
    n = 0
    for i in range(0, len(lines), 6):
        (SEEDS / f"seed-{n:05d}").write_bytes(b"\n".join(lines[i:i + 6]) + b"\n")
        n += 1
    # long lines from the start (libFuzzer grows its length limit slowly): a field repeated to
    # just under, at and over the parser's 32 KiB line limit
    for line in lines[:: max(1, len(lines) // 8)][:8]:
        cut = line.rfind(b" ") + 1
        for size in (2000, 32 * 1024 - 1, 32 * 1024, 36_000):
            pad = (line[cut:] or b"x") * (size // max(1, len(line) - cut) + 1)
            (SEEDS / f"seed-{n:05d}").write_bytes((line[:cut] + pad)[:size])
            n += 1
    return n


ASAN_EXT = BUILD / "asan-ext"
_PRELOAD = """
import importlib.util, sys
path = sys.argv.pop(1)
spec = importlib.util.spec_from_file_location("postfix_diag._core", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["postfix_diag._core"] = module
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def python_asan(examples: int) -> int:
    """The differential test on an ASan+UBSan build of the extension."""
    flags = "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
    subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(ASAN_EXT),
                    "--build-temp", str(ASAN_EXT / "tmp"), "--force"], cwd=ROOT, check=True,
                   env=dict(os.environ, POSTFIX_DIAG_CORE_CFLAGS=flags), stdout=subprocess.DEVNULL)
    built = sorted(ASAN_EXT.glob("postfix_diag/_core*.so"))
    if not built:
        raise SystemExit("fuzz: the sanitizer build of the extension failed")
    runtimes = []
    for lib in ("libasan.so", "libubsan.so"):
        path = subprocess.run(["gcc", f"-print-file-name={lib}"], capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(path):
            raise SystemExit(f"fuzz: gcc has no {lib} (apt-get install libgcc-12-dev)")
        runtimes.append(path)
    env = dict(os.environ, LD_PRELOAD=":".join(runtimes), CORE_DIFF_EXAMPLES=str(examples),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    cmd = [sys.executable, "-c", _PRELOAD, str(built[0]), "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "test_core_differential.py")]
    print(f"fuzz: differential test on {built[0].name} built with {flags}, {examples} examples", flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--jobs", type=int, default=1, help="fuzzing processes in parallel")
    ap.add_argument("--python-asan", action="store_true", help="run the differential test on an ASan build")
    ap.add_argument("--examples", type=int, default=5000, help="hypothesis examples for --python-asan")
    args = ap.parse_args(argv)
    if args.python_asan:
        return python_asan(args.examples)
    build()
    subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz" / "spec.py"), str(SPEC)], check=True)
    seeds = write_seeds()
    WORK.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, FUZZ_SPEC=str(SPEC),
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    cmd = [str(HARNESS), f"-max_total_time={args.seconds}", f"-max_len={MAX_LEN}", "-timeout=20",
           f"-dict={ROOT / 'tools' / 'fuzz' / 'postfix.dict'}", f"-artifact_prefix={BUILD}/", "-print_final_stats=1",
           str(WORK), str(SEEDS)]
    if args.jobs > 1:
        cmd[1:1] = [f"-jobs={args.jobs}", f"-workers={args.jobs}"]
    print(f"fuzz: {seeds} seed files, {args.seconds} s: {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, env=env, cwd=BUILD).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
