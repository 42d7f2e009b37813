"""Differential tests: random queues written as real Postfix queue files, read by the real
Perl qshape (Debian's /usr/sbin/qshape) with a fixed "now", compared byte for byte with
render_qshape on the same messages.  Skipped where perl or qshape is not installed."""

from __future__ import annotations

import os
import random
import shutil
import subprocess

import pytest

from postfix_diag.qshape import QueueEntry, render_qshape

QSHAPE = "/usr/sbin/qshape"
pytestmark = pytest.mark.skipif(
    not (os.path.exists(QSHAPE) and shutil.which("perl")), reason="real qshape (Perl) not installed"
)


def _rec(t: str, d: str | bytes) -> bytes:
    if isinstance(d, str):
        d = d.encode("utf-8", "surrogateescape")
    n = len(d)
    lb = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        lb.append(b | 0x80 if n else b)
        if not n:
            break
    return t.encode() + bytes(lb) + d


def write_queue(root: str, entries: list[QueueEntry]) -> None:
    """Minimal queue files in Postfix's record format, enough for qshape's qenv()."""
    for e in entries:
        d = os.path.join(root, e.queue_name)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, e.queue_id)
        data = _rec("C", "x") + _rec("T", f"{int(e.arrival_time)} 0") + _rec("S", e.sender)
        for r in e.recipients:
            data += _rec("R", r)
        data += _rec("M", "") + _rec("N", "Subject: x") + _rec("X", "") + _rec("E", "")
        with open(p, "wb") as fh:
            fh.write(data)
        os.chmod(p, 0o700)


def real_qshape(root: str, now: int, args: list[str], queues: list[str]) -> str:
    cmd = [
        "perl",
        "-e",
        "my $t = shift @ARGV; *CORE::GLOBAL::time = sub { $t }; do $ENV{QSHAPE}; die $@ if $@",
        "--",
        str(now),
        *args,
        *[os.path.join(root, q) for q in queues],
    ]
    res = subprocess.run(cmd, capture_output=True, env={**os.environ, "QSHAPE": QSHAPE}, check=True)
    return res.stdout.decode("utf-8", "replace")


LABELS = ["a", "b", "mx", "mail", "s1", "s2", "s3", "s4", "s5", "s6", "x-y", "Sub", "deep"]
PARENTS = [
    "example.com",
    "example.net",
    "corp.example",
    "EXAMPLE.org",
    "a-really-quite-long-parent-domain-name-for-truncation.example.net",
    "io",
    "b.c",
    "bücher.example",
]


def random_domain(rng: random.Random) -> str:
    parts = [rng.choice(LABELS) for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))]
    return ".".join([*parts, rng.choice(PARENTS)])


def random_address(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.05:
        return ""
    if r < 0.08:
        return "MAILER-DAEMON"
    if r < 0.1:
        return "odd@" + rng.choice(["x..y.example", ".lead.example", "trail.example.", "a@b@c.example"])
    return f"{rng.choice(['u', 'User', 'x.y', 'info'])}@{random_domain(rng)}"


def random_queue(rng: random.Random, now: int, n: int) -> list[QueueEntry]:
    out = []
    for i in range(n):
        age = rng.choice([0, 1, 59, 60 * rng.randint(0, 20000), rng.randint(0, 30 * 86400), 300, 600, 1200])
        rcpts = [random_address(rng) or "root@localhost" for _ in range(rng.choice([1, 1, 2, 3, 7]))]
        out.append(
            QueueEntry(
                queue_name=rng.choice(["incoming", "active", "deferred", "hold"]),
                queue_id=f"{0xA00000 + i:X}",
                arrival_time=now - age,
                sender=random_address(rng),
                recipients=rcpts,
            )
        )
    return out


def canonical(text: str) -> list[bytes]:
    """Rows with equal totals and equal name lengths have no defined order in qshape (Perl hash
    order); sort the lines inside each such run, leave everything else in place."""
    lines = text.encode("utf-8").splitlines()
    out = lines[:1]
    run: list[bytes] = []
    key = None
    for line in lines[1:]:
        tok = line.split()
        k = (tok[1], len(tok[0]))
        if k != key and run:
            out.extend(sorted(run))
            run = []
        key = k
        run.append(line)
    out.extend(sorted(run))
    return out


OPTION_SETS = [
    ([], {}),
    (["-s"], {"senders": True}),
    (["-p"], {"parents": True}),
    (["-p", "-m", "2"], {"parents": True, "min_subdomains": 2}),
    (["-s", "-p", "-m", "1"], {"senders": True, "parents": True, "min_subdomains": 1}),
    (["-t", "1"], {"bucket_time": 1}),
    (["-t", "0.5"], {"bucket_time": 0.5}),
    (["-l"], {"linear": True}),
    (["-l", "-t", "7", "-b", "4"], {"linear": True, "bucket_time": 7, "buckets": 4}),
    (["-b", "1"], {"buckets": 1}),
    (["-b", "2"], {"buckets": 2}),
    (["-b", "16", "-t", "1"], {"buckets": 16, "bucket_time": 1}),
    (["-w", "60"], {"width": 60}),
    (["-w", "132", "-p", "-m", "2"], {"width": 132, "parents": True, "min_subdomains": 2}),
]


@pytest.mark.parametrize("seed", range(8))
def test_random_queues_match_real_qshape(tmp_path, seed):
    rng = random.Random(seed)
    now = 1764000000 + rng.randint(0, 10**6)
    entries = random_queue(rng, now, rng.choice([0, 1, 5, 40, 200]))
    write_queue(str(tmp_path), entries)
    queue_sets = [
        ["incoming", "active"],
        ["deferred"],
        ["incoming", "active", "deferred", "hold"],
        ["hold", "deferred", "hold"],
    ]
    for args, kw in OPTION_SETS:
        for queues in queue_sets:
            os.makedirs(tmp_path / queues[0], exist_ok=True)
            for qn in queues:
                os.makedirs(tmp_path / qn, exist_ok=True)
            want = real_qshape(str(tmp_path), now, args, queues)
            got = render_qshape(entries, queues=queues, now=now, **kw)
            assert canonical(got) == canonical(want), (seed, args, queues)
            assert len(got) == len(want)
