"""The man page postfix-diag(1) (postfix_diag/data/postfix-diag.1) is generated from the help texts
by tools/manpage.py: it is current, it is valid roff, it names every command and option, and its
examples are command lines the CLI accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from postfix_diag.cli import app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import manpage  # noqa: E402

PAGE = ROOT / "postfix_diag" / "data" / "postfix-diag.1"


def test_man_page_is_current():
    assert PAGE.is_file(), "postfix_diag/data/postfix-diag.1 is missing: run `make docs`"
    assert PAGE.read_text(encoding="ascii") == manpage.render(), "the man page is stale: run `make docs`"


@pytest.fixture(scope="module")
def rendered() -> str:
    if not shutil.which("groff"):
        pytest.skip("groff is not installed (apt-get install groff-base; .ci/run does)")
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", "-rLL=100n", str(PAGE)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr  # -ww: every warning; there must be none
    return r.stdout


def test_man_page_renders_and_names_every_command_and_option(rendered):
    text = " ".join(rendered.split())
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                    "FILES", "EXAMPLES", "SEE ALSO"):
        assert f"\n{section}\n" in rendered, section
    root = typer.main.get_command(app)
    ctx = root.make_context("postfix-diag", [], resilient_parsing=True)
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        assert f"postfix-diag {name} " in text
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and opt not in ("-h", "--help"):
                    assert opt in text, (name, opt)
        assert " ".join(manpage._paragraphs(cmd.help)[0].replace("`", "").split()) in text
    for code in ("0", "1", "2", "3"):
        assert f"\n       {code}      " in rendered  # one item per exit status
    assert "\u2212" not in rendered and "\u2010" not in rendered  # options paste as typed (ASCII hyphens)


def test_man_page_renders_with_man(tmp_path):
    if not shutil.which("man"):
        pytest.skip("man is not installed (apt-get install man-db)")
    r = subprocess.run(["man", "-l", str(PAGE)], capture_output=True, text=True,
                       env={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "90", "PATH": "/usr/bin:/bin",
                            "LANG": "C.UTF-8"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "POSTFIX-DIAG(1)" in r.stdout and "postfix-diag explain DLV001" in r.stdout


def _accepts(command_line: str) -> None:
    """Parse a postfix-diag command line with the real CLI (nothing is run: the root's eager
    options such as --install-completion are parsed without their callbacks); raise click's
    UsageError when the CLI would refuse it."""
    args = shlex.split(command_line)
    assert args[0] == "postfix-diag"
    root = typer.main.get_command(app)
    ctx = root.make_context("postfix-diag", args[1:], resilient_parsing=True)
    rest = [*(getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", None) or []), *ctx.args]
    if rest:
        cmd = root.get_command(ctx, rest[0])
        if cmd is None:
            ctx.fail(f"no such command {rest[0]!r}")
        cmd.make_context(rest[0], rest[1:], parent=ctx)


@pytest.mark.parametrize("what, command", manpage.EXAMPLES)
def test_examples_are_accepted_by_the_cli(what, command):
    segment = next(s.strip() for s in command.split("|") if s.strip().startswith("postfix-diag"))
    _accepts(segment)


@pytest.mark.parametrize("bad", ["postfix-diag analyze --no-such-option", "postfix-diag nosuchcommand",
                                 "postfix-diag analyze --format pdf", "postfix-diag explain"])
def test_a_wrong_example_would_be_caught(bad):
    with pytest.raises(Exception) as e:  # click's UsageError (typer may vendor click)
        _accepts(bad)
    assert "UsageError" in [c.__name__ for c in type(e.value).__mro__] or "Usage" in type(e.value).__name__
