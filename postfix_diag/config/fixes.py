"""Remediation commands that keep what the configuration holds (issue #12, item 3).

Every builder returns a `Fix`: the commands to paste, in order, and one line saying what changes
(current value → new value, and where the current value is set). The commands are quoted so that
the shell passes every ``$name`` through to Postfix. With a `Config` the current value is written
out in full; without one (or when it is computed on the server, like an unset mynetworks) the fix
reads before it writes: ``postconf NAME`` to show it, then ``postconf -e "NAME = $(postconf -h
NAME), ITEM"``, which keeps whatever the value is. `postfix_diag.config.safety` checks any
remediation text the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .defaults import COLUMN_NAMES, FP_NAMES, is_list
from .shell import quote
from .syntax import split_quoted


@dataclass(frozen=True)
class Fix:
    commands: tuple  # shell commands, in order; empty when nothing needs to change
    summary: str  # one line: what changes
    current: str | None = None
    new: str | None = None
    where: str | None = None  # file:line (or "default") of the current value
    notes: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.commands)


def read_param(*names: str) -> str:
    """``postconf NAME ...``: show the current values (changes nothing)."""
    return "postconf " + " ".join(n if re.fullmatch(r"[A-Za-z0-9_]+", n) else quote(n) for n in names)


def _dq(text: str) -> str:
    """Escape text for the inside of a double-quoted shell word."""
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _norm(item: str) -> str:
    """``${name}`` and ``$(name)`` are ``$name``: compare list items by meaning."""
    return re.sub(r"\$[{(]([A-Za-z0-9_]+)[})]", r"$\1", item)


def _separator(current: str) -> str:
    return ", " if "," in current or not current.strip() else " "


def _override_notes(config, name: str, skip=None) -> tuple:
    notes = []
    for svc in config.overridden_by(name):
        if skip is not None and (svc.name, svc.type) == skip:
            continue
        o = svc.overrides[name]
        notes.append(f"{svc.key} overrides it with -o {name}={o.value} ({o.where}): this change does not "
                     f"reach that service (postconf -P '{svc.key}/{name}=...')")
    return tuple(notes)


def _known_current(config, name: str, service=None):
    """(raw value, where) when the value in effect is known here, else (None, None)."""
    if config is None:
        return None, None
    value = config.value(name, service)
    if value is None:
        return None, None
    return value, config.where(name, service)


def add_to_list(name: str, items, config=None, *, service: tuple[str, str] | None = None) -> Fix:
    """Add ``items`` (a string or several) to the list parameter ``name``, keeping every item it
    has: main.cf with ``postconf -e``, or one service's override with ``postconf -P``."""
    add = [items] if isinstance(items, str) else list(items)
    current, where = _known_current(config, name, service)
    if service is not None:
        return _add_to_service_list(name, add, config, service, current, where)
    if current is None:
        return Fix(
            commands=(read_param(name),
                      f'postconf -e "{name} = $(postconf -h {name}), {_dq(", ".join(add))}"'),
            summary=f"{name}: add {', '.join(add)} to the current value (read on the server first)",
            new=None, notes=("the second command keeps the current value: the shell inserts it with "
                             f"$(postconf -h {name})",))
    have = {_norm(i) for i in split_quoted(current)}
    missing = [i for i in add if _norm(i) not in have]
    if not missing:
        return Fix((), f"{name} already has {', '.join(add)} ({where})", current, current, where)
    sep = _separator(current)
    new = (current.rstrip(", \t") + sep if current.strip() else "") + sep.join(missing)
    return Fix(
        commands=(f"postconf -e {quote(f'{name} = {new}')}",),
        summary=f"{name}: {current or '(empty)'} ({where}) → {new}",
        current=current, new=new, where=where, notes=_override_notes(config, name))


def _add_to_service_list(name, add, config, service, current, where) -> Fix:
    svc_key = f"{service[0]}/{service[1]}"
    if config is None or config.service(*service) is None:
        notes = () if config is None else (f"master.cf has no service {svc_key}",)
        return Fix(
            commands=(f"postconf -P {quote(f'{svc_key}/{name}')}", read_param(name)),
            summary=f"{svc_key} {name}: add {', '.join(add)} to the value that service uses "
                    "(its -o override if the first command shows one, else main.cf's)",
            notes=notes)
    items = split_quoted(current or "")
    have = {_norm(i) for i in items}
    missing = [i for i in add if _norm(i) not in have]
    if not missing:
        return Fix((), f"{svc_key} {name} already has {', '.join(add)} ({where})", current, current, where)
    new_items = items + missing
    if any(c.isspace() for i in new_items for c in i):
        # postconf -P refuses whitespace in a value: name a main.cf parameter instead (master(5))
        helper = re.sub(r"[^A-Za-z0-9_]", "_", service[0]) + "_" + name
        new = ", ".join(new_items)
        return Fix(
            commands=(f"postconf -e {quote(f'{helper} = {new}')}",
                      f"postconf -P {quote(f'{svc_key}/{name}=${helper}')}"),
            summary=f"{svc_key} {name}: {current or '(empty)'} ({where}) → {new} (through {helper} in main.cf)",
            current=current, new=new, where=where)
    new = ",".join(new_items)
    return Fix(
        commands=(f"postconf -P {quote(f'{svc_key}/{name}={new}')}",),
        summary=f"{svc_key} {name}: {current or '(empty)'} ({where}) → {new}",
        current=current, new=new, where=where)


