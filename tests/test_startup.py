"""Fast start, by structure (the times themselves are `make bench`'s, never a unit test's): a run
loads only what its command needs, and the one-command application `main()` builds for a run says
exactly what the full one says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from postfix_diag.cli import app, app_for

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "relay-down" / "maillog"
COMMANDS = [c.name or typer.main.get_command_name(c.callback.__name__) for c in app.registered_commands]
runner = CliRunner()

# What the command line loads, printed when it exits (main() exits through SystemExit).
PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["postfix-diag", *json.loads(sys.argv[1])]
from postfix_diag.cli import main
main()
"""
HEAVY = ("pandas", "numpy", "pyparsing", "rich", "pydantic")


def loaded(*args: str, cache_home: Path) -> set[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(cache_home))
    env.pop("POSTFIX_DIAG_NO_CACHE", None)
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, env=env,
                       cwd=cache_home)
    assert r.returncode in (0, 1) and "MODULES " in r.stderr, r.stderr  # check: 1 = findings
    return set(json.loads(r.stderr.rsplit("MODULES ", 1)[1]))


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """A cache home whose grammar cache a first run has written."""
    home = tmp_path_factory.mktemp("xdg")
    loaded("analyze", "--year", "2024", str(SAMPLE), cache_home=home)
    assert list((home / "postfix-diag").glob("grammar-*.json"))
    return home


@pytest.mark.parametrize("args, not_loaded", [
    (("analyze", "--year", "2024", str(SAMPLE)), HEAVY),
    (("analyze", "--format", "json", "--year", "2024", str(SAMPLE)), HEAVY + ("tabulate",)),
    (("check", "--year", "2024", str(SAMPLE)), HEAVY),
    (("explain", "DLV001"), HEAVY + ("tabulate", "importlib.metadata", "postfix_diag.parse")),
    (("rules",), HEAVY + ("importlib.metadata", "postfix_diag.parse")),
    (("--version",), HEAVY + ("tabulate", "postfix_diag.rules")),
])
def test_a_command_loads_only_what_it_needs(args, not_loaded, warm_cache):
    modules = loaded(*args, cache_home=warm_cache)
    assert not [m for m in not_loaded if m in modules]


def test_summary_does_load_pandas(warm_cache):
    """The probe sees imports at all: summary aggregates with pandas."""
    assert "pandas" in loaded("summary", "--year", "2024", str(SAMPLE), cache_home=warm_cache)


def test_a_grammar_cache_miss_reads_the_files(tmp_path):
    assert "pyparsing" in loaded("analyze", "--year", "2024", str(SAMPLE), cache_home=tmp_path)


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("rest", [["--help"], ["--no-such-option"], ["-h"]])
def test_one_command_app_says_what_the_full_app_says(name, rest):
    one = app_for([name, *rest])
    assert one is not app and [c.callback for c in one.registered_commands] == \
        [c.callback for c in app.registered_commands if (c.name or typer.main.get_command_name(c.callback.__name__)) == name]
    full = runner.invoke(app, [name, *rest])
    fast = runner.invoke(one, [name, *rest])
    assert (fast.exit_code, fast.output) == (full.exit_code, full.output)


@pytest.mark.parametrize("args", [[], ["--version"], ["--help"], ["nosuchcommand"], ["--install-completion"]])
def test_anything_but_a_command_gets_the_full_app(args):
    assert app_for(args) is app


def test_shell_completion_gets_the_full_app(monkeypatch):
    monkeypatch.setenv("_POSTFIX_DIAG_COMPLETE", "complete_bash")
    assert app_for(["explain"]) is app
