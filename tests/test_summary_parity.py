"""Parity of `postfix-diag summary` grand totals with Debian's pflogsumm 1.1.5.

Three sources of pflogsumm numbers:
- fixtures in tests/fixtures/pflogsumm/*.json: the grand totals pflogsumm printed for the project's
  sample logs and for public corpus logs (only the numbers: the corpus logs carry no license), with
  the exact command; regenerate with `python tests/test_summary_parity.py` (needs pflogsumm);
- pflogsumm itself, run live when installed;
- small logs written here, one per case where the summary differs from pflogsumm by design.

pflogsumm prints counts above 512k as "Nk"/"Nm"; the exact numbers come from the same script with
its two display thresholds raised (EXACT_SED); both forms are stored and checked.
Why each difference exists is explained in docs/summary-parity.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from postfix_diag import summary as S  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "pflogsumm"
CORPUS = ROOT.parent / "shared" / "corpus"
PFLOGSUMM = shutil.which("pflogsumm") or (("/usr/sbin/pflogsumm") if Path("/usr/sbin/pflogsumm").exists() else None)
EXACT_SED = ("sed -e 's/^\\$divByOneKAt   = 524288;/$divByOneKAt   = 1e18;/' "
             "-e 's/^\\$divByOneMegAt = 536870912;/$divByOneMegAt = 1e18;/' /usr/sbin/pflogsumm")

LABELS = {
    "received": "received", "delivered": "delivered", "forwarded": "forwarded", "deferred": "deferred",
    "bounced": "bounced", "rejected": "rejected", "reject warnings": "reject_warnings", "held": "held",
    "discarded": "discarded", "bytes received": "bytes_received", "bytes delivered": "bytes_delivered",
    "senders": "senders", "sending hosts/domains": "sending_domains", "recipients": "recipients",
    "recipient hosts/domains": "recipient_domains",
}
_LINE = re.compile(r"^\s+(\d+)([km ]?)\s+(.+?)\s*(?:\((\d+)([km ]?)\s*deferrals\)|\((\d+)%\))?$")
UNIT = {"": 1, " ": 1, "k": 1024, "m": 1048576}

# Case names → the totals they change (docs/summary-parity.md has one section per case).
QID_REUSE = "qid-reuse"  # a queue id used again later for another message
BARE_TO = "bare-to"  # "to=addr," without angle brackets (CSV-damaged export)
OTHER_SERVICE = "other-service"  # smtpd under a master.cf name other than smtps/submission: pflogsumm skips it
GENERATOR_EXPONENT = "exponent-delays"  # bench generator writes delays=8.5e-05, which Postfix never logs
MILTER_REJECT = "milter-reject"  # smtpd's milter-reject at CONNECT/HELO/MAIL/RCPT: pflogsumm skips it
WRAPPED = "wrapped-line"  # a status line the dump broke in two: re-joined here, two unknown lines to pflogsumm

# Logs checked against pflogsumm: name → (path relative to the repo root, {total: case}).
SAMPLE_LOGS = sorted(p.parent.name for p in (ROOT / "sample_logs").glob("*/maillog"))
CORPUS_LOGS = {
    "kdent-mail": ("../shared/corpus/kdent-postfix_log_analysis/mail.log", {}),
    "kdent-mail3": ("../shared/corpus/kdent-postfix_log_analysis/mail3.log", {
        "bytes_received": QID_REUSE, "bytes_delivered": QID_REUSE, "senders": QID_REUSE,
        "sending_domains": QID_REUSE}),
    "louisitvn-mail": ("../shared/corpus/louisitvn-pflgviewer/mail.log", {}),
    "louisitvn-postfix": ("../shared/corpus/louisitvn-pflgviewer/postfix.log", {
        "delivered": BARE_TO, "deferred": BARE_TO, "deferrals": BARE_TO, "bounced": BARE_TO,
        "bytes_delivered": BARE_TO, "recipients": BARE_TO, "recipient_domains": BARE_TO}),
    "infohtreasure-maillog": ("../shared/corpus/infohtreasure-postfix-maillog-dump/maillog", {
        "bytes_received": QID_REUSE, "delivered": WRAPPED, "recipients": WRAPPED, "recipient_domains": WRAPPED}),
    "infohtreasure-mailog2": ("../shared/corpus/infohtreasure-postfix-maillog-dump/mailog2", {
        "bytes_received": QID_REUSE}),
}
# config-mistakes runs smtpd services named bogus/missingmap/milter/sasl (one per mistake), and
# config-fatals one named policy; pflogsumm reads only postfix/smtpd, postfix/smtps/smtpd and
# postfix/submission/smtpd, so it misses their rejects. multi-incident's milter outage makes smtpd log
# milter-reject at CONNECT, EHLO and MAIL (18 lines), which pflogsumm does not count.
SAMPLE_DIFFERENCES = {"config-mistakes": {"rejected": OTHER_SERVICE}, "config-fatals": {"rejected": OTHER_SERVICE},
                      "multi-incident": {"rejected": MILTER_REJECT}}
LOGS = {f"sample-{n}": (f"sample_logs/{n}/maillog", SAMPLE_DIFFERENCES.get(n, {})) for n in SAMPLE_LOGS} | CORPUS_LOGS


def parse_grand_totals(report: str, exact: bool = True) -> dict:
    """pflogsumm's Grand Totals block → {json total name: number}. With exact=False, "8383k" is
    kept as printed (a string) instead of being turned into a number."""
    out = {"deferrals": 0 if exact else "0"}
    block = report.split("Grand Totals", 1)[1]
    for line in block.splitlines():
        m = _LINE.match(line)
        if not m or m.group(3).strip() not in LABELS:
            continue
        key = LABELS[m.group(3).strip()]
        out[key] = int(m.group(1)) if exact else (m.group(1) + m.group(2)).strip()
        if m.group(4):
            out["deferrals"] = int(m.group(4)) if exact else (m.group(4) + m.group(5)).strip()
        if key == "recipient_domains":
            break
    return out


def printed(value: int) -> str:
    """How pflogsumm's adj_int_units() prints a count."""
    if value > 536870912:
        return f"{int(value / 1048576)}m"
    if value > 524288:
        return f"{int(value / 1024)}k"
    return str(value)


