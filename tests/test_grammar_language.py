"""The grammar language: what the reader accepts, what it compiles to, and its error messages."""

from __future__ import annotations

import re

import pytest

from postfix_diag.grammar import Grammar, GrammarError, grammar_files, load, read_grammar
from postfix_diag.grammar.compiler import _strip_captures
from postfix_diag.grammar.language import Capture, Choice, Literal, Optional_, TokenRef
from postfix_diag.parse import Parser

DEMO = r'''
# A comment line, and blank lines, are ignored.
@programs demo other

token num  = /\d+/ as int
token dec  = /\d+\.\d+/ as float
token pair = a:num "/" b:num
    # a composite token: a pattern of other tokens

say:        "say \"hi\" \\ " who:/\w+/
path:       "path " p:/[a-z\/]+/
pair:       "pair " @pair
pairtext:   "ptext " whole:pair
bare:       "bare " pair
opt:        "opt" [" " n:num] ["!"]
alt:        "alt " (x:/a+/ | y:/b+/ | "c" z:num)
cont:       "cont "
            first:num
            " " second:dec
warn/warning: "careful " what:/\S+/

@programs *
shared:     "shared " rest:/.*/
'''


@pytest.fixture(scope="module")
def demo():
    return Grammar([read_grammar(DEMO, "demo.grammar")])


def match(grammar, text, program="demo", severity="info"):
    hit = grammar.body(program, severity).match(text)
    return None if hit is None else (hit[0].kind, hit[1])


def test_reader_structure():
    gf = read_grammar(DEMO, "demo.grammar")
    assert set(gf.tokens) == {"num", "dec", "pair"}
    assert gf.tokens["num"].regex == r"\d+" and gf.tokens["num"].convert == "int"
    assert gf.tokens["pair"].pattern == (Capture("a", "num"), Literal("/"), Capture("b", "num"))
    rules = {r.kind: r for r in gf.rules}
    assert rules["say"].pattern == (Literal('say "hi" \\ '), Capture("who", None, r"\w+"))
    assert rules["path"].pattern == (Literal("path "), Capture("p", None, "[a-z/]+"))
    assert rules["pair"].pattern[1] == TokenRef("pair", True)
    assert rules["bare"].pattern[1] == TokenRef("pair", False)
    assert isinstance(rules["opt"].pattern[1], Optional_)
    assert isinstance(rules["alt"].pattern[1], Choice) and len(rules["alt"].pattern[1].alternatives) == 3
    assert rules["warn"].severity == "warning" and rules["say"].severity == "info"
    assert rules["say"].programs == ("demo", "other") and rules["shared"].programs == ("*",)
    # continuation lines belong to the rule that starts on line 17; the rule keeps that line number
    assert rules["cont"].line == DEMO.splitlines().index('cont:       "cont "') + 1
    assert rules["say"].file == "demo.grammar"


def test_matching(demo):
    assert match(demo, 'say "hi" \\ bob') == ("say", {"who": "bob"})
    assert match(demo, "path /var/spool") == ("path", {"p": "/var/spool"})
    assert match(demo, "pair 1/22") == ("pair", {"a": 1, "b": 22})  # @token keeps its captures
    assert match(demo, "ptext 1/22") == ("pairtext", {"whole": "1/22"})  # name:token captures the text
    assert match(demo, "bare 1/22") == ("bare", {})  # a bare token name captures nothing
    assert match(demo, "opt") == ("opt", {})
    assert match(demo, "opt 7!") == ("opt", {"n": 7})
    assert match(demo, "alt aaa") == ("alt", {"x": "aaa"})
    assert match(demo, "alt bb") == ("alt", {"y": "bb"})
    assert match(demo, "alt c5") == ("alt", {"z": 5})
    assert match(demo, "cont 1 2.5") == ("cont", {"first": 1, "second": 2.5})
    assert match(demo, "careful x", severity="warning") == ("warn", {"what": "x"})
    assert match(demo, "careful x") is None  # severity sections are separate
    assert match(demo, "shared anything", program="unlisted") == ("shared", {"rest": "anything"})
    assert match(demo, "say hi bob") is None
    assert match(demo, "pair 1/22 trailing") is None  # rules match the whole text
    assert match(demo, "say \"hi\" \\ bob", program="other") == ("say", {"who": "bob"})


