"""`watch` over a long run: the stream it concludes is replaced every watch.HORIZON of log time
(docs/watch.md, Memory), so that what it holds stops growing; the replacement changes neither
the events (an incident keeps its number and its start) nor the totals the metrics give."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

from postfix_diag import watch
from postfix_diag.events import SourceName

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "sample_logs/multi-incident/maillog"


def fed(lines: list[str], horizon: float, step: int = 7):
    """A Watch fed ``lines`` ``step`` at a time, evaluated after each step, and its events."""
    w = watch.Watch(year=2026, horizon=horizon)
    name = SourceName("maillog", 1)
    got = []
    for i in range(0, len(lines), step):
        w.feed([(name, i + j + 1, line) for j, line in enumerate(lines[i:i + step])])
        got += [(e["event"], e["id"], e["rule"], e["key"], e["state"], e["start"]) for e in w.events()]
    return w, got


def totals(a) -> dict:
    t = a.counters
    return {"lines": a.coverage.total, "unrecognized": a.coverage.unrecognized,
            "by_program": dict(a.coverage.by_program),
            **{name: dict(getattr(t, name)) for name in ("received", "deliveries", "left", "rejects", "deferrals")}}


def test_replaced_streams_keep_the_events_and_the_totals():
    """The capture spans 2 min 15 s: a 30 s horizon replaces the stream three times, among them
    while incidents are open, and the events and totals are those of one stream."""
    lines = CAPTURE.read_text().splitlines()
    one, expected = fed(lines, horizon=1e12)
    assert one.epochs == 0 and any(e[0] == "close" for e in expected)
    for horizon in (30.0, 60.0):
        w, got = fed(lines, horizon)
        assert w.epochs >= 1
        assert got == expected, horizon
        assert totals(w.last_analysis) == totals(one.last_analysis)
        assert w.summary() == one.summary()


def _generate(n: int, path: Path) -> list[str]:
    """``n`` lines of the bench generator (tools/bench/generate.py: Postfix's own templates)."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "tools/bench/generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.main([str(n), str(path)])
    return path.read_text().splitlines()


def held(w) -> int:
    """Bytes of what the watch holds: its stream(s) and its own incident maps."""
    streams = [w.stream, getattr(w, "next", None)]
    return sum(len(pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL)) for s in streams if s is not None) + len(
        pickle.dumps((w.known, w.missing)))


def test_memory_stays_flat(monkeypatch, tmp_path):
    """300,000 generated lines (2 h of log time) with a 10 min horizon: what the watch holds
    (sampled every 10,000 lines, after an evaluation) over the last 50,000 lines is at most 20 %
    more than over lines 50,000 to 100,000 (both after the first replacement). A watch that keeps
    everything (before the horizon; or with one too long to be reached here) grows by 60 % over
    the same lines."""
    monkeypatch.setattr(watch, "HORIZON", 600.0, raising=False)
    lines = _generate(300_000, tmp_path / "bench.log")
    w = watch.Watch(year=2026)
    name = SourceName("maillog", 1)
    sizes = {}
    for i in range(0, len(lines), 5000):
        w.feed([(name, i + j + 1, line) for j, line in enumerate(lines[i:i + 5000])])
        if (i + 5000) % 10_000 == 0:
            w.events()
            sizes[i + 5000] = held(w)
    early = max(v for n, v in sizes.items() if 50_000 < n <= 100_000)
    late = max(v for n, v in sizes.items() if n > 250_000)
    assert late < early * 1.2, {n: f"{v / 1e6:.2f} MB" for n, v in sizes.items()}
