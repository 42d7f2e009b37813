"""The one escaping policy of every output. Log content is attacker-controlled: a client chooses
its HELO name, addresses, and much of what ends up in a reject reason; any local user can write
to syslog (`logger -t`); a file name is whatever its creator made it.

- ``terminal(text)``: what every other function starts from. Characters that move the cursor,
  reorder text, or are invisible are shown as visible escapes (``\\x1b``, ``\\u202e``,
  ``\\U000e0041``): C0 controls (tab and newline too: a field is one line), DEL, C1 controls,
  bidi controls (U+061C, U+200E/F, U+202A-E, U+2066-9), zero-width and other invisible format
  characters (U+00AD, U+034F, U+115F/U+1160, U+17B4/5, U+180B-F, U+200B-D, U+2060-64,
  U+206A-F, U+3164, U+FE00-F, U+FEFF, U+FFA0, U+FFF0-B), U+2028/U+2029, tag characters
  (U+E0000-E0FFF, which also hold the variation selectors U+E0100-E01EF), lone surrogates and
  the noncharacters (U+FDD0-FDEF, U+xFFFE/U+xFFFF). Text, summary, qshape tables, check text,
  error messages and progress lines use it as is.
- ``markdown(text)``: terminal, then HTML metacharacters as entities, Markdown metacharacters
  backslash-escaped, and every word that GitHub (or any GFM renderer) would turn into a link or a
  mention (``https://...``, ``www.``, ``user@host``, ``@name``, ``#123``) put in a code span,
  where nothing is linked.
- ``markdown_code(text)``: a line inside a fenced code block.
- ``sarif_message(lines)``/``sarif_text(text)``: a SARIF plain-text message: terminal, ``{``/``}`` doubled (placeholder
  syntax), and when the text holds ``](`` (embedded-link syntax) its ``\\``, ``[``, ``]``
  backslash-escaped, so no log text becomes a link in a SARIF viewer.
- JSON writers use ``json.dumps(..., ensure_ascii=True)``: every control and invisible character
  is a ``\\uNNNN`` escape. JUnit (report/junit.py), GitHub annotations (report/github.py) and CSV
  (report/events.py) start from ``terminal`` and add their own format's escaping.
"""

from __future__ import annotations

import re

_NONCHARACTERS = "\ufdd0-\ufdef\ufffe\uffff" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17))
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\ud800-\udfff\U000e0000-\U000e0fff" + _NONCHARACTERS + "]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# Markdown words are split at white space, backticks and pipes, so that a code span never holds
# a backtick (which would end it) or a pipe (which would end a table cell).
_MD_WORDS = re.compile(r"([\s`|]+)")
_LINKISH = re.compile(r"://|www\.|@|#\d|gh-\d", re.IGNORECASE)
_SARIF_LINK = re.compile(r"([\\\[\]])")


def _visible(match: re.Match) -> str:
    code = ord(match.group(0))
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def terminal(text) -> str:
    """Make text safe for a terminal: control, bidi and invisible characters become visible
    ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN`` text."""
    if text is None:
        return ""
    return _CONTROL.sub(_visible, str(text))


def _md_word(word: str) -> str:
    if _LINKISH.search(word):
        return f"`{word}`"  # inside a code span nothing is a link, a mention or markup
    return _MD_SPECIAL.sub(r"\\\1", "".join(_HTML.get(c, c) for c in word))


def markdown(text) -> str:
    """Make text safe inside Markdown (tables included) and inline HTML: controls made visible,
    HTML metacharacters as entities, Markdown metacharacters backslash-escaped, words that would
    become links or mentions in a code span."""
    s = terminal(text)
    parts = _MD_WORDS.split(s)
    for i in range(0, len(parts), 2):  # even indexes are words, odd ones separators
        if parts[i]:
            parts[i] = _md_word(parts[i])
    for i in range(1, len(parts), 2):
        parts[i] = _MD_SPECIAL.sub(r"\\\1", parts[i])
    return "".join(parts)


def markdown_code(text) -> str:
    """Text for a fenced code block: controls visible, and no line can close the fence."""
    return terminal(text).replace("```", "`\u200b``")


def sarif_message(lines) -> str:
    """A SARIF plain-text message of these lines (SARIF 2.1.0 §3.11): each line terminal-escaped
    (so a line break inside one stays visible), no placeholder, no embedded link."""
    s = "\n".join(terminal(line) for line in lines).replace("{", "{{").replace("}", "}}")
    if "](" in s:
        s = _SARIF_LINK.sub(r"\\\1", s)
    return s


def sarif_text(text) -> str:
    """A one-line SARIF plain-text message."""
    return sarif_message([text])


_HTML_ALL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_HTML_META = re.compile(r"[&<>\"']")
_PROSE_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")
_LINE_START = re.compile(r"(?:[-+=]|#{1,6}|\d{1,9}[.)])(?= |$)")


def html(text) -> str:
    """Text for HTML element content or a quoted attribute value: terminal, then ``& < > " '``
    as character references. Nothing from the log becomes markup, an attribute or a URL."""
    return _HTML_META.sub(lambda m: _HTML_ALL[m.group(0)], terminal(text))


def markdown_prose(text, start: bool = False) -> str:
    """Text for the prose of a Markdown document that is read as plain text too (a ticket): no
    character reference (a plain-text view shows ``&quot;`` as is) and only the backslashes
    CommonMark needs. Controls made visible (terminal); ``\\ ` * _ [ ] < > & | ~`` backslash-escaped
    anywhere (emphasis, code, links, raw HTML, entities, table cells, strikethrough: ``\\<`` is a
    literal ``<``, so no raw HTML can start); with ``start`` (the text begins a line or a list
    item), a beginning that would make a list, a heading or a numbered list escaped; words GitHub
    would link or mention put in a code span, as ``markdown`` does. Quotes stay quotes."""
    s = terminal(text)
    parts = _MD_WORDS.split(s)
    for i in range(0, len(parts), 2):
        word = parts[i]
        if word:
            parts[i] = f"`{word}`" if _LINKISH.search(word) else _PROSE_SPECIAL.sub(r"\\\1", word)
    for i in range(1, len(parts), 2):
        parts[i] = _PROSE_SPECIAL.sub(r"\\\1", parts[i])
    out = "".join(parts)
    m = _LINE_START.match(out) if start else None
    if m:
        out = out[:m.end() - 1] + "\\" + out[m.end() - 1:]
    return out


def markdown_code_span(text) -> str:
    """A Markdown code span of one line of text (a command): terminal-safe, fenced with one
    backtick more than the longest run inside it, padded when it starts or ends with one."""
    s = terminal(text)
    longest = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"
