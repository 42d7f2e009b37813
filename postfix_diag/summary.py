"""Traffic summary: pflogsumm's numbers, plus what pflogsumm cannot see.

Memory does not grow with the log, so that millions of lines stay cheap:

1. ``Part``: a consumer of the one event stream (pipeline.Stream), behind the tracker every
   command shares. Each event of interest is joined with what the tracker knows of its message
   (the receipt waiting on it for its qmgr line, its size) or session (connect and disconnect
   times) and becomes a short tuple in a row batch; no Event object is kept.
2. ``Part.flush``: every FLUSH_EVERY events the batch becomes DataFrames, pandas groups them into
   partial aggregates (counts, sums and maxima per sender, recipient, domain, cause...), and the
   rows are dropped. Partials of the same table combine exactly (sum of sums, max of maxima);
   distinct counts come from the keys of the combined partials. The tables keyed by what
   outsiders name (senders, recipients, client and recipient domains, listed clients) keep the
   top MAX_KEYS keys (limits.MAX_SUMMARY_KEYS, 20,000), the rest summed under "(other)", which
   totals include and no table prints (see _BOUNDED).
3. ``summarize``: the combined partials become the summary's tables.

Large plain files are read in pieces by several processes (pipeline.run); each piece's Part
merges into the one before (``Part.merge``), as the tracker stitches the messages and sessions
that span the cut.

How each total is counted, and where it deliberately differs from pflogsumm 1.1.5, is written down
in docs/summary-parity.md; tests/test_summary_parity.py checks it against pflogsumm's real output.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from operator import itemgetter

import numpy as np
import pandas as pd

from . import limits, pipeline
from .events import FOREIGN, UNRECOGNIZED
from .parse import Parser
from .pipeline import Stream
from .track import FIELDS as TRACKER_FIELDS
from .when import inside, parse_when

# ---------------------------------------------------------------------------------------------
# Stage 1: events -> joined rows -> partial aggregates
# ---------------------------------------------------------------------------------------------

# Joined rows, one tuple per event of interest, with these fields (flush reads them by name, see
# _fields). A batch of rows lives only until the next flush (every FLUSH_EVERY events), when pandas
# groups it into partial aggregates (see _PARTIALS) and the rows are dropped.
ROWS = {
    # message received: smtpd "client=" (any instance/service) or pickup "uid=... from=<>"
    "recv": ("ts", "instance", "service"),
    # qmgr "from=<...>, size=N" paired with the receipt before it (one per receipt)
    "got": ("sender", "size", "client_host", "client_ip"),
    # per-recipient status lines, with the size of the qmgr line before them
    "dlv": ("ts", "khost", "kqid", "instance", "program", "pid", "rcpt", "relay", "delay", "status",
            "reason", "conn_use", "size"),
    # access decisions: reject, reject_warning, hold, discard (smtpd, postscreen, cleanup)
    "access": ("ts", "instance", "action", "stage", "code", "reason", "tail"),
    # smtpd connect/disconnect times (for the first/last time and the days): plain values
    "conn_ts": ("ts",),
    # smtpd sessions: a disconnect paired with the connect before it in the same process
    "closed": ("secs", "client_host", "client_ip"),
    # lines with a warning/error/fatal/panic severity
    "problem": ("ts", "program", "severity", "text"),
    # smtp/lmtp "connect to host[ip]:25: reason"
    "smtp_fail": ("relay_host", "reason"),
    # postscreen verdicts and dnsblog hits
    "postscreen": ("verdict",),
    "dnsbl": ("dnsbl", "client_ip"),
    # "... TLS connection established from/to ..."
    "tls": ("program", "direction", "protocol"),
    # smtpd "too many errors / lost connection / timeout after STAGE"
    "session_error": ("kind", "stage"),
}

# The fields Part.consume reads, per grammar rule kind ("reject": every access decision). The
# summary's parser captures only these (see parse.Parser): a test checks that the summary is the
# same as with every field.
FIELDS = {
    "delivery": ("to", "relay", "delay", "status", "reason", "conn_use"),
    "qmgr_queued": ("from", "size"),
    "client": ("client_host", "client_ip"),
    "disconnect": ("client_host", "client_ip"),
    "reject": ("stage", "code", "reason", "data", "tail"),
    "proxy_reject": ("stage", "reason"),
    "tls_established": ("direction", "protocol"),
    "error_limit": ("stage",),
    "lost_connection": ("stage",),
    "timeout": ("stage",),
    "postscreen": ("verdict",),
    "dnsbl_listed": ("dnsbl", "client_ip"),
    "connect_error": ("relay_host", "reason"),
}

# Partial aggregates: name -> (key columns, {value column: how partials combine}). Every table of
# the summary is computed from these; each holds one row per distinct key, so their size is
# bounded by distinct senders, recipients, domains, causes..., not by the number of lines.
_PARTIALS = {
    "traffic": (["day", "hour", "what"], {"n": "sum"}),
    "days": (["day"], {"n": "sum"}),
    "by_service": (["instance", "service"], {"n": "sum"}),
    "instances": (["instance", "what"], {"n": "sum"}),
    "senders": (["sender"], {"messages": "sum", "bytes": "sum"}),
    "sender_domains": (["domain"], {"messages": "sum", "bytes": "sum"}),
    "rcpts": (["rcpt"], {"messages": "sum", "bytes": "sum"}),
    "dom_dlv": (["domain"], {"sent": "sum", "bytes": "sum", "defers": "sum", "delay_us": "sum",
                             "max_delay": "max"}),
    "deferrals": (["program", "cause"], {"n": "sum"}),
    "bounces": (["relay", "cause"], {"n": "sum"}),
    "access": (["action", "stage", "code", "cause"], {"n": "sum"}),
    "closed": (["domain"], {"connections": "sum", "total_time": "sum", "max_time": "max"}),
    "problems": (["severity", "program", "cause"], {"n": "sum"}),
    "smtp_fail": (["reason", "relay_host"], {"n": "sum"}),
    "postscreen": (["verdict"], {"n": "sum"}),
    "dnsbl": (["dnsbl", "client_ip"], {"n": "sum"}),
    "tls": (["direction", "program", "protocol"], {"n": "sum"}),
    "session_error": (["stage", "kind"], {"n": "sum"}),
}
# Partials keyed by what outsiders name (senders, recipients, client and recipient domains,
# DNSBL-listed clients): each keeps at most MAX_KEYS rows (limits.MAX_SUMMARY_KEYS). A frame that
# would hold more keeps the MAX_KEYS / 2 rows of the largest counts (the ``rank`` columns, ties:
# first appearance) and adds the others to its "(other)" sums (``Part.other``, per ``by``: one
# row, or one per DNSBL), which no table prints; the sums and maxima that totals read include
# them (so the totals stay exact), the distinct counts count the folded keys (a key folded twice
# counts twice). Below MAX_KEYS distinct keys nothing is folded, whatever the cut.
MAX_KEYS = limits.MAX_SUMMARY_KEYS
_BOUNDED = {  # name -> (rank columns, key columns the "(other)" sums keep)
    "senders": (["messages", "bytes"], []),
    "sender_domains": (["messages", "bytes"], []),
    "rcpts": (["messages", "bytes"], []),
    "dom_dlv": (["sent", "defers"], []),
    "closed": (["connections"], []),
    "dnsbl": (["n"], ["dnsbl"]),
}
_GONE_KEEP = 32768  # sizes of removed messages kept (for status lines logged after "removed")
_COMPACT_AT = 12  # partials of one name combined into one when this many are waiting
FLUSH_EVERY = 100_000  # events between two groupings of the row batch

# Kinds the summary never looks at: skipped before any other test.
_SKIP = frozenset((
    "message_id", "removed", "anvil_stats", "scache_stats", "debug", "qmgr_skipped", "bounce_notice",
    "client_misc", "tls_misc", "cleanup_misc", "smtp_misc", "script", "script_misc", "master_misc",
    "command_misc", "table_changed", "postsuper", "postsuper_summary", "cache_cleanup",
    "replace_command", "reply_filter", "proxy_accept", "local_misc",
))
_ACCESS = frozenset(("reject", "reject_warning", "hold", "discard"))
_SESSION_ERRORS = frozenset(("error_limit", "lost_connection", "timeout"))

# What the summary keeps on a message the tracker follows (Message.facts): the receipt waiting for
# its qmgr line, that it was counted as deferred, the outbound sessions (pids) counted for it.
_RECEIPT, _DEFERRED, _OUT = "summary.receipt", "summary.deferred", "summary.outbound"
_SMTP = ("smtp", "lmtp")


class Part:
    """The summary's consumer of the event stream (pipeline.Stream): joined rows, partial
    aggregates, and the little it keeps between lines.

    Per-message state is the tracker's: a receipt waits on its Message for the qmgr line, a
    status line takes the size of the message's latest qmgr line, an smtpd session's time comes
    from the tracker's Session; besides that only the sizes of recently removed messages are
    kept (a bounded list, for status lines logged after "removed"). ``since`` (inclusive) and
    ``until`` (exclusive), wall-clock epochs like ``Event.ts``: the stream's window (``admits``);
    lines without a timestamp are then left out. ``merge`` folds in the Part of the lines that
    follow: partials of the same table combine exactly.
    """

    wants_sessions = True

    def __init__(self, since: float | None = None, until: float | None = None):
        self.since, self.until = since, until
        self.rows = {name: [] for name in ROWS}
        self.partials = {name: [] for name in _PARTIALS}
        self.other: dict = {name: [] for name in _BOUNDED}  # the "(other)" sums of the folded rows
        self.gone: dict = {}   # key -> size, of the latest _GONE_KEEP..2*_GONE_KEEP removed messages
        self.deferred = 0      # messages with a deferral (pflogsumm's "deferred")
        self.out_sessions = 0  # outbound SMTP/LMTP sessions: (host, queue id, pid) of a first use of a connection
        self.n = dict.fromkeys(("received", "delivered", "forwarded", "deferrals", "bounced",
                                "bytes_received", "bytes_delivered", "connections"), 0)
        self.ts_min = float("inf")
        self.ts_max = float("-inf")
        self.lines = self.unrecognized = self.foreign = self.without_ts = self.filtered = 0
        self._batch = 0  # events since the last flush
        self.limits: dict = {}  # the bounds the run reached (limits.py), set by collect()

    @property
    def windowed(self) -> bool:
        return self.since is not None or self.until is not None

    # -- the window ------------------------------------------------------------------------------

    def admits(self, ev) -> bool:
        """Inside [since, until) (when.inside: unrecognized and foreign lines are counted
        whatever their time)."""
        return inside(ev, self.since, self.until)

    def outside(self, ev) -> None:
        self.lines += 1
        if ev.kind not in _SKIP:
            self.filtered += 1

    # -- lines -------------------------------------------------------------------------------------

    def feed(self, ev) -> None:
        """A line: the rows that need no message (see ROWS); every FLUSH_EVERY lines the batch is
        grouped into partial aggregates."""
        self.lines += 1
        self._batch += 1
        if self._batch >= FLUSH_EVERY:
            self.flush()
        k = ev.kind
        if k in _SKIP:
            return
        if k == UNRECOGNIZED:
            self.unrecognized += 1
            return
        if k == FOREIGN:
            self.foreign += 1
            return
        ts = ev.ts
        if ts is None:
            self.without_ts += 1
        rows = self.rows
        if k == "delivery" or k == "qmgr_queued":
            pass  # joined with their message: feed_message_line
        elif k == "connect":
            self.n["connections"] += 1
            rows["conn_ts"].append(ts)
        elif k == "disconnect":
            rows["conn_ts"].append(ts)
        elif k == "client" or k == "pickup":
            rows["recv"].append((ts, ev.instance, ev.service))
        else:
            f = ev.f
            if k in _ACCESS or (k == "access" and f.get("action") == "warning" and ev.program == "cleanup"):
                action = "reject_warning" if k == "access" else k
                rows["access"].append((ts, ev.instance, action, f.get("stage"), f.get("code"),
                                       f.get("reason") or f.get("data"), f.get("tail")))
            elif k == "proxy_reject":
                rows["access"].append((ts, ev.instance, "reject", f.get("stage"), None, f.get("reason"), None))
            elif k == "tls_established":
                rows["tls"].append((ev.program, f.get("direction"), f.get("protocol")))
            elif k in _SESSION_ERRORS:
                rows["session_error"].append((k, f.get("stage")))
            elif k == "postscreen":
                rows["postscreen"].append((f.get("verdict"),))
            elif k == "dnsbl_listed":
                rows["dnsbl"].append((f.get("dnsbl"), f.get("client_ip")))
            elif k == "connect_error":
                rows["smtp_fail"].append((f.get("relay_host"), f.get("reason")))
        if ev.severity != "info":
            rows["problem"].append((ts, ev.program, ev.severity, ev.text))

    def feed_message_line(self, ev, msg) -> None:
        """A line of a message the tracker follows: receipts, qmgr lines and status lines, joined
        with what the message holds."""
        k = ev.kind
        if k == "delivery":
            f = ev.f
            status = f.get("status")
            reason = f.get("reason")
            if status == "sent" and (reason is None or "forwarded as " not in reason):
                reason = None  # the reason of an ordinary delivery is not needed
            host, qid, pid, relay, conn_use = ev.host or "", ev.qid or "", ev.pid, f.get("relay"), f.get("conn_use")
            size = msg.size
            if size is None:  # no qmgr line in this life: maybe a status line after "removed"
                size = self.gone.get((host, qid), 0)
            self.rows["dlv"].append((ev.ts, host, qid, ev.instance, ev.program, pid, f.get("to"), relay,
                                     f.get("delay"), status, reason, conn_use, size))
            facts = msg.facts
            if status == "deferred" and _DEFERRED not in facts:
                facts[_DEFERRED] = True
                self.deferred += 1
            if (ev.program in _SMTP and relay is not None and relay != "none"
                    and (conn_use is None or conn_use <= 1)):
                pids = facts.get(_OUT)
                if pids is None:
                    pids = facts[_OUT] = set()
                if pid not in pids:
                    pids.add(pid)
                    self.out_sessions += 1
        elif k == "qmgr_queued":
            receipt = msg.facts.pop(_RECEIPT, None)
            if receipt is not None:  # the first qmgr line after a receipt: the message as received
                size = ev.f.get("size")
                self.rows["got"].append((ev.f.get("from"), 0 if size is None else size, *receipt))
        elif k == "client":
            msg.facts[_RECEIPT] = (ev.f.get("client_host"), ev.f.get("client_ip"))
        elif k == "pickup":
            facts = msg.facts
            facts[_RECEIPT] = ("pickup", None)
            # a message requeued with postsuper -r is counted again under its new queue id (pflogsumm)
            facts.pop(_DEFERRED, None)
            facts.pop(_OUT, None)

    def feed_message(self, msg) -> None:
        """A message left the queue: its size is remembered a while (status lines logged after
        "removed", in damaged or edited logs, still find it)."""
        if msg.size is not None:
            self._remember((msg.host or "", msg.qid), msg.size)

    def _remember(self, key, size) -> None:
        gone = self.gone
        gone.pop(key, None)
        gone[key] = size
        if len(gone) > 2 * _GONE_KEEP:
            for old in list(itertools.islice(gone, len(gone) - _GONE_KEEP)):
                del gone[old]

    def feed_session(self, s) -> None:
        """An smtpd session ended: timed when smtpd logged both its connect and its disconnect."""
        if s.closed and s.host is not None and s.pid is not None:
            self.rows["closed"].append((_secs(s.disconnect_ts, s.connect_ts), s.client_host, s.client_ip))

    # -- rows -> partial aggregates ----------------------------------------------------------------

    def _add(self, name: str, df: pd.DataFrame) -> None:
        if not len(df):
            return
        parts = self.partials[name]
        parts.append(self._bound(name, df))
        if len(parts) >= _COMPACT_AT:
            self.partials[name] = [self._bound(name, _combine(name, parts))]

    def partial(self, name: str) -> pd.DataFrame:
        """Every partial of one name combined: one row per distinct key (at most MAX_KEYS of
        those in _BOUNDED)."""
        parts = self.partials[name]
        if len(parts) != 1:
            self.partials[name] = parts = [self._bound(name, _combine(name, parts))]
        return parts[0]

    def _bound(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with at most MAX_KEYS rows, when ``name`` is a bounded partial: the others go
        to its "(other)" sums (see _BOUNDED)."""
        if len(df) <= MAX_KEYS or name not in _BOUNDED:
            return df
        rank, by = _BOUNDED[name]
        order = np.lexsort([np.arange(len(df))] + [-df[c].to_numpy(dtype="float64") for c in reversed(rank)])
        half = MAX_KEYS // 2
        gone = df.iloc[order[half:]]
        self.other[name].append(_folded(name, gone, by))
        return df.iloc[np.sort(order[:half])].reset_index(drop=True)

    def other_sums(self, name: str) -> pd.DataFrame:
        """The "(other)" sums of a bounded partial (no rows when nothing was folded): its value
        columns, "keys" (the rows folded) and, for dom_dlv, "sent_keys" (of them, with a delivery)."""
        parts = self.other[name]
        if len(parts) > 1:
            self.other[name] = parts = [_folded(name, pd.concat(parts, ignore_index=True), _BOUNDED[name][1],
                                                again=True)]
        if parts:
            return parts[0]
        _, how = _PARTIALS[name]
        return pd.DataFrame(columns=[*_BOUNDED[name][1], *how, "keys", "sent_keys"])

    @property
    def folded(self) -> int:
        """Keys (rows) of the bounded partials folded into their "(other)" sums."""
        return sum(int(self.other_sums(name)["keys"].sum()) for name in _BOUNDED if self.other[name])

    def reached(self) -> dict:
        """The bounds the run reached (limits.py): the tracker's (``limits``) and MAX_KEYS."""
        out = {name: dict(entry) for name, entry in self.limits.items()}
        limits.reached("summary_keys", self.folded, out)
        return out

    def flush(self) -> None:
        """Group the row batch into partial aggregates and drop it.

        Each table's DataFrame is built from only the fields it uses, taken from the row tuples a
        field at a time (see _fields); the text functions (normalized addresses, domains, causes)
        run once per distinct value, their results cached across batches (bounded). The rows of
        every frame keep their log order, so the groups of every partial come in the order they
        always did (first appearance)."""
        self._batch = 0
        rows = self.rows
        if not any(rows.values()):
            return
        status = _Statuses(rows["dlv"])
        # (what, times) per traffic column, (what, instances) per instances column, times of every line
        traffic, instances, stamps = [], [], []
        self._received(rows["recv"], rows["got"], traffic, instances, stamps)
        self._deliveries(rows["dlv"], status, traffic, instances, stamps)
        self._access(rows["access"], traffic, instances, stamps)
        stamps.append(_floats(rows["conn_ts"]))
        if rows["problem"]:
            ts, programs, severities, texts = _fields("problem", rows["problem"], "ts", "program", "severity", "text")
            stamps.append(_floats(ts))
            self._add("problems", _counts(_frame(severity=severities, program=programs, cause=_each(_cause, texts))))
        self._times(traffic, stamps)
        self._instances(instances)
        self._sessions(rows["closed"])
        self._other_counts(rows)
        for data in rows.values():
            data.clear()  # in place: consume() holds their append methods

    def _received(self, recv: list, got: list, traffic: list, instances: list, stamps: list) -> None:
        self.n["received"] += len(recv)
        if recv:
            ts, insts, services = _fields("recv", recv, "ts", "instance", "service")
            ts = _floats(ts)
            stamps.append(ts)
            traffic.append(("received", ts))
            insts = _each(_instance, insts)
            instances.append(("received", insts))
            self._add("by_service", _counts(_frame(instance=insts, service=services)))
        if got:
            senders, sizes, hosts, ips = _fields("got", got, "sender", "size", "client_host", "client_ip")
            keys = _each(_sender_key, senders)
            # pflogsumm: the sender's domain; without one, pickup's sender itself, else the client's
            domains = [dom if dom is not None else key if host == "pickup" else _client_key(host, ip)
                       for dom, key, host, ip in zip(_each(_sender_domain, keys), keys, hosts, ips, strict=True)]
            size = _ints(sizes)
            self.n["bytes_received"] += int(size.sum())
            df = pd.DataFrame({"sender": _objects(keys), "domain": _objects(domains), "size": size})
            self._add("senders", _messages(df, "sender"))
            self._add("sender_domains", _messages(df, "domain"))

    def _deliveries(self, dlv: list, status: _Statuses, traffic: list, instances: list, stamps: list) -> None:
        n = self.n
        sent, deferred, bounced = status.delivered, status.deferred, status.bounced
        n["delivered"] += len(sent)
        n["forwarded"] += len(status.forwarded)
        n["deferrals"] += len(deferred)
        n["bounced"] += len(bounced)
        if not dlv:
            return
        stamps.append(_floats(_fields("dlv", dlv, "ts")[0]))
        ts, instance = _field("dlv", "ts"), _field("dlv", "instance")
        for what, batch in (("delivered", sent), ("deferred", deferred), ("bounced", bounced)):
            traffic.append((what, _floats(list(map(ts, batch)))))
        for what, batch in (("delivered", sent), ("forwarded", status.forwarded), ("deferrals", deferred),
                            ("bounced", bounced)):
            instances.append((what, _each(_instance, list(map(instance, batch)))))
        if sent:
            rcpts, sizes = _fields("dlv", sent, "rcpt", "size")
            size = _ints(sizes)
            n["bytes_delivered"] += int(size.sum())
            self._add("rcpts", _messages(pd.DataFrame({"rcpt": _objects(_each(_address, rcpts)), "size": size}),
                                         "rcpt"))
        if status.per_domain:
            self._add("dom_dlv", _per_domain(status.per_domain, status.per_domain_sent))
        if deferred:
            programs, reasons = _fields("dlv", deferred, "program", "reason")
            self._add("deferrals", _counts(_frame(program=programs, cause=_each(_cause, reasons))))
        if bounced:
            relays, reasons = _fields("dlv", bounced, "relay", "reason")
            self._add("bounces", _counts(_frame(relay=_each(_text, relays), cause=_each(_cause, reasons))))

    def _access(self, acc: list, traffic: list, instances: list, stamps: list) -> None:
        if not acc:
            return
        ts, insts, actions, stages, codes, reasons, tails = _fields(
            "access", acc, "ts", "instance", "action", "stage", "code", "reason", "tail")
        ts = _floats(ts)
        stamps.append(ts)
        # pflogsumm's "rejected" column counts every access decision: rejects, reject warnings,
        # holds and discards
        traffic.append(("rejected", ts))
        instances.append(("rejected", _each(_instance, [i for i, a in zip(insts, actions, strict=True) if a == "reject"])))
        if any(t is not None for t in tails):
            reasons = [r if t is None else full_reason(r, t) for r, t in zip(reasons, tails, strict=True)]
        self._add("access", _counts(_frame(action=actions, stage=_each(_text, stages),
                                           code=pd.Series(_floats(codes)).astype("Int64"),
                                           cause=_each(_cause, reasons))))

    def _times(self, traffic: list, stamps: list) -> None:
        """Lines per day and hour (the traffic table), the days with lines, the first and last time."""
        ts = np.concatenate([t for _, t in traffic]) if traffic else np.empty(0)
        if len(ts):
            what = np.repeat(np.array([w for w, _ in traffic], dtype=object), [len(t) for _, t in traffic])
            known = ~np.isnan(ts)
            if not known.all():
                ts, what = ts[known], what[known]
            if len(ts):
                self._add("traffic", _counts(pd.DataFrame({"day": (ts // 86400).astype("int64"),
                                                           "hour": ((ts % 86400) // 3600).astype("int64"),
                                                           "what": _objects(what)})))
        ts = np.concatenate(stamps)
        ts = ts[~np.isnan(ts)]
        if len(ts):
            self.ts_min = min(self.ts_min, float(ts.min()))
            self.ts_max = max(self.ts_max, float(ts.max()))
            self._add("days", _counts(pd.DataFrame({"day": (ts // 86400).astype("int64")})))

    def _instances(self, instances: list) -> None:
        names = list(itertools.chain.from_iterable(i for _, i in instances))
        if names:
            what = np.repeat(np.array([w for w, _ in instances], dtype=object), [len(i) for _, i in instances])
            self._add("instances", _counts(_frame(instance=names, what=what)))

    def _sessions(self, closed: list) -> None:
        """smtpd sessions per client domain."""
        if not closed:
            return
        secs, hosts, ips = _fields("closed", closed, "secs", "client_host", "client_ip")
        domains = [("" if ip is None else ip) if dom is None else dom
                   for dom, ip in zip(_each(_host_domain, hosts), ips, strict=True)]
        g = pd.DataFrame({"secs": _floats(secs), "domain": _objects(domains)}).groupby("domain", sort=False)["secs"]
        self._add("closed", pd.DataFrame({"connections": g.size(), "total_time": g.sum(), "max_time": g.max()})
                  .reset_index())

    def _other_counts(self, rows: dict) -> None:
        add = self._add
        if rows["smtp_fail"]:
            relay_hosts, reasons = _fields("smtp_fail", rows["smtp_fail"], "relay_host", "reason")
            add("smtp_fail", _counts(_frame(reason=_each(_lower, reasons), relay_host=relay_hosts)))
        if rows["postscreen"]:
            add("postscreen", _counts(_frame(verdict=_fields("postscreen", rows["postscreen"], "verdict")[0])))
        if rows["dnsbl"]:
            dnsbls, ips = _fields("dnsbl", rows["dnsbl"], "dnsbl", "client_ip")
            add("dnsbl", _counts(_frame(dnsbl=dnsbls, client_ip=ips)))
        if rows["session_error"]:
            kinds, stages = _fields("session_error", rows["session_error"], "kind", "stage")
            add("session_error", _counts(_frame(stage=stages, kind=kinds)))
        if rows["tls"]:
            programs, directions, protocols = _fields("tls", rows["tls"], "program", "direction", "protocol")
            add("tls", _counts(_frame(direction=_each(_tls_direction, directions), program=programs,
                                      protocol=protocols)))

    # -- pieces ----------------------------------------------------------------------------------

    def merge(self, later: Part) -> None:
        """Fold in the Part of the lines that follow (a later piece of the log): its partials,
        counts and removed sizes. The lines its stream held back come after, through the merged
        stream (pipeline.Stream.merge)."""
        for name, parts in later.partials.items():
            for df in parts:
                self._add(name, df)
        for name, parts in later.other.items():
            self.other[name].extend(parts)
        for name, rows in later.rows.items():  # not grouped yet: they join this batch
            self.rows[name].extend(rows)
        self._batch += later._batch
        for key, size in later.gone.items():
            self._remember(key, size)
        self.deferred += later.deferred
        self.out_sessions += later.out_sessions
        for name, value in later.n.items():
            self.n[name] += value
        self.ts_min = min(self.ts_min, later.ts_min)
        self.ts_max = max(self.ts_max, later.ts_max)
        self.lines += later.lines
        self.unrecognized += later.unrecognized
        self.foreign += later.foreign
        self.without_ts += later.without_ts
        self.filtered += later.filtered


def _secs(ts, connected) -> float:
    if ts is None or connected is None:
        return float("nan")
    return max(ts - connected, 0.0)


def _counts(df: pd.DataFrame, by: list | None = None) -> pd.DataFrame:
    """Rows per distinct value of ``by`` (default: every column; missing values are a value too),
    as column "n"."""
    return df.groupby(list(df.columns) if by is None else by, sort=False, dropna=False).size().reset_index(name="n")


def _messages(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """Messages (rows) and bytes (sum of column "size") per distinct ``by``. (The same frame as
    ``.agg(messages=("size", "size"), bytes=("size", "sum"))``, without the overhead of pandas' named
    aggregation, which costs more than grouping a batch.)"""
    g = df.groupby(by, sort=False)["size"]
    return pd.DataFrame({"messages": g.size(), "bytes": g.sum()}).reset_index()


def _per_domain(rows: list, sent_flags: list) -> pd.DataFrame:
    """Partial "dom_dlv" of the delivered and deferred status lines (in log order; ``sent_flags``:
    delivered or not): the delay of deliveries summed in microseconds, its maximum over both."""
    rcpts, delays, sizes = _fields("dlv", rows, "rcpt", "delay", "size")
    sent = np.array(sent_flags, dtype=bool)
    delay = _floats(delays)
    df = pd.DataFrame({
        "domain": _objects(_each(_rcpt_domain, rcpts)),
        "sent": sent.astype("int64"),
        "bytes": np.where(sent, _ints(sizes), 0),
        "defers": (~sent).astype("int64"),
        "delay_us": np.where(sent, np.rint(np.where(np.isnan(delay), 0, delay) * 1e6), 0).astype("int64"),
        "delay": delay,
    })
    g = df.groupby("domain", sort=False)
    out = g[["sent", "bytes", "defers", "delay_us"]].sum()
    out["max_delay"] = g["delay"].max()
    return out.reset_index()


class _Statuses:
    """A batch's status lines by what they count as, each list in log order; ``per_domain``: the
    delivered and deferred ones (in log order), ``per_domain_sent``: which of them are delivered."""

    __slots__ = ("delivered", "forwarded", "deferred", "bounced", "per_domain", "per_domain_sent")

    def __init__(self, dlv: list):
        self.delivered, self.forwarded, self.deferred, self.bounced = [], [], [], []
        self.per_domain, self.per_domain_sent = [], []
        delivered, forwarded = self.delivered.append, self.forwarded.append
        deferred, bounced = self.deferred.append, self.bounced.append
        per_domain, sent = self.per_domain.append, self.per_domain_sent.append
        status_at, reason_at = _COLUMN["dlv"]["status"], _COLUMN["dlv"]["reason"]
        for r in dlv:
            status = r[status_at]
            if status == "sent":
                reason = r[reason_at]
                if reason is not None and "forwarded as " in reason:
                    forwarded(r)
                else:
                    delivered(r)
                    per_domain(r)
                    sent(True)
            elif status == "deferred":
                deferred(r)
                per_domain(r)
                sent(False)
            elif status == "bounced":
                bounced(r)


# Positions of the fields in the ROWS tuples
_COLUMN = {kind: {name: i for i, name in enumerate(names)} for kind, names in ROWS.items()}


def _field(kind: str, *names: str) -> itemgetter:
    """Getter of the named fields of a ROWS[kind] tuple (of several: a tuple of them)."""
    return itemgetter(*(_COLUMN[kind][name] for name in names))


def _fields(kind: str, rows: list, *names: str) -> list[list]:
    """Named fields of ROWS[kind] tuples, a list each ("conn_ts" rows are plain values). Not
    zip(*rows): it makes an iterator per row, enough short-lived objects to set off full garbage
    collections."""
    if kind == "conn_ts":
        return [rows]
    return [list(map(itemgetter(_COLUMN[kind][name]), rows)) for name in names]


def _each(func, values: list) -> list:
    """[func(v) for v in values], with func called once per distinct value (logs repeat the same
    addresses and reasons)."""
    table = {v: func(v) for v in dict.fromkeys(values)}
    return list(map(table.__getitem__, values))


def _objects(values) -> pd.Series:
    """Text as an object column (cheaper to factorize than pandas' string dtype)."""
    return pd.Series(values, dtype=object)


def _frame(**columns) -> pd.DataFrame:
    """A DataFrame of text columns (lists become object columns), in the order given."""
    return pd.DataFrame({name: values if isinstance(values, pd.Series) else _objects(values)
                         for name, values in columns.items()})


def _floats(values) -> np.ndarray:
    """Numbers of row tuples as floats, None → NaN."""
    return np.array(values, dtype="float64")


def _ints(values) -> np.ndarray:
    """Whole numbers of row tuples (sizes) as int64, through floats like always (same results)."""
    return np.array(values, dtype="float64").astype("int64")


def _instance(name):
    """The instance column of the tables: "?" for a line without one."""
    return "?" if name is None else name


def _text(value):
    """A text column with "" for a missing value."""
    return "" if value is None else value


def _lower(value) -> str:
    return ("" if value is None else value).lower()


_TLS_DIRECTION = {"from": "inbound", "to": "outbound"}


def _tls_direction(direction) -> str:
    return _TLS_DIRECTION.get(direction, "?")


def _client_key(host, ip) -> str:
    """client_domain(host, ip), with the name's part cached."""
    dom = _host_domain(host)
    return ("" if ip is None else ip) if dom is None else dom


def _combine(name: str, parts: list) -> pd.DataFrame:
    keys, how = _PARTIALS[name]
    if not parts:
        return pd.DataFrame(columns=[*keys, *how])
    if len(parts) == 1:
        return parts[0]
    df = pd.concat(parts, ignore_index=True)
    return df.groupby(keys, sort=False, dropna=False).agg(how).reset_index()


def _folded(name: str, rows: pd.DataFrame, by: list, again: bool = False) -> pd.DataFrame:
    """The "(other)" sums of rows folded out of a bounded partial (``again``: of such sums)."""
    _, how = _PARTIALS[name]
    how = {**how, "keys": "sum", "sent_keys": "sum"}
    if not again:
        rows = rows.assign(keys=1, sent_keys=(rows["sent"] > 0).astype("int64") if "sent" in rows else 0)
    if by:
        return rows.groupby(by, sort=False, dropna=False).agg(how).reset_index()
    return pd.DataFrame({column: [rows[column].agg(h)] for column, h in how.items()})


def stream(head: bool = True, since: float | None = None, until: float | None = None) -> Stream:
    """The summary's stream: one Part on the tracker (and its window, when given)."""
    part = Part(since, until)
    return Stream([part], head=head, select=part if part.windowed else None)


def parser_fields() -> dict | None:
    """What the summary's parser captures: the fields the Part and the tracker read."""
    if FIELDS is None:
        return None
    out = {kind: set(names) for kind, names in FIELDS.items()}
    for kind, names in TRACKER_FIELDS.items():
        out.setdefault(kind, set()).update(names)
    return out


def collect(paths, year: int | None = None, since: float | None = None, until: float | None = None,
            jobs: int | None = None, scheduler: str | None = None) -> tuple[Part, list[str], dict]:
    """Partial aggregates of every line of the given paths (see ``inputs.resolve``).

    Inputs of pipeline.PARALLEL_MIN_BYTES and more are read in pieces by up to ``jobs``
    processes (default: the CPUs this process may use), or as tasks on the Dask cluster at
    ``scheduler`` (see pipeline.run). Returns (aggregates, source names, year assumptions).
    """
    sources = pipeline.resolve(paths, scheduler)
    parser = Parser(year=year, fields=parser_fields())
    make = functools.partial(stream, since=since, until=until)
    fed = pipeline.run(sources, make, parser, jobs=pipeline.default_jobs() if jobs is None else jobs,
                       scheduler=scheduler)
    fed.finish()
    part = fed.consumers[0]
    for name, n in fed.tracker.dropped.items():
        limits.reached(name, n, part.limits)
    return part, [s.display for s in sources], dict(fed.assumptions)


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
# Linear on any text (tests/test_regex_linear.py): no unbounded run is scanned again from each
# position of a longer one (a host name has at most 253 characters, an address 64 inside brackets)
_HOSTIP = re.compile(r"[^\s\[\]]{1,255}\[[0-9A-Fa-f.:]{1,64}\](?::\d{1,5})?")
_BRACKET_IP = re.compile(r"\s{0,64}\[(?:IPv6:)?[0-9A-Fa-f.:]{1,64}\]")
_URL = re.compile(r";?\s{0,64}\S{1,64}://\S*(?:\s{1,64}/\s{1,64}\S{1,64}://\S*)*")
_ANGLE = re.compile(r"<[^<>]*>")
_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_NAME = re.compile(r"\b(name|domain|for name)=\S+")
_QUEUED_AS = re.compile(r"(queued as|id=|ID=|id |ref:|Ref:)\s*\S+")
_IN_REPLY = re.compile(r"\s{0,64}\(in reply to (.{0,200}?) command\)\s*$")
_CAUSE_MAX = 110


def cause(reason) -> str:
    """A reason reduced to its cause: who said it, addresses, host names and IP addresses go, so
    that the same failure at many destinations or from many clients groups into one row."""
    if reason is None or reason != reason:
        return ""
    s = str(reason)
    # A substitution runs only when the text holds what its pattern needs: most reasons lack most
    # of these, and a scan that finds nothing costs about as much as a substitution.
    if " said: " in s:
        s = _SAID.sub("", s)
    if "(in reply to " in s:
        reply = _IN_REPLY.search(s)
        if reply:
            s = s[:reply.start()] + f" (in reply to {reply.group(1)})"
    if "[" in s:
        s = _HOSTIP.sub("HOST", s)
        s = _BRACKET_IP.sub("", s)
    if "://" in s:
        s = _URL.sub("", s)
    if "<" in s:
        s = _ANGLE.sub("<…>", s)
    if s.count(".") >= 3:
        s = _IP.sub("IP", s)
    if "name=" in s or "domain=" in s:
        s = _NAME.sub(r"\1=…", s)
    if "id=" in s or "id " in s or "ID=" in s or "queued as" in s or "ef:" in s:
        s = _QUEUED_AS.sub(r"\1 …", s)
    s = " ".join(s.split())  # whitespace runs → one space, stripped (str.split's whitespace is re's \s)
    s = s.replace("<…>: ", "")
    if len(s) > _CAUSE_MAX:
        s = s[:_CAUSE_MAX - 1] + "…"
    return s


# The per-value text functions keep their results across batches (logs repeat the same reasons,
# addresses and client names all day); lru_cache bounds them, so memory does not grow with the log.
_cause = functools.lru_cache(maxsize=1 << 14)(cause)


@functools.lru_cache(maxsize=1 << 15)
def _host_domain(host) -> str | None:
    """client_domain() of a client name, None when there is none (then the IP address is used)."""
    return None if not host or host == "unknown" else client_domain(host, None)


_address = functools.lru_cache(maxsize=1 << 15)(normalize_address)
_sender_domain = functools.lru_cache(maxsize=1 << 15)(sender_domain)


@functools.lru_cache(maxsize=1 << 15)
def _sender_key(addr) -> str:
    """The sender column: the normalized address, "from=<>" for the null sender."""
    return normalize_address(addr) if addr else "from=<>"


@functools.lru_cache(maxsize=1 << 15)
def _rcpt_domain(addr) -> str:
    """The domain of a recipient, as the per-domain delivery table keys it."""
    return address_domain(normalize_address(addr))


_TAIL_END = re.compile(r";? (?:from|to)=<|;? proto=|;? helo=<")


def full_reason(reason, tail) -> str | None:
    """smtpd's reason, with the part after its first ";" that the grammar leaves in ``tail``
    ("Service unavailable; Client host [ip] blocked using zen.spamhaus.org")."""
    if not isinstance(tail, str) or not tail:
        return reason
    rest = _TAIL_END.split(tail, maxsplit=1)[0].rstrip(";").strip()
    return f"{reason}; {rest}" if rest else reason


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


def _grouped(df: pd.DataFrame, by: list, label: str = "count") -> pd.DataFrame:
    """Counts (column "n" of a partial) per distinct ``by``, largest first."""
    if not len(df):
        return pd.DataFrame(columns=[label, *by])
    g = df.groupby(by, sort=False, dropna=False)["n"].sum().reset_index(name=label)
    return g.sort_values([label, *by], ascending=[False] + [True] * len(by))[[label, *by]]


def _crosstab(df: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """pd.crosstab of the rows a partial counts (column "n"): rows or columns with a missing
    key are left out, index and columns sorted."""
    df = df.dropna(subset=[index, columns])
    return df.groupby([index, columns])["n"].sum().unstack(fill_value=0)


def summarize(part: Part, top: int = 10, detail: int = 10, sources=(), assumptions=None) -> dict:
    """Every table of the summary as plain data (the JSON format; the text and Markdown writers
    render this dict). ``top`` limits the host/domain and sender/recipient tables, ``detail``
    the reason, warning and other detail tables (negative: no limit, 0: left out)."""
    part.flush()
    n = part.n
    P = part.partial

    def folded(name: str, column: str = "keys"):
        """A column of a bounded partial's "(other)" sums (0 when nothing was folded)."""
        other = part.other_sums(name)
        return other[column].sum().item() if len(other) else 0

    acc = P("access")
    counts = acc.groupby("action")["n"].sum() if len(acc) else pd.Series(dtype="int64")
    n_rejected = int(counts.get("reject", 0))
    n_discarded = int(counts.get("discard", 0))
    n_delivered = n["delivered"]
    base = n_delivered + n_rejected + n_discarded
    senders = P("senders")
    sender_domains = P("sender_domains")
    rcpts = P("rcpts")
    dom_dlv = P("dom_dlv")
    totals = {
        "received": n["received"],
        "delivered": n_delivered,
        "forwarded": n["forwarded"],
        "deferred": part.deferred,
        "deferrals": n["deferrals"],
        "bounced": n["bounced"],
        "rejected": n_rejected,
        "rejected_pct": int(100 * n_rejected / base) if base else 0,
        "reject_warnings": int(counts.get("reject_warning", 0)),
        "held": int(counts.get("hold", 0)),
        "discarded": n_discarded,
        "discarded_pct": int(100 * n_discarded / base) if base else 0,
        "bytes_received": n["bytes_received"],
        "bytes_delivered": n["bytes_delivered"],
        "senders": len(senders) + folded("senders"),
        "sending_domains": len(sender_domains) + folded("sender_domains"),
        "recipients": len(rcpts) + folded("rcpts"),
        "recipient_domains": (int((dom_dlv["sent"] > 0).sum()) if len(dom_dlv) else 0)
        + folded("dom_dlv", "sent_keys"),
    }

    # -- traffic over time ---------------------------------------------------------------------
    traffic = P("traffic")
    cols = ["received", "delivered", "deferred", "bounced", "rejected"]
    if len(traffic):
        per_day = _crosstab(traffic, "day", "what").reindex(columns=cols, fill_value=0)
        per_hour = _crosstab(traffic, "hour", "what").reindex(index=range(24), columns=cols, fill_value=0)
    else:
        per_day = pd.DataFrame(columns=cols)
        per_hour = pd.DataFrame(0, index=range(24), columns=cols)
    days = len(P("days"))
    per_day = per_day.reset_index()
    per_day.insert(0, "date", [_day_string(d) for d in per_day.pop("day")] if len(per_day) else [])
    per_hour = per_hour.reset_index(names="hour").fillna(0)

    # -- host/domain tables --------------------------------------------------------------------
    if len(dom_dlv):
        dom_dlv = dom_dlv.assign(delay_sum=dom_dlv["delay_us"] / 1e6)
        dom_dlv["avg_delay"] = (dom_dlv["delay_sum"] / dom_dlv["sent"].where(dom_dlv["sent"] > 0)).fillna(0.0).round(1)
        dom_dlv["max_delay"] = dom_dlv["max_delay"].fillna(0.0)
        dom_dlv = dom_dlv.sort_values(["sent", "bytes", "domain"], ascending=[False, False, True])
        dom_dlv = dom_dlv[["sent", "bytes", "defers", "avg_delay", "max_delay", "domain"]]
    else:
        dom_dlv = pd.DataFrame(columns=["sent", "bytes", "defers", "avg_delay", "max_delay", "domain"])
    dom_rcv = (sender_domains.sort_values(["messages", "bytes", "domain"], ascending=[False, False, True])
               [["domain", "messages", "bytes"]])

    def top_by(df, key, value, label):
        g = df[[key, value]]
        g.columns = [label, "value"]
        return g.sort_values(["value", label], ascending=[False, True])[["value", label]]

    senders_count = top_by(senders, "sender", "messages", "sender").rename(columns={"value": "messages"})
    senders_size = top_by(senders, "sender", "bytes", "sender").rename(columns={"value": "bytes"})
    rcpts_count = top_by(rcpts, "rcpt", "messages", "recipient").rename(columns={"value": "messages"})
    rcpts_size = top_by(rcpts, "rcpt", "bytes", "recipient").rename(columns={"value": "bytes"})

    # -- reasons -------------------------------------------------------------------------------
    deferral_detail = _grouped(P("deferrals"), ["program", "cause"])
    bounce_detail = _grouped(P("bounces"), ["relay", "cause"])
    if len(acc):
        acc = acc.assign(code=acc["code"].astype("Int64"))
    reject_detail = {}
    for action in ("reject", "reject_warning", "hold", "discard"):
        sub = acc[acc["action"] == action] if len(acc) else acc
        reject_detail[action] = _grouped(sub, ["stage", "code", "cause"])
    sf = P("smtp_fail")
    smtp_failures = (sf.groupby("reason", sort=False)
                     .agg(count=("n", "sum"), hosts=("relay_host", "nunique"))
                     .reset_index().sort_values(["count", "reason"], ascending=[False, True])
                     [["count", "hosts", "reason"]]) if len(sf) else pd.DataFrame(columns=["count", "hosts", "reason"])

    # -- smtpd connections ---------------------------------------------------------------------
    closed = P("closed")
    n_conn = n["connections"]
    n_closed = (int(closed["connections"].sum()) if len(closed) else 0) + int(folded("closed", "connections"))
    total_secs = (float(closed["total_time"].sum()) if len(closed) else 0.0) + float(folded("closed", "total_time"))
    max_time = float(closed["max_time"].max()) if len(closed) else 0.0
    if len(part.other_sums("closed")):
        max_time = max(max_time, float(part.other_sums("closed")["max_time"].max()))
    smtpd = {
        "connections": n_conn,
        "sessions_timed": n_closed,
        "hosts_domains": len(closed) + folded("closed"),
        "avg_connect_time": round(total_secs / n_closed, 1) if n_closed else 0.0,
        "max_connect_time": max_time,
        "total_connect_time": total_secs,
    }
    if len(closed):
        smtpd_domains = closed.sort_values(["connections", "total_time", "domain"], ascending=[False, False, True])
        smtpd_domains["avg_time"] = (smtpd_domains["total_time"] / smtpd_domains["connections"]).round(1)
        smtpd_domains = smtpd_domains[["connections", "total_time", "avg_time", "max_time", "domain"]]
    else:
        smtpd_domains = pd.DataFrame(columns=["connections", "total_time", "avg_time", "max_time", "domain"])

    # -- warnings, errors, fatals, panics ------------------------------------------------------
    prob = P("problems")
    problems = {}
    for sev in ("warning", "error", "fatal", "panic"):
        problems[sev] = _grouped(prob[prob["severity"] == sev] if len(prob) else prob, ["program", "cause"])
    problems_by_program = _grouped(prob, ["severity", "program"])

    # -- beyond pflogsumm ----------------------------------------------------------------------
    postscreen_verdicts = _grouped(P("postscreen"), ["verdict"])
    db = P("dnsbl")
    dnsbl = (db.groupby("dnsbl", sort=False).agg(hits=("n", "sum"), clients=("client_ip", "nunique"))
             if len(db) else None)
    other = part.other_sums("dnsbl")
    if dnsbl is not None and len(other):  # the folded clients of each list: hits and clients too
        other = other.set_index("dnsbl")
        dnsbl = dnsbl.add(pd.DataFrame({"hits": other["n"], "clients": other["keys"]}), fill_value=0).astype("int64")
    dnsbl = (dnsbl.reset_index(names="dnsbl").sort_values(["hits", "dnsbl"], ascending=[False, True])
             [["hits", "clients", "dnsbl"]] if dnsbl is not None else pd.DataFrame(columns=["hits", "clients", "dnsbl"]))
    tl = P("tls")
    tls_protocols = _grouped(tl, ["direction", "program", "protocol"])
    if len(tl):
        tls_in = int(tl.loc[(tl["direction"] == "inbound") & (tl["program"] == "smtpd"), "n"].sum())
        tls_out = int(tl.loc[(tl["direction"] == "outbound") & tl["program"].isin(("smtp", "lmtp")), "n"].sum())
    else:
        tls_in = tls_out = 0
    out_sessions = part.out_sessions
    tls = {
        "inbound_sessions": n_conn,
        "inbound_tls": tls_in,
        "inbound_share": _share(tls_in, n_conn),
        "outbound_sessions": out_sessions,
        "outbound_tls": tls_out,
        "outbound_share": _share(min(tls_out, out_sessions), out_sessions),
    }
    se = P("session_error")
    names = {"error_limit": "too many errors", "lost_connection": "lost connection", "timeout": "timeout"}
    if len(se):
        session_errors = _crosstab(se.assign(kind=se["kind"].map(names)), "stage", "kind")
        session_errors = session_errors.reindex(columns=list(names.values()), fill_value=0)
        session_errors["total"] = session_errors.sum(axis=1)
        session_errors = session_errors.sort_values("total", ascending=False).reset_index()
    else:
        session_errors = pd.DataFrame(columns=["stage", *names.values(), "total"])

    icols = ["received", "delivered", "forwarded", "deferrals", "bounced", "rejected"]
    inst = P("instances")
    if len(inst):
        instances = _crosstab(inst, "instance", "what").reindex(columns=icols, fill_value=0).reset_index()
    else:
        instances = pd.DataFrame(columns=["instance", *icols])
    received_by_service = _grouped(P("by_service"), ["instance", "service"])

    def lim(df, k):
        return _records(_limit(df, k))

    have_ts = part.ts_min <= part.ts_max
    return {
        "meta": {
            "sources": list(sources),
            "year_assumptions": dict(assumptions or {}),
            "lines": part.lines,
            "unrecognized": part.unrecognized,
            "foreign": part.foreign,
            "filtered_out": part.filtered,
            "first": _iso(part.ts_min) if have_ts else None,
            "last": _iso(part.ts_max) if have_ts else None,
            "days": days,
            "top": top,
            "detail": detail,
            **({"limits": reached} if (reached := part.reached()) else {}),
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

def summary(paths, year: int | None = None, since: str | float | None = None, until: str | float | None = None,
            top: int = 10, detail: int = 10, jobs: int | None = None, config=None,
            config_how: str | None = None, scheduler: str | None = None) -> dict:
    """The whole summary of the given logs as a JSON-ready dict (see ``summarize``). With
    ``config_how`` (the CLI), ``meta.config`` says what was read of the Postfix configuration
    (``config``): its sources and problems; the traffic numbers do not depend on it."""
    lo = parse_when(since) if isinstance(since, str) else since
    hi = parse_when(until) if isinstance(until, str) else until
    rows, sources, assumptions = collect(paths, year=year, since=lo, until=hi, jobs=jobs,
                                         scheduler=scheduler)
    result = summarize(rows, top=top, detail=detail, sources=sources, assumptions=assumptions)
    if config_how is not None:
        meta = {"read": config is not None, "how": config_how,
                "sources": [s.as_dict() for s in config.sources] if config is not None else []}
        if config is not None and config.problems:
            meta["problems"] = [str(p) for p in config.problems]
        result["meta"]["config"] = meta
    return result


def render(result: dict, fmt: str = "text") -> str:
    """The summary dict as text, markdown or json."""
    from .report.summary_report import render as _render

    return _render(result, fmt)


def run(paths, fmt: str = "text", year: int | None = None, since: str | None = None, until: str | None = None,
        top: int = 10, detail: int = 10) -> str:
    """What `postfix-diag summary` prints: the summary of ``paths`` rendered as ``fmt``."""
    return render(summary(paths, year=year, since=since, until=until, top=top, detail=detail), fmt)
