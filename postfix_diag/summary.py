"""Traffic summary: pflogsumm's numbers, plus what pflogsumm cannot see.

Two stages, so that a million lines stay cheap:

1. ``collect``: one pass over the event stream. Each event of interest becomes a short tuple in a
   list (only the columns the summary needs); no Event object is kept. Large plain files are split
   at line boundaries and parsed by several processes, each producing its own row lists.
2. ``summarize``: the row lists become DataFrames once, and every table is a pandas groupby,
   merge or crosstab over them.

How each total is counted, and where it deliberately differs from pflogsumm 1.1.5, is written down
in docs/summary-parity.md; tests/test_summary_parity.py checks it against pflogsumm's real output.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .events import FOREIGN, UNRECOGNIZED
from .inputs import STDIN, Source, resolve

# ---------------------------------------------------------------------------------------------
# Stage 1: events -> compact rows
# ---------------------------------------------------------------------------------------------

# Row layouts (one tuple per event; the names become DataFrame columns).
COLUMNS = {
    # message received: smtpd "client=" (any instance/service) or pickup "uid=... from=<>"
    "recv": ("seq", "ts", "host", "qid", "instance", "service", "client_host", "client_ip"),
    # qmgr "from=<...>, size=N, nrcpt=M (queue active)"
    "queued": ("seq", "host", "qid", "sender", "size"),
    # per-recipient status lines (delivery agents)
    "dlv": ("seq", "ts", "host", "qid", "instance", "program", "pid", "rcpt", "relay", "delay",
            "status", "reason", "dsn", "conn_use"),
    # access decisions: reject, reject_warning, hold, discard (smtpd, postscreen, cleanup)
    "access": ("ts", "instance", "program", "action", "stage", "code", "dsn", "reason", "tail", "sender",
               "rcpt", "client_host", "client_ip"),
    # smtpd connect (1) / disconnect (0), paired by (host, pid) for connection times
    "conn": ("seq", "ts", "host", "pid", "instance", "is_connect", "client_host", "client_ip"),
    # lines with a warning/error/fatal/panic severity
    "problem": ("ts", "instance", "program", "severity", "kind", "text"),
    # smtp/lmtp "connect to host[ip]:25: reason"
    "smtp_fail": ("program", "relay_host", "reason"),
    # postscreen verdicts and dnsblog hits
    "postscreen": ("verdict", "client_ip"),
    "dnsbl": ("dnsbl", "client_ip"),
    # "... TLS connection established from/to ..."
    "tls": ("instance", "program", "direction", "protocol", "cipher"),
    # smtpd "too many errors / lost connection / timeout after STAGE"
    "session_error": ("instance", "kind", "stage"),
}

# Kinds the summary never looks at: skipped before any other test.
_SKIP = frozenset((
    "message_id", "removed", "anvil_stats", "scache_stats", "debug", "qmgr_skipped", "bounce_notice",
    "client_misc", "tls_misc", "cleanup_misc", "smtp_misc", "script", "script_misc", "master_misc",
    "command_misc", "table_changed", "postsuper", "postsuper_summary", "cache_cleanup",
    "replace_command", "reply_filter", "proxy_accept", "local_misc",
))
_ACCESS = frozenset(("reject", "reject_warning", "hold", "discard"))
_SESSION_ERRORS = frozenset(("error_limit", "lost_connection", "timeout"))


@dataclass
class Rows:
    """What one pass over (part of) the event stream produced: row lists, turned into DataFrames
    by ``finish`` (in the process that collected them, so that parallel parts do that work in
    parallel and travel back as arrays)."""

    tables: dict = field(default_factory=lambda: {name: [] for name in COLUMNS})
    parts: list = field(default_factory=list)  # finished parts: {table name: DataFrame}
    lines: int = 0
    unrecognized: int = 0
    foreign: int = 0
    without_ts: int = 0
    filtered: int = 0

    def finish(self) -> Rows:
        if any(self.tables.values()):
            self.parts.append({name: _frame(rows, name) for name, rows in self.tables.items()})
            self.tables = {name: [] for name in COLUMNS}
        return self

    def extend(self, other: Rows) -> None:
        self.finish()
        other.finish()
        self.parts.extend(other.parts)
        self.lines += other.lines
        self.unrecognized += other.unrecognized
        self.foreign += other.foreign
        self.without_ts += other.without_ts
        self.filtered += other.filtered

    def frame(self, name: str) -> pd.DataFrame:
        """All rows of one table as one DataFrame, in log order."""
        self.finish()
        frames = [p[name] for p in self.parts if len(p[name])]
        if not frames:
            return _frame([], name)
        if len(frames) == 1:
            return frames[0].copy()
        return pd.concat(frames, ignore_index=True)


def collect_events(events: Iterable, since: float | None = None, until: float | None = None,
                   seq0: int = 0) -> Rows:
    """One pass over events: append a compact tuple per event of interest (see COLUMNS).

    ``since`` (inclusive) and ``until`` (exclusive) are wall-clock epochs like ``Event.ts``; when
    either is given, lines without a timestamp are left out. ``seq0`` numbers this part of the
    stream so that rows of several parts keep the log's order.
    """
    out = Rows()
    t = out.tables
    recv, queued, dlv, access = (t["recv"].append, t["queued"].append, t["dlv"].append,
                                 t["access"].append)
    conn, problem, smtp_fail = t["conn"].append, t["problem"].append, t["smtp_fail"].append
    postscreen, dnsbl, tls, sess = (t["postscreen"].append, t["dnsbl"].append, t["tls"].append,
                                    t["session_error"].append)
    skip = _SKIP
    access_kinds = _ACCESS
    session_errors = _SESSION_ERRORS
    filtering = since is not None or until is not None
    lo = since if since is not None else float("-inf")
    hi = until if until is not None else float("inf")
    seq = seq0
    unrec = foreign = no_ts = dropped = 0
    for ev in events:
        seq += 1
        k = ev.kind
        if k in skip:
            continue
        if k == UNRECOGNIZED:
            unrec += 1
            continue
        if k == FOREIGN:
            foreign += 1
            continue
        ts = ev.ts
        if filtering and (ts is None or ts < lo or ts >= hi):
            dropped += 1
            continue
        if ts is None:
            no_ts += 1
        f = ev.f
        if k == "connect":
            conn((seq, ts, ev.host, ev.pid, ev.instance, 1, None, None))
        elif k == "disconnect":
            conn((seq, ts, ev.host, ev.pid, ev.instance, 0, f.get("client_host"), f.get("client_ip")))
        elif k == "delivery":
            status = f.get("status")
            reason = f.get("reason")
            if status == "sent" and (reason is None or "forwarded as " not in reason):
                reason = None  # the reason of an ordinary delivery is not needed: save memory
            dlv((seq, ts, ev.host, ev.qid, ev.instance, ev.program, ev.pid, f.get("to"), f.get("relay"),
                 f.get("delay"), status, reason, f.get("dsn"), f.get("conn_use")))
        elif k == "qmgr_queued":
            queued((seq, ev.host, ev.qid, f.get("from"), f.get("size")))
        elif k == "client":
            if ev.program == "smtpd":
                recv((seq, ts, ev.host, ev.qid, ev.instance, ev.service, f.get("client_host"),
                      f.get("client_ip")))
        elif k == "pickup":
            recv((seq, ts, ev.host, ev.qid, ev.instance, ev.service, "pickup", None))
        elif k in access_kinds or (k == "access" and f.get("action") == "warning"
                                   and ev.program == "cleanup"):
            action = "reject_warning" if k == "access" else k
            access((ts, ev.instance, ev.program, action, f.get("stage"), f.get("code"), f.get("dsn"),
                    f.get("reason") or f.get("data"), f.get("tail"), f.get("from"), f.get("to"), f.get("client_host"),
                    f.get("client_ip")))
        elif k == "proxy_reject":
            access((ts, ev.instance, ev.program, "reject", f.get("stage"), None, None, f.get("reason"),
                    None, None, None, None, None))
        elif k == "tls_established":
            tls((ev.instance, ev.program, f.get("direction"), f.get("protocol"), f.get("cipher")))
        elif k in session_errors:
            sess((ev.instance, k, f.get("stage")))
        elif k == "postscreen":
            postscreen((f.get("verdict"), f.get("client_ip")))
        elif k == "dnsbl_listed":
            dnsbl((f.get("dnsbl"), f.get("client_ip")))
        elif k == "connect_error":
            smtp_fail((ev.program, f.get("relay_host"), f.get("reason")))
        if ev.severity != "info":
            problem((ts, ev.instance, ev.program, ev.severity, k, ev.text))
    out.lines = seq - seq0
    out.unrecognized = unrec
    out.foreign = foreign
    out.without_ts = no_ts
    out.filtered = dropped
    return out


# Lines the summary would drop anyway (cleanup's message-id=, qmgr's removed: about a fifth of a
# busy log) are recognized by their syslog envelope and tag, and never parsed. The match is
# anchored at the line start, so text a client controls (a HELO name, a reject reason) cannot make
# another line look like one of these.
_SKIP_LINE = re.compile(
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ][\d:.,+Z-]+) "
    r"[^\s\[\]:]+ [\w.-]*/(?:cleanup|qmgr)\[\d+\]: [0-9A-Za-z]+: (?:message-id=|removed$)"
)


def _parsed(parse, lines, display: str, years, skipped: list):
    """Events of ``lines`` (parse = Parser.parse_line), leaving out the lines _SKIP_LINE names;
    adds their number to skipped[0]."""
    match = _SKIP_LINE.match
    n = 0
    for line in lines:
        if ("message-id=" in line or line[-9:] == ": removed") and match(line):
            n += 1
            continue
        yield parse(line, display, 0, years)
    skipped[0] += n


# -- parallel parsing of big plain files ------------------------------------------------------

PARALLEL_MIN_BYTES = 24 * 1024 * 1024  # below this, one process is faster than starting others
_CHUNK_SHIFT = 40  # rows of chunk i are numbered from i << 40
_WORKER: dict = {}


def _is_plain_file(path: str) -> bool:
    if path == STDIN:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return False
    return not (head.startswith(b"\x1f\x8b") or head.startswith(b"BZh") or head.startswith(b"\xfd7zXZ\x00"))


def _split(path: str, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of about equal size, each starting at the beginning of a line."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as fh:
        for i in range(1, parts):
            fh.seek(size * i // parts)
            fh.readline()
            pos = fh.tell()
            if bounds[-1] < pos < size:
                bounds.append(pos)
    bounds.append(size)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _chunk_lines(path: str, start: int, end: int):
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        yield line[:-1] if line.endswith("\r") else line


def _parse_chunk(job) -> Rows:
    """Worker: parse one byte range of a plain file into rows (same results as read_lines)."""
    from .parse import Parser, YearGuesser

    path, display, mtime, start, end, index, since, until = job
    parser = _WORKER.get("parser") or Parser()
    years = YearGuesser(None, mtime)
    skipped = [0]
    events = _parsed(parser.parse_line, _chunk_lines(path, start, end), display, years, skipped)
    rows = collect_events(events, since, until, seq0=index << _CHUNK_SHIFT)
    rows.lines += skipped[0]
    return rows.finish()


def collect(paths, year: int | None = None, since: float | None = None, until: float | None = None,
            jobs: int | None = None) -> tuple[Rows, list[str], dict]:
    """Rows of every line of the given paths (see ``inputs.resolve``).

    Plain files larger than PARALLEL_MIN_BYTES are parsed by up to ``jobs`` processes (default:
    the number of CPUs) when no explicit year is given (an explicit year makes the December →
    January rollover depend on every earlier line). Returns (rows, source names, year assumptions).
    """
    from .inputs import read_lines
    from .parse import Parser, YearGuesser

    sources = resolve(list(paths) if paths else [])
    parser = Parser(year=year)
    if jobs is None:
        jobs = os.cpu_count() or 1
    rows = Rows()
    index = 0
    for source in sources:
        big = (jobs > 1 and year is None and _is_plain_file(source.path)
               and os.path.getsize(source.path) >= PARALLEL_MIN_BYTES)
        if big:
            index = _collect_parallel(parser, source, jobs, since, until, rows, index)
        else:
            years = YearGuesser(year, source.mtime)
            skipped = [0]
            events = _parsed(parser.parse_line, read_lines(source), source.display, years, skipped)
            part = collect_events(events, since, until, seq0=index << _CHUNK_SHIFT)
            part.lines += skipped[0]
            rows.extend(part)
            if years.years_used:
                parser.assumptions[source.display] = years.describe()
            index += 1
    assumptions = dict(parser.assumptions)
    return rows, [s.display for s in sources], assumptions


def _collect_parallel(parser, source: Source, jobs: int, since, until, rows: Rows, index: int) -> int:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .parse import YearGuesser

    ranges = _split(source.path, jobs)
    mtime = source.mtime
    todo = [(source.path, source.display, mtime, s, e, index + i, since, until)
            for i, (s, e) in enumerate(ranges)]
    _WORKER["parser"] = parser
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context()
    results: list = [None] * len(todo)
    with ProcessPoolExecutor(max_workers=max(1, len(todo) - 1), mp_context=ctx) as pool:
        futures = [pool.submit(_parse_chunk, job) for job in todo[1:]]
        results[0] = _parse_chunk(todo[0])  # this process parses the first part meanwhile
        for i, fut in enumerate(futures, 1):
            results[i] = fut.result()
    for part in results:
        rows.extend(part)
    if rows.lines:
        parser.assumptions[source.display] = YearGuesser(None, mtime).describe()
    return index + len(todo)


# ---------------------------------------------------------------------------------------------
# Stage 2: rows -> tables (pandas)
# ---------------------------------------------------------------------------------------------

_IPV4 = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}$")
_DOMAIN_TAIL = re.compile(r"^(.*)\.([^.]+)\.([^.]{3}|[^.]{2,3}\.[^.]{2})$")


def client_domain(host: str | None, ip: str | None) -> str:
    """pflogsumm's gimme_domain(): the client's name cut to its last two labels (three for
    xx.yy country domains), or the IP address when the name is "unknown"."""
    if not host or host == "unknown":
        return ip or ""
    m = _DOMAIN_TAIL.match(host)
    if m:
        return f"{m.group(2)}.{m.group(3)}".lower()
    return host


def normalize_address(addr) -> str:
    """pflogsumm's address key: everything from the first "@" lowercased."""
    if addr is None:
        return ""
    at = addr.find("@")
    if at < 0:
        return addr
    return addr[:at] + addr[at:].lower()


