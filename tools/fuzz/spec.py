#!/usr/bin/env python3
"""Write the compiled grammar as the fuzz harness reads it (csrc/fuzz_core.c): the envelope formats
and every body matcher, translated to PCRE2 exactly as postfix_diag.core gives them to the core.

    python tools/fuzz/spec.py OUTPUT

Format (text, patterns length-prefixed): "max_line N", "formats N", then per format
"format TS HOST TAG PID BODY OUTER MODE LEN" and the pattern on the next line; "known N" and N
program names; "bodies N", then per body "body NRULES LEN" and its alternation without captures
(LEN 0: none), then per rule "rule MARKER LEN NGROUPS G..." and the rule's own pattern (its field
groups G); "map N", then "PROGRAM SEVERITY BODY" lines.
"""

from __future__ import annotations

import sys

from postfix_diag import core
from postfix_diag.grammar.compiler import build_matcher
from postfix_diag.parse import EXTRA_PROGRAMS, MAX_LINE, Parser
from postfix_diag.pcre_translate import Untranslatable, translate


def write_spec(out) -> None:
    parser = Parser(pure=True)
    grammar = parser.grammar
    formats = [core._format_spec(f) for f in parser._formats]
    out.write(f"max_line {MAX_LINE}\nformats {len(formats)}\n")
    for pattern, ts, host, tag, pid, body, outer, mode, _name in formats:
        out.write(f"format {ts} {host} {tag} {pid} {body} {outer} {mode} {len(pattern)}\n")
        out.write(pattern.decode("ascii") + "\n")
    known = sorted(set(grammar.programs) | EXTRA_PROGRAMS)
    out.write(f"known {len(known)}\n" + "".join(f"{k}\n" for k in known))
    bodies, index, mapping = [], {}, []
    for program in [*grammar.programs, "<any>"]:
        for sev in core.SEVERITIES:
            m = grammar.body(program, sev)
            if id(m) not in index:
                index[id(m)] = len(bodies)
                bodies.append(m)
            mapping.append((program, sev, index[id(m)]))
    rules = {f"{r.file}:{r.line}": r for gf in grammar.files for r in gf.rules}
    out.write(f"bodies {len(bodies)}\n")
    for m in bodies:
        pattern, made = b"", []
        if m.regex is not None:
            try:
                pattern = translate(m.regex.pattern, m.regex.flags, marks=frozenset(m.by_group)).encode("ascii")
            except Untranslatable:
                pattern = b""
            for marker, info in sorted(m.by_group.items()):
                alone = build_matcher([rules[info.source]], grammar.compiler)
                (only,) = alone.by_group.values()
                made.append((marker, translate(alone.regex.pattern, alone.regex.flags).encode("ascii"),
                             only.group_indexes))
        out.write(f"body {len(made)} {len(pattern)}\n{pattern.decode('ascii')}\n")
        for marker, rule_pattern, groups in made:
            line = " ".join(map(str, ["rule", marker, len(rule_pattern), len(groups), *groups]))
            out.write(f"{line}\n{rule_pattern.decode('ascii')}\n")
    out.write(f"map {len(mapping)}\n" + "".join(f"{p} {s} {i}\n" for p, s, i in mapping))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[3].strip())
    with open(sys.argv[1], "w", encoding="ascii") as fh:
        write_spec(fh)
