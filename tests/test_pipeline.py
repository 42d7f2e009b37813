"""The one stream (pipeline.py) as the commands use it: qshape's log mode streams with memory
flat in the log's size and reads standard input twice for a --now relative to the last line;
a piece of a file read on its own numbers its lines as the whole file does."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

from typer.testing import CliRunner

from postfix_diag import pipeline
from postfix_diag import qshape as Q
from postfix_diag.cli import app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import golden  # noqa: E402

CAPTURE = ROOT / "tests" / "fixtures" / "qshape" / "capture1" / "maillog"


def test_qshape_log_mode_memory_is_flat(tmp_path):
    """The queue is rebuilt while the log streams by: 5,000 lines of the bench log peak under
    2 MB of Python memory (keeping their events took 5.4 MB; 146 MB at 100k lines)."""
    golden.ensure_bench_log()
    with open(golden.BENCH_LOG, "rb") as fh:
        (tmp_path / "mail.log").write_bytes(b"".join(fh.readline() for _ in range(5000)))
    Q.queue_from_log([str(CAPTURE)], year=2025)  # the grammar is loaded and cached before measuring
    tracemalloc.start()
    try:
        entries, now = Q.queue_from_log([str(tmp_path / "mail.log")], year=2025)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now > 0 and isinstance(entries, list)
    assert peak < 2 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_qshape_relative_now_on_standard_input():
    """--now -30m needs the last line's time first: standard input is read twice as a file is."""
    args = ["qshape", "--year", "2025", "--now", "-30m", "deferred", "active", "incoming", "hold"]
    from_file = CliRunner().invoke(app, [*args, str(CAPTURE)])
    from_stdin = CliRunner().invoke(app, [*args, "-"], input=CAPTURE.read_bytes())
    assert from_file.exit_code == from_stdin.exit_code == 0, from_stdin.output
    assert from_stdin.stdout == from_file.stdout
    assert from_file.stdout != CliRunner().invoke(app, [*args[:3], *args[5:], str(CAPTURE)]).stdout


def test_pieces_number_their_lines_as_the_whole_file(tmp_path):
    """Byte ranges start at line starts and know the lines before them (CRLF, a last line
    without a newline, invalid UTF-8 read as inputs.read_lines reads them)."""
    from postfix_diag.inputs import Source, read_lines

    path = tmp_path / "mail.log"
    path.write_bytes(b"".join(b"line %d\r\n" % i if i % 3 else b"l\xff%d\n" % i for i in range(1, 200)) + b"last")
    whole = list(read_lines(Source(str(path), "x")))
    ranges = pipeline.split(str(path), 7)
    bases = pipeline.line_bases(str(path), [start for start, _ in ranges])
    assert len(ranges) == 7 and bases[0] == 0
    for (start, end), base in zip(ranges, bases, strict=True):
        assert list(pipeline.chunk_lines(str(path), start, end)) == whole[base:base + len(
            list(pipeline.chunk_lines(str(path), start, end)))]
    assert sum(len(list(pipeline.chunk_lines(str(path), s, e))) for s, e in ranges) == len(whole)
