"""What the rules read of the Postfix configuration (``Rule.config``, a
`postfix_diag.config.Config`, or None), in the words a finding uses.

- `Facts`: the configuration facts a finding relied on (``Finding.config``): a parameter's value
  and where it is set (``postconf-n.txt:12``, ``master.cf:40`` for a ``-o`` override, ``default``),
  a master.cf column of a service.
- `services_of` / `services_for_tags`: the master.cf services whose daemon logs with a line's tag
  (``postfix/submission/smtpd`` is the service with ``-o syslog_name=postfix/submission`` and command
  smtpd; ``base.log_tag`` reads the tag, ``LineRule.track_tags`` counts a rule's tags).
- `next_hops`: where the configuration sends mail (relayhost, content_filter, the transports'
  next hops), to name a host that is down as *the relayhost*.
- `tables_named`: the parameters that name a lookup table, to rebuild it with the right command.
- `log_path`: the mail log a fix should grep (maillog_file when set).
- `steps`: the commands of `postfix_diag.config.fixes` results as remediation text.

Every reader accepts ``cfg=None`` and then answers "unknown" (None, empty), so that a rule reads
the same code with and without a configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_LOG = "/var/log/mail.log"
QUEUE_DIRECTORY = "/var/spool/postfix"
INDEXED = frozenset(("hash", "btree", "lmdb", "cdb", "dbm", "sdbm"))  # tables postmap builds files for


class Facts(dict):
    """``{"mynetworks": {"value": "127.0.0.1/32", "where": "main.cf:20"}, ...}`` for Finding.config."""

    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = cfg

    def param(self, name: str, service=None, *, expanded: bool = False) -> str | None:
        """Record a parameter (of one service, when ``service`` = (name, type) and it has a -o
        override) and return its value (raw, or expanded); None without a configuration."""
        cfg = self.cfg
        if cfg is None:
            return None
        value = cfg.expanded(name, service) if expanded else cfg.value(name, service)
        where = cfg.where(name, service)
        svc = cfg.service(*service) if service is not None else None
        key = f"{svc.key} {name}" if svc is not None and name in svc.overrides else name
        self[key] = {"value": value if value is not None else "(unknown)", "where": where}
        return value

    def column(self, svc, column: str):
        """Record a master.cf column of a service ("smtp/unix chroot") and return what Postfix
        uses (True/False for chroot, an int for maxproc; None when not known)."""
        value = svc.column(column)
        effective = svc.effective.get(column)
        shown = value if value != "-" or effective is None else f"- (= {_word(effective)})"
        self[f"{svc.key} {column}"] = {"value": shown, "where": svc.where}
        return effective


def _word(value) -> str:
    return {True: "y", False: "n"}.get(value, str(value))


def services_of(cfg, syslog_name: str, program: str) -> list:
    """The master.cf services whose daemon (command ``program``) logs as ``syslog_name/program``."""
    if cfg is None or not cfg.has_master:
        return []
    out = []
    with cfg.unrecorded():
        for svc in cfg.find_services(command=program):
            name = cfg.expanded("syslog_name", (svc.name, svc.type)) or "postfix"
            if name == syslog_name:
                out.append(svc)
    for svc in out:
        cfg.service(svc.name, svc.type)  # reported as used
    return out


def services_for_tags(cfg, tags) -> list:
    """The master.cf services of the tags of a rule's lines (a BoundedCounter of log_tag), most
    frequent tag first, each service once."""
    out: dict = {}
    for tag, _ in tags.most_common():
        if isinstance(tag, tuple):
            for svc in services_of(cfg, *tag):
                out.setdefault(svc.key, svc)
    return list(out.values())


def chrooted(cfg, program: str):
    """Whether the services running ``program`` are chrooted: True (all), False (none), or None
    (some are, or master.cf is not known)."""
    if cfg is None or not cfg.has_master:
        return None
    values = {s.chrooted for s in cfg.find_services(command=program)}
    return values.pop() if len(values) == 1 else None


def service_guess(syslog_name: str, program: str) -> tuple[str, str]:
    """The master.cf service a tag most likely belongs to when master.cf is not known: the
    service named in the tag, or the default one of the program (smtpd → smtp/inet,
    smtp → smtp/unix)."""
    name = syslog_name.split("/", 1)[1] if "/" in syslog_name else ""
    inet = program in ("smtpd", "postscreen", "qmqpd")
    if not name or name == program:
        name = {"smtpd": "smtp", "postscreen": "smtp", "trivial-rewrite": "rewrite"}.get(program, program)
    return name, "inet" if inet else "unix"


# --- where mail goes ----------------------------------------------------------------------------

@dataclass(frozen=True)
class NextHop:
    role: str  # "the relayhost", "the content filter", ...
    parameter: str  # the parameter (or "service/type parameter") that names it
    value: str  # as configured, e.g. [127.0.0.1]:2599
    where: str
    host: str  # host name or address, without brackets
    port: int | None  # None: the transport's default
    exact: bool  # [host]: no MX lookup, the host itself

    def matches(self, target: str) -> bool:
        """Whether a ``host[ip]:port`` of a log line is this next hop."""
        m = re.match(r"(.*?)\[([^\]]*)\](?::(\d+))?$", target)
        if m is None:
            return False
        name, ip, port = m.group(1).lower(), m.group(2).lower(), m.group(3)
        host = self.host.lower()
        if self.port is not None and port is not None and int(port) != self.port:
            return False
        if host in (name, ip):
            return True
        return not self.exact and name.endswith("." + host)


_ROLES = (
    ("relayhost", "the relayhost"),
    ("content_filter", "the content filter"),
    ("default_transport", "the default transport's next hop"),
    ("relay_transport", "the relay transport's next hop"),
    ("mailbox_transport", "the mailbox transport"),
    ("virtual_transport", "the virtual transport"),
)


def _destination(text: str, transport: bool):
    """(host, port, exact) of a destination; with ``transport``, the nexthop of transport:nexthop."""
    text = text.strip()
    if transport:
        if ":" not in text:
            return None
        text = text.split(":", 1)[1]
        for prefix in ("inet:", "unix:"):
            if text.startswith(prefix):
                text = text[len(prefix):]
        if text.startswith("/") or text.startswith("private/") or not text:
            return None
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]\s]+)(?::(\d+))?", text)
    if m is None:
        return None
    if m.group(1):
        return m.group(1), int(m.group(2)) if m.group(2) else None, True
    return m.group(3), int(m.group(4)) if m.group(4) else None, False


def next_hops(cfg) -> list[NextHop]:
    """Where the configuration sends mail: relayhost, content_filter (also per-service -o) and the
    next hops named in the transports (``smtp:[relay.example]:587``)."""
    if cfg is None or not cfg.has_main:
        return []
    with cfg.unrecorded():
        return _next_hops(cfg)


def _next_hops(cfg) -> list[NextHop]:
    out = []
    for name, role in _ROLES:
        settings = [(name, None)]
        if name == "content_filter":
            settings += [(name, (s.name, s.type)) for s in cfg.overridden_by(name)]
        for param, service in settings:
            value = (cfg.expanded(param, service) or "").strip()
            if not value:
                continue
            items = re.split(r"[\s,]+", value) if param == "relayhost" else [value]
            for item in items:
                dest = _destination(item, transport=param != "relayhost")
                if dest is None:
                    continue
                label = param if service is None else f"{service[0]}/{service[1]} {param}"
                out.append(NextHop(role, label, item, cfg.where(param, service), *dest))
    return out


def next_hop_of(cfg, target: str) -> NextHop | None:
    """The configured next hop a ``host[ip]:port`` is, if any (the relayhost first)."""
    for hop in next_hops(cfg):
        if hop.matches(target):
            return hop
    return None


# --- lookup tables ------------------------------------------------------------------------------

def tables_named(cfg, map_text: str) -> list[tuple[str, tuple | None, object]]:
    """(parameter, service or None, Table) for every parameter (main.cf, -o overrides) naming the table
    ``map_text`` (``hash:/etc/postfix/x``, or a file ``/etc/postfix/x.db`` / ``/etc/postfix/x``)."""
    if cfg is None:
        return []
    want = _table_key(map_text)
    found = []
    with cfg.unrecorded():
        names = list(cfg.definitions) + ["alias_maps", "alias_database"]
        for name in dict.fromkeys(names):
            for table in cfg.maps(name):
                if _table_key(table.text) == want or _table_key(table.name) == want:
                    found.append((name, None, table))
        for svc in cfg.services.values():
            for name in svc.overrides:
                for table in cfg.maps(name, (svc.name, svc.type)):
                    if _table_key(table.text) == want or _table_key(table.name) == want:
                        found.append((name, (svc.name, svc.type), table))
    return found


def _table_key(text: str) -> str:
    """A table's file without type and database suffix: hash:/etc/aliases, /etc/aliases.db → /etc/aliases."""
    t = text.strip()
    if t.startswith("proxy:"):
        t = t[6:]
    if ":" in t.split("/", 1)[0]:
        t = t.split(":", 1)[1]
    return re.sub(r"\.(db|lmdb|cdb|dir|pag)$", "", t)


