"""Helpers of the fault and hostile-input suite (tests/test_faults*.py): run the installed
`postfix-diag` as a subprocess, hostile logs and snapshots, process listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
HEALTHY = SAMPLES / "healthy" / "maillog"
_SCRIPT = Path(sys.executable).with_name("postfix-diag")
PROG = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "postfix_diag"]


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONIOENCODING", "LC_", "POSTFIX_DIAG"))}
    e.update({"LANG": "C.UTF-8"})
    e.update(extra)
    return e


def run(*args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=120, extra_env=None, **kw):
    """The CLI as a user runs it; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([*PROG, *map(str, args)], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                          timeout=timeout, env=env(**(extra_env or {})), cwd=ROOT, **kw)


def shell(script: str, *args, extra_env=None, timeout=120):
    """`bash -c script prog args...` (for `<&-`, `>&-` and the like); "$0" is the program."""
    return subprocess.run(["bash", "-c", script, PROG[0], *PROG[1:], *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout,
                          env=env(**(extra_env or {})), cwd=ROOT)


def one_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace")
    assert text.endswith("\n") and text.count("\n") == 1, f"not one line: {text!r}"
    return text[:-1]


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# Lines written from Postfix's own message templates (smtpd.c, smtp, qmgr), with hostile content
# where a client or a local user chooses it. Bytes: invalid UTF-8 and NUL are part of it.
HOSTILE_LOG = (
    "Nov 25 10:00:00 mx postfix/smtpd[100]: connect from evil\u202egnp.example[192.0.2.9]\n"
    "Nov 25 10:00:01 mx postfix/smtpd[100]: NOQUEUE: reject: RCPT from evil.example[192.0.2.9]: 554 5.7.1 "
    "<victim@evil.example>: Relay access denied; from=<a\u00adb@evil.example> to=<victim@evil.example> "
    "proto=ESMTP helo=<\x1b]0;pwned\x07 https://evil.example/x [click](https://evil.example/x) {0}>\n"
    "Nov 25 10:00:02 mx postfix/smtpd[100]: warning: Illegal address syntax from unknown[192.0.2.7] in MAIL "
    "command: \x1b[31m\u2192\u2026\u202e\x9b\u2028\u2066x\u2069\U000e0041 <script>x</script> | *b* @admin\n"
    "Nov 25 10:00:03 mx postfix/smtpd[100]: disconnect from evil.example[192.0.2.9] ehlo=1 mail=1 rcpt=0/1 "
    "quit=1 commands=3/4\n"
    "Nov 25 10:00:04 mx postfix/qmgr[102]: 4A1B2C3D4E: from=<s\x1b[2J@example.org>, size=300, nrcpt=1 "
    "(queue active)\n"
    "Nov 25 10:00:05 mx postfix/smtp[103]: 4A1B2C3D4E: to=<u@\x1b[31mevil\u202egnp.example>, relay=none, "
    "delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to evil.example[192.0.2.1]:25: "
    "Connection refused \u2028 \x1b]8;;https://evil/\x07)\n"
    "Nov 25 10:00:06 mx postfix/smtpd[100]: warning: \x1b]52;c;ZXZpbA==\x07 hostname evil\u00ad.example "
    "does not resolve to address 192.0.2.9\n"
    "Nov 25 10:00:07 mx evil\x1b[31mtag[1]: \x85\x9b\u202e\U000e0041 free text from logger -t\n"
).encode("utf-8") + b"Nov 25 10:00:08 mx postfix/smtpd[100]: warning: \xff\xfe\x00 invalid utf-8 and NUL\n"

HOSTILE_SNAPSHOT = "".join(json.dumps(m) + "\n" for m in [
    {"queue_name": "deferred", "queue_id": "3F1A2B4C5D", "arrival_time": 1763990000, "message_size": 512,
     "forced_expire": False, "sender": "s\x1b]0;pwned\x07@evil\u202e.example",
     "recipients": [{"address": "x@\x1b[31mevil\u202egnp\u2028.example", "delay_reason": "\x9b\x07"},
                    {"address": "y@\U000e0041tag\u00ad.example"}]},
    {"queue_name": "active", "queue_id": "4A1A2B4C5D", "arrival_time": 1763999000, "sender": "a@b.example",
     "recipients": [{"address": "z@[click](https://evil.example/x)"}]},
])


def write_hostile(tmp: Path) -> tuple[Path, Path]:
    log = tmp / "mail.log"
    log.write_bytes(HOSTILE_LOG)
    snap = tmp / "postqueue.json"
    snap.write_text(HOSTILE_SNAPSHOT, encoding="utf-8")
    return log, snap


def command_matrix(log: Path, snap: Path) -> list[tuple[str, list]]:
    """Every format of every command, on the hostile inputs."""
    y = ["--year", "2025"]
    cases = []
    for fmt in ("text", "markdown", "json"):
        cases.append((f"analyze-{fmt}", ["analyze", "-f", fmt, *y, log]))
        cases.append((f"summary-{fmt}", ["summary", "-f", fmt, *y, log]))
        cases.append((f"rules-{fmt}", ["rules", "-f", fmt]))
    for fmt in ("text", "junit", "github", "sarif"):
        cases.append((f"check-{fmt}", ["check", "-f", fmt, *y, log]))
    for fmt in ("jsonl", "csv"):
        cases.append((f"parse-{fmt}", ["parse", "-f", fmt, *y, log]))
    for fmt in ("text", "json"):
        cases.append((f"qshape-log-{fmt}", ["qshape", "-f", fmt, *y, "deferred", "active", log]))
        cases.append((f"qshape-snapshot-{fmt}", ["qshape", "-f", fmt, "--from-json", snap, "--now",
                                                 "1764000000", "deferred", "active"]))
    cases += [("explain", ["explain", "DNS002"]), ("grammar", ["grammar"]), ("grammar-check", ["grammar", "--check"]),
              ("help", ["--help"]), ("analyze-help", ["analyze", "--help"]), ("version", ["--version"])]
    return cases