_SENDER_DOMAIN = re.compile(r"^[^@]+@(.+)$", re.S)


def sender_domain(addr: str) -> str | None:
    """pflogsumm's ``s/^[^@]+\\@(.+)$/$1/`` on a sender: the domain, or None when there is none
    (then pflogsumm uses the client's domain, or the address itself for pickup)."""
    m = _SENDER_DOMAIN.match(addr)
    return m.group(1) if m else None


def address_domain(addr: str) -> str:
    """The part after the first "@" (pflogsumm's ``s/^[^@]+\\@//``), or the address itself."""
    at = addr.find("@")
    return addr[at + 1:] if at > 0 else addr


_SAID = re.compile(r"^.*? said: ")
_HOSTIP = re.compile(r"[^\s\[\]]+\[[0-9A-Fa-f.:]+\](?::\d+)?")
_BRACKET_IP = re.compile(r"\s*\[(?:IPv6:)?[0-9A-Fa-f.:]+\]")
_URL = re.compile(r";?\s*\S+://\S*(?:\s+/\s+\S+://\S*)*")
_ANGLE = re.compile(r"<[^<>]*>")
_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_NAME = re.compile(r"\b(name|domain|for name)=\S+")
_QUEUED_AS = re.compile(r"(queued as|id=|ID=|id |ref:|Ref:)\s*\S+")
_SPACES = re.compile(r"\s+")
_IN_REPLY = re.compile(r"\s*\(in reply to (.*?) command\)\s*$")
_CAUSE_MAX = 110