def test_literals_are_not_regexes(demo):
    g = Grammar([read_grammar('@programs d\nx: "a.b(" n:/\\d/ "*"', "t.grammar")])
    assert match(g, "a.b(1*", "d") == ("x", {"n": "1"})
    assert match(g, "axb(1*", "d") is None


def test_strip_captures_keeps_classes_and_escapes():
    assert _strip_captures(r"(a)(?:b)[(]\((c)") == r"(?:a)(?:b)[(]\((?:c)"
    assert _strip_captures(r"[^]()](x)") == r"[^]()](?:x)"


# --- error messages ------------------------------------------------------------------------------------
def _error(text, compile_all=True) -> str:
    with pytest.raises(GrammarError) as e:
        g = Grammar([read_grammar(text, "bad.grammar")])
        if compile_all:
            g.compile_all()
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "text, where, words",
    [
        ('@programs d\nx: "a"\nthis is not a rule\n', "bad.grammar:3", "cannot read grammar line"),
        ('@programs d\nx: "unterminated\n', "bad.grammar:2", "cannot read grammar line"),
        ('@programs d\nx/loud: "a"\n', "bad.grammar:2", "cannot read grammar line"),  # unknown severity
        ('@programs d\ntoken t = \n', "bad.grammar:2", "cannot read grammar line"),
        ('@programs d\n\nx: "a" nosuch\n', "bad.grammar:3", "unknown token 'nosuch'"),
        ('@programs d\ntoken t = /(a)b/\nx: v:t\n', "bad.grammar:2", "token t: use (?:...)"),
        ('@programs d\ntoken t = /[a/\nx: v:t\n', "bad.grammar:2", "bad regex"),
        ('@programs d\nx: "a" /(b)/\n', "bad.grammar:2", "inline regex must not capture"),
        ('@programs d\nx: v:/(b)/\n', "bad.grammar:2", "inline regex must not capture"),
        ('@programs d\nx: "a" /[b/\n', "bad.grammar:2", "bad regex"),
        ('x: "a"\n', "bad.grammar:1", "before any @programs"),
        ('@programs d\ntoken t = "a" t\nx: t\n', "bad.grammar:3", "nested too deep"),
    ],
)
def test_error_messages_name_file_and_line(text, where, words):
    msg = _error(text)
    assert msg.startswith(where), msg
    assert words in msg, msg


def test_token_defined_twice():
    a = read_grammar('@programs d\ntoken t = /a/\n', "a.grammar")
    b = read_grammar('\n@programs d\ntoken t = /b/\n', "b.grammar")
    with pytest.raises(GrammarError, match=r"^b\.grammar:3: token 't' is defined twice"):
        Grammar([a, b])


# --- the shipped grammar ------------------------------------------------------------------------------------
def test_shipped_grammar_compiles():
    g = load()
    g.compile_all()
    assert {"smtpd", "smtp", "cleanup", "postscreen", "dnsblog", "anvil", "master"} <= set(g.programs)
    for kind in ("connect", "disconnect", "client", "delivery", "reject", "removed", "expired", "postscreen",
                 "sasl_failure", "tls_established", "anvil_stats", "dnsbl_listed", "process_limit"):
        assert kind in g.kinds
    assert {r.kind for r in g.envelope.rules} >= {"classic", "iso", "container", "rfc5424"}


def test_shipped_rules_have_sane_fields():
    """Field names are identifiers, and a rule never captures the same name twice on one path."""
    g = load()
    for gf in g.files:
        for rule in gf.rules:
            src, fields, _ = g.compiler.compile(rule.pattern, f"{rule.file}:{rule.line}")
            for _, (name, _conv) in fields:
                assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), (rule.file, rule.line, name)


def test_grammar_directory_is_loadable(tmp_path):
    for p in grammar_files():
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    g = load(str(tmp_path))
    ev = Parser(year=2024, grammar=g).parse_line("Jan  1 00:00:00 mx postfix/qmgr[1]: 1A2B3C4D5E: removed")
    assert (ev.kind, ev.qid) == ("removed", "1A2B3C4D5E")
    with pytest.raises(GrammarError, match="no \\*.grammar files"):
        load(str(tmp_path / "empty"))
