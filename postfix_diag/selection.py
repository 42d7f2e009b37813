"""Light events: a consumer names the event kinds and fields it reads, and gets only those.

    parser = Parser(select={"delivery": ("to", "status", "delay"), "removed": (), "foreign": ()})
    for ev in parser.parse_source(source):    # only delivery, removed and foreign lines
        to, status, delay = ev.f              # fields in the declared order (None: not captured)
        ev.f.status, ev.f.get("to")           # by name too
    parser.skipped                            # {kind: lines} of every other line, never built

Keys are rule kinds as in docs/events.md ("reject" for every access decision: its events keep
their folded kinds reject, hold, discard...), or the parser's own kinds (unrecognized, foreign,
warning, error, fatal, panic). The values name fields of that kind; ``qid`` is always
``ev.qid``, and a reject's ``kind`` field is what ``ev.kind`` is folded from, so neither can be
declared. Events are `events.Event` objects as always (ev.kind, ev.ts, ev.qid, ev.get(...)),
whose ``f`` is a tuple of the declared fields instead of a dict. With select, ``parse_line``
returns None for a line of a kind not selected; the iterating methods leave those lines out.

The compiled core (postfix_diag.core) builds these events directly, without a dict, and counts
the lines it leaves out without making any Python object for them; the pure-Python path
builds a full event and converts it here (`Selection.convert`), which is the reference.
"""

from __future__ import annotations

import keyword
from operator import itemgetter

from .events import ACCESS_KINDS, ACCESS_OTHER, FOREIGN, GENERIC_SEVERITY_KINDS, UNRECOGNIZED, Event

ACCESS_RULE = "reject"  # the one grammar rule kind whose events are folded by their action
ACCESS_EVENT_KINDS = frozenset(ACCESS_KINDS.values()) | {ACCESS_OTHER}
PARSER_KINDS = {UNRECOGNIZED: ("reason",), FOREIGN: (), **{k: () for k in GENERIC_SEVERITY_KINDS}}
NOT_DECLARABLE = {"qid": "it is ev.qid", "kind": "a reject's kind field is what ev.kind is folded from"}


def rule_kind(kind: str) -> str:
    """The selection key of an event kind (access decisions: "reject")."""
    return ACCESS_RULE if kind in ACCESS_EVENT_KINDS else kind


class Fields(tuple):
    """The declared fields of one light event, in declared order (None where not captured).
    A tuple (unpack it), with the names as attributes and dict-style ``get``."""

    __slots__ = ()
    names: tuple = ()
    _index: dict = {}

    def get(self, name, default=None):
        i = self._index.get(name)
        if i is None:
            return default
        value = self[i]
        return default if value is None else value

    def as_dict(self) -> dict:
        """The fields that were captured, as a dict (what Event.f holds without select)."""
        return {n: v for n, v in zip(self.names, self, strict=True) if v is not None}

    def __contains__(self, name) -> bool:  # like a dict: "to" in ev.f
        return self.get(name) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={v!r}' for n, v in zip(self.names, self, strict=True))})"


def fields_type(kind: str, names: tuple) -> type:
    """A Fields subclass for one kind's declared names."""
    ns = {"__slots__": (), "names": names, "_index": {n: i for i, n in enumerate(names)}}
    for i, n in enumerate(names):
        if n.isidentifier() and not keyword.iskeyword(n) and not hasattr(Fields, n):
            ns[n] = property(itemgetter(i), doc=f"field {n!r}")
    return type(f"{kind.title().replace('_', '')}Fields", (Fields,), ns)


class Selection:
    """A checked ``select`` mapping: per selection key, its Fields type."""

    def __init__(self, select: dict, grammar):
        known = grammar.fields_by_kind
        self.types: dict[str, type] = {}
        self.names: dict[str, tuple] = {}
        for kind, names in select.items():
            names = tuple(names)
            allowed = PARSER_KINDS.get(kind)
            if allowed is None and kind not in known:
                raise ValueError(f"no grammar rule makes events of kind {kind!r} (and it is not one of the "
                                 f"parser's kinds {', '.join(PARSER_KINDS)})")
            allowed = allowed if allowed is not None else known[kind]
            for n in names:
                if n in NOT_DECLARABLE and (n == "qid" or kind == ACCESS_RULE):
                    raise ValueError(f"events of kind {kind!r}: field {n!r} cannot be selected: {NOT_DECLARABLE[n]}")
            unknown = sorted(set(names).difference(allowed))
            if unknown:
                raise ValueError(f"events of kind {kind!r} have no field {', '.join(unknown)}")
            if len(set(names)) != len(names):
                raise ValueError(f"events of kind {kind!r}: a field is named twice")
            self.names[kind] = names
            self.types[kind] = fields_type(kind, names)

    def projection(self) -> dict:
        """Parser(fields=...) for the full events the Python parser makes before converting."""
        return {k: v for k, v in self.names.items() if k not in PARSER_KINDS}

    def convert(self, ev: Event, skipped: dict):
        """The light event of a full event, or None (counted in ``skipped``) when not selected."""
        key = rule_kind(ev.kind)
        ftype = self.types.get(key)
        if ftype is None:
            skipped[key] = skipped.get(key, 0) + 1
            return None
        f = ev.f
        ev.f = ftype([f.get(n) for n in ftype.names])
        return ev
