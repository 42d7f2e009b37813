"""A stream's state (tracker, consumers, rules) as plain JSON, and back: what a state file
(state.py) keeps between runs. Not pickle: loading runs no code of the file's choosing.

The encoding walks the object graph the way pickle does (``__reduce_ex__(4)``: the class,
``__getstate__``'s state, ``__setstate__`` when the class has one), but writes JSON and accepts
on loading only:

- JSON values; tuples ``{"$t": [...]}``, sets ``{"$s": ...}``, frozensets ``{"$fs": ...}``,
  dicts with other than string keys ``{"$d": [[k, v], ...]}``, bytes ``{"$b": base64}``,
  ``float('inf')`` ``{"$inf": 1|-1}``; ``collections`` Counter, OrderedDict, deque, defaultdict
  (its default factory one of the types below);
- instances of classes defined in the ``postfix_diag`` package ``{"$o": "module:Class", "s":
  state}``, created with ``cls.__new__(cls)`` (never ``__init__``) and given their state; a
  postfix_diag subclass of str, int, float or tuple is rebuilt from its value, an Enum by value;
- classes ``{"$c": "module:Class"}`` and module-level functions ``{"$fn": ...}`` of the package
  (looked up by name in ``postfix_diag.*`` modules already imported, never imported or called
  here); methods of an object of the graph ``{"$m": [object, "name"]}`` (a method of its class
  by name, not a dunder; the object one of the package's, or a plain container); module-level sentinel objects (``_NO_HOST = object()``) by name ``{"$g":``;
- shared and cyclic references: an object or container seen twice is written once with
  ``"$id"`` and referred to as ``{"$r": n}``.

Anything else (an open file, a compiled regex, a pandas frame, a lambda) makes ``dumps`` raise
SnapshotError, and anything else in a file makes ``loads`` raise SnapshotError: the caller says so
in one line and runs without the state."""

from __future__ import annotations

import base64
import collections
import copyreg
import enum
import math
import sys
import types

PACKAGE = "postfix_diag"
_PLAIN_TYPES = {t.__name__: t for t in (int, float, str, bool, list, dict, set, frozenset, tuple, bytes,
                                        type(None), object)}
_PLAIN_TYPES["NoneType"] = type(None)
_COLLECTIONS = {"Counter": collections.Counter, "OrderedDict": collections.OrderedDict,
                "deque": collections.deque, "defaultdict": collections.defaultdict}
_VALUE_BASES = (str, int, float, tuple)


class SnapshotError(ValueError):
    """The graph cannot be written, or the JSON is not a graph this module wrote."""


def _ours(module: str | None) -> bool:
    return bool(module) and (module == PACKAGE or module.startswith(PACKAGE + "."))


def _name_of(obj) -> str:
    qual = getattr(obj, "__qualname__", "")
    if "<" in qual:
        raise SnapshotError(f"cannot save {qual!r} (a local or lambda)")
    return f"{obj.__module__}:{qual}"


def _sentinels() -> dict:
    """id -> "module:name" of the bare ``object()`` sentinels at module level in the package."""
    out = {}
    for name, module in list(sys.modules.items()):
        if _ours(name) and module is not None:
            for attr, value in vars(module).items():
                if type(value) is object:
                    out[id(value)] = f"{name}:{attr}"
    return out


# --- writing -------------------------------------------------------------------------------------

