"""master.cf services: the 8 columns, the command's arguments and its ``-o`` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

from .syntax import BLANKS, split_quoted, strip_braces

MAX_ARGS = 1000  # arguments of one master.cf command (a real one has a few dozen at most)


@dataclass(frozen=True)
class Definition:
    """``name = value`` at file:line: a main.cf line, or a service's ``-o name=value``."""

    name: str
    value: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


Override = Definition  # a service's -o name=value


@dataclass
class Service:
    """One master.cf entry. Column values are as written (``-`` kept); `effective` holds what
    Postfix uses (booleans, ints; None when it depends on a main.cf that was not read)."""

    name: str
    type: str
    private: str = "-"
    unpriv: str = "-"
    chroot: str = "-"
    wakeup: str = "-"
    maxproc: str = "-"
    command: str = ""
    args: tuple = ()  # the command's arguments, as master(8) passes them ({} stripped)
    overrides: dict = field(default_factory=dict)  # name -> Override (the last -o of a name wins)
    file: str = ""
    line: int = 0
    partial: bool = False  # built from postconf -F/-P lines that did not give every column
    effective: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``name/type``, as ``postconf -F``/``-P`` and this tool's fixes name a service."""
        return f"{self.name}/{self.type}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def chrooted(self):
        """True/False, or None when the column is ``-`` and compatibility_level is not known."""
        return self.effective.get("chroot")

    @property
    def process_limit(self):
        """maxproc as Postfix uses it (0 = no limit), or None when ``-`` and main.cf is not known."""
        return self.effective.get("maxproc")

    def column(self, name: str) -> str:
        return getattr(self, name)

    def as_dict(self) -> dict:
        return {
            "service": self.key, "where": self.where,
            "columns": {c: getattr(self, c) for c in ("private", "unpriv", "chroot", "wakeup", "maxproc")},
            "command": self.command, "effective": dict(self.effective),
            "overrides": {n: o.value for n, o in self.overrides.items()},
        }


def parse_arguments(args: str, file: str, line: int, problems) -> tuple[tuple, dict]:
    """The command's arguments and its ``-o`` overrides, as postconf's pcf_normalize_daemon_args()
    reads them: options come first; ``-o name=value``, ``-oname=value`` and ``-o { name = value }``
    override a main.cf parameter; the first argument that is not an option ends the options."""
    tokens = split_quoted(args, BLANKS)
    if len(tokens) > MAX_ARGS:
        problems.add(line, f"more than {MAX_ARGS} command arguments: the rest is ignored")
        tokens = tokens[:MAX_ARGS]
    overrides: dict = {}
    out: list[str] = []
    i, in_options = 0, True
    while i < len(tokens):
        tok = tokens[i]
        if in_options and (not tok.startswith("-") or tok == "--"):
            in_options = False
        if not in_options:
            out.append(strip_braces(tok))
            i += 1
            continue
        if tok.startswith("-o"):
            value = tok[2:]
            if not value:
                if i + 1 >= len(tokens):
                    problems.add(line, "-o without name=value at the end of the command")
                    out.append(tok)
                    i += 1
                    continue
                value = tokens[i + 1]
                i += 1
            braced = value.startswith("{")
            value = strip_braces(value)
            name, sep, val = value.partition("=")
            name = name.strip(BLANKS) if braced else name
            val = val.strip(BLANKS) if braced else val
            if not sep or not name:
                problems.add(line, f"-o {value[:40]!r}: expected name=value")
            else:
                if not braced and any(c in BLANKS for c in name):
                    problems.add(line, f"-o {value[:40]!r}: bad parameter name")
                overrides[name] = Override(name, val, file, line)
            out += ["-o", f"{name}={val}" if sep else value]
        else:
            out.append(tok)
        i += 1
    return tuple(out), overrides


def resolve(service: Service, compatibility_level, default_process_limit) -> None:
    """Fill ``service.effective`` from the columns and master_ent.c's defaults. The two context
    values are None when unknown (no main.cf was read)."""
    eff: dict = {}
    for col in ("private", "unpriv"):
        value = getattr(service, col)
        eff[col] = (value == "y") if value in ("y", "n") else (True if value == "-" else None)
    chroot = service.chroot
    if chroot in ("y", "n"):
        eff["chroot"] = chroot == "y"
    elif chroot == "-" and compatibility_level is not None:
        eff["chroot"] = compatibility_level < (1, 0, 0)
    else:
        eff["chroot"] = None
    wakeup = service.wakeup
    if wakeup == "-":
        eff["wakeup"] = 0
    elif wakeup.rstrip("?").isdigit():
        eff["wakeup"] = int(wakeup.rstrip("?"))
    else:
        eff["wakeup"] = None
    eff["wakeup_if_used"] = wakeup.endswith("?")
    maxproc = service.maxproc
    if maxproc.isdigit():
        eff["maxproc"] = int(maxproc)
    elif maxproc == "-":
        eff["maxproc"] = default_process_limit
    else:
        eff["maxproc"] = None
    service.effective = eff