def cause(reason) -> str:
    """A reason reduced to its cause: who said it, addresses, host names and IP addresses go, so
    that the same failure at many destinations or from many clients groups into one row."""
    if reason is None or reason != reason:
        return ""
    s = str(reason)
    s = _SAID.sub("", s)
    reply = _IN_REPLY.search(s)
    if reply:
        s = s[:reply.start()] + f" (in reply to {reply.group(1)})"
    s = _HOSTIP.sub("HOST", s)
    s = _BRACKET_IP.sub("", s)
    s = _URL.sub("", s)
    s = _ANGLE.sub("<…>", s)
    s = _IP.sub("IP", s)
    s = _NAME.sub(r"\1=…", s)
    s = _QUEUED_AS.sub(r"\1 …", s)
    s = _SPACES.sub(" ", s).strip()
    s = s.replace("<…>: ", "")
    if len(s) > _CAUSE_MAX:
        s = s[:_CAUSE_MAX - 1] + "…"
    return s


_NUMERIC = {"seq": "int64", "ts": "float64", "pid": "float64", "size": "float64", "delay": "float64",
            "code": "float64", "conn_use": "float64", "is_connect": "int8"}


_TAIL_END = re.compile(r";? (?:from|to)=<|;? proto=|;? helo=<")


def full_reason(reason, tail) -> str | None:
    """smtpd's reason, with the part after its first ";" that the grammar leaves in ``tail``
    ("Service unavailable; Client host [ip] blocked using zen.spamhaus.org")."""
    if not isinstance(tail, str) or not tail:
        return reason
    rest = _TAIL_END.split(tail, maxsplit=1)[0].rstrip(";").strip()
    return f"{reason}; {rest}" if rest else reason


