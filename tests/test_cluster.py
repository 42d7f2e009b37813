"""`--scheduler`: the inputs read as tasks on a real Dask cluster (a LocalCluster with two worker
processes) give the output of a local run: a fleet of two hosts' logs (one compressed, one given
as a file:// URL), analyze, summary and check through the command; the findings keep their host."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed: pip install 'postfix-diag[cluster]' (make install does)")
pytest.importorskip("fsspec", reason="fsspec is not installed: pip install 'postfix-diag[cluster]'")

from typer.testing import CliRunner  # noqa: E402

from postfix_diag.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
YEAR = "2025"


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _as_host(src: Path, host: str, dest: Path, compress: bool = False) -> Path:
    """A copy of a sample log with its syslog host renamed (classic stamps: 'Mmm dd hh:mm:ss host')."""
    lines = src.read_text().splitlines(keepends=True)
    text = "".join(line[:16] + host + " " + line[16:].split(" ", 1)[1] for line in lines)
    data = text.encode()
    dest.write_bytes(gzip.compress(data) if compress else data)
    return dest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet")
    mx1 = _as_host(ROOT / "sample_logs/relay-down/maillog", "mx1", d / "mx1.log")
    mx2 = _as_host(ROOT / "sample_logs/sasl-bruteforce/maillog", "mx2", d / "mx2.log.gz", compress=True)
    mx3 = _as_host(ROOT / "sample_logs/bounce-storm/maillog", "mx3", d / "mx3.log")
    return [str(mx1), str(mx2), str(mx3)]


def run(args: list[str]) -> tuple[int, str]:
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    return r.exit_code, r.stdout


def test_a_fleet_on_a_local_cluster_equals_a_local_run(scheduler, fleet):
    url = "file://" + fleet[2]  # read by fsspec on the worker
    remote_inputs = [fleet[0], fleet[1], url]
    for command in (["analyze", "--format", "json"], ["summary", "--format", "json"], ["check", "--format", "sarif"]):
        local = run([*command, "--year", YEAR, "--jobs", "1", *fleet])
        remote = run([*command, "--year", YEAR, "--scheduler", scheduler, *remote_inputs])
        assert remote[0] == local[0] and local[0] in (0, 1), command
        # (the URL names the source where the path did; SARIF's artifact URI of the path is the URL
        # itself, that of the URL the name percent-encoded)
        named = remote[1].replace("file%3A//" + fleet[2], url).replace(url, fleet[2])
        assert named == local[1].replace(url, fleet[2]), command
        assert url in remote[1], command
    findings = json.loads(run(["analyze", "--format", "json", "--year", YEAR, "--scheduler", scheduler,
                               *remote_inputs])[1])["findings"]
    hosts = {f["host"] for f in findings}
    assert {"mx1", "mx2", "mx3"} <= hosts, hosts
    by_id = {(f["id"], f["host"]) for f in findings}
    assert any(h == "mx2" and i.startswith("SEC") for i, h in by_id), by_id  # SASL brute force on mx2 only
    assert not any(h == "mx1" and i.startswith("SEC") for i, h in by_id), by_id


def test_a_url_the_workers_cannot_read_is_one_line(scheduler, tmp_path):
    url = "file://" + str(tmp_path / "missing.log")
    r = CliRunner().invoke(app, ["analyze", "--scheduler", scheduler, url])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"postfix-diag: error: {url}: cannot read on the cluster: "), lines


def test_without_dask_the_option_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    r = CliRunner().invoke(app, ["summary", "--scheduler", "tcp://127.0.0.1:1", os.devnull])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "postfix-diag: error: --scheduler needs Dask: pip install 'postfix-diag[cluster]' (dask[distributed] and fsspec)"]
