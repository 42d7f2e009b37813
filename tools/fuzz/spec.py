#!/usr/bin/env python3
"""Write the compiled grammar as the fuzz harness reads it (csrc/fuzz_core.c): the envelope formats
and every body matcher, translated to PCRE2 exactly as postfix_diag.core gives them to the core.

    python tools/fuzz/spec.py OUTPUT

Format (text, patterns length-prefixed): "max_line N", "formats N", then per format
"format TS HOST TAG PID BODY OUTER MODE LEN" and the pattern on the next line; "known N" and N
program names; "bodies N", then per body "body NRULES LEN", its pattern (LEN 0: none), and
"rule MARKER NGROUPS G..." lines; "map N", then "PROGRAM SEVERITY BODY" lines.
"""

from __future__ import annotations

import sys

from postfix_diag import core
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
    out.write(f"bodies {len(bodies)}\n")
    for m in bodies:
        pattern = b""
        if m.regex is not None:
            try:
                pattern = translate(m.regex.pattern, m.regex.flags).encode("ascii")
            except Untranslatable:
                pattern = b""
        out.write(f"body {len(m.by_group)} {len(pattern)}\n{pattern.decode('ascii')}\n")
        for marker, rule in sorted(m.by_group.items()):
            groups = " ".join(str(g) for g in rule.group_indexes)
            out.write(f"rule {marker} {len(rule.group_indexes)} {groups}\n")
    out.write(f"map {len(mapping)}\n" + "".join(f"{p} {s} {i}\n" for p, s, i in mapping))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[3].strip())
    with open(sys.argv[1], "w", encoding="ascii") as fh:
        write_spec(fh)