def _frame(data: list, name: str) -> pd.DataFrame:
    """Row tuples → DataFrame, column by column: numbers as float/int arrays (None → NaN),
    text as object columns (cheaper to factorize than pandas' string dtype)."""
    cols = COLUMNS[name]
    table = np.array(data, dtype=object) if data else np.empty((0, len(cols)), dtype=object)
    out = {}
    for i, col in enumerate(cols):
        dtype = _NUMERIC.get(col)
        values = table[:, i]
        if dtype is None:
            out[col] = pd.Series(values.copy(), dtype=object)
        else:
            out[col] = pd.Series(values.astype("float64").astype(dtype) if dtype != "float64"
                                 else values.astype("float64"))
    return pd.DataFrame(out, columns=list(cols))


def _message_keys(*frames: pd.DataFrame) -> None:
    """Add an integer "key" column naming the message, (syslog host, queue id), across frames."""
    hosts = pd.concat([f["host"] for f in frames], ignore_index=True).fillna("")
    qids = pd.concat([f["qid"] for f in frames], ignore_index=True).fillna("")
    values = qids if hosts.nunique() <= 1 else hosts + "\x00" + qids
    codes, _ = pd.factorize(values)
    start = 0
    for f in frames:
        f["key"] = codes[start:start + len(f)]
        start += len(f)


def _domains(hosts: pd.Series, ips: pd.Series) -> pd.Series:
    """client_domain() over columns, computed once per distinct host name."""
    dom = _mapped(hosts.fillna("unknown"), lambda h: None if h in ("", "unknown") else client_domain(h, None))
    return dom.where(dom.notna(), ips.fillna(""))


def _mapped(series: pd.Series, func) -> pd.Series:
    """Apply ``func`` once per distinct value (logs repeat the same addresses and reasons)."""
    uniq = pd.unique(series)
    table = {v: func(v) for v in uniq}
    return series.map(table)


def _limit(df: pd.DataFrame, n: int | None) -> pd.DataFrame:
    if n is None or n < 0:
        return df
    return df.head(n)


