"""Just enough of the POSIX shell to know what a pasted command passes to postconf.

`split_commands()` turns a command line into simple commands of words, with quoting as
sh(1) applies it: ``'...'`` is literal; inside ``"..."`` and unquoted, ``$name``, ``${...}``,
``$(...)`` and backticks are expansions the shell performs before postconf sees the text (so
``postconf -e "mydestination = $myhostname, x"`` loses ``$myhostname``). An expansion is kept as
an `Expansion` part; ``$(postconf -h NAME)`` is recognized as "the current value of NAME".
`quote()` makes a word that the shell passes through unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEPARATORS = ";&|\n"
_CURRENT = re.compile(r"\$\(\s*(?:\S*/)?postconf\s+(?:-c\s+\S+\s+)?-h\s+([A-Za-z0-9_]+)\s*\)\Z|"
                      r"`\s*(?:\S*/)?postconf\s+(?:-c\s+\S+\s+)?-h\s+([A-Za-z0-9_]+)\s*`\Z")


class ShellSyntaxError(ValueError):
    """Unbalanced quotes or parentheses: the shell would wait for more input."""


@dataclass(frozen=True)
class Expansion:
    """A shell expansion inside a word: ``$HOME``, ``${x}``, ``$(cmd)``, ```cmd```."""

    source: str

    @property
    def current_of(self) -> str | None:
        """NAME for ``$(postconf -h NAME)``: the shell inserts that parameter's current value."""
        m = _CURRENT.match(self.source)
        return (m.group(1) or m.group(2)) if m else None


@dataclass
class Word:
    parts: list  # str (literal) or Expansion

    @property
    def literal(self) -> str | None:
        """The text when the word has no expansion, else None."""
        if any(isinstance(p, Expansion) for p in self.parts):
            return None
        return "".join(self.parts)

    def text(self, resolve=lambda e: "") -> str:
        """The word after expansion; ``resolve(Expansion)`` gives each expansion's text (default:
        empty, as an unset shell variable)."""
        return "".join(p if isinstance(p, str) else resolve(p) for p in self.parts)

    @property
    def expansions(self) -> list[Expansion]:
        return [p for p in self.parts if isinstance(p, Expansion)]


def quote(text: str) -> str:
    """A shell word for ``text`` that no shell expansion touches: always in single quotes (so a
    printed command reads the same whatever the value), a ``'`` inside written as ``'"'"'``."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _expansion_end(s: str, i: int) -> int:
    """At s[i] == '$': the index after the expansion, or i + 1 for a lone literal '$'."""
    n = len(s)
    if i + 1 >= n:
        return i + 1
    c = s[i + 1]
    if c in "({":
        close = ")" if c == "(" else "}"
        level, j = 1, i + 2
        while j < n:
            if s[j] == c:
                level += 1
            elif s[j] == close:
                level -= 1
                if level == 0:
                    return j + 1
            elif s[j] == "\\":
                j += 1
            j += 1
        raise ShellSyntaxError(f"unbalanced {c} in {s[i:i + 30]!r}")
    if c.isalpha() or c == "_":
        j = i + 1
        while j < n and (s[j].isalnum() or s[j] == "_"):
            j += 1
        return j
    if c.isdigit() or c in "?$#@*-!'":
        return i + 2
    return i + 1  # "$" before a space, quote or end stays literal


def split_commands(line: str) -> list[list[Word]]:
    """Simple commands of a command line (separated by ; & | && || and newlines)."""
    commands: list[list[Word]] = []
    words: list[Word] = []
    parts: list = []
    buf: list[str] = []
    in_word = False
    i, n = 0, len(line)

    def flush_buf():
        if buf:
            parts.append("".join(buf))
            buf.clear()

    def end_word():
        nonlocal in_word, parts
        flush_buf()
        if in_word:
            words.append(Word(parts))
        parts, in_word = [], False

    def end_command():
        nonlocal words
        end_word()
        if words:
            commands.append(words)
        words = []

    while i < n:
        c = line[i]
        if c in " \t":
            end_word()
            i += 1
        elif c in SEPARATORS:
            end_command()
            i += 1
        elif c == "#" and not in_word:
            j = line.find("\n", i)
            i = n if j < 0 else j
        elif c == "\\":
            in_word = True
            if i + 1 < n and line[i + 1] == "\n":
                i += 2
                continue
            if i + 1 < n:
                buf.append(line[i + 1])
            i += 2
        elif c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unbalanced single quote")
            in_word = True
            buf.append(line[i + 1:j])
            i = j + 1
        elif c == '"':
            in_word = True
            i = _double_quoted(line, i + 1, buf, parts, flush_buf)
        elif c == "$" or c == "`":
            in_word = True
            i = _expansion(line, i, buf, parts, flush_buf)
        else:
            in_word = True
            buf.append(c)
            i += 1
    end_command()
    return commands


def _backtick_end(s: str, i: int) -> int:
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == "`":
            return j + 1
        j += 1
    raise ShellSyntaxError("unbalanced backquote")


def _expansion(s: str, i: int, buf: list, parts: list, flush_buf) -> int:
    """At a ``$`` or backquote: add the expansion (or a literal ``$``) to the word; the index after it."""
    j = _expansion_end(s, i) if s[i] == "$" else _backtick_end(s, i)
    if j == i + 1 and s[i] == "$":
        buf.append("$")
    else:
        flush_buf()
        parts.append(Expansion(s[i:j]))
    return j


def _double_quoted(s: str, i: int, buf: list, parts: list, flush_buf) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return i + 1
        if c == "\\" and i + 1 < n and s[i + 1] in '$`"\\\n':
            if s[i + 1] != "\n":
                buf.append(s[i + 1])
            i += 2
        elif c == "$" or c == "`":
            i = _expansion(s, i, buf, parts, flush_buf)
        else:
            buf.append(c)
            i += 1
    raise ShellSyntaxError("unbalanced double quote")
