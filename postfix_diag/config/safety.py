"""Check remediation text: would a printed ``postconf`` command drop part of a current value?

`check_remediation(text, config)` reads the commands inside backticks, splits them as the shell
would (`shell.split_commands`: what ``$name`` the shell itself eats, what ``$(postconf -h NAME)``
keeps) and plays every ``postconf`` edit against the configuration, in order:

- ``postconf -e name=value`` (also without -e): items of a list parameter that the new value
  lacks; a set value emptied; a value the tool cannot see (mynetworks computed on the server)
  replaced without reading it first;
- ``postconf -X`` / ``-#``: a set parameter removed or commented out;
- ``postconf -P service/type/name=value``: the same against the value that service uses;
  ``-PX`` removing an override; an unknown service; whitespace (postconf refuses it);
- ``postconf -F service/type/field=value``: a ``command`` that loses arguments (``-o``
  overrides); an unknown field name (``maxproc`` is ``process_limit`` there);
- ``postconf -M service/type=entry``: an entry that loses overrides; ``-MX``/``-M#`` removing one.

Each finding is a `CommandProblem`; ``drops`` says whether it loses configuration. Other kinds
(``overridden``, ``unknown-service``, ``invalid``, ``unparsable``) name commands that would not do
what the text says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .defaults import COLUMN_NAMES, HOST_DEPENDENT, is_list
from .expand import UNKNOWN, ExpansionError, expand
from .fixes import _norm
from .services import parse_arguments
from .shell import Expansion, ShellSyntaxError, split_commands
from .syntax import BLANKS, _Problems, split_quoted

_SPAN = re.compile(r"`([^`\n]+)`")
_OPTS_WITH_ARG = set("cCoT")
_REMOVED = object()
_KEEP = "\x00KEEP:{}\x00"  # stands for $(postconf -h NAME): the whole current value of NAME


@dataclass(frozen=True)
class CommandProblem:
    command: str
    kind: str  # drops-items, drops-value, removes-value, removes-override, removes-service,
    #            drops-arguments, replaces-unknown, shell-expansion, overridden, unknown-service,
    #            invalid, unparsable
    message: str
    parameter: str | None = None
    dropped: tuple = ()
    drops: bool = True

    def __str__(self) -> str:
        return f"`{self.command}`: {self.message}"


def commands_in(text: str) -> list[str]:
    """The command spans of a remediation text: the text inside single backticks."""
    return [m.group(1) for m in _SPAN.finditer(text)]


def check_remediation(text: str, config) -> list[CommandProblem]:
    """Every problem of every postconf command inside backticks of ``text``, in order."""
    state = _State(config)
    out: list[CommandProblem] = []
    for span in commands_in(text):
        out += check_command(span, config, state)
    return out


def drops(text: str, config) -> list[CommandProblem]:
    """Only the problems that lose configuration (what a remediation must never print)."""
    return [p for p in check_remediation(text, config) if p.drops]


@dataclass
class _State:
    """The configuration as the commands seen so far leave it."""

    config: object
    params: dict = field(default_factory=dict)  # name -> raw value or _REMOVED
    overrides: dict = field(default_factory=dict)  # (svc, type, name) -> value or _REMOVED
    commands: dict = field(default_factory=dict)  # (svc, type) -> (command, args) after -F command

    def current(self, name: str):
        """(raw value or None when unknown, explicitly set?)"""
        if name in self.params:
            v = self.params[name]
            return ("" if v is _REMOVED else v), v is not _REMOVED
        c = self.config
        if c is None or not c.has_main:
            return None, False
        value = c.value(name)
        if value is None and name not in HOST_DEPENDENT:
            value = ""  # neither set nor a built-in parameter: Postfix reads it as empty
        return value, c.is_set(name)

    def service(self, svc: str, type_: str):
        return None if self.config is None else self.config.service(svc, type_)

    def effective(self, svc: str, type_: str, name: str):
        key = (svc, type_, name)
        if key in self.overrides:
            v = self.overrides[key]
            return (self.current(name)[0], False) if v is _REMOVED else (v, True)
        s = self.service(svc, type_)
        if s is not None and name in s.overrides:
            return s.overrides[name].value, True
        return self.current(name)


def check_command(line: str, config, state: _State | None = None) -> list[CommandProblem]:
    """Problems of the postconf commands in one command line."""
    state = state or _State(config)
    try:
        commands = split_commands(line)
    except ShellSyntaxError as exc:
        return [CommandProblem(line, "unparsable", f"the shell cannot read it: {exc}", drops=False)]
    out: list[CommandProblem] = []
    for words in commands:
        words = _strip_prefix(words)
        if not words or (words[0].literal or "").rsplit("/", 1)[-1] != "postconf":
            continue
        out += _postconf(line, words[1:], state)
    return out


def _strip_prefix(words):
    """Drop ``sudo [-opts]``, ``env`` and VAR=value assignments before the command."""
    i = 0
    while i < len(words):
        lit = words[i].literal or ""
        if lit in ("sudo", "env", "command", "exec"):
            i += 1
            while i < len(words) and (words[i].literal or "").startswith("-"):
                i += 1
            continue
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", lit):
            i += 1
            continue
        break
    return words[i:]


def _postconf(line: str, words, state: _State) -> list[CommandProblem]:
    flags, args = set(), []
    i = 0
    while i < len(words):
        lit = words[i].literal
        if lit is not None and lit.startswith("-") and len(lit) > 1 and not args:
            j = 1
            while j < len(lit):
                flags.add(lit[j])
                if lit[j] in _OPTS_WITH_ARG:
                    if j + 1 == len(lit):
                        i += 1  # the option's argument is the next word
                    break
                j += 1
            i += 1
            continue
        args.append(words[i])
        i += 1
    out: list[CommandProblem] = []
    for word in args:
        expansions = [e for e in word.expansions if e.current_of is None]
        if expansions:
            out.append(CommandProblem(line, "shell-expansion", f"the shell replaces {expansions[0].source} "
                                      "before postconf sees it (quote the word with single quotes)"))
        text = word.text(lambda e, s=state: _resolve(e, s))
        if "M" in flags:
            out += _master_entry(line, text, flags, state)
        elif "F" in flags:
            out += _field(line, text, flags, state)
        elif "P" in flags:
            out += _service_param(line, text, flags, state)
        elif flags & {"X", "#"}:
            out += _remove(line, text, state)
        elif "=" in text and not flags & {"d", "n", "h", "m", "l", "a", "A", "t", "T", "b"}:
            out += _edit(line, text, state)
    return out


def _resolve(e: Expansion, state: _State) -> str:
    name = e.current_of
    if name is None:
        return ""  # an unset shell variable, the shell's best case
    return _KEEP.format(name)


def _items(value: str) -> list[str]:
    return [_norm(i) for i in split_quoted(value)]


def _new_items(value: str, state: _State, depth: int = 0) -> set:
    """Items of a new value, an item ``$name`` also standing for the items of name's value
    (a helper parameter, as master(5) suggests for -o values with spaces)."""
    out = set()
    for item in _items(value.replace("\x00", " ")):
        out.add(item)
        if depth < 5 and item.startswith("$") and item[1:].isidentifier():
            current, _ = state.current(item[1:])
            if current:
                out |= _new_items(current, state, depth + 1)
    return out


def _covered(item: str, new: str, state: _State) -> bool:
    """Whether an item that the new value does not repeat is there all the same after expansion
    (``${legacy_name:$mynetworks}`` kept as ``$mynetworks``)."""
    if "$" not in item or state.config is None:
        return False

    def lookup(name):
        value, _ = state.current(name)
        if value is None and name in HOST_DEPENDENT:
            return UNKNOWN
        return value

    try:
        old_items = set(split_quoted(expand(item, lookup).text))
        new_items = set(split_quoted(expand(new.replace("\x00", " "), lookup).text))
    except ExpansionError:
        return False
    return bool(old_items) and old_items <= new_items


def _compare(line, name, current, explicit, new, state: _State):
    """Problems of replacing ``current`` (raw, None when unknown) of ``name`` by ``new``."""
    keep = _KEEP.format(name)
    if keep in new:
        return []  # the shell inserts the whole current value
    new_items = _new_items(new, state)
    if current is None:
        if is_list(name):
            return [CommandProblem(line, "replaces-unknown",
                                   f"replaces {name}, whose current value is not known here (Postfix "
                                   f"computes it on the server): read it first with `postconf {name}`",
                                   name)]
        return []
    if is_list(name):
        dropped = tuple(i for i in _items(current) if i not in new_items and not _covered(i, new, state))
        if dropped:
            return [CommandProblem(line, "drops-items", f"drops {', '.join(dropped)} from {name} "
                                   f"(current: {current})", name, dropped)]
        return []
    if explicit and current.strip() and not new.strip():
        return [CommandProblem(line, "drops-value", f"empties {name} (current: {current})", name, (current,))]
    return []


def _edit(line: str, text: str, state: _State) -> list[CommandProblem]:
    name, _, value = text.partition("=")
    name, value = name.strip(BLANKS), value.strip(BLANKS)
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        return [CommandProblem(line, "invalid", f"{text[:40]!r} is not name=value", drops=False)]
    current, explicit = state.current(name)
    out = _compare(line, name, current, explicit, value, state)
    if state.config is not None:
        for svc in state.config.overridden_by(name):
            o = svc.overrides[name]
            out.append(CommandProblem(line, "overridden", f"{svc.key} overrides {name} with -o {name}={o.value} "
                                      f"({o.where}): this change does not reach that service", name,
                                      drops=False))
    state.params[name] = value.replace(_KEEP.format(name), current or "")
    return out


def _remove(line: str, text: str, state: _State) -> list[CommandProblem]:
    name = text.strip(BLANKS)
    current, explicit = state.current(name)
    state.params[name] = _REMOVED
    if explicit and current:
        return [CommandProblem(line, "removes-value", f"removes {name} = {current} from main.cf", name,
                               (current,))]
    return []


def _split_key(text: str, parts: int):
    """``svc/type/name=value`` → ([svc, type, name], value or None)."""
    key, sep, value = text.partition("=")
    fields = key.strip(BLANKS).rsplit("/", parts - 1)
    if len(fields) != parts or not all(fields):
        return None, None
    return fields, (value.strip(BLANKS) if sep else None)


def _unknown_service(line, svc, type_, state) -> list[CommandProblem]:
    """An edit of a service master.cf does not have (a query may use patterns like ``*/*``)."""
    if state.config is None or not state.config.has_master or state.service(svc, type_) is not None:
        return []
    same = [s.key for s in state.config.find_services(name=svc)]
    hint = f" (master.cf has {', '.join(same)})" if same else ""
    return [CommandProblem(line, "unknown-service", f"master.cf has no service {svc}/{type_}{hint}: "
                           "postconf changes nothing", drops=False)]


def _service_param(line: str, text: str, flags: set, state: _State) -> list[CommandProblem]:
    fields, value = _split_key(text, 3)
    if fields is None:
        return [CommandProblem(line, "invalid", f"{text[:40]!r} is not service/type/name=value", drops=False)]
    svc, type_, name = fields
    out = _unknown_service(line, svc, type_, state) if value is not None or flags & {"X", "#"} else []
    current, explicit = state.effective(svc, type_, name)
    if flags & {"X", "#"}:
        state.overrides[(svc, type_, name)] = _REMOVED
        s = state.service(svc, type_)
        if s is not None and name in s.overrides:
            out.append(CommandProblem(line, "removes-override", f"removes -o {name}={current} from {svc}/{type_}",
                                      name, (current,)))
        return out
    if value is None:
        return out  # a query
    if any(c in BLANKS for c in value):
        out.append(CommandProblem(line, "invalid", "postconf -P does not accept whitespace in a value",
                                  name, drops=False))
    out += _compare(line, name, current, explicit, value, state)
    state.overrides[(svc, type_, name)] = value
    return out


def _field(line: str, text: str, flags: set, state: _State) -> list[CommandProblem]:
    fields, value = _split_key(text, 3)
    if fields is None:
        return [CommandProblem(line, "invalid", f"{text[:40]!r} is not service/type/field=value", drops=False)]
    svc, type_, fname = fields
    if fname not in COLUMN_NAMES:
        alias = {"maxproc": "process_limit", "unpriv": "unprivileged"}.get(fname)
        hint = f" (postconf -F calls it {alias})" if alias else ""
        return [CommandProblem(line, "invalid", f"postconf -F has no field {fname!r}{hint}: postconf "
                               "exits with an error", drops=False)]
    if value is None:
        return []  # a query
    out = _unknown_service(line, svc, type_, state)
    if fname != "command":
        return out
    s = state.service(svc, type_)
    if s is None:
        return out
    old_cmd, old_args = state.commands.get((svc, type_), (s.command, s.args))
    head, _, rest = value.partition(" ")
    notes = _Problems("<command>")
    new_args, _ = parse_arguments(rest, "", 0, notes)
    dropped = _lost_args(old_args, new_args)
    if dropped:
        out.append(CommandProblem(line, "drops-arguments", f"replaces the command of {svc}/{type_} and drops "
                                  f"{' '.join(dropped)}", "command", tuple(dropped)))
    state.commands[(svc, type_)] = (head, new_args)
    return out


def _lost_args(old: tuple, new: tuple) -> list[str]:
    """Arguments of ``old`` missing from ``new``; ``-o x=y`` counted as one argument."""
    def pairs(args):
        out, i = [], 0
        while i < len(args):
            if args[i] == "-o" and i + 1 < len(args):
                out.append(f"-o {args[i + 1]}")
                i += 2
            else:
                out.append(args[i])
                i += 1
        return out

    have = set(pairs(new))
    return [a for a in pairs(old) if a not in have]


def _master_entry(line: str, text: str, flags: set, state: _State) -> list[CommandProblem]:
    key, sep, entry = text.partition("=")
    fields = key.strip(BLANKS).rsplit("/", 1)
    if len(fields) != 2:
        return [CommandProblem(line, "invalid", f"{text[:40]!r} is not service/type", drops=False)]
    svc, type_ = fields
    s = state.service(svc, type_)
    if flags & {"X", "#"}:
        if s is not None:
            return [CommandProblem(line, "removes-service", f"removes the master.cf service {svc}/{type_} "
                                   f"({s.where})", None, (s.key,))]
        return []
    if not sep or s is None:
        return []
    tokens = split_quoted(entry, BLANKS)
    if len(tokens) < 8:
        return [CommandProblem(line, "invalid", "a master.cf entry needs 8 fields", drops=False)]
    new_args, _ = parse_arguments(" ".join(tokens[8:]), "", 0, _Problems("<entry>"))
    dropped = _lost_args(s.args, new_args)
    if dropped:
        return [CommandProblem(line, "drops-arguments", f"replaces the entry {svc}/{type_} and drops "
                               f"{' '.join(dropped)}", None, tuple(dropped))]
    return []