def run_pflogsumm(path: Path, exact: bool, workdir: Path) -> str:
    script = PFLOGSUMM
    if exact:
        script = workdir / "pflogsumm-exact"
        if not script.exists():
            script.write_text(subprocess.run(EXACT_SED, shell=True, check=True, capture_output=True,
                                             text=True).stdout)
        return subprocess.run(["perl", str(script), "--detail", "0", str(path)], check=True, capture_output=True,
                              text=True).stdout
    return subprocess.run([script, "--detail", "0", str(path)], check=True, capture_output=True, text=True).stdout


def ours(path: Path) -> dict:
    return S.summary([str(path)], top=0, detail=0)["totals"]


def compare(expected: dict, got: dict, differences: dict) -> None:
    same = {k: v for k, v in expected.items() if k not in differences}
    assert {k: got[k] for k in same} == same
    for key, case in differences.items():
        assert got[key] != expected[key], f"{key}: no longer differs from pflogsumm ({case}): update the list"


def _log(name: str) -> Path:
    rel, _ = LOGS[name]
    path = (ROOT / rel).resolve()
    if not path.exists():
        where = "../shared/corpus (public corpus, outside the repository)" if rel.startswith("..") else rel
        pytest.skip(f"{rel} not present: the corpus lives in {where}")
    return path


@pytest.mark.parametrize("name", sorted(LOGS))
def test_totals_equal_stored_pflogsumm_output(name):
    fixture = FIXTURES / f"{name}.json"
    if not fixture.exists():
        pytest.skip(f"no fixture {fixture.name}: run `python tests/test_summary_parity.py` with pflogsumm installed")
    path = _log(name)
    data = json.loads(fixture.read_text())
    if hashlib.sha256(path.read_bytes()).hexdigest() != data["sha256"]:
        pytest.skip(f"{LOGS[name][0]} changed since the fixture was made: regenerate it")
    # the exact numbers are what pflogsumm prints, up to its k/m display units
    assert {k: printed(v) for k, v in data["totals"].items()} == data["printed"]
    compare(data["totals"], ours(path), LOGS[name][1])


@pytest.mark.skipif(PFLOGSUMM is None, reason="pflogsumm not installed (apt-get install pflogsumm)")
@pytest.mark.parametrize("name", sorted(LOGS))
def test_totals_equal_live_pflogsumm(name, tmp_path):
    path = _log(name)
    report = run_pflogsumm(path, exact=True, workdir=tmp_path)
    compare(parse_grand_totals(report), ours(path), LOGS[name][1])
    plain = parse_grand_totals(run_pflogsumm(path, exact=False, workdir=tmp_path), exact=False)
    assert {k: printed(v) for k, v in parse_grand_totals(report).items()} == {k: str(v) for k, v in plain.items()}


