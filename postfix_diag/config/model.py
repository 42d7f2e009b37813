"""The Config model: what the sources say, with Postfix's defaults and $name expansion."""

from __future__ import annotations

from dataclasses import dataclass

from . import defaults as _defaults
from .expand import UNKNOWN, Expansion, ExpansionError, expand
from .networks import match_networks, parse_ip
from .services import Definition, Override, Service, parse_arguments, resolve
from .syntax import FP, MAIN, MASTER, Parsed, Problem, _Problems, split_quoted

DEFAULT = "default"  # `where` of a value that no source set


@dataclass(frozen=True)
class Source:
    """One thing read: a file, or the output of a command (``postconf -n``)."""

    path: str
    kind: str  # "main.cf", "master.cf", "postconf-FP", or "unrecognized" / "unreadable"
    lines: int = 0
    origin: str = "file"  # "file" or "command"

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "lines": self.lines, "origin": self.origin}


@dataclass(frozen=True)
class Table:
    """A lookup table a parameter names: ``hash:/etc/aliases`` → type hash, name /etc/aliases."""

    type: str
    name: str
    text: str  # as written (after expansion), e.g. proxy:hash:/etc/aliases
    proxied: bool = False

    def __str__(self) -> str:
        return self.text


class Config:
    """Everything read from the given sources. Build it with `postfix_diag.config.load()`.

    Values: `value(name)` is the raw text in effect (the last definition, else Postfix's default),
    `expanded(name)` the same after $name expansion. With ``service=("submission", "inet")`` both
    see that service's ``-o`` overrides, as its daemon does. Every method that reads a parameter
    remembers the name, so `as_dict()` can report the values a report relied on."""

    def __init__(self, parsed: list[tuple[Parsed, str]], host_values: dict | None = None):
        """``parsed``: (Parsed, origin) per source, in order; origin "file", "command" or "text"."""
        self.sources: list[Source] = []
        self.problems: list[Problem] = []
        self.definitions: dict[str, list[Definition]] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.host_values: dict[str, str] = dict(host_values or {})
        self.has_main = self.has_master = False
        self._used: dict[str, None] = {}
        self._services_used: dict[str, None] = {}
        self._cache: dict = {}
        for p, origin in parsed:
            self.sources.append(Source(p.name, p.kind or "unrecognized", p.lines, origin))
            self.problems.extend(p.problems)
            notes = _Problems(p.name)
            if p.kind == MAIN:
                self.has_main = True
                self._add_main(p, notes)
            elif p.kind == MASTER:
                self.has_master = True
                self._add_master(p, notes)
            elif p.kind == FP:
                self.has_master = True
                self._add_fp(p, notes)
            self.problems.extend(notes.close())
        level = self._compatibility_level()
        limit = self._int("default_process_limit") if self.has_main else None
        for svc in self.services.values():
            resolve(svc, level, limit)
        self._used.clear()  # what building read is not what a report relied on

    # --- building ---------------------------------------------------------------------------------
    def _add_main(self, p: Parsed, notes: _Problems) -> None:
        for e in p.entries:
            name, value = e.fields["name"], e.fields.get("value", "")
            earlier = self.definitions.get(name)
            if earlier:
                notes.add(e.line, f"overriding earlier entry: {name}={value[:60]} (earlier: "
                                  f"{earlier[-1].where})", "warning")
            self.definitions.setdefault(name, []).append(Definition(name, value, p.name, e.line))

    def _add_service(self, svc: Service, notes: _Problems) -> None:
        key = (svc.name, svc.type)
        earlier = self.services.get(key)
        if earlier is not None and not earlier.partial:
            notes.add(svc.line, f"duplicate master.cf entry {svc.key}: only the last one is used "
                                f"(earlier: {earlier.where})", "warning")
        self.services[key] = svc

    def _add_master(self, p: Parsed, notes: _Problems) -> None:
        for e in p.entries:
            f = e.fields
            args, overrides = parse_arguments(f.get("args", ""), p.name, e.line, notes)
            self._add_service(Service(
                name=f["service"], type=f["type"], private=f["private"], unpriv=f["unpriv"],
                chroot=f["chroot"], wakeup=f["wakeup"], maxproc=f["maxproc"], command=f["command"],
                args=args, overrides=overrides, file=p.name, line=e.line), notes)

    def _add_fp(self, p: Parsed, notes: _Problems) -> None:
        """postconf -F (one line per column) and postconf -P (one line per -o override)."""
        built: dict[tuple[str, str], Service] = {}
        for e in p.entries:
            f = e.fields
            key = (f["service"], f["type"])
            svc = built.get(key)
            if svc is None:
                svc = built[key] = Service(name=key[0], type=key[1], file=p.name, line=e.line, partial=True)
            if e.kind == "param":
                svc.overrides[f["name"]] = Override(f["name"], f.get("value", ""), p.name, e.line)
                continue
            column = _defaults.COLUMN_NAMES[f["field"]]
            value = f.get("value", "")
            if column == "command":
                head, _, rest = value.strip().partition(" ")
                args, overrides = parse_arguments(rest, p.name, e.line, notes)
                svc.command, svc.args = head, args
                svc.overrides.update(overrides)
            elif column not in ("service", "type"):
                setattr(svc, column, value or "-")
        for svc in built.values():
            svc.partial = not svc.command
            self._add_service(svc, notes)

    # --- parameters -------------------------------------------------------------------------------
    def definition(self, name: str) -> Definition | None:
        """The definition in effect (the last one), or None when no source sets ``name``."""
        defs = self.definitions.get(name)
        return defs[-1] if defs else None

    def is_set(self, name: str) -> bool:
        return name in self.definitions

    def default(self, name: str) -> str | None:
        """Postfix's built-in default (raw), None when it is computed on the host or unknown."""
        if name in self.host_values:
            return self.host_values[name]
        return _defaults.builtin().get(name)

    def value(self, name: str, service: tuple[str, str] | None = None) -> str | None:
        """The raw value in effect: a service's -o override, the last definition, else the default;
        None when neither the sources nor the defaults give one (host-computed or unknown name)."""
        self._used[name] = None
        if service is not None:
            svc = self.service(*service)
            if svc is not None and name in svc.overrides:
                return svc.overrides[name].value
        d = self.definition(name)
        return d.value if d is not None else self.default(name)

    def where(self, name: str, service: tuple[str, str] | None = None) -> str:
        """Where the value in effect comes from: ``file:line`` of its definition or -o override,
        ``default``, or ``unknown``."""
        if service is not None:
            svc = self.service(*service)
            if svc is not None and name in svc.overrides:
                return svc.overrides[name].where
        d = self.definition(name)
        if d is not None:
            return d.where
        if name in self.host_values:
            return "postconf (host)"
        return DEFAULT if name in _defaults.builtin() else "unknown"

    def _lookup(self, service: Service | None):
        builtin = _defaults.builtin()

        def lookup(name: str):
            if service is not None:
                if name in service.overrides:
                    return service.overrides[name].value
                if name == "service_name":
                    return service.name
                if name == "process_name":
                    return service.command.rsplit("/", 1)[-1]
            d = self.definition(name)
            if d is not None:
                return d.value
            if name in self.host_values:
                return self.host_values[name]
            if name in _defaults.HOST_DEPENDENT:
                return UNKNOWN
            return builtin.get(name)

        return lookup

    def expansion(self, name: str, service: tuple[str, str] | None = None) -> Expansion | None:
        """The expansion of ``name`` (text plus the names it could not resolve), or None when
        the parameter has no value here or its value cannot be expanded (a problem is recorded)."""
        self._used[name] = None
        key = (service, name)
        if key in self._cache:
            return self._cache[key]
        svc = self.service(*service) if service is not None else None
        lookup = self._lookup(svc)
        raw = lookup(name)
        result = None
        if raw is UNKNOWN:
            result = Expansion(f"${name}", unknown={name})
        elif raw is not None:
            try:
                result = expand(raw, lookup)
            except ExpansionError as exc:
                where = self.where(name, service)
                file, _, line = where.rpartition(":")
                self.problems.append(Problem(file or where, int(line) if line.isdigit() else 0,
                                             f"cannot expand {name}: {exc}"))
        self._cache[key] = result
        return result

    def expanded(self, name: str, service: tuple[str, str] | None = None) -> str | None:
        """The value after $name expansion; None when unknown or unexpandable. A reference to a
        value Postfix computes on the host (``$myhostname`` when main.cf does not set it) stays
        as written: see `expansion()` for the list of such names."""
        e = self.expansion(name, service)
        return e.text if e is not None else None

    def items(self, name: str, service: tuple[str, str] | None = None) -> list[str]:
        """The expanded value split into list items (commas and whitespace, ``{...}`` kept whole)."""
        text = self.expanded(name, service)
        return split_quoted(text) if text else []

    def _int(self, name: str):
        text = self.expanded(name)
        return int(text) if text is not None and text.strip().isdigit() else None

    def _compatibility_level(self):
        if not self.has_main:
            return None
        text = (self.expanded("compatibility_level") or "0").strip()
        parts = text.split(".")
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
            return None
        return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))

    def in_mynetworks(self, ip: str, service: tuple[str, str] | None = None):
        """True/False: is the client address in mynetworks; None when it cannot be known here
        (tables, hostnames, or the host-computed default of mynetworks_style)."""
        self._used["mynetworks"] = None
        if parse_ip(ip) is None:
            return None
        svc = self.service(*service) if service is not None else None
        explicit = (svc is not None and "mynetworks" in svc.overrides) or self.is_set("mynetworks") \
            or "mynetworks" in self.host_values
        if explicit:
            text = self.expanded("mynetworks", service)
            return match_networks(ip, text) if text is not None else None
        if not self.has_main:
            return None
        # Postfix computes the default from mynetworks_style and the host's interfaces: only the
        # loopback part of that is known here.
        style = (self.expanded("mynetworks_style", service) or "").strip()
        loopback = {"host": "127.0.0.1/32 [::1]/128", "subnet": "127.0.0.0/8 [::1]/128",
                    "class": "127.0.0.0/8 [::1]/128"}.get(style)
        if loopback is None:
            return None
        return True if match_networks(ip, loopback) else None

    # --- services ---------------------------------------------------------------------------------
    def service(self, name: str, type: str | None = None) -> Service | None:
        """The master.cf entry ``name/type``; with no type, the only entry of that name, if one."""
        if type is not None:
            svc = self.services.get((name, type))
        else:
            found = [s for (n, _), s in self.services.items() if n == name]
            svc = found[0] if len(found) == 1 else None
        if svc is not None:
            self._services_used[svc.key] = None
        return svc

    def find_services(self, name: str | None = None, type: str | None = None,
                      command: str | None = None) -> list[Service]:
        """Every service matching the given name, type and command (basename), in file order."""
        out = []
        for svc in self.services.values():
            if name is not None and svc.name != name and svc.name.rsplit(":", 1)[-1] != name:
                continue
            if type is not None and svc.type != type:
                continue
            if command is not None and svc.command.rsplit("/", 1)[-1] != command:
                continue
            out.append(svc)
        return out

    def service_param(self, service: str, type: str, name: str, expand: bool = True) -> str | None:
        """The value ``name`` has in that service's daemon: its -o override, else main.cf's value,
        else the default (expanded unless ``expand=False``)."""
        self._services_used[f"{service}/{type}"] = None
        key = (service, type)
        return self.expanded(name, key) if expand else self.value(name, key)

    def overridden_by(self, name: str) -> list[Service]:
        """The services whose -o override of ``name`` wins over main.cf for their daemons."""
        return [s for s in self.services.values() if name in s.overrides]

    # --- tables -----------------------------------------------------------------------------------
    def maps(self, name: str, service: tuple[str, str] | None = None) -> list[Table]:
        """The lookup tables a parameter names (``type:name`` items of its expanded value;
        ``proxy:`` unwrapped, policy-service endpoints after check_policy_service skipped)."""
        if name.endswith(("_milters", "_policy_service")):
            return []
        out, skip_next = [], False
        for item in self.items(name, service):
            if skip_next:
                skip_next = False
                continue
            if item == "check_policy_service":
                skip_next = True
                continue
            table = _table(item)
            if table is not None:
                out.append(table)
        return out

    # --- report -----------------------------------------------------------------------------------
    @property
    def used(self) -> list[str]:
        return list(self._used)

    def as_dict(self, names=None) -> dict:
        """For the JSON report: the sources read and the values the report relied on (``names``,
        or every parameter read through this object so far)."""
        names = list(self._used) if names is None else list(names)
        params = {}
        for name in names:
            entry = {"value": self.value(name), "where": self.where(name)}
            expanded = self.expanded(name)
            if expanded != entry["value"]:
                entry["expanded"] = expanded
            params[name] = entry
        out = {"sources": [s.as_dict() for s in self.sources], "parameters_used": params}
        services = [self.services[tuple(k.rsplit("/", 1))] for k in self._services_used
                    if tuple(k.rsplit("/", 1)) in self.services]
        if services:
            out["services_used"] = {s.key: s.as_dict() for s in services}
        if self.problems:
            out["problems"] = [str(p) for p in self.problems]
        return out


def _table(item: str) -> Table | None:
    text = item.lstrip("!")
    proxied = False
    type_, sep, name = text.partition(":")
    if type_ == "proxy" and sep:
        proxied = True
        type_, sep, name = name.partition(":")
    if not sep or type_ not in _defaults.TABLE_TYPES or not name:
        return None
    return Table(type_, name, text, proxied)
