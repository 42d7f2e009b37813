"""State that outsiders can grow stays bounded (postfix_diag/limits.py): SMTP transactions that
never reach a queue file (track.py, MAX_UNQUEUED), messages in flight (MAX_IN_FLIGHT),
per-program tables (coverage.py, MAX_PROGRAMS through topcount.TopCounter), the rules' offender
and lookup tables (rules/base.py); the run says what it dropped (``limits``). The CLI
runs as a subprocess under an address-space limit where memory is the claim."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import pytest

from postfix_diag import track
from postfix_diag.coverage import MAX_PROGRAMS
from postfix_diag.events import Event
from postfix_diag.topcount import OTHER, TopCounter

ROOT = Path(__file__).resolve().parents[1]
PRLIMIT = shutil.which("prlimit")
MB = 1024 * 1024
EPOCH = 1740787200  # 2025-03-01 00:00 UTC
QID = "4B2A31C0F1"  # the one real message, queued four days before the flood
FLOOD = 200_000  # bare client= lines: without the bound they cost about 240 MB (analyze)


def stamp(seconds: int) -> str:
    return time.strftime("%b %e %H:%M:%S", time.gmtime(EPOCH + seconds))


def run(args, address_space: int, timeout: int = 300):
    assert PRLIMIT, "prlimit (util-linux) is needed for the memory bound"
    cmd = [PRLIMIT, f"--as={address_space}", sys.executable, "-m", "postfix_diag", *map(str, args)]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                       cwd=tempfile.gettempdir())
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, (r.returncode, err[-2000:])
    return r.stdout.decode()


@pytest.fixture(scope="module")
def flood(tmp_path_factory):
    """A message received and deferred, four days of log time, then FLOOD client= lines of
    transactions that never reach a queue file (MAIL FROM, RCPT TO, then RSET or a lost
    connection: any SMTP client can do it) within 15 minutes, then the message is delivered."""
    lines = [
        f"{stamp(0)} mx postfix/smtpd[900]: connect from a.example[192.0.2.1]",
        f"{stamp(0)} mx postfix/smtpd[900]: {QID}: client=a.example[192.0.2.1]",
        f"{stamp(0)} mx postfix/cleanup[901]: {QID}: message-id=<m1@a.example>",
        f"{stamp(0)} mx postfix/qmgr[902]: {QID}: from=<a@a.example>, size=1000, nrcpt=1 (queue active)",
        f"{stamp(1)} mx postfix/smtp[903]: {QID}: to=<b@b.example>, relay=none, delay=1, delays=0/0/1/0, "
        "dsn=4.4.1, status=deferred (connect to b.example[198.51.100.1]:25: Connection refused)",
    ]
    start = 4 * 86400
    lines += [f"{stamp(start + i // 250)} mx postfix/smtpd[{1000 + i % 100}]: {0x100000 + i:010X}: "
              f"client=unknown[203.0.113.{i % 250}]" for i in range(FLOOD)]
    end = start + FLOOD // 250 + 1
    lines += [
        f"{stamp(end)} mx postfix/smtp[904]: {QID}: to=<b@b.example>, relay=b.example[198.51.100.1]:25, "
        "delay=345600, delays=345599/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 1234)",
        f"{stamp(end)} mx postfix/qmgr[902]: {QID}: removed",
    ]
    path = tmp_path_factory.mktemp("flood") / "maillog"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_unfinished_transactions_analyze(flood):
    """1M such lines cost 1 GB before the bound; now the tracker keeps MAX_UNQUEUED of them and
    says how many it dropped, in the JSON and on the coverage line."""
    doc = json.loads(run(["analyze", "-f", "json", flood], 200 * MB))
    jsonschema.validate(doc, json.loads((ROOT / "docs/report-schema.json").read_text()))
    dropped = FLOOD - track.MAX_UNQUEUED
    assert doc["limits"] == {"unqueued_messages": {"limit": track.MAX_UNQUEUED, "dropped": dropped}}
    assert doc["lines"]["total"] == FLOOD + 7
    text = run(["analyze", flood], 200 * MB)
    assert f"limits reached: {dropped:,} SMTP transactions that reached no queue file" in text.splitlines()[-1]


def test_unfinished_transactions_summary_keeps_the_queued_message(flood):
    """The message queued four days before is no unfinished transaction: it is kept, and its
    delivery after the flood finds its size (an evicted message would deliver 0 bytes)."""
    doc = json.loads(run(["summary", "-f", "json", flood], 320 * MB))
    totals = doc["totals"]
    assert totals["received"] == FLOOD + 1
    assert (totals["delivered"], totals["bytes_delivered"], totals["deferred"]) == (1, 1000, 1)
    assert doc["meta"]["limits"]["unqueued_messages"]["dropped"] == FLOOD - track.MAX_UNQUEUED


def test_many_syslog_tags(tmp_path):
    """50k distinct `logger -t` tags, and one tag that recurs throughout: the program table keeps
    at most MAX_PROGRAMS rows plus (other), the recurring tag with its exact count, every line
    counted, and the dropped lines are reported."""
    lines = [f"{stamp(0)} mx postfix/master[1]: daemon started -- version 3.7.11, configuration /etc/postfix"]
    for i in range(50_000):
        lines.append(f"{stamp(i // 100)} mx tag{i}[1]: hello {i}")
        if i % 50 == 0:
            lines.append(f"{stamp(i // 100)} mx cron[2]: (root) CMD (true)")
    path = tmp_path / "maillog"
    path.write_text("\n".join(lines) + "\n")
    doc = json.loads(run(["analyze", "-f", "json", path], 400 * MB))
    programs = doc["programs"]
    assert len(programs) <= MAX_PROGRAMS + 2
    assert programs["cron/cron"]["recognized"] == 1000
    assert sum(v["recognized"] + v["unrecognized"] for v in programs.values()) == len(lines)
    kept = sum(v["recognized"] + v["unrecognized"] for k, v in programs.items() if k != f"-/{OTHER}")
    assert doc["limits"]["programs"]["dropped"] == len(lines) - kept > 40_000
    text = run(["analyze", path], 400 * MB)
    assert len(text.splitlines()) < MAX_PROGRAMS + 50


# --- the pieces, in process ----------------------------------------------------------------------

def test_top_counter_exact_below_cap_and_merges():
    rng = random.Random(5)
    keys = [f"k{rng.randrange(300)}" for _ in range(5000)]
    whole = TopCounter(300)
    for k in keys:
        whole.add(k)
    for cut in (1, 1000, 4999):
        a, b = TopCounter(300), TopCounter(300)
        for k in keys[:cut]:
            a.add(k)
        for k in keys[cut:]:
            b.add(k)
        a.merge(b)
        assert dict(a) == dict(whole) and a.dropped == 0


def test_top_counter_bounded_past_cap_keeps_the_frequent_key():
    c = TopCounter(100)
    for i in range(100_000):
        c.add(f"once{i}")
        if i % 10 == 0:
            c.add("frequent")
    assert len(c) <= 101
    assert c["frequent"] == 10_000
    assert sum(c.values()) == 110_000 and c[OTHER] == c.dropped


def _ev(kind, qid, ts, lineno, **f):
    return Event(kind, ts, "mx", "postfix", "smtpd", "qmgr" if kind == "qmgr_queued" else "smtpd",
                 lineno % 7, "info", qid, "", f, "maillog", lineno, "")


def test_tracker_evicts_only_unqueued_and_merges():
    n = track.MAX_UNQUEUED + 500
    events = [_ev("client", "AAAA1", 0.0, 1, client_ip="192.0.2.1", client_host="a"),
              _ev("qmgr_queued", "AAAA1", 1.0, 2, size=10, nrcpt=1)]
    events += [_ev("client", f"B{i:08X}", 10.0 + i / 100, 3 + i, client_ip="192.0.2.2", client_host="b")
               for i in range(n)]
    one = track.Tracker()
    for ev in events:
        one.feed(ev)
    assert one.evicted == n - track.MAX_UNQUEUED
    assert ("mx", "AAAA1") in one.messages  # queued: never evicted
    assert len(one.messages) == track.MAX_UNQUEUED + 1
    head, later = track.Tracker(), track.Tracker(head=False)
    for ev in events[:3000]:
        head.feed(ev)
    for ev in events[3000:]:
        later.feed(ev)
    head.merge(later)
    assert head.evicted == one.evicted and head.messages.keys() == one.messages.keys()


def test_queue_shape_built_once(monkeypatch):
    """The four queue-shape rules (QSH001..QSH004) read one queue shape, built once per host
    (rules.engine.Queued), instead of each rebuilding it from every message in flight."""
    from postfix_diag import qshape
    from postfix_diag.rules import Engine

    msgs = []
    for i in range(300):
        m = track.Message(qid=f"Q{i:06X}", host="mx", first_ts=1000.0 + i, queue=track.DEFERRED, sender="",
                          size=100, nrcpt=1)
        m.arrival_ts, m.message_id = m.first_ts, f"<{i}@x>"
        m.recipients[f"r{i}@d.example"] = track.Recipient(f"r{i}@d.example", status="deferred")
        msgs.append(m)
    calls = []
    real = qshape.entries_from_messages
    monkeypatch.setattr(qshape, "entries_from_messages", lambda ms: calls.append(1) or real(ms))
    findings = Engine().finish(queued=msgs, end_ts=1000.0 + 86400)
    assert "QSH001" in {f.id for f in findings}  # the shape was read: 300 bounces in the deferred queue
    assert len(calls) == 1


# --- rule offender tables (rules/base.py: BoundedCounter, FirstSeenCounter, FirstKeysCounter) ----

RELAY_ABUSE = ROOT / "sample_logs" / "relay-abuse" / "maillog"


def test_offender_after_a_flood_of_one_off_clients(tmp_path):
    """20,000 one-off relay probes (a captured `Relay access denied` line, its client address
    substituted) come first, then the client of the captured log with 60 rejects: the finding's
    key and its top client are that client, and the lines moved to (other) are reported."""
    from postfix_diag.analyze import analyze
    from postfix_diag.limits import MAX_OFFENDERS
    from postfix_diag.report import render_analysis

    line = next(ln for ln in RELAY_ABUSE.read_text().splitlines() if "Relay access denied" in ln)
    assert "[127.0.0.3]" in line
    flood = [line.replace("[127.0.0.3]", f"[198.18.{i // 250}.{i % 250}]") for i in range(20_000)]
    path = tmp_path / "maillog"
    path.write_text("\n".join(flood + [line] * 60) + "\n")
    doc = json.loads(render_analysis(analyze([str(path)], year=2025), "json"))
    sec = next(f for f in doc["findings"] if f["id"] == "SEC002")
    assert sec["count"] == 20_060
    assert sec["key"] == "127.0.0.3"
    top = [entry for entry in sec["evidence"]["top_clients"] if entry[0] != OTHER]
    assert top[0] == ["unknown[127.0.0.3]", 60] and top[1][1] == 1
    dropped = doc["limits"]["offenders"]
    assert dropped["limit"] == MAX_OFFENDERS and dropped["dropped"] >= 20_000 - 2 * MAX_OFFENDERS


def test_first_seen_counter_keeps_the_top_and_its_tie_order():
    """Past the cap the less frequent half goes to (other), ties by first-seen place (not the
    order they were added in); below it, counters of pieces merge to the one of one pass."""
    from postfix_diag.rules.base import OTHER as ROTHER
    from postfix_diag.rules.base import FirstSeenCounter

    c = FirstSeenCounter(10)
    for i in range(11):  # added in reverse place order: k10 first, at the latest place
        c.add(f"k{10 - i}", 1, (0, 10 - i))
    c.add("k3", 5, (0, 3))
    assert len(c) <= 11 and c["k3"] == 6
    kept = [k for k, _ in c.most_common() if k != ROTHER]
    assert kept == ["k3", "k0", "k1", "k2", "k4", "k5"]  # ties: the first seen first (k6..k10 went)
    assert c[ROTHER] == c.dropped == 5 and c.first[ROTHER] == (0, 6)
    rng = random.Random(7)
    items = [(f"k{rng.randrange(40)}", rng.randrange(1, 4), (0, i)) for i in range(500)]
    whole = FirstSeenCounter(40)
    for k, n, at in items:
        whole.add(k, n, at)
    a, b = FirstSeenCounter(40), FirstSeenCounter(40)
    for k, n, at in items[250:]:  # the later piece fed first: places, not feeding order, count
        b.add(k, n, at)
    for k, n, at in items[:250]:
        a.add(k, n, at)
    a.merge(b)
    assert a.most_common() == whole.most_common() and a.dropped == 0


def test_lookup_table_keeps_the_first_keys():
    from postfix_diag.rules.base import OTHER as ROTHER
    from postfix_diag.rules.base import FirstKeysCounter

    a, b = FirstKeysCounter(3), FirstKeysCounter(3)
    for k in "abcd":
        a.add(k)
    for k in "aef":
        b.add(k, 2)
    a.merge(b)
    assert dict(a) == {"a": 3, "b": 1, "c": 1, ROTHER: 5} and a.dropped == 5


# --- messages in flight (track.py, MAX_IN_FLIGHT) -------------------------------------------------

def _queued_line() -> str:
    """A captured qmgr `from=<...>, size=N, nrcpt=N (queue active)` line."""
    log = ROOT / "sample_logs" / "bounce-storm" / "maillog"
    return next(ln for ln in log.read_text().splitlines() if ln.endswith("(queue active)"))


def forged_queued(path: Path, n: int) -> Path:
    """``n`` forged messages that qmgr "activated" and that never leave: the captured qmgr line
    with distinct queue ids (11 hex digits) and one second of log time per 1,000 lines."""
    line = _queued_line()
    qid = line.split(": ", 2)[1]
    stamp = line[:15]
    start = time.mktime(time.strptime(f"2025 {stamp}", "%Y %b %d %H:%M:%S"))
    with open(path, "w") as fh:
        for i in range(n):
            now = time.strftime("%b %d %H:%M:%S", time.localtime(start + i // 1000))
            fh.write(line.replace(stamp, now, 1).replace(qid, f"{0xC1E5F100000 + i:X}", 1) + "\n")
    return path


def _max_rss(args, bound: str = "MAX_IN_FLIGHT", to: int = 20_000) -> tuple[int, str]:
    """(peak RSS in bytes, stdout) of the CLI run with the limits.py bound ``bound`` set to ``to``."""
    code = (f"import sys; import postfix_diag.limits as L; L.{bound} = {to}; "
            "from postfix_diag.cli import main; sys.argv[0] = 'postfix-diag'; main()")
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=out, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(p.pid, 0)
        err = p.stderr.read().decode("utf-8", "replace")
        p.stderr.close()
        p.returncode = os.waitstatus_to_exitcode(status)
        assert p.returncode == 0, err[-2000:]
        out.seek(0)
        return usage.ru_maxrss * 1024, out.read().decode()


def test_forged_queued_messages_are_bounded(tmp_path):
    """200,000 forged queued messages take no more memory than 40,000 (the tracker keeps at most
    MAX_IN_FLIGHT, here 20,000, of them; without the bound each costs about 1.8 KB: 290 MB more),
    and the report says how many it dropped."""
    small, _ = _max_rss(["analyze", "--jobs", "1", "-f", "json", forged_queued(tmp_path / "small", 40_000)])
    big, out = _max_rss(["analyze", "--jobs", "1", "-f", "json", forged_queued(tmp_path / "big", 200_000)])
    assert big - small < 60 * MB, (small // MB, big // MB)
    dropped = json.loads(out)["limits"]["in_flight_messages"]
    assert dropped["limit"] == 20_000 and 180_000 <= dropped["dropped"] <= 200_000 - 18_000


def test_in_flight_bound_drops_the_oldest_by_last_line(monkeypatch):
    """A deferred message that qmgr activates again now and then outlives a flood of forged
    queued messages: past MAX_IN_FLIGHT, the tenth with the oldest last line go first."""
    monkeypatch.setattr(track, "MAX_IN_FLIGHT", 1000)
    t = track.Tracker()
    t.feed(_ev("client", "AAAA1", 0.0, 1, client_ip="192.0.2.1", client_host="a"))
    t.feed(_ev("qmgr_queued", "AAAA1", 1.0, 2, size=10, nrcpt=1))
    for i in range(5000):
        t.feed(_ev("qmgr_queued", f"F{i:09X}", 10.0 + i, 3 + i, size=612, nrcpt=1))
        if i % 400 == 0:  # a retry: qmgr's from= line again
            t.feed(_ev("qmgr_queued", "AAAA1", 10.0 + i, 3 + i, size=10, nrcpt=1))
    assert len(t.messages) <= 1000 and ("mx", "AAAA1") in t.messages
    assert t.crowded == 5001 - len(t.messages)
    forged = sorted(k[1] for k in t.messages if k[1] != "AAAA1")
    assert forged[-1] == f"F{4999:09X}" and forged[0] >= f"F{5000 - 1000:09X}"  # the newest stayed
    assert t.dropped["in_flight_messages"] == t.crowded


# --- the summary's per-sender/recipient/client/domain partials (summary.py, MAX_KEYS) ------------

def _distinct_log(path: Path, lines: int) -> Path:
    """The bench generator's log where every sender, recipient and client name is new."""
    subprocess.run([sys.executable, str(ROOT / "tools/bench/generate.py"), str(lines), str(path), "--distinct"],
                   check=True)
    return path