@pytest.mark.skipif(PFLOGSUMM is None, reason="pflogsumm not installed (apt-get install pflogsumm)")
def test_totals_equal_live_pflogsumm_on_bench_log(tmp_path):
    gen = ROOT / "tools" / "bench" / "generate.py"
    if not gen.exists():
        pytest.skip("tools/bench/generate.py not present")
    path = tmp_path / "bench.log"
    subprocess.run([sys.executable, str(gen), "60000", str(path)], check=True, capture_output=True)
    expected = parse_grand_totals(run_pflogsumm(path, exact=True, workdir=tmp_path))
    got = ours(path)
    # The generator writes some delays as "8.5e-05"; Postfix formats delays without exponents, so
    # the grammar does not take those lines. pflogsumm's delay regex ([^,]+) counts them.
    bad = [ln for ln in path.read_text().splitlines() if re.search(r"delays=[^,]*e-\d", ln)]
    status = {s: sum(f"status={s} " in ln for ln in bad) for s in ("sent", "deferred", "bounced")}
    assert got["delivered"] == expected["delivered"] - status["sent"]
    assert got["deferrals"] == expected["deferrals"] - status["deferred"]
    assert got["bounced"] == expected["bounced"] - status["bounced"]
    unaffected = ("received", "forwarded", "rejected", "reject_warnings", "held", "discarded",
                  "bytes_received", "senders", "sending_domains")
    assert {k: got[k] for k in unaffected} == {k: expected[k] for k in unaffected}


# -- differences by design: one small log per case ------------------------------------------------

BASE = "Mar  1 10:00:0{s} mx {tag}[{pid}]: {body}\n"


def _write(tmp_path, lines) -> Path:
    path = tmp_path / "mail.log"
    path.write_text("".join(BASE.format(s=i % 10, tag=tag, pid=100 + i, body=body)
                            for i, (tag, body) in enumerate(lines)))
    return path


def _message(tag_smtpd: str, qid: str, deliver_tag: str = "postfix/local", qmgr_tag: str = "postfix/qmgr"):
    return [
        (tag_smtpd, f"{qid}: client=c.example[192.0.2.1]"),
        (qmgr_tag, f"{qid}: from=<a@c.example>, size=100, nrcpt=1 (queue active)"),
        (deliver_tag, f"{qid}: to=<b@here.example>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, "
                      "status=sent (delivered to mailbox)"),
    ]


def _pflogsumm_totals(path, tmp_path):
    if PFLOGSUMM is None:
        return None
    return parse_grand_totals(run_pflogsumm(path, exact=True, workdir=tmp_path))


def test_difference_submissions_service_counts_as_received(tmp_path):
    """Case "submissions": pflogsumm's tag pattern allows only postfix/smtps/ and
    postfix/submission/ before smtpd, so mail arriving on port 465 under the master.cf name
    "submissions" (Postfix ≥ 3.5 default) is never received, sized or attributed to a sender."""
    path = _write(tmp_path, _message("postfix/submission/smtpd", "AAAA1")
                  + _message("postfix/submissions/smtpd", "BBBB2"))
    got = ours(path)
    assert got["received"] == 2 and got["bytes_received"] == 200 and got["delivered"] == 2
    pf = _pflogsumm_totals(path, tmp_path)
    if pf is not None:
        assert pf["received"] == 1 and pf["bytes_received"] == 100 and pf["delivered"] == 2


def test_difference_multi_instance_is_counted(tmp_path):
    """Case "multi-instance": pflogsumm reads only the syslog name "postfix" (or one name given
    with --syslog-name), so a second instance such as postfix-out/ is left out entirely."""
    path = _write(tmp_path, _message("postfix/smtpd", "AAAA1")
                  + _message("postfix-out/smtpd", "BBBB2", "postfix-out/smtp", "postfix-out/qmgr"))
    got = ours(path)
    assert got["received"] == 2 and got["delivered"] == 2
    r = S.summary([str(path)], top=0, detail=0)
    assert {i["instance"]: i["received"] for i in r["instances"]} == {"postfix": 1, "postfix-out": 1}
    pf = _pflogsumm_totals(path, tmp_path)
    if pf is not None:
        assert pf["received"] == 1 and pf["delivered"] == 1


