#!/usr/bin/env python3
"""Generate the man page postfix-diag(1) from the command tree: the same help texts `--help` prints.

    python tools/manpage.py > postfix_diag/data/postfix-diag.1     (make docs does this)
    man -l postfix_diag/data/postfix-diag.1

NAME, DESCRIPTION and EXIT STATUS come from the application's help, SYNOPSIS and COMMANDS from each
command's usage, help and parameters (click's own help records, so defaults and choices read as
in `--help`); FILES and ENVIRONMENT from the constants the code uses. Only EXAMPLES and SEE ALSO
are written here, and tests/test_manpage.py checks that every example parses with the real
command line. The page is installed with the package (postfix_diag/data/), so that

    man -l "$(python3 -c 'import importlib.resources as r; print(r.files("postfix_diag") / "data/postfix-diag.1")')"

works after `pip install`; a test fails when it is stale.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = ROOT / "postfix_diag" / "data" / "postfix-diag.1"
PROG = "postfix-diag"

# (what it shows, the command line): each must parse with the real command line (a test checks)
EXAMPLES = [
    ("Diagnose the system mail log (/var/log/maillog, then /var/log/mail.log):", "postfix-diag analyze"),
    ("A rotated set, oldest first, as Markdown:", "postfix-diag analyze --format markdown /var/log/mail.log*"),
    ("Debian 12's journal (the daemons log under the postfix@- unit):",
     "journalctl -u postfix@- -o short-iso | postfix-diag analyze -"),
    ("What a finding means and how to fix it:", "postfix-diag explain DLV001"),
    ("pflogsumm's report from the same events:", "postfix-diag summary /var/log/mail.log"),
    ("Queue shape by domain and age, from a snapshot:", "postqueue -j | postfix-diag qshape --from-json -"),
    ("A CI gate: exit 1 on a new warning or worse, as GitHub annotations:",
     "postfix-diag check --baseline baseline.json --format github mail.log"),
    ("Rejected clients, from the events as JSON lines:",
     "postfix-diag parse --kind reject /var/log/mail.log | jq -r .client_ip | sort | uniq -c"),
    ("Shell completion for the current shell:", "postfix-diag --install-completion"),
]
SEE_ALSO = ["postconf(5)", "postqueue(1)", "qshape(1)", "pflogsumm(1)", "journalctl(1)"]


# --- roff ------------------------------------------------------------------------------------------
def _escape(text: str) -> str:
    """Text for a roff line: backslashes and hyphens escaped (\\- is a minus sign, what options
    are made of, so that they paste), and no line may start with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)  # roff input is ASCII
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def _inline(text: str) -> str:
    """Help text to roff: `code` in bold, the rest escaped."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(_escape(p) if i % 2 == 0 else f"\\fB{_escape(p)}\\fR" for i, p in enumerate(parts))


def _paragraphs(help_text: str) -> list[str]:
    """Paragraphs of a help text, each on one line (roff fills them)."""
    text = inspect.cleandoc(help_text or "")
    return [" ".join(line.strip() for line in p.splitlines()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _usage(cmd, ctx) -> str:
    return cmd.get_usage(ctx).removeprefix("Usage:").strip()


def _params(cmd, ctx, skip_help: bool) -> list[str]:
    out = []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or (skip_help and param.name == "help"):
            continue
        opts, text = record
        out += [".TP", f"\\fB{_escape(opts)}\\fR", _inline(text)]
    return out


def _exit_status(paragraph: str) -> list[str]:
    """'EXIT STATUS: 0 success; 1 ...; 2 ...' as one item per code."""
    body = paragraph.split(":", 1)[1].strip().rstrip(".")
    items = [re.match(r"(\d+(?:/\d+)*) (.+)", part.strip()) for part in body.split(";")]  # (130/143 ...)
    if not all(items):
        return [_inline(paragraph)]
    return [line for m in items for line in (".TP", f"\\fB{m.group(1)}\\fR", _inline(m.group(2)) + ".")]


def render() -> str:
    import typer.main

    from postfix_diag import __version__
    from postfix_diag.cli import app
    from postfix_diag.inputs import DEFAULT_LOGS

    root = typer.main.get_command(app)
    ctx = root.make_context(PROG, [], resilient_parsing=True)
    paragraphs = _paragraphs(root.help)
    name_line, description = paragraphs[0], paragraphs[1:]
    exit_status = [p for p in description if p.startswith("EXIT STATUS:")]
    description = [p for p in description if not p.startswith("EXIT STATUS:")]
    commands = [(n, root.get_command(ctx, n)) for n in root.list_commands(ctx)]
    commands = [(n, c) for n, c in commands if not c.hidden]

    out = [
        f'.\\" Generated by tools/manpage.py from the help texts of {PROG} {__version__}; do not edit.',
        f'.TH {PROG.upper()} 1 "" "{PROG} {__version__}" "User Commands"',
        ".nh",  # no hyphenation: paths and options stay whole, so that they can be copied
        ".ad l",
        ".SH NAME",
        f"{PROG} \\- {_inline(name_line[0].lower() + name_line[1:].rstrip('.'))}",
        ".SH SYNOPSIS",
        f".B {PROG}",
        _escape(_usage(root, ctx).removeprefix(PROG).strip()),
    ]
    for name, cmd in commands:
        sub = cmd.make_context(name, [], parent=ctx, resilient_parsing=True)
        out += [".br", f".B {PROG} {name}", _escape(_usage(cmd, sub).removeprefix(f"{PROG} {name}").strip())]
    out += [".SH DESCRIPTION"]
    for p in description:
        out += [".PP", _inline(p)]
    out += [".SH OPTIONS", *_params(root, ctx, skip_help=False)]
    out += [".SH COMMANDS"]
    for name, cmd in commands:
        sub = cmd.make_context(name, [], parent=ctx, resilient_parsing=True)
        out += [f'.SS "{_escape(_usage(cmd, sub))}"']
        for i, p in enumerate(_paragraphs(cmd.help)):
            out += ([] if i == 0 else [".PP"]) + [_inline(p)]
        out += _params(cmd, sub, skip_help=True)
    out += [".SH EXIT STATUS"]
    for p in exit_status:
        out += _exit_status(p)
    out += [".SH ENVIRONMENT",
            ".TP", "\\fBPOSTFIX_DIAG_DEBUG\\fR",
            "Set to 1 for a traceback instead of the one\\-line message of an internal error (exit status 3).",
            ".TP", "\\fBXDG_CACHE_HOME\\fR",
            "Where the compiled grammar is cached (see \\fBFILES\\fR).",
            ".TP", "\\fBPOSTFIX_DIAG_NO_CACHE\\fR",
            "Set to 1 to read and compile the grammar files on every run instead of caching them."]
    out += [".SH FILES"]
    for log in DEFAULT_LOGS:
        out += [".TP", f"\\fI{_escape(log)}\\fR", "Read when no path is given, the first that exists."]
    out += [".TP", "\\fI$XDG_CACHE_HOME/postfix\\-diag/\\fR, \\fI~/.cache/postfix\\-diag/\\fR",
            "The compiled grammar, one file per version of the grammar (a few hundred KiB), so that a run "
            "need not read and compile the grammar files. Files there are used only when they belong to "
            "the user and nobody else may write them; anything else is ignored and rebuilt. Safe to delete."]
    out += [".SH EXAMPLES"]
    for what, command in EXAMPLES:
        out += [".PP", _inline(what), ".RS", ".EX", _escape(command), ".EE", ".RE"]
    out += [".SH SEE ALSO", ", ".join(f"\\fB{_escape(s.split('(')[0])}\\fR({s.split('(')[1]}" for s in SEE_ALSO)]
    return "\n".join(out) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