def rebuild_command(table, is_alias: bool) -> str | None:
    """The command that builds an indexed table from its source: postalias for alias_database
    tables (newaliases rebuilds exactly those), postmap for the others; None for tables that
    have no file to build (SQL, LDAP, regexp, cidr...)."""
    if table.type not in INDEXED:
        return None
    return f"postalias {table.type}:{table.name}" if is_alias else f"postmap {table.type}:{table.name}"


def is_alias_database(cfg, table) -> bool:
    return cfg is not None and any(_table_key(t.text) == _table_key(table.text)
                                   for t in cfg.maps("alias_database"))


# --- small text helpers -------------------------------------------------------------------------

def log_path(cfg) -> str:
    """The mail log a fix should read: maillog_file when the configuration sets it."""
    if cfg is not None and cfg.is_set("maillog_file"):
        path = (cfg.expanded("maillog_file") or "").strip()
        if path.startswith("/"):
            return path
    return DEFAULT_LOG


def queue_directory(cfg) -> str:
    if cfg is not None:
        q = (cfg.expanded("queue_directory") or "").strip()
        if q.startswith("/"):
            return q
    return QUEUE_DIRECTORY


def commands(fix) -> str:
    """A Fix's commands as backticked text (what the safety checker reads)."""
    return " then ".join(f"`{c}`" for c in fix.commands)


def step(fix, then: str = "") -> str:
    """One remediation step from a `config.fixes.Fix`: what changes (current → new, where), the
    commands, the notes (services whose -o overrides the change does not reach)."""
    if not fix.commands:
        return fix.summary[0].upper() + fix.summary[1:] + "."
    text = f"{fix.summary}: {commands(fix)}"
    if then:
        text += f", then {then}"
    text += "."
    for note in fix.notes:
        text += f" Note: {note}."
    return text
