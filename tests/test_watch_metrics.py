"""`watch --metrics-port P`: the metrics of `--format prometheus` served over HTTP while the watch
follows a log (prometheus-client), read back with prometheus-client's own text parser from the
real command in a subprocess."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "multi-incident" / "maillog"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> dict:
    """{(metric sample name, frozenset of labels): value} of one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_port_serves_the_findings_of_the_lines_appended(tmp_path):
    exe = shutil.which("postfix-diag", path=str(Path(sys.executable).parent))
    assert exe, "postfix-diag is not installed next to this Python"
    log = tmp_path / "mail.log"
    log.write_text("")
    port = _free_port()
    proc = subprocess.Popen([exe, "watch", str(log), "--metrics-port", str(port), "--format", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:  # the port is open once the watch runs
            try:
                _scrape(port)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the metrics port never opened"
                time.sleep(0.2)
        with open(log, "a") as fh:
            fh.write(SAMPLE.read_text())
        lines = len(SAMPLE.read_text().splitlines())
        while True:  # until the watch has read every line and evaluated them
            samples = _scrape(port)
            findings = {dict(labels)["rule"] for (name, labels), v in samples.items()
                        if name == "postfix_diag_findings" and v > 0}
            read = sum(v for (name, _), v in samples.items() if name == "postfix_diag_log_lines_total")
            if "DLV002" in findings and read >= lines:
                break
            assert time.monotonic() < deadline, (findings, read)
            time.sleep(0.3)
        assert {"DLV002", "MLT001"} <= findings  # the multi-incident capture's next hop down, milter failure
        delivered = sum(v for (name, labels), v in samples.items()
                        if name == "postfix_diag_messages_total" and dict(labels).get("status") == "delivered")
        assert delivered > 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert '"event": "open"' in out and "DLV002" in out