class _Writer:
    def __init__(self):
        self.counts: dict = {}
        self.ids: dict = {}
        self.keep: list = []  # objects whose id() is used as a key (kept alive while writing)
        self.reduced: dict = {}
        self.sentinels = _sentinels()

    # pass 1: how often each object or container is referred to
    def count(self, root) -> None:
        stack = [root]
        while stack:
            v = stack.pop()
            if type(v) in (str, int, float, bool, bytes, type(None)) or isinstance(v, (type, types.FunctionType)):
                continue
            key = id(v)
            n = self.counts.get(key, 0)
            self.counts[key] = n + 1
            if n:
                continue
            self.keep.append(v)
            stack.extend(self._children(v))

    def _children(self, v):
        if isinstance(v, types.MethodType):
            return [v.__self__]
        if isinstance(v, types.BuiltinMethodType):
            return [v.__self__]
        if isinstance(v, dict):
            out = list(v.keys()) + list(v.values())
            if isinstance(v, collections.defaultdict):
                out.append(v.default_factory)
            return out
        if isinstance(v, (list, tuple, set, frozenset, collections.deque)):
            return list(v)
        if id(v) in self.sentinels or isinstance(v, enum.Enum):
            return []
        red = self._reduce(v)
        return [x for x in (red[1], red[2], red[3]) if x is not None]

    def _reduce(self, v):
        got = self.reduced.get(id(v))
        if got is not None:
            return got
        cls = type(v)
        if not _ours(cls.__module__):
            raise SnapshotError(f"cannot save a {cls.__module__}.{cls.__qualname__}")
        try:
            red = v.__reduce_ex__(4)
        except Exception as exc:  # noqa: BLE001 - the object refuses to be saved
            raise SnapshotError(f"cannot save a {cls.__qualname__}: {exc}") from None
        if not isinstance(red, tuple) or len(red) < 2:
            raise SnapshotError(f"cannot save a {cls.__qualname__}")
        func, args = red[0], red[1]
        state = red[2] if len(red) > 2 else None
        items = None
        if len(red) > 3 and any(x is not None for x in red[3:5]):
            if isinstance(v, dict) and func in (cls, copyreg.__newobj__):
                items = list(v.items())  # a dict subclass: made with __new__, given state and items
            elif isinstance(v, list) and func in (cls, copyreg.__newobj__):
                items = list(v)
            else:
                raise SnapshotError(f"cannot save a {cls.__qualname__} (list or dict items)")
            got = ("new", (), state, items)
        elif func is copyreg.__newobj__ and args and args[0] is cls:
            got = ("new", tuple(args[1:]), state, None)
        elif func is cls and issubclass(cls, _VALUE_BASES):
            got = ("value", tuple(args), state, None)
        else:
            raise SnapshotError(f"cannot save a {cls.__qualname__} (made by {func!r})")
        if got[0] == "new" and got[1]:
            raise SnapshotError(f"cannot save a {cls.__qualname__} (__new__ arguments)")
        self.reduced[id(v)] = got
        return got

    # pass 2: the JSON value
    def write(self, v):
        if v is None or type(v) in (bool, str):
            return v
        if isinstance(v, str):
            return self._shared(v)
        if isinstance(v, int):
            if type(v) is not int:
                return self._shared(v)
            return v
        if isinstance(v, float):
            if type(v) is not float:
                return self._shared(v)
            if math.isinf(v):
                return {"$inf": 1 if v > 0 else -1}
            if math.isnan(v):
                raise SnapshotError("cannot save NaN")
            return v
        if isinstance(v, bytes):
            return {"$b": base64.b64encode(v).decode("ascii")}
        if isinstance(v, type):
            if v.__name__ in _PLAIN_TYPES and _PLAIN_TYPES[v.__name__] is v:
                return {"$c": f"builtins:{v.__name__}"}
            if v in _COLLECTIONS.values():
                return {"$c": f"collections:{v.__name__}"}
            if not _ours(v.__module__):
                raise SnapshotError(f"cannot save the class {v!r}")
            return {"$c": _name_of(v)}
        if isinstance(v, types.FunctionType):
            if not _ours(v.__module__):
                raise SnapshotError(f"cannot save the function {v!r}")
            return {"$fn": _name_of(v)}
        return self._shared(v)

    def _shared(self, v):
        key = id(v)
        if key in self.ids:
            return {"$r": self.ids[key]}
        body: dict = {}
        if self.counts.get(key, 1) > 1:
            self.ids[key] = len(self.ids)
            body["$id"] = self.ids[key]
        body.update(self._body(v))
        return body

    def _pairs(self, d) -> list:
        return [[self.write(k), self.write(x)] for k, x in d.items()]

    def _body(self, v) -> dict:
        if isinstance(v, types.MethodType):
            return {"$m": [self.write(v.__self__), v.__func__.__name__]}
        if isinstance(v, types.BuiltinMethodType):
            if isinstance(v.__self__, types.ModuleType) or v.__self__ is None:
                raise SnapshotError(f"cannot save the function {v!r}")
            return {"$m": [self.write(v.__self__), v.__name__]}
        t = type(v)
        if t is list:
            return {"$l": [self.write(x) for x in v]}
        if t is tuple:
            return {"$t": [self.write(x) for x in v]}
        if t is set:
            return {"$s": [self.write(x) for x in v]}
        if t is frozenset:
            return {"$fs": [self.write(x) for x in v]}
        if t is dict:
            return {"$d": self._pairs(v)}
        if t is collections.Counter:
            return {"$C": self._pairs(v)}
        if t is collections.OrderedDict:
            return {"$O": self._pairs(v)}
        if t is collections.defaultdict:
            return {"$dd": self._pairs(v), "f": self.write(v.default_factory)}
        if t is collections.deque:
            return {"$q": [self.write(x) for x in v], "max": v.maxlen}
        name = self.sentinels.get(id(v))
        if name is not None:
            return {"$g": name}
        if isinstance(v, enum.Enum) and _ours(t.__module__):
            return {"$e": _name_of(t), "v": self.write(v.value)}
        how, args, state, items = self._reduce(v)
        body = {"$o": _name_of(t)}
        if how == "value":
            body["v"] = [self.write(a) for a in args]
        if state is not None:
            body["s"] = self.write(state)
        if items is not None:
            body["items"] = ([[self.write(k), self.write(x)] for k, x in items] if isinstance(v, dict)
                             else [self.write(x) for x in items])
        return body