def set_param(name: str, value: str, config=None) -> Fix:
    """Set a one-item parameter in main.cf (``postconf -e``). A list parameter is refused when
    the new value would drop an item (use `add_to_list`)."""
    current, where = _known_current(config, name)
    if is_list(name) and current is not None:
        dropped = _dropped(current, value)
        if dropped:
            raise ValueError(f"{name}: setting {value!r} would drop {', '.join(dropped)}; use add_to_list")
    if current is not None and current == value:
        return Fix((), f"{name} is already {value} ({where})", current, value, where)
    shown = f"{current or '(empty)'} ({where})" if current is not None else "(current value: see postconf " \
                                                                            f"{name})"
    commands = (f"postconf -e {quote(f'{name} = {value}')}",)
    if current is None:
        commands = (read_param(name), *commands)
    notes = _override_notes(config, name) if config is not None else ()
    return Fix(commands, f"{name}: {shown} → {value}", current, value, where, notes)


def set_effective(name: str, value: str, config, service: tuple[str, str]) -> Fix:
    """Make ``service``'s daemon use ``value``: its ``-o`` override when it has one (changing
    main.cf would not reach it), else main.cf."""
    svc = config.service(*service) if config is not None else None
    if svc is not None and name in svc.overrides:
        return set_service_param(service[0], service[1], name, value, config)
    return set_param(name, value, config)


def set_service_param(service: str, type: str, name: str, value: str, config=None) -> Fix:
    """Set one service's override: ``postconf -P 'service/type/name=value'``."""
    key = f"{service}/{type}"
    if any(c.isspace() for c in value):
        helper = re.sub(r"[^A-Za-z0-9_]", "_", service) + "_" + name
        return Fix((f"postconf -e {quote(f'{helper} = {value}')}",
                    f"postconf -P {quote(f'{key}/{name}=${helper}')}"),
                   f"{key} {name} → {value} (through {helper} in main.cf: -o values cannot hold spaces)",
                   new=value)
    if config is None:
        return Fix((f"postconf -P {quote(f'{key}/{name}')}", f"postconf -P {quote(f'{key}/{name}={value}')}"),
                   f"{key} {name} → {value}", new=value)
    svc = config.service(service, type)
    if svc is None:
        return Fix((), f"master.cf has no service {key}: nothing to change", notes=_similar(config, service))
    current, where = config.value(name, (service, type)), config.where(name, (service, type))
    if is_list(name) and current:
        dropped = _dropped(current, value)
        if dropped:
            raise ValueError(f"{key} {name}: {value!r} would drop {', '.join(dropped)}; use add_to_list")
    if current == value:
        return Fix((), f"{key} {name} is already {value} ({where})", current, value, where)
    return Fix((f"postconf -P {quote(f'{key}/{name}={value}')}",),
               f"{key} {name}: {current or '(empty)'} ({where}) → {value}", current, value, where)


def set_service_field(service: str, type: str, field: str, value: str, config=None) -> Fix:
    """Set a master.cf column: ``postconf -F 'service/type/process_limit=20'``. ``field`` may be
    the column name (maxproc, unpriv) or postconf's (process_limit, unprivileged)."""
    fp = FP_NAMES.get(field, field)
    if fp not in COLUMN_NAMES or fp in ("service", "type", "command"):
        raise ValueError(f"{field!r} is not a master.cf column postconf -F can set safely "
                         "(private, unprivileged, chroot, wakeup, process_limit)")
    key = f"{service}/{type}"
    command = f"postconf -F {quote(f'{key}/{fp}={value}')}"
    if config is None:
        return Fix((f"postconf -F {quote(f'{key}/{fp}')}", command), f"{key} {fp} → {value}", new=value)
    svc = config.service(service, type)
    if svc is None:
        return Fix((), f"master.cf has no service {key}: nothing to change", notes=_similar(config, service))
    current = svc.column(COLUMN_NAMES[fp])
    if current == value:
        return Fix((), f"{key} {fp} is already {value} ({svc.where})", current, value, svc.where)
    shown = current if current != "-" else f"- (= {svc.effective.get(COLUMN_NAMES[fp])})"
    return Fix((command,), f"{key} {fp}: {shown} ({svc.where}) → {value}", current, value, svc.where)


def _similar(config, service: str) -> tuple:
    others = [s.key for s in config.find_services(name=service)]
    return (f"services named {service}: {', '.join(others)}",) if others else ()


def _dropped(current: str, new: str) -> list[str]:
    have = {_norm(i) for i in split_quoted(new)}
    return [i for i in split_quoted(current) if _norm(i) not in have]