def test_difference_queue_id_reuse(tmp_path):
    """Case "qid-reuse": pflogsumm keeps the first size seen for a queue id for the whole log, so
    a queue id used again for another message adds no bytes or sender and reports the old size
    for the new message's deliveries. The summary pairs each qmgr line with the latest receipt."""
    first = _message("postfix/smtpd", "AAAA1")
    second = [(t, b.replace("size=100", "size=300").replace("a@c.example", "z@d.example"))
              for t, b in _message("postfix/smtpd", "AAAA1")]
    path = _write(tmp_path, first + second)
    got = ours(path)
    assert got["received"] == 2 and got["bytes_received"] == 400 and got["bytes_delivered"] == 400
    assert got["senders"] == 2
    pf = _pflogsumm_totals(path, tmp_path)
    if pf is not None:
        assert pf["received"] == 2 and pf["bytes_received"] == 100 and pf["bytes_delivered"] == 200
        assert pf["senders"] == 1


def test_difference_deferred_message_back_in_active_queue(tmp_path):
    """Not a difference: qmgr logs from=/size again each time a deferred message returns to the
    active queue; neither pflogsumm nor the summary counts its bytes twice."""
    lines = _message("postfix/smtpd", "AAAA1")
    lines.insert(2, ("postfix/qmgr", "AAAA1: from=<a@c.example>, size=100, nrcpt=1 (queue active)"))
    path = _write(tmp_path, lines)
    got = ours(path)
    assert got["bytes_received"] == 100 and got["bytes_delivered"] == 100
    pf = _pflogsumm_totals(path, tmp_path)
    if pf is not None:
        assert (pf["bytes_received"], pf["bytes_delivered"]) == (100, 100)


def test_difference_bare_to_address(tmp_path):
    """Case "bare-to": a status line whose to= lost its angle brackets (seen in CSV exports) is
    still a delivery for the summary; pflogsumm's regex requires to=<...>."""
    lines = _message("postfix/smtpd", "AAAA1")
    lines[2] = (lines[2][0], lines[2][1].replace("to=<b@here.example>", "to=b@here.example"))
    path = _write(tmp_path, lines)
    assert ours(path)["delivered"] == 1
    pf = _pflogsumm_totals(path, tmp_path)
    if pf is not None:
        assert pf["delivered"] == 0


def test_difference_smtpd_milter_reject_counts_as_rejected(tmp_path):
    """Case "milter-reject": pflogsumm counts milter-reject only in cleanup's header/body/
    END-OF-MESSAGE lines; a milter rejecting at RCPT (logged by smtpd) is a reject too."""
    path = _write(tmp_path, [("postfix/smtpd", "NOQUEUE: milter-reject: RCPT from c.example[192.0.2.1]: "
                                               "550 5.7.1 Blocked by milter; from=<a@c.example> "
                                               "to=<b@here.example> proto=ESMTP helo=<c>")])
    assert ours(path)["rejected"] == 1
    pf = _pflogsumm_totals(path, tmp_path)
    if pf is not None:
        assert pf["rejected"] == 0


# -- fixture generation ----------------------------------------------------------------------------


def make_fixtures() -> None:  # pragma: no cover - run by hand
    import tempfile

    if PFLOGSUMM is None:
        sys.exit("pflogsumm is not installed")
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "pflogsumm"], capture_output=True,
                             text=True).stdout or "?"
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (rel, differences) in sorted(LOGS.items()):
            path = (ROOT / rel).resolve()
            if not path.exists():
                print(f"skip {name}: {rel} absent")
                continue
            exact = run_pflogsumm(path, exact=True, workdir=Path(tmp))
            plain = run_pflogsumm(path, exact=False, workdir=Path(tmp))
            data = {
                "log": rel,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "pflogsumm": f"pflogsumm 1.1.5 (Debian package {version})",
                "command": f"pflogsumm --detail 0 {rel}",
                "exact_command": f"{EXACT_SED} > pflogsumm-exact && perl pflogsumm-exact --detail 0 {rel}",
                "printed": parse_grand_totals(plain, exact=False),
                "totals": parse_grand_totals(exact),
                "differences": differences,
            }
            (FIXTURES / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
            if not rel.startswith(".."):  # the project's own logs: keep pflogsumm's whole report too
                (FIXTURES / f"{name}.txt").write_text(plain)
            print(f"wrote {name}")


if __name__ == "__main__":
    make_fixtures()
