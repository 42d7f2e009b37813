"""Escaping shared by every writer. Log content is attacker-controlled: a client chooses its HELO
name, addresses, and much of what ends up in a reject reason."""

from __future__ import annotations

import re

# C0 controls except nothing (tab and newline too: a finding's text is one line), DEL, C1 controls,
# and the Unicode bidi/format controls that can reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _visible(match: re.Match) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def terminal(text) -> str:
    """Make text safe for a terminal: control characters (ESC, CR, BEL...) become visible \\xNN."""
    if text is None:
        return ""
    return _CONTROL.sub(_visible, str(text))


def markdown(text) -> str:
    """Make text safe inside Markdown (tables included) and inline HTML: controls made visible,
    HTML metacharacters as entities, Markdown metacharacters backslash-escaped."""
    s = terminal(text)
    s = "".join(_HTML.get(c, c) for c in s)
    return _MD_SPECIAL.sub(r"\\\1", s)


def markdown_code(text) -> str:
    """Text for a fenced code block: controls visible, and no line can close the fence."""
    return terminal(text).replace("```", "`\u200b``")
