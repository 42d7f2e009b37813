"""A compiled regex as data, so that the grammar cache can skip ``re``'s compiler.

``re.compile`` parses and compiles a pattern in Python code: for the grammar's big alternations
that is most of a short run's time. What it hands to the C engine (``_sre.compile``) is a list of
integers; `code_of` keeps that list, `pattern_of` gives it back to the engine, skipping the
parser. The list belongs to one interpreter's engine (`ENGINE` names it; the cache key holds it).

The engine checks the code it is given, but not so well that any list is safe: only a list
`code_of` made in this interpreter may be given back, which is why the cache checks a file's
owner, permissions and SHA-256 before it believes one (the same trust Python gives its own
``__pycache__``, which has no checksum). `pattern_of` returns None, and the caller compiles the
source, whenever the engine refuses the code or gives a pattern of another shape.
"""

from __future__ import annotations

import base64
import re
import sys
import zlib

try:
    import _sre
    from re import _compiler, _parser
except ImportError:  # pragma: no cover - another Python implementation: compile the sources
    _sre = None

ENGINE = f"{sys.implementation.name} {sys.version} sre {getattr(_sre, 'MAGIC', None)}/{getattr(_sre, 'CODESIZE', None)}"
_TYPECODE = {2: "H", 4: "I"}.get(getattr(_sre, "CODESIZE", 0))


def code_of(source: str, flags: int = 0) -> list | None:
    """[flags, groups, code (zlib, base64)] of ``re.compile(source, flags)``, or None when this
    interpreter has no such form."""
    if _sre is None or _TYPECODE is None:
        return None
    from array import array

    try:
        p = _parser.parse(source, flags)
        if p.state.groupdict:  # named groups: not worth the trouble, the grammar has none
            return None
        code = _compiler._code(p, flags)
        data = zlib.compress(array(_TYPECODE, code).tobytes(), 6)  # a seventh of the size: less to read and hash
        return [flags | p.state.flags, p.state.groups - 1, base64.b64encode(data).decode()]
    except Exception:  # an internal API that changed: no code, the source will do
        return None


def pattern_of(source: str, code) -> re.Pattern | None:
    """``re.compile(source, flags)`` from `code_of`'s output, without re's compiler; None if the
    code is not usable (the caller then compiles the source)."""
    if _sre is None or _TYPECODE is None:
        return None
    from array import array

    try:
        flags, groups, data = code
        if not (isinstance(flags, int) and isinstance(groups, int) and isinstance(data, str)) or groups < 0:
            return None
        ints = array(_TYPECODE, zlib.decompress(base64.b64decode(data, validate=True))).tolist()
        pattern = _sre.compile(source, flags, ints, groups, {}, (None,) * (groups + 1))
    except Exception:
        return None
    if pattern.pattern != source or pattern.groups != groups or pattern.flags != flags:
        return None
    return pattern