def dumps_value(root) -> object:
    """The JSON value of an object graph (SnapshotError if it holds anything not allowed)."""
    w = _Writer()
    w.count(root)
    return w.write(root)


# --- reading -------------------------------------------------------------------------------------

def _lookup(dotted: str, what: str):
    module, _, qual = dotted.partition(":")
    if module == "builtins" and qual in _PLAIN_TYPES:
        return _PLAIN_TYPES[qual]
    if module == "collections" and qual in _COLLECTIONS:
        return _COLLECTIONS[qual]
    if not _ours(module) or not qual or not all(part.isidentifier() for part in qual.split(".")):
        raise SnapshotError(f"not allowed: {what} {dotted[:80]!r}")
    obj = sys.modules.get(module)  # never imported here: importing a module may run code
    if obj is None:
        raise SnapshotError(f"unknown {what} {dotted[:80]!r}")
    try:
        for part in qual.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise SnapshotError(f"unknown {what} {dotted[:80]!r}") from None
    return obj


class _Reader:
    def __init__(self):
        self.objects: dict = {}

    def read(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):  # never written at top level of a value, but harmless
            return [self.read(x) for x in v]
        if not isinstance(v, dict):
            raise SnapshotError("not a snapshot value")
        if "$r" in v:
            try:
                return self.objects[v["$r"]]
            except (KeyError, TypeError):
                raise SnapshotError("a reference to nothing") from None
        ident = v.get("$id")
        if "$l" in v:
            return self._fill(ident, [], lambda out: out.extend(self.read(x) for x in self._list(v["$l"])))
        if "$d" in v:
            return self._fill(ident, {}, lambda out: out.update(self._pairs(v["$d"])))
        if "$C" in v:
            return self._fill(ident, collections.Counter(), lambda out: out.update(dict(self._pairs(v["$C"]))))
        if "$O" in v:
            return self._fill(ident, collections.OrderedDict(), lambda out: out.update(self._pairs(v["$O"])))
        if "$dd" in v:
            factory = self.read(v.get("f"))
            if factory is not None and not (isinstance(factory, type) and (
                    factory in _PLAIN_TYPES.values() or factory in _COLLECTIONS.values() or _ours(factory.__module__))):
                raise SnapshotError("a defaultdict factory that is not a plain type")
            return self._fill(ident, collections.defaultdict(factory), lambda out: out.update(self._pairs(v["$dd"])))
        if "$s" in v:
            return self._fill(ident, set(), lambda out: out.update(self.read(x) for x in self._list(v["$s"])))
        if "$q" in v:
            maxlen = v.get("max")
            if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 0):
                raise SnapshotError("a deque with a bad maxlen")
            return self._fill(ident, collections.deque(maxlen=maxlen),
                              lambda out: out.extend(self.read(x) for x in self._list(v["$q"])))
        if "$t" in v:
            return self._done(ident, tuple(self.read(x) for x in self._list(v["$t"])))
        if "$fs" in v:
            return self._done(ident, frozenset(self.read(x) for x in self._list(v["$fs"])))
        if "$b" in v:
            try:
                return base64.b64decode(v["$b"], validate=True)
            except (ValueError, TypeError):
                raise SnapshotError("bad bytes") from None
        if "$inf" in v:
            return math.inf if v["$inf"] == 1 else -math.inf
        if "$c" in v:
            obj = _lookup(self._str(v["$c"]), "class")
            if not isinstance(obj, type):
                raise SnapshotError("not a class")
            return obj
        if "$fn" in v:
            obj = _lookup(self._str(v["$fn"]), "function")
            if not isinstance(obj, types.FunctionType) or not _ours(obj.__module__):
                raise SnapshotError("not a function of the package")
            return obj
        if "$g" in v:
            obj = _lookup(self._str(v["$g"]), "sentinel")
            if type(obj) is not object:
                raise SnapshotError("not a sentinel")
            return self._done(ident, obj)
        if "$m" in v:
            pair = self._list(v["$m"])
            if len(pair) != 2 or not isinstance(pair[1], str) or not pair[1].isidentifier():
                raise SnapshotError("a bad method")
            owner = self.read(pair[0])
            if not (_ours(type(owner).__module__) or type(owner) in (dict, list, set, *_COLLECTIONS.values())):
                raise SnapshotError("a method of something else than an object of the package")
            attr = getattr(type(owner), pair[1], None)
            if not callable(attr) or pair[1].startswith("__"):
                raise SnapshotError(f"not a method: {pair[1][:40]!r}")
            return self._done(ident, getattr(owner, pair[1]))
        if "$e" in v:
            cls = _lookup(self._str(v["$e"]), "class")
            if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
                raise SnapshotError("not an enum")
            try:
                return self._done(ident, cls(self.read(v.get("v"))))
            except ValueError:
                raise SnapshotError("not a value of the enum") from None
        if "$o" in v:
            return self._object(ident, v)
        # a plain JSON object never appears (dicts are written as "$d")
        raise SnapshotError("not a snapshot value")

    @staticmethod
    def _list(x) -> list:
        if not isinstance(x, list):
            raise SnapshotError("a list expected")
        return x

    @staticmethod
    def _str(x) -> str:
        if not isinstance(x, str):
            raise SnapshotError("a name expected")
        return x

    def _pairs(self, x):
        out = []
        for pair in self._list(x):
            if not isinstance(pair, list) or len(pair) != 2:
                raise SnapshotError("a bad pair")
            out.append((self.read(pair[0]), self.read(pair[1])))
        return out

    def _register(self, ident, obj) -> None:
        if ident is None:
            return
        if not isinstance(ident, int) or ident in self.objects:
            raise SnapshotError("a bad object id")
        self.objects[ident] = obj

    def _fill(self, ident, empty, fill):
        self._register(ident, empty)
        try:
            fill(empty)
        except TypeError:
            raise SnapshotError("an unhashable key") from None
        return empty

    def _done(self, ident, obj):
        self._register(ident, obj)
        return obj

    def _object(self, ident, v):
        cls = _lookup(self._str(v["$o"]), "class")
        if not isinstance(cls, type) or not _ours(cls.__module__):
            raise SnapshotError("not a class of the package")
        if "v" in v:
            if not issubclass(cls, _VALUE_BASES):
                raise SnapshotError("not a value class")
            args = [self.read(a) for a in self._list(v["v"])]
            if not all(a is None or type(a) in (str, int, float, bool) for a in args):
                raise SnapshotError("a value of the wrong type")
            try:
                obj = cls(*args)  # a str, int, float or tuple subclass of the package, from plain values
            except (TypeError, ValueError):
                raise SnapshotError(f"cannot make a {cls.__qualname__}") from None
        else:
            try:
                obj = cls.__new__(cls)
            except TypeError:
                raise SnapshotError(f"cannot make a {cls.__qualname__}") from None
        self._register(ident, obj)
        if "s" in v:
            state = self.read(v["s"])
            setstate = getattr(cls, "__setstate__", None)
            if setstate is not None and setstate is not getattr(object, "__setstate__", None):
                obj.__setstate__(state)
            else:
                slots = None
                if isinstance(state, tuple) and len(state) == 2:
                    state, slots = state
                if state:
                    if not isinstance(state, dict) or not hasattr(obj, "__dict__"):
                        raise SnapshotError(f"bad state for a {cls.__qualname__}")
                    obj.__dict__.update(state)
                if slots:
                    if not isinstance(slots, dict):
                        raise SnapshotError(f"bad state for a {cls.__qualname__}")
                    for name, value in slots.items():
                        try:
                            setattr(obj, name, value)
                        except (AttributeError, TypeError):
                            raise SnapshotError(f"bad state for a {cls.__qualname__}") from None
        if "items" in v:
            if isinstance(obj, dict):
                try:
                    for key, value in self._pairs(v["items"]):
                        dict.__setitem__(obj, key, value)
                except TypeError:
                    raise SnapshotError("an unhashable key") from None
            elif isinstance(obj, list):
                list.extend(obj, (self.read(x) for x in self._list(v["items"])))
            else:
                raise SnapshotError(f"items for a {cls.__qualname__}")
        return obj


def loads_value(value):
    """The object graph of a JSON value written by ``dumps_value`` (SnapshotError otherwise)."""
    try:
        return _Reader().read(value)
    except RecursionError:
        raise SnapshotError("nested too deep") from None