def _records(df: pd.DataFrame) -> list[dict]:
    """JSON-ready records: numpy scalars become Python numbers, NaN becomes None."""
    out = []
    cols = list(df.columns)
    for values in zip(*(df[c].tolist() for c in cols), strict=True):
        rec = {}
        for c, v in zip(cols, values, strict=True):
            if v is pd.NA or (isinstance(v, float) and v != v):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            rec[c] = v
        out.append(rec)
    return out


def _day_string(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(day) * 86400))


def _share(part, whole) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(rows: Rows, top: int = 10, detail: int = 10, sources=(), assumptions=None) -> dict:
    """Every table of the summary as plain data (the JSON format; the text and Markdown writers
    render this dict). ``top`` limits the host/domain and sender/recipient tables, ``detail``
    the reason, warning and other detail tables (negative: no limit, 0: left out)."""
    recv = rows.frame("recv")
    queued = rows.frame("queued")
    dlv = rows.frame("dlv")
    acc = rows.frame("access")
    conn = rows.frame("conn")
    prob = rows.frame("problem")

    _message_keys(recv, queued, dlv)

    # -- received messages: the qmgr line after each receipt gives sender and size -------------
    recv["rseq"] = recv["seq"]
    queued["size"] = queued["size"].fillna(0).astype("int64")
    if len(queued) and len(recv):
        qr = pd.merge_asof(queued, recv[["seq", "key", "rseq", "client_host", "client_ip"]],
                           on="seq", by="key", direction="backward")
    else:
        qr = queued.assign(rseq=np.nan, client_host=None, client_ip=None)
    # one qmgr line per receipt (qmgr logs from=/size again each time a deferred message returns)
    got = qr[qr["rseq"].notna()].drop_duplicates(["key", "rseq"], keep="first").copy()
    got["sender"] = _mapped(got["sender"].fillna(""), lambda a: normalize_address(a) if a else "from=<>")
    pickup = got["client_host"] == "pickup"
    dom = _mapped(got["sender"], sender_domain)
    no_domain = dom.isna()
    if no_domain.any():
        dom = dom.where(~(no_domain & pickup), got["sender"])
        via_client = no_domain & ~pickup
        dom[via_client] = _domains(got.loc[via_client, "client_host"], got.loc[via_client, "client_ip"])
    got["sender_domain"] = dom

    # -- deliveries: the qmgr line before each status line gives the message size ---------------
    if len(dlv) and len(queued):
        sizes = queued[["seq", "key", "size"]]
        dlv = pd.merge_asof(dlv, sizes, on="seq", by="key", direction="backward")
        dlv["size"] = dlv["size"].fillna(0).astype("int64")
    else:
        dlv["size"] = 0
    dlv["rcpt"] = _mapped(dlv["rcpt"].fillna(""), normalize_address)
    dlv["rcpt_domain"] = _mapped(dlv["rcpt"], address_domain)
    is_sent = dlv["status"] == "sent"
    forwarded = is_sent & dlv["reason"].fillna("").str.contains("forwarded as ", regex=False)
    delivered = is_sent & ~forwarded
    deferred = dlv["status"] == "deferred"
    bounced = dlv["status"] == "bounced"
    sent = dlv[delivered]

    counts = acc["action"].value_counts()
    n_rejected = int(counts.get("reject", 0))
    n_discarded = int(counts.get("discard", 0))
    n_delivered = int(delivered.sum())
    base = n_delivered + n_rejected + n_discarded
    totals = {
        "received": len(recv),
        "delivered": n_delivered,
        "forwarded": int(forwarded.sum()),
        "deferred": int(dlv.loc[deferred, "key"].nunique()),
        "deferrals": int(deferred.sum()),
        "bounced": int(bounced.sum()),
        "rejected": n_rejected,
        "rejected_pct": int(100 * n_rejected / base) if base else 0,
        "reject_warnings": int(counts.get("reject_warning", 0)),
        "held": int(counts.get("hold", 0)),
        "discarded": n_discarded,
        "discarded_pct": int(100 * n_discarded / base) if base else 0,
        "bytes_received": int(got["size"].sum()),
        "bytes_delivered": int(sent["size"].sum()),
        "senders": int(got["sender"].nunique()),
        "sending_domains": int(got["sender_domain"].nunique()),
        "recipients": int(sent["rcpt"].nunique()),
        "recipient_domains": int(sent["rcpt_domain"].nunique()),
    }

    # -- traffic over time ---------------------------------------------------------------------
    parts = [
        pd.DataFrame({"ts": recv["ts"], "what": "received"}),
        pd.DataFrame({"ts": sent["ts"], "what": "delivered"}),
        pd.DataFrame({"ts": dlv.loc[deferred, "ts"], "what": "deferred"}),
        pd.DataFrame({"ts": dlv.loc[bounced, "ts"], "what": "bounced"}),
        # pflogsumm's "rejected" column counts every access decision: rejects, reject warnings,
        # holds and discards
        pd.DataFrame({"ts": acc["ts"], "what": "rejected"}),
    ]
    traffic = pd.concat([p for p in parts if len(p)] or [pd.DataFrame({"ts": [], "what": []})],
                        ignore_index=True)
    traffic = traffic[traffic["ts"].notna()]
    cols = ["received", "delivered", "deferred", "bounced", "rejected"]
    if len(traffic):
        tsv = traffic["ts"].astype("float64")
        traffic = traffic.assign(day=(tsv // 86400).astype("int64"), hour=((tsv % 86400) // 3600).astype("int64"))
        per_day = pd.crosstab(traffic["day"], traffic["what"]).reindex(columns=cols, fill_value=0)
        per_hour = (pd.crosstab(traffic["hour"], traffic["what"]).reindex(index=range(24), columns=cols,
                                                                          fill_value=0))
    else:
        per_day = pd.DataFrame(columns=cols)
        per_hour = pd.DataFrame(0, index=range(24), columns=cols)
    all_ts = pd.concat([recv["ts"], dlv["ts"], acc["ts"], conn["ts"], prob["ts"]], ignore_index=True).dropna()
    days = int((all_ts.astype("float64") // 86400).nunique()) if len(all_ts) else 0
    per_day = per_day.reset_index()
    per_day.insert(0, "date", [_day_string(d) for d in per_day.pop("day")] if len(per_day) else [])
    per_hour = per_hour.reset_index(names="hour").fillna(0)

    # -- host/domain tables --------------------------------------------------------------------
    d = dlv[delivered | deferred]
    if len(d):
        dom_dlv = d.assign(sent=delivered[d.index].astype("int64"), deferred=deferred[d.index].astype("int64"),
                           sent_bytes=np.where(delivered[d.index], d["size"], 0),
                           sent_delay=np.where(delivered[d.index], d["delay"].fillna(0), 0.0))
        dom_dlv = (dom_dlv.groupby("rcpt_domain", sort=False)
                   .agg(sent=("sent", "sum"), bytes=("sent_bytes", "sum"), defers=("deferred", "sum"),
                        delay_sum=("sent_delay", "sum"), max_delay=("delay", "max"))
                   .reset_index().rename(columns={"rcpt_domain": "domain"}))
        dom_dlv["avg_delay"] = (dom_dlv["delay_sum"] / dom_dlv["sent"].where(dom_dlv["sent"] > 0)).fillna(0.0).round(1)
        dom_dlv["max_delay"] = dom_dlv["max_delay"].fillna(0.0)
        dom_dlv = dom_dlv.drop(columns="delay_sum").sort_values(["sent", "bytes", "domain"],
                                                                ascending=[False, False, True])
        dom_dlv = dom_dlv[["sent", "bytes", "defers", "avg_delay", "max_delay", "domain"]]
    else:
        dom_dlv = pd.DataFrame(columns=["sent", "bytes", "defers", "avg_delay", "max_delay", "domain"])
    dom_rcv = (got.groupby("sender_domain", sort=False).agg(messages=("size", "size"), bytes=("size", "sum"))
               .reset_index().rename(columns={"sender_domain": "domain"})
               .sort_values(["messages", "bytes", "domain"], ascending=[False, False, True]))

    def top_by(df, key, value, label, how):
        g = df.groupby(key, sort=False)[value].agg(how).reset_index()
        g.columns = [label, "value"]
        return g.sort_values(["value", label], ascending=[False, True])[["value", label]]

    senders_count = top_by(got, "sender", "size", "sender", "size").rename(columns={"value": "messages"})
    senders_size = top_by(got, "sender", "size", "sender", "sum").rename(columns={"value": "bytes"})
    rcpts_count = top_by(sent, "rcpt", "size", "recipient", "size").rename(columns={"value": "messages"})
    rcpts_size = top_by(sent, "rcpt", "size", "recipient", "sum").rename(columns={"value": "bytes"})

    # -- reasons -------------------------------------------------------------------------------
    def grouped(df, by, label_counts="count"):
        if not len(df):
            return pd.DataFrame(columns=[label_counts, *by])
        g = df.groupby(by, sort=False, dropna=False).size().reset_index(name=label_counts)
        return g.sort_values([label_counts, *by], ascending=[False] + [True] * len(by))[[label_counts, *by]]

    dfr = dlv[deferred]
    dfr = dfr.assign(cause=_mapped(dfr["reason"], cause))
    deferral_detail = grouped(dfr, ["program", "cause"])
    bnc = dlv[bounced]
    bnc = bnc.assign(cause=_mapped(bnc["reason"], cause), relay=bnc["relay"].fillna(""))
    bounce_detail = grouped(bnc, ["relay", "cause"])
    if acc["tail"].notna().any():
        acc["reason"] = [full_reason(r, t) for r, t in zip(acc["reason"], acc["tail"], strict=True)]
    acc = acc.assign(cause=_mapped(acc["reason"], cause), stage=acc["stage"].fillna(""),
                     code=acc["code"].astype("Int64"))
    reject_detail = {}
    for action in ("reject", "reject_warning", "hold", "discard"):
        sub = acc[acc["action"] == action]
        reject_detail[action] = grouped(sub, ["stage", "code", "cause"])
    sf = rows.frame("smtp_fail")
    sf = sf.assign(reason=sf["reason"].fillna("").str.lower())
    smtp_failures = (sf.groupby("reason", sort=False)
                     .agg(count=("relay_host", "size"), hosts=("relay_host", "nunique"))
                     .reset_index().sort_values(["count", "reason"], ascending=[False, True])
                     [["count", "hosts", "reason"]]) if len(sf) else pd.DataFrame(columns=["count", "hosts", "reason"])

    # -- smtpd connections: a disconnect closes the previous connect of the same process -------
    order = np.lexsort((conn["seq"].to_numpy(), conn["pid"].fillna(-1).to_numpy(),
                        pd.factorize(conn["host"].fillna(""))[0]))
    conn = conn.iloc[order].reset_index(drop=True)
    same = (conn["host"].eq(conn["host"].shift()) & conn["pid"].eq(conn["pid"].shift()))
    prev_connect = conn["is_connect"].shift().eq(1) & same
    closed = conn[(conn["is_connect"] == 0) & prev_connect].copy()
    closed["secs"] = (closed["ts"] - conn["ts"].shift()[closed.index]).clip(lower=0)
    closed["domain"] = _domains(closed["client_host"], closed["client_ip"])
    n_conn = int(conn["is_connect"].sum())
    total_secs = float(closed["secs"].sum()) if len(closed) else 0.0
    smtpd = {
        "connections": n_conn,
        "sessions_timed": len(closed),
        "hosts_domains": int(closed["domain"].nunique()),
        "avg_connect_time": round(total_secs / len(closed), 1) if len(closed) else 0.0,
        "max_connect_time": float(closed["secs"].max()) if len(closed) else 0.0,
        "total_connect_time": total_secs,
    }
    smtpd_domains = (closed.groupby("domain", sort=False).agg(connections=("secs", "size"), total_time=("secs", "sum"),
                                                              max_time=("secs", "max"))
                     .reset_index().sort_values(["connections", "total_time", "domain"], ascending=[False, False, True]))
    smtpd_domains["avg_time"] = (smtpd_domains["total_time"] / smtpd_domains["connections"]).round(1)
    smtpd_domains = smtpd_domains[["connections", "total_time", "avg_time", "max_time", "domain"]]

    # -- warnings, errors, fatals, panics ------------------------------------------------------
    prob = prob.assign(cause=_mapped(prob["text"], cause))
    problems = {}
    for sev in ("warning", "error", "fatal", "panic"):
        problems[sev] = grouped(prob[prob["severity"] == sev], ["program", "cause"])
    problems_by_program = grouped(prob, ["severity", "program"])

    # -- beyond pflogsumm ----------------------------------------------------------------------
    ps = rows.frame("postscreen")
    postscreen_verdicts = grouped(ps, ["verdict"])
    db = rows.frame("dnsbl")
    dnsbl = (db.groupby("dnsbl", sort=False).agg(hits=("client_ip", "size"), clients=("client_ip", "nunique"))
             .reset_index().sort_values(["hits", "dnsbl"], ascending=[False, True])[["hits", "clients", "dnsbl"]]
             if len(db) else pd.DataFrame(columns=["hits", "clients", "dnsbl"]))
    tl = rows.frame("tls")
    tl = tl.assign(direction=tl["direction"].map({"from": "inbound", "to": "outbound"}).fillna("?"))
    tls_protocols = grouped(tl, ["direction", "program", "protocol"])
    smtp_out = dlv[dlv["program"].isin(("smtp", "lmtp")) & dlv["relay"].fillna("none").ne("none")]
    smtp_out = smtp_out[smtp_out["conn_use"].fillna(1) <= 1]
    out_sessions = int(smtp_out[["key", "pid"]].drop_duplicates().shape[0])
    tls_in = int(((tl["direction"] == "inbound") & (tl["program"] == "smtpd")).sum())
    tls_out = int(((tl["direction"] == "outbound") & tl["program"].isin(("smtp", "lmtp"))).sum())
    tls = {
        "inbound_sessions": n_conn,
        "inbound_tls": tls_in,
        "inbound_share": _share(tls_in, n_conn),
        "outbound_sessions": out_sessions,
        "outbound_tls": tls_out,
        "outbound_share": _share(min(tls_out, out_sessions), out_sessions),
    }
    se = rows.frame("session_error")
    names = {"error_limit": "too many errors", "lost_connection": "lost connection", "timeout": "timeout"}
    if len(se):
        session_errors = pd.crosstab(se["stage"], se["kind"].map(names))
        session_errors = session_errors.reindex(columns=list(names.values()), fill_value=0)
        session_errors["total"] = session_errors.sum(axis=1)
        session_errors = session_errors.sort_values("total", ascending=False).reset_index()
    else:
        session_errors = pd.DataFrame(columns=["stage", *names.values(), "total"])

    inst = pd.concat([
        pd.DataFrame({"instance": recv["instance"], "what": "received"}),
        pd.DataFrame({"instance": sent["instance"], "what": "delivered"}),
        pd.DataFrame({"instance": dlv.loc[forwarded, "instance"], "what": "forwarded"}),
        pd.DataFrame({"instance": dlv.loc[deferred, "instance"], "what": "deferrals"}),
        pd.DataFrame({"instance": dlv.loc[bounced, "instance"], "what": "bounced"}),
        pd.DataFrame({"instance": acc.loc[acc["action"] == "reject", "instance"], "what": "rejected"}),
    ], ignore_index=True)
    icols = ["received", "delivered", "forwarded", "deferrals", "bounced", "rejected"]
    if len(inst):
        instances = (pd.crosstab(inst["instance"].fillna("?"), inst["what"])
                     .reindex(columns=icols, fill_value=0).reset_index())
    else:
        instances = pd.DataFrame(columns=["instance", *icols])
    received_by_service = grouped(recv.assign(instance=recv["instance"].fillna("?")), ["instance", "service"])

    def lim(df, n):
        return _records(_limit(df, n))

    return {
        "meta": {
            "sources": list(sources),
            "year_assumptions": dict(assumptions or {}),
            "lines": rows.lines,
            "unrecognized": rows.unrecognized,
            "foreign": rows.foreign,
            "filtered_out": rows.filtered,
            "first": _iso(all_ts.min()) if len(all_ts) else None,
            "last": _iso(all_ts.max()) if len(all_ts) else None,
            "days": days,
            "top": top,
            "detail": detail,
        },
        "totals": totals,
        "traffic": {
            "per_day": _records(per_day),
            "per_hour": _records(per_hour),
            "days": days,
        },
        "domains": {"delivery": lim(dom_dlv, top), "received": lim(dom_rcv, top)},
        "senders": {"by_count": lim(senders_count, top), "by_size": lim(senders_size, top)},
        "recipients": {"by_count": lim(rcpts_count, top), "by_size": lim(rcpts_size, top)},
        "reasons": {
            "deferrals": lim(deferral_detail, detail),
            "bounces": lim(bounce_detail, detail),
            "rejects": lim(reject_detail["reject"], detail),
            "reject_warnings": lim(reject_detail["reject_warning"], detail),
            "holds": lim(reject_detail["hold"], detail),
            "discards": lim(reject_detail["discard"], detail),
            "smtp_failures": lim(smtp_failures, detail),
        },
        "smtpd": {**smtpd, "domains": lim(smtpd_domains, top)},
        "problems": {
            "warnings": lim(problems["warning"], detail),
            "errors": lim(problems["error"], detail),
            "fatals": lim(problems["fatal"], detail),
            "panics": lim(problems["panic"], detail),
            "by_program": _records(problems_by_program),
        },
        "postscreen": {"verdicts": _records(postscreen_verdicts), "dnsbl": lim(dnsbl, detail)},
        "tls": {**tls, "protocols": _records(tls_protocols)},
        "session_errors": _records(session_errors),
        "instances": _records(instances),
        "received_by_service": _records(received_by_service),
    }


def _iso(ts) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(ts)))


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

_WHEN_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def parse_when(text: str) -> float:
    """--since/--until value → wall-clock epoch (the log's own clock, like ``Event.ts``).

    Accepts YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] (or with T), "today" and "yesterday" (midnight of
    that local day). Raises ValueError with a one-line message otherwise.
    """
    s = text.strip()
    if s in ("today", "yesterday"):
        lt = time.localtime()
        midnight = calendar.timegm((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0))
        return float(midnight - (86400 if s == "yesterday" else 0))
    for fmt in _WHEN_FORMATS:
        try:
            return float(calendar.timegm(time.strptime(s, fmt)))
        except ValueError:
            continue
    raise ValueError(f"cannot read time {text!r}: use YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]', today or yesterday")


def summary(paths, year: int | None = None, since: str | float | None = None, until: str | float | None = None,
            top: int = 10, detail: int = 10, jobs: int | None = None) -> dict:
    """The whole summary of the given logs as a JSON-ready dict (see ``summarize``)."""
    lo = parse_when(since) if isinstance(since, str) else since
    hi = parse_when(until) if isinstance(until, str) else until
    rows, sources, assumptions = collect(paths, year=year, since=lo, until=hi, jobs=jobs)
    return summarize(rows, top=top, detail=detail, sources=sources, assumptions=assumptions)


def render(result: dict, fmt: str = "text") -> str:
    """The summary dict as text, markdown or json."""
    from .report.summary_report import render as _render

    return _render(result, fmt)


def run(paths, fmt: str = "text", year: int | None = None, since: str | None = None, until: str | None = None,
        top: int = 10, detail: int = 10) -> str:
    """What `postfix-diag summary` prints: the summary of ``paths`` rendered as ``fmt``."""
    return render(summary(paths, year=year, since=since, until=until, top=top, detail=detail), fmt)