def _summary_of(path: Path, cuts: int = 0) -> dict:
    """The summary JSON of a log read as ``cuts + 1`` pieces merged (in process)."""
    from postfix_diag import pipeline
    from postfix_diag import summary as S
    from postfix_diag.inputs import resolve
    from postfix_diag.parse import Parser

    source = pipeline.ranked(resolve([str(path)]))[0]
    events = list(Parser(year=2025, fields=S.parser_fields()).parse_source(source))
    bounds = [len(events) * i // (cuts + 1) for i in range(cuts + 2)]
    head = S.stream(head=True)
    head.feed_all(events[:bounds[1]])
    for a, b in zip(bounds[1:-1], bounds[2:], strict=True):
        piece = S.stream(head=False)
        piece.feed_all(events[a:b])
        head.merge(piece)
    head.finish()
    return S.summarize(head.consumers[0], top=-1, detail=-1)


def test_summary_tables_bounded_totals_exact(tmp_path, monkeypatch):
    """With the tables bounded to 300 keys, a log of some 3,000 distinct senders, recipients and
    clients: every total is the unbounded one (one-off keys, so even the distinct counts), the
    tables hold at most 300 rows and never an "(other)" row, and the folded keys are reported;
    cut in three pieces, the totals are the same."""
    from postfix_diag import summary as S

    log = _distinct_log(tmp_path / "maillog", 30_000)
    exact = _summary_of(log)
    assert exact["totals"]["senders"] > 2_000 and "limits" not in exact["meta"]
    monkeypatch.setattr(S, "MAX_KEYS", 300)
    for cuts in (0, 2):
        bounded = _summary_of(log, cuts)
        assert bounded["totals"] == exact["totals"]
        for key in ("connections", "sessions_timed", "hosts_domains", "total_connect_time", "max_connect_time"):
            assert bounded["smtpd"][key] == pytest.approx(exact["smtpd"][key]), key
        assert bounded["postscreen"]["dnsbl"] == exact["postscreen"]["dnsbl"]
        for table in (bounded["senders"]["by_count"], bounded["recipients"]["by_size"],
                      bounded["domains"]["delivery"], bounded["smtpd"]["domains"]):
            assert 0 < len(table) <= 300
            assert not any(OTHER in json.dumps(row) for row in table)
        folded = bounded["meta"]["limits"]["summary_keys"]["dropped"]
        assert folded >= exact["totals"]["senders"] + exact["totals"]["recipients"] - 4 * 300


def distinct_messages(path: Path, n: int) -> Path:
    """``n`` messages received, delivered and removed (a captured life of four lines: client=,
    qmgr from=, status=sent, removed), each with a new queue id, sender and recipient, sender
    and recipient domain: four summary tables gain a key per message."""
    lines = (ROOT / "sample_logs" / "healthy" / "maillog").read_text().splitlines()
    qid = "BB910160302"
    life = [next(ln for ln in lines if f" {qid}: {what}" in ln) for what in ("client=", "from=", "to=", "removed")]
    stamp = life[0][:15]
    start = time.mktime(time.strptime(f"2025 {stamp}", "%Y %b %d %H:%M:%S"))
    with open(path, "w") as fh:
        for i in range(n):
            now = time.strftime("%b %d %H:%M:%S", time.localtime(start + i // 250))
            for ln in life:
                fh.write(ln.replace(stamp, now, 1).replace(qid, f"{0xB0000000000 + i:X}", 1)
                         .replace("sender@capture.example", f"s{i}@d{i}.capture.example")
                         .replace("alice@capture.example", f"r{i}@e{i}.capture.example") + "\n")
    return path


def test_summary_memory_bounded_by_its_tables(tmp_path):
    """The tables bounded to 2,000 keys: 150,000 distinct senders, recipients and their domains
    take the summary less than 55 MB over 25,000 (measured: +27 MB, the text caches and the sizes
    of removed messages filling up; unbounded +103 MB), and the folded keys are reported."""
    args = ["summary", "--jobs", "1", "-f", "json"]
    small, _ = _max_rss([*args, distinct_messages(tmp_path / "small", 25_000)], "MAX_SUMMARY_KEYS", 2_000)
    big, out = _max_rss([*args, distinct_messages(tmp_path / "big", 150_000)], "MAX_SUMMARY_KEYS", 2_000)
    assert big - small < 55 * MB, (small // MB, big // MB)
    doc = json.loads(out)
    assert doc["totals"]["senders"] == doc["totals"]["recipients"] == doc["totals"]["received"] == 150_000
    folded = doc["meta"]["limits"]["summary_keys"]
    assert folded["limit"] == 2_000 and 4 * (150_000 - 2_000) <= folded["dropped"] <= 4 * (150_000 - 1_000)


def test_queued_message_without_news_for_a_week_is_gone():
    """A queued message with no line for more than STALE_AFTER of log time left the queue unseen
    (its `removed` line was lost): dropped and counted; a held one is kept; a deferred one with a
    line every retry is kept; and the same whether the sweep or the message's next line finds it."""
    from postfix_diag.limits import STALE_AFTER

    t = track.Tracker()
    t.feed(_ev("qmgr_queued", "LOST1", 0.0, 1, size=10, nrcpt=1))
    t.feed(_ev("qmgr_queued", "HELD1", 0.0, 2, size=10, nrcpt=1))
    t.messages[("mx", "HELD1")].queue = track.HOLD
    t.feed(_ev("qmgr_queued", "LATE1", 0.0, 3, size=10, nrcpt=1))
    step = 4000.0
    for i in range(1, int(STALE_AFTER // step) + 5):  # a deferred message retried every 4000 s
        t.feed(_ev("qmgr_queued", "RETRY", i * step, 3 + 2 * i, size=10, nrcpt=1))
        t.feed(_ev("client", f"N{i:08X}", i * step, 4 + 2 * i, client_ip="192.0.2.2", client_host="b"))
    assert ("mx", "LOST1") not in t.messages and ("mx", "LATE1") not in t.messages
    assert ("mx", "HELD1") in t.messages and ("mx", "RETRY") in t.messages
    assert t.stale == 2 and t.dropped["stale_messages"] == 2
    u = track.Tracker()  # no sweep in between: the next line of the message finds it gone
    u.feed(_ev("qmgr_queued", "LOST1", 0.0, 1, size=10, nrcpt=1))
    m = u.feed(_ev("qmgr_queued", "LOST1", STALE_AFTER + 1.0, 2, size=20, nrcpt=1))
    assert u.stale == 1 and m.size == 20 and m.first_ts == STALE_AFTER + 1.0
