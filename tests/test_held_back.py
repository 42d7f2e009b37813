"""A piece that holds back too many lines (pipeline.MAX_HELD) stops and leaves the rest of its
byte range to the main process, which reads it after the merge: the output stays that of one
process, byte for byte, and a worker's memory no longer grows with what a log makes it hold back
(forged queue ids, or a queue of deferred mail retried in the piece)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from postfix_diag import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_jobs import SAMPLES, assert_same, outputs, pools  # noqa: E402,F401  (pools: the fixture)

ROOT = Path(__file__).resolve().parents[1]


def _counting_rest(calls, real):
    def read_rest(stream, piece, parser, lineno, years):
        calls.append((piece.display, lineno))
        return real(stream, piece, parser, lineno, years)
    return read_rest


@pytest.mark.parametrize("max_held", [0, 20])
def test_pieces_that_stop_early_give_the_output_of_one_process(pools, monkeypatch, max_held):  # noqa: F811
    """Every sample log cut into 2 and 3 pieces, with workers that stop once they hold back more
    than ``max_held`` lines: the main process reads the rest of those pieces, and every format of
    analyze, summary and check equals --jobs 1."""
    one = outputs(SAMPLES, 1)
    monkeypatch.setattr(pipeline, "MAX_HELD", max_held)
    calls: list = []
    monkeypatch.setattr(pipeline, "_read_rest", _counting_rest(calls, pipeline._read_rest))
    split = pipeline.split
    for jobs in (2, 3):
        monkeypatch.setattr(pipeline, "split", lambda path, parts, n=jobs: split(path, n))
        assert_same(one, outputs(SAMPLES, jobs), f"--jobs {jobs}, MAX_HELD {max_held}")
    assert len({name for name, _ in calls}) >= 2  # pieces of several logs stopped early
    assert all(lineno > 1 for _, lineno in calls)


def _forged(path: Path, n: int) -> None:
    """``n`` copies of a captured qmgr line (sample_logs/healthy), each with a new queue id: queue
    ids whose start the log never shows, as anyone who can write to the log can make."""
    qmgr = next(line for line in (ROOT / "sample_logs/healthy/maillog").read_text().splitlines()
                if "postfix/qmgr[" in line and "(queue active)" in line)
    head, qid, tail = re.match(r"(.*?\]: )([0-9A-F]+)(: .*)", qmgr).groups()
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(f"{head}{i:0{len(qid)}X}{tail}\n")


def test_forged_queue_ids_do_not_grow_a_worker(tmp_path):
    """400k qmgr lines of queue ids no piece saw start, read by two workers in pieces of 4 MiB
    (about 40k lines each): every line of a later piece would be held back; with MAX_HELD at
    2,000 the workers hand the rest of their pieces over, and the largest worker stays smaller
    (the command runs in a process of its own, whose children are the workers; the main process
    keeps up to track.MAX_IN_FLIGHT of the forged messages either way)."""
    log = tmp_path / "forged.log"
    _forged(log, 400_000)
    script = (
        "import os, resource, sys\n"
        "from postfix_diag.cli import main\n"
        "sys.argv = ['postfix-diag', 'analyze', '--format', 'json', '--jobs', '2', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    )
    results = {}
    for max_held in ("2000", "100000000"):
        env = dict(os.environ, POSTFIX_DIAG_PIECE_BYTES=str(4 << 20), POSTFIX_DIAG_PARALLEL_MIN_BYTES="1",
                   POSTFIX_DIAG_MAX_HELD=max_held)
        r = subprocess.run([sys.executable, "-c", script, str(log)], capture_output=True, text=True, env=env,
                           cwd="/", timeout=600)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["lines"]["total"] == 400_000
        results[max_held] = (int(r.stderr.strip().splitlines()[-1]), report)
    bounded, unbounded = results["2000"][0], results["100000000"][0]
    assert results["2000"][1]["findings"] == results["100000000"][1]["findings"]
    assert bounded < unbounded * 0.8, (bounded, unbounded)
