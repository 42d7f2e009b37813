"""Files someone else wrote and files we write, through the real program (a subprocess):
untrusted JSON (baselines, `postqueue -j` snapshots) with size, depth, number and schema limits;
output sizes asked for by options capped; output files written only where that is safe. Each case
asserts the exact one-line message and the exit status (never 3)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from faultlib import HEALTHY, one_line, run

from postfix_diag import jsonin

SNAP_OK = ('{"queue_name": "deferred", "queue_id": "A1", "arrival_time": 1763990000, "sender": "s@example.org", '
           '"recipients": [{"address": "r@example.net"}]}\n')


def _file(tmp_path, name: str, content: str | bytes):
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5000

# (content, message after "<file>: ") of a baseline
BAD_BASELINES = [
    (DEEP, "JSON nested more than 64 levels deep"),
    ('{"version": 1, "findings": [{"id": "A", "count": ' + HUGE_INT + "}]}",
     "not usable JSON: an integer of 5000 digits"),
    ('{"version": 1, "findings": [{"id": "A", "count": NaN}]}', "not usable JSON: NaN is not a number JSON allows"),
    ('{"version": 1, "findings": [{"id": "A", "count": Infinity}]}',
     "not usable JSON: Infinity is not a number JSON allows"),
    ('{"version": 1, "findings": [{"id": "A", "count": 1e999}]}', "not usable JSON: 1e999 is out of range"),
    ('{"version": 1, "findings": {}}', 'not a postfix-diag baseline file ("findings" must be a list)'),
    ('{"version": "1", "findings": []}', "not a postfix-diag baseline file (unsupported version '1', expected 1)"),
    ('{"version": 1, "findings": [{"id": 5}]}', 'not a postfix-diag baseline file (findings[0] needs a string "id")'),
    ('{"version": 1, "findings": [{"id": "A", "key": ["x"]}]}',
     "not a postfix-diag baseline file (findings[0].key must be a string or null)"),
    ("[]", "not a postfix-diag baseline file (expected a JSON object)"),
    ('{"version": 1, "findings": [', "not valid JSON: Expecting value (line 1 column 29)"),
    (b'{"version": 1, "findings": ["\xff"]}', "not valid JSON: not UTF-8 text (byte 29: b'\\xff')"),
    ("", "not valid JSON: Expecting value (line 1 column 1)"),
]


@pytest.mark.parametrize("content, message", BAD_BASELINES, ids=[m[:40] for _, m in BAD_BASELINES])
def test_bad_baseline_is_one_line_naming_the_file(tmp_path, content, message):
    b = _file(tmp_path, "baseline.json", content)
    r = run("check", "--year", "2025", "--baseline", b, HEALTHY)
    assert r.returncode == 2 and r.stdout == b""
    line = one_line(r.stderr)
    if "baseline file" in message:
        assert line == f"postfix-diag: error: {b}: {message}"
    else:
        assert line == f"postfix-diag: error: baseline {b}: {message}"


def test_endless_or_special_baseline_is_refused(tmp_path):
    r = run("check", "--year", "2025", "--baseline", "/dev/zero", HEALTHY, timeout=60)
    assert (r.returncode, one_line(r.stderr)) == (
        2, "postfix-diag: error: baseline /dev/zero: larger than 16 MiB, the limit for this file (is it the right file?)")
    r = run("check", "--year", "2025", "--baseline", tmp_path, HEALTHY)
    assert (r.returncode, one_line(r.stderr)) == (2, f"postfix-diag: error: {tmp_path}: baseline is a directory")
    r = run("check", "--year", "2025", "--baseline", tmp_path / "none.json", HEALTHY)
    assert (r.returncode, one_line(r.stderr)) == (
        2, f"postfix-diag: error: {tmp_path / 'none.json'}: baseline file not found (create it with --write-baseline)")


# (content, message after "postfix-diag: error: <file>: ") of a postqueue -j snapshot
BAD_SNAPSHOTS = [
    (DEEP + "\n", "JSON nested more than 64 levels deep; expected `postqueue -j` output"),  # one array
    (SNAP_OK + '{"a": ' + DEEP + "}\n", "line 2: JSON nested more than 64 levels deep; expected `postqueue -j` output"),
    (SNAP_OK.replace("1763990000", "NaN"),
     "line 1: not usable JSON: NaN is not a number JSON allows; expected `postqueue -j` output"),
    (SNAP_OK.replace("1763990000", HUGE_INT),
     "line 1: not usable JSON: an integer of 5000 digits; expected `postqueue -j` output"),
    (SNAP_OK.replace("1763990000", "-1e300"), "line 1: arrival_time -1e+300 is not a time a queue file can have"),
    (SNAP_OK.replace("1763990000", '"soon"'), "line 1: arrival_time must be a number of seconds"),
    (SNAP_OK + SNAP_OK.replace('"recipients": [{"address": "r@example.net"}]', '"recipients": {"a": 1}'),
     "line 2: recipients must be a list"),
    (SNAP_OK.replace('{"address": "r@example.net"}', "7"), "line 1: each recipient must be an object with an address"),
    ("[" + SNAP_OK.strip() + ", 5]", "message 2: expected a JSON object per message, got int"),
    (SNAP_OK + '{"queue_name": \n', "line 2: not valid JSON: Expecting value (line 1 column 16); "
                                    "expected `postqueue -j` output"),
]


@pytest.mark.parametrize("content, message", BAD_SNAPSHOTS, ids=[m[:40] for _, m in BAD_SNAPSHOTS])
def test_bad_snapshot_is_one_line_naming_the_file(tmp_path, content, message):
    s = _file(tmp_path, "postqueue.json", content)
    r = run("qshape", "--from-json", s)
    assert (r.returncode, r.stdout) == (2, b"")
    assert one_line(r.stderr) == f"postfix-diag: error: {s}: {message}"


def test_snapshot_from_endless_stdin_is_refused():
    with open("/dev/zero", "rb") as zero:
        r = run("qshape", "--from-json", "-", stdin=zero, timeout=120)
    assert (r.returncode, one_line(r.stderr)) == (
        2, "postfix-diag: error: <stdin>: larger than 256 MiB, the limit for this file (is it the right file?)")


@pytest.mark.parametrize("args, message", [
    (["-b", "100000"], "-b 100000: at most 100 age buckets"),
    (["-w", "1000000000"], "-w 1000000000: at most 1000 columns"),
    (["-t", "nan"], "-t nan: at most 10000000 minutes"),
    (["--now", "1e400"], "--now '1e400': not a time qshape can use (epoch seconds 0 .. 2**33)"),
    (["--now", "+99999999999w"], "--now '+99999999999w': not a time qshape can use (epoch seconds 0 .. 2**33)"),
])
def test_qshape_output_sizes_are_capped(tmp_path, args, message):
    s = _file(tmp_path, "postqueue.json", SNAP_OK)
    for source in (["--from-json", s], [HEALTHY]):
        r = run("qshape", *args, *source)
        assert (r.returncode, r.stdout, one_line(r.stderr)) == (2, b"", f"postfix-diag: error: {message}")


def test_qshape_largest_allowed_sizes_work(tmp_path):
    s = _file(tmp_path, "postqueue.json", SNAP_OK)
    r = run("qshape", "-b", "100", "-w", "1000", "--now", "1764000000", "--from-json", s, "deferred")
    assert r.returncode == 0 and r.stderr == b""
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 3 and len(lines[0].split()) == 101
    r = run("qshape", "-b", "100", "-f", "json", "--now", "1764000000", "--from-json", s, "deferred")
    assert r.returncode == 0 and len(json.loads(r.stdout)["buckets"]) == 100


# --- jsonin as a library ------------------------------------------------------------------------

def test_depth_skips_strings_and_stops_early():
    assert jsonin.depth('{"a": "[[[[{{{{", "b": [[1]]}') == 3
    assert jsonin.depth('["\\"[[["]') == 1
    assert jsonin.depth("[" * 10**6, stop=64) == 65


def test_schema_check():
    schema = {"version": int, "tool?": str, "findings": [{"id": str, "key?": (str, type(None))}]}
    jsonin.check({"version": 1, "findings": [{"id": "A"}, {"id": "B", "key": None}], "extra": 1}, schema, "b")
    for value, message in [({"findings": []}, 'b lacks "version"'),
                           ({"version": True, "findings": []}, "b.version must be an integer"),
                           ({"version": 1, "findings": [{"id": "A", "key": 3}]},
                            "b.findings[0].key must be a string or null"),
                           ({"version": 1, "tool": 5, "findings": []}, "b.tool must be a string")]:
        with pytest.raises(jsonin.JsonInputError, match=__import__("re").escape(message)):
            jsonin.check(value, schema, "b")


# --- safe writes --------------------------------------------------------------------------------

def _write_baseline(target):
    return run("check", "--year", "2025", "--write-baseline", target, HEALTHY)


@pytest.fixture
def device(tmp_path):
    """A character device like /dev/full, private to the test when we may create one."""
    if os.geteuid() == 0:
        path = tmp_path / "full"
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
            return path
        except OSError:  # a container that forbids mknod: /dev/full itself (the code only lstat()s it)
            pass
    return "/dev/full"  # not root: the node cannot be replaced anyway


def test_device_is_refused_and_left_alone(device):
    before = os.lstat(device)
    r = _write_baseline(device)
    assert (r.returncode, one_line(r.stderr)) == (
        2, f"postfix-diag: error: {device}: is a character device, not a regular file; not written: "
           "give a file path for the baseline")
    after = os.lstat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


def test_fifo_directory_and_symlink_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "real.json"
    target.write_text("keep me\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for path, why in [(fifo, "is a FIFO, not a regular file; not written: give a file path for the baseline"),
                      (tmp_path, "is a directory, not a regular file; not written: give a file path for the baseline"),
                      (link, f"is a symbolic link (to {target}); not replaced: give the path of a regular file "
                             "for the baseline")]:
        r = _write_baseline(path)
        assert (r.returncode, one_line(r.stderr)) == (2, f"postfix-diag: error: {path}: {why}")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink() and target.read_text() == "keep me\n"
    r = _write_baseline("/dev/stdout")
    assert r.returncode == 2 and b"/dev/stdout: is a symbolic link" in r.stderr


def test_regular_file_is_replaced_atomically_keeping_its_mode(tmp_path):
    target = tmp_path / "baseline.json"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    r = _write_baseline(target)
    assert r.returncode == 0, r.stderr
    assert json.loads(target.read_text())["version"] == 1
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]  # no temporary file left


def test_new_file_gets_umask_mode_and_missing_directory_is_one_line(tmp_path):
    target = tmp_path / "new.json"
    r = _write_baseline(target)
    assert r.returncode == 0 and stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~_umask()
    missing = tmp_path / "no" / "such" / "b.json"
    r = _write_baseline(missing)
    assert (r.returncode, one_line(r.stderr)) == (
        2, f"postfix-diag: error: {missing}: cannot write baseline: No such file or directory")


def _umask() -> int:
    m = os.umask(0o022)
    os.umask(m)
    return m
