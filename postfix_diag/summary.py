"""Traffic summary: pflogsumm's numbers, plus what pflogsumm cannot see.

Memory does not grow with the log, so that millions of lines stay cheap:

1. ``Part.consume``: one pass over the event stream. Each event of interest is joined with the
   per-message state (a receipt waiting for its qmgr line, a message's size until it is removed,
   an open smtpd connection) and becomes a short tuple in a row batch; no Event object is kept.
2. ``Part.flush``: every FLUSH_EVERY events the batch is grouped into partial aggregates (counts,
   sums and maxima per sender, recipient, domain, cause...): pandas groups the tables per sender,
   recipient and domain, Counter the tables of counts. Then the rows are dropped. Partials of the
   same table combine exactly (sum of sums, max of maxima); distinct counts come from the keys of
   the combined partials.
3. ``summarize``: the combined partials become the summary's tables.

Large plain files are split at line boundaries into pieces parsed by several processes; each
piece keeps aside the few events that need the state of the pieces before it, and the main
process resolves them in order (``Part.absorb``).

How each total is counted, and where it deliberately differs from pflogsumm 1.1.5, is written down
in docs/summary-parity.md; tests/test_summary_parity.py checks it against pflogsumm's real output.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from operator import itemgetter

import numpy as np
import pandas as pd

from .events import FOREIGN, UNRECOGNIZED
from .inputs import STDIN, Source, resolve

# ---------------------------------------------------------------------------------------------
# Stage 1: events -> joined rows -> partial aggregates
# ---------------------------------------------------------------------------------------------

# Joined rows, one tuple per event of interest, with these fields (flush reads them by name, see
# _field). A batch of rows lives only until the next flush (every FLUSH_EVERY events), when it is
# grouped into partial aggregates (see _PARTIALS) and dropped.
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
_GONE_KEEP = 32768  # sizes of removed messages kept (for status lines logged after "removed")
# Partials that only count rows: kept as {key tuple: n} until read (``Part.partial``), since adding
# counts is exact and a dict is much cheaper to add to than a DataFrame per batch.
_COUNTED = frozenset(name for name, (_, how) in _PARTIALS.items() if how == {"n": "sum"})
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

# Per-message state of a stretch parsed without the state of the stretches before it (parallel
# parts): _MISSING = never touched here, so the answer comes from the earlier stretches; _DONE =
# touched here, and nothing is left (receipt consumed, message removed, connection closed).
_MISSING = object()
_DONE = object()


class Part:
    """Joined rows, partial aggregates and per-message state of one stretch of the event stream.

    Per-message state is only what is in flight: a receipt waiting for its qmgr line (dropped when
    that line comes), a message's size (moved to a bounded list of recently removed messages when
    qmgr logs "removed"), an open smtpd connection (dropped at its disconnect). Messages are
    keyed by (syslog host, queue id).

    ``inherit``: this stretch follows others that were parsed elsewhere (a parallel part). Events
    whose answer depends on state from before the stretch are kept aside (``pending_*``) and
    resolved by ``absorb`` in the process that has that state.
    """

    def __init__(self, inherit: bool = False):
        self.inherit = inherit
        self.rows = {name: [] for name in ROWS}
        self.partials = {name: [] for name in _PARTIALS if name not in _COUNTED}
        self.counts = {name: {} for name in _COUNTED}  # the _COUNTED partials
        self.recv: dict = {}   # key -> (client_host, client_ip) of a receipt not yet queued
        self.sizes: dict = {}  # key -> size of the latest qmgr line
        self.gone: dict = {}   # key -> size, of the latest _GONE_KEEP..2*_GONE_KEEP removed messages
        self.removed_before: list = []  # keys removed here whose size is known only before
        self.conns: dict = {}  # (host, pid) -> ts of an open smtpd connection
        self.pending_got: list = []   # (key, sender, size): qmgr lines with no receipt here
        self.pending_dlv: list = []   # (key, row without size): status lines with no qmgr line here
        self.pending_disc: list = []  # ((host, pid), ts, client_host, client_ip)
        self.deferred_keys: set = set()  # messages with a deferral (pflogsumm's "deferred")
        self.out_sessions: list = []     # arrays of unique byte strings "host\0qid\0pid" (outbound sessions)
        self.n = dict.fromkeys(("received", "delivered", "forwarded", "deferrals", "bounced",
                                "bytes_received", "bytes_delivered", "connections"), 0)
        self.ts_min = float("inf")
        self.ts_max = float("-inf")
        self.lines = self.unrecognized = self.foreign = self.without_ts = self.filtered = 0

    # -- pass over events ------------------------------------------------------------------------

    def removed(self, host, qid) -> None:
        """qmgr "removed": the message's size moves to the short list of recently removed ones
        (status lines after "removed" still find it, in damaged or edited logs)."""
        key = (host or "", qid or "")
        size = self.sizes.pop(key, None)
        if size is not None:
            gone = self.gone
            gone.pop(key, None)
            gone[key] = size
            if len(gone) > 2 * _GONE_KEEP:
                for old in list(itertools.islice(gone, len(gone) - _GONE_KEEP)):
                    del gone[old]
        elif self.inherit and key not in self.gone:
            self.removed_before.append(key)

    def consume(self, events: Iterable, since: float | None = None, until: float | None = None) -> None:
        """One pass over events: join them with the per-message state into rows (see ROWS),
        grouped into partial aggregates every FLUSH_EVERY events.

        ``since`` (inclusive) and ``until`` (exclusive) are wall-clock epochs like ``Event.ts``;
        when either is given, lines without a timestamp are left out.
        """
        t = self.rows
        recv, got, dlv, access = t["recv"].append, t["got"].append, t["dlv"].append, t["access"].append
        conn_ts, closed, problem = t["conn_ts"].append, t["closed"].append, t["problem"].append
        smtp_fail, postscreen, dnsbl = t["smtp_fail"].append, t["postscreen"].append, t["dnsbl"].append
        tls, sess = t["tls"].append, t["session_error"].append
        recv_state, sizes, gone, conns = self.recv, self.sizes, self.gone, self.conns
        inherit = self.inherit
        pend_got, pend_dlv, pend_disc = (self.pending_got.append, self.pending_dlv.append,
                                         self.pending_disc.append)
        missing, done = _MISSING, _DONE
        skip = _SKIP
        access_kinds = _ACCESS
        session_errors = _SESSION_ERRORS
        filtering = since is not None or until is not None
        lo = since if since is not None else float("-inf")
        hi = until if until is not None else float("inf")
        seq = 0
        n_conn = 0
        flush_at = FLUSH_EVERY
        unrec = foreign = no_ts = dropped = 0
        for ev in events:
            seq += 1
            if seq >= flush_at:
                flush_at += FLUSH_EVERY
                self.n["connections"] += n_conn
                n_conn = 0
                self.flush()
            k = ev.kind
            if k in skip:
                if k == "removed":
                    self.removed(ev.host, ev.qid)
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
            if k == "delivery":
                status = f.get("status")
                reason = f.get("reason")
                if status == "sent" and (reason is None or "forwarded as " not in reason):
                    reason = None  # the reason of an ordinary delivery is not needed
                kh, kq = ev.host or "", ev.qid or ""
                row = (ts, kh, kq, ev.instance, ev.program, ev.pid, f.get("to"), f.get("relay"),
                       f.get("delay"), status, reason, f.get("conn_use"))
                size = sizes.get((kh, kq))
                if size is None:
                    size = gone.get((kh, kq))
                if size is not None:
                    dlv((*row, size))
                elif inherit:
                    pend_dlv(((kh, kq), row))
                else:
                    dlv((*row, 0))
            elif k == "qmgr_queued":
                key = (ev.host or "", ev.qid or "")
                size = f.get("size")
                if size is None:
                    size = 0
                r = recv_state.get(key, missing)
                if r is missing:
                    if inherit:
                        pend_got((key, f.get("from"), size))
                        recv_state[key] = done
                elif r is not done:
                    got((f.get("from"), size, r[0], r[1]))
                    if inherit:
                        recv_state[key] = done
                    else:
                        del recv_state[key]
                sizes[key] = size
                if gone:
                    gone.pop(key, None)
            elif k == "connect":
                n_conn += 1
                conn_ts(ts)
                pid = ev.pid
                if pid is not None:
                    host = ev.host
                    if host is not None:
                        conns[(host, pid)] = ts
                    elif inherit:
                        conns[("", pid)] = done
                    else:
                        conns.pop(("", pid), None)
            elif k == "disconnect":
                conn_ts(ts)
                pid = ev.pid
                if pid is not None:
                    host = ev.host
                    hp = (host or "", pid)
                    st = conns.get(hp, missing)
                    if host is not None:
                        if st is missing:
                            if inherit:
                                pend_disc((hp, ts, f.get("client_host"), f.get("client_ip")))
                        elif st is not done:
                            closed((_secs(ts, st), f.get("client_host"), f.get("client_ip")))
                    if inherit:
                        conns[hp] = done
                    elif st is not missing:
                        del conns[hp]
            elif k == "client":
                if ev.program == "smtpd":
                    recv((ts, ev.instance, ev.service))
                    recv_state[(ev.host or "", ev.qid or "")] = (f.get("client_host"), f.get("client_ip"))
            elif k == "pickup":
                recv((ts, ev.instance, ev.service))
                recv_state[(ev.host or "", ev.qid or "")] = ("pickup", None)
            elif k in access_kinds or (k == "access" and f.get("action") == "warning"
                                       and ev.program == "cleanup"):
                action = "reject_warning" if k == "access" else k
                access((ts, ev.instance, action, f.get("stage"), f.get("code"), f.get("reason") or f.get("data"),
                        f.get("tail")))
            elif k == "proxy_reject":
                access((ts, ev.instance, "reject", f.get("stage"), None, f.get("reason"), None))
            elif k == "tls_established":
                tls((ev.program, f.get("direction"), f.get("protocol")))
            elif k in session_errors:
                sess((k, f.get("stage")))
            elif k == "postscreen":
                postscreen((f.get("verdict"),))
            elif k == "dnsbl_listed":
                dnsbl((f.get("dnsbl"), f.get("client_ip")))
            elif k == "connect_error":
                smtp_fail((f.get("relay_host"), f.get("reason")))
            if ev.severity != "info":
                problem((ts, ev.program, ev.severity, ev.text))
        self.n["connections"] += n_conn
        self.lines += seq
        self.unrecognized += unrec
        self.foreign += foreign
        self.without_ts += no_ts
        self.filtered += dropped
        self.flush()

    # -- rows -> partial aggregates ----------------------------------------------------------------

    def _add(self, name: str, df: pd.DataFrame) -> None:
        if not len(df):
            return
        parts = self.partials[name]
        parts.append(df)
        if len(parts) >= _COMPACT_AT:
            self.partials[name] = [_combine(name, parts)]

    def partial(self, name: str) -> pd.DataFrame:
        """Every partial of one name combined: one row per distinct key."""
        if name in _COUNTED:
            counts = self.counts[name]
            return _count_frame(name, counts) if counts else _combine(name, [])
        parts = self.partials[name]
        if len(parts) != 1:
            self.partials[name] = parts = [_combine(name, parts)]
        return parts[0]

    def flush(self) -> None:
        """Group the row batch into partial aggregates and drop it.

        Pandas groups the big tables (per sender, recipient, domain, client) from the few columns
        they use; the tables of counts (per hour, cause, verdict...) are counted with Counter over
        the row tuples, so that only their distinct keys cost more than a hash.
        """
        rows = self.rows
        if not any(rows.values()):
            return
        status = _Statuses(rows["dlv"])
        self._received(rows["recv"], rows["got"])
        self._deliveries(rows["dlv"], status)
        self._access(rows["access"])
        self._times(rows, status)
        self._instances(rows, status)
        self._sessions(rows["closed"])
        self._other_counts(rows)
        for data in rows.values():
            data.clear()  # in place: consume() holds their append methods

    def _count(self, name: str, counts: dict, key=None) -> None:
        """Add counts ({key tuple: n}) to a _COUNTED partial. ``key(*raw)`` turns each distinct raw
        key into the partial's key (raw keys that become one add up)."""
        total = self.counts[name]
        get = total.get
        if key is None:
            for k, n in counts.items():
                total[k] = get(k, 0) + n
        else:
            for raw, n in counts.items():
                k = key(*raw)
                total[k] = get(k, 0) + n

    def _received(self, recv: list, got: list) -> None:
        self.n["received"] += len(recv)
        self._count("by_service", Counter(map(_field("recv", "instance", "service"), recv)),
                    lambda instance, service: (_instance(instance), service))
        if not got:
            return
        senders, sizes, hosts, ips = _columns("got", got, "sender", "size", "client_host", "client_ip")
        keys = _each(_sender_key, senders)
        # pflogsumm: the sender's domain; without one, pickup's sender itself, else the client's
        domains = [dom if dom is not None else key if host == "pickup" else _client_key(host, ip)
                   for dom, key, host, ip in zip(_each(sender_domain, keys), keys, hosts, ips, strict=True)]
        size = _ints(sizes)
        self.n["bytes_received"] += int(size.sum())
        df = pd.DataFrame({"sender": _objects(keys), "domain": _objects(domains), "size": size})
        for name, by in (("senders", "sender"), ("sender_domains", "domain")):
            self._add(name, _aggregated(df, by, messages=("size", "size"), bytes=("size", "sum")))

    def _deliveries(self, dlv: list, status: _Statuses) -> None:
        n = self.n
        sent, deferred, bounced = status.delivered, status.deferred, status.bounced
        n["delivered"] += len(sent)
        n["forwarded"] += len(status.forwarded)
        n["deferrals"] += len(deferred)
        n["bounced"] += len(bounced)
        self.deferred_keys.update(map(_field("dlv", "khost", "kqid"), deferred))
        if sent:
            rcpts, sizes = _columns("dlv", sent, "rcpt", "size")
            size = _ints(sizes)
            n["bytes_delivered"] += int(size.sum())
            df = pd.DataFrame({"rcpt": _objects(_each(normalize_address, rcpts)), "size": size})
            self._add("rcpts", _aggregated(df, "rcpt", messages=("size", "size"), bytes=("size", "sum")))
        if sent or deferred:
            self._add("dom_dlv", _per_domain(sent, deferred))
        self._count("deferrals", Counter(map(_field("dlv", "program", "reason"), deferred)),
                    lambda program, reason: (program, _cause(reason)))
        self._count("bounces", Counter(map(_field("dlv", "relay", "reason"), bounced)),
                    lambda relay, reason: ("" if relay is None else relay, _cause(reason)))
        self._outbound_sessions(dlv)

    def _outbound_sessions(self, dlv: list) -> None:
        """Distinct outbound SMTP/LMTP sessions: (host, queue id, pid) of each first use of a
        connection to a relay."""
        program, relay, conn_use = (ROWS["dlv"].index(name) for name in ("program", "relay", "conn_use"))
        out = [r for r in dlv if r[program] in ("smtp", "lmtp") and r[relay] is not None and r[relay] != "none"
               and (r[conn_use] is None or r[conn_use] <= 1)]
        if not out:
            return
        hosts, qids, pids = _columns("dlv", out, "khost", "kqid", "pid")
        pids = _floats(pids)
        pids = np.where(np.isnan(pids), -1, pids).astype("int64").tolist()
        keys = [f"{host}\0{qid}\0{pid}".encode() for host, qid, pid in zip(hosts, qids, pids, strict=True)]
        self.out_sessions.append(np.array(list(dict.fromkeys(keys))))  # unique (np.unique would also sort)
        if len(self.out_sessions) >= _COMPACT_AT:
            self.out_sessions = [np.unique(np.concatenate(self.out_sessions))]

    def _access(self, acc: list) -> None:
        self._count("access", Counter(map(_field("access", "action", "stage", "code", "reason", "tail"), acc)),
                    lambda action, stage, code, reason, tail:
                    (action, "" if stage is None else stage, code, _cause(full_reason(reason, tail))))

    def _times(self, rows: dict, status: _Statuses) -> None:
        """Lines per day and hour (the traffic table), the days with lines, the first and last time."""
        ts = itemgetter(0)  # every row kind with a time has it first
        traffic = {}
        # pflogsumm's "rejected" column counts every access decision: rejects, reject warnings,
        # holds and discards
        for what, batch in (("received", rows["recv"]), ("delivered", status.delivered),
                            ("deferred", status.deferred), ("bounced", status.bounced),
                            ("rejected", rows["access"])):
            for (day, hour), n in _per_hour(Counter(map(ts, batch))).items():
                traffic[(day, hour, what)] = n
        self._count("traffic", traffic)
        every = Counter()
        for name in ("recv", "dlv", "access", "conn_ts", "problem"):
            every.update(rows[name] if name == "conn_ts" else map(ts, rows[name]))  # conn_ts: plain values
        stamps, n = _stamps(every)
        if len(stamps):
            self.ts_min = min(self.ts_min, float(stamps.min()))
            self.ts_max = max(self.ts_max, float(stamps.max()))
            days: dict = {}
            for day, k in zip((stamps // 86400).astype("int64").tolist(), n.tolist(), strict=True):
                days[(day,)] = days.get((day,), 0) + k
            self._count("days", days)

    def _instances(self, rows: dict, status: _Statuses) -> None:
        recv_instance, dlv_instance = _field("recv", "instance"), _field("dlv", "instance")
        rejects = [instance for instance, action in map(_field("access", "instance", "action"), rows["access"])
                   if action == "reject"]
        counts: dict = {}
        for what, instances in (("received", map(recv_instance, rows["recv"])),
                                ("delivered", map(dlv_instance, status.delivered)),
                                ("forwarded", map(dlv_instance, status.forwarded)),
                                ("deferrals", map(dlv_instance, status.deferred)),
                                ("bounced", map(dlv_instance, status.bounced)),
                                ("rejected", rejects)):
            for instance, n in Counter(instances).items():
                key = (_instance(instance), what)
                counts[key] = counts.get(key, 0) + n
        self._count("instances", counts)

    def _sessions(self, closed: list) -> None:
        """smtpd sessions per client domain. Their times are floats: pandas sums them, over the
        same rows in the same order as always, so the sums keep their last bits."""
        if not closed:
            return
        secs, hosts, ips = _columns("closed", closed, "secs", "client_host", "client_ip")
        domains = [_client_key(host, ip) for host, ip in zip(hosts, ips, strict=True)]
        df = pd.DataFrame({"secs": _floats(secs), "domain": _objects(domains)})
        self._add("closed", _aggregated(df, "domain", connections=("secs", "size"), total_time=("secs", "sum"),
                                        max_time=("secs", "max")))

    def _other_counts(self, rows: dict) -> None:
        count = self._count
        count("problems", Counter(map(_field("problem", "severity", "program", "text"), rows["problem"])),
              lambda severity, program, text: (severity, program, _cause(text)))
        count("smtp_fail", Counter(rows["smtp_fail"]),
              lambda relay_host, reason: (("" if reason is None else reason).lower(), relay_host))
        count("postscreen", Counter(rows["postscreen"]))
        count("dnsbl", Counter(rows["dnsbl"]))
        count("session_error", Counter(rows["session_error"]), lambda kind, stage: (stage, kind))
        count("tls", Counter(rows["tls"]),
              lambda program, direction, protocol: (_TLS_DIRECTION.get(direction, "?"), program, protocol))

    # -- joining stretches ---------------------------------------------------------------------------

    def absorb(self, part: Part) -> None:
        """Add a stretch parsed elsewhere that follows everything absorbed so far: resolve its
        pending events with this state, take over its state and merge its aggregates."""
        recv_state, sizes, conns = self.recv, self.sizes, self.conns
        for key, sender, size in part.pending_got:
            r = recv_state.get(key)
            if r is not None:
                self.rows["got"].append((sender, size, r[0], r[1]))
        gone = self.gone
        for key, row in part.pending_dlv:
            size = sizes.get(key)
            self.rows["dlv"].append((*row, gone.get(key, 0) if size is None else size))
        for hp, ts, host, ip in part.pending_disc:
            st = conns.get(hp, _MISSING)
            if st is not _MISSING:
                self.rows["closed"].append((_secs(ts, st), host, ip))
        for key in part.removed_before:
            size = sizes.pop(key, None)
            if size is not None:
                gone[key] = size
        for key, size in part.gone.items():
            sizes.pop(key, None)
            gone.pop(key, None)
            gone[key] = size
        for key, size in part.sizes.items():
            sizes[key] = size
            gone.pop(key, None)
        if len(gone) > 2 * _GONE_KEEP:
            for old in list(itertools.islice(gone, len(gone) - _GONE_KEEP)):
                del gone[old]
        for state, theirs in ((recv_state, part.recv), (conns, part.conns)):
            for key, value in theirs.items():
                if value is _DONE:
                    state.pop(key, None)
                else:
                    state[key] = value
        self.flush()
        for name, parts in part.partials.items():
            for df in parts:
                self._add(name, df)
        for name, counts in part.counts.items():
            self._count(name, counts)
        self.deferred_keys |= part.deferred_keys
        if part.out_sessions:
            self.out_sessions = [np.unique(np.concatenate(self.out_sessions + part.out_sessions))]
        for name, value in part.n.items():
            self.n[name] += value
        self.ts_min = min(self.ts_min, part.ts_min)
        self.ts_max = max(self.ts_max, part.ts_max)
        self.lines += part.lines
        self.unrecognized += part.unrecognized
        self.foreign += part.foreign
        self.without_ts += part.without_ts
        self.filtered += part.filtered

    def __getstate__(self):
        # sentinels do not survive pickling: send _DONE as a marker the receiver recognizes
        state = self.__dict__.copy()
        for name in ("recv", "conns"):
            state[name] = {k: (_DoneMark if v is _DONE else v) for k, v in state[name].items()}
        return state

    def __setstate__(self, state):
        for name in ("recv", "conns"):
            state[name] = {k: (_DONE if v is _DoneMark else v) for k, v in state[name].items()}
        self.__dict__.update(state)


class _DoneMark:
    """Stands for _DONE while a Part travels between processes."""


def _secs(ts, connected) -> float:
    if ts is None or connected is None:
        return float("nan")
    return max(ts - connected, 0.0)


class _Statuses:
    """A batch's status lines by what they count as, each list in log order."""

    __slots__ = ("delivered", "forwarded", "deferred", "bounced")

    def __init__(self, dlv: list):
        self.delivered, self.forwarded, self.deferred, self.bounced = [], [], [], []
        delivered, forwarded = self.delivered.append, self.forwarded.append
        deferred, bounced = self.deferred.append, self.bounced.append
        status_at, reason_at = ROWS["dlv"].index("status"), ROWS["dlv"].index("reason")
        for r in dlv:
            status = r[status_at]
            if status == "sent":
                reason = r[reason_at]
                if reason is not None and "forwarded as " in reason:
                    forwarded(r)
                else:
                    delivered(r)
            elif status == "deferred":
                deferred(r)
            elif status == "bounced":
                bounced(r)


# Dtypes of the key columns of partials that are not text (text keys are object columns)
_KEY_DTYPES = {"day": "int64", "hour": "int64", "code": "Int64"}
_TLS_DIRECTION = {"from": "inbound", "to": "outbound"}


def _count_frame(name: str, counts: dict) -> pd.DataFrame:
    """A _COUNTED partial ({key tuple: n}) as a DataFrame. It goes through a groupby like rows
    would have, so that its columns get the same dtypes (pandas infers them)."""
    keys = _PARTIALS[name][0]
    columns = {}
    for i, key in enumerate(keys):
        values = [k[i] for k in counts]
        dtype = _KEY_DTYPES.get(key)
        if dtype == "Int64":
            columns[key] = pd.array(values, dtype="Int64")
        else:
            columns[key] = np.array(values, dtype=dtype) if dtype else _objects(values)
    columns["n"] = np.fromiter(counts.values(), "int64", len(counts))
    return pd.DataFrame(columns).groupby(keys, sort=False, dropna=False)["n"].sum().reset_index()


def _per_domain(delivered: list, deferred: list) -> pd.DataFrame:
    """Partial "dom_dlv" of delivered and deferred status lines: the delay of deliveries is summed
    in microseconds, its maximum is over both. (Its sums are of integers: row order is free.)"""
    rows = delivered + deferred
    sent = np.arange(len(rows)) < len(delivered)
    rcpts, delays, sizes = _columns("dlv", rows, "rcpt", "delay", "size")
    delay = _floats(delays)
    size = _ints(sizes)
    df = pd.DataFrame({
        "domain": _objects(_each(_rcpt_domain, rcpts)),
        "sent": sent.astype("int64"),
        "deferred": (~sent).astype("int64"),
        "sent_bytes": np.where(sent, size, 0),
        "delay_us": np.where(sent, np.rint(np.where(np.isnan(delay), 0, delay) * 1e6), 0).astype("int64"),
        "delay": delay,
    })
    return _aggregated(df, "domain", sent=("sent", "sum"), bytes=("sent_bytes", "sum"), defers=("deferred", "sum"),
                       delay_us=("delay_us", "sum"), max_delay=("delay", "max"))


def _aggregated(df: pd.DataFrame, by: str, **how) -> pd.DataFrame:
    """``df.groupby(by, sort=False).agg(**how).reset_index()`` for ``name=(column, "size"|"sum"|"max")``,
    without pandas' named aggregation, whose overhead costs more than grouping a batch."""
    g = df.groupby(by, sort=False)
    return pd.DataFrame({name: getattr(g[col], func)() for name, (col, func) in how.items()}).reset_index()


def _stamps(counts: Counter) -> tuple[np.ndarray, np.ndarray]:
    """The distinct timestamps of ``counts`` ({ts: n}) as floats, and their counts; lines without
    a time left out."""
    counts.pop(None, None)
    stamps = np.fromiter(counts, "float64", len(counts))
    n = np.fromiter(counts.values(), "int64", len(counts))
    known = ~np.isnan(stamps)
    return stamps[known], n[known]


def _per_hour(counts: Counter) -> dict:
    """{ts: n} → {(day, hour): n}, days since the epoch and hours of the day (UTC of the log's
    clock), computed once per distinct timestamp."""
    stamps, n = _stamps(counts)
    days = (stamps // 86400).astype("int64").tolist()
    hours = ((stamps % 86400) // 3600).astype("int64").tolist()
    out: dict = {}
    for key, k in zip(zip(days, hours, strict=True), n.tolist(), strict=True):
        out[key] = out.get(key, 0) + k
    return out


def _combine(name: str, parts: list) -> pd.DataFrame:
    keys, how = _PARTIALS[name]
    if not parts:
        return pd.DataFrame(columns=[*keys, *how])
    if len(parts) == 1:
        return parts[0]
    df = pd.concat(parts, ignore_index=True)
    return df.groupby(keys, sort=False, dropna=False).agg(how).reset_index()


# Lines the summary would drop anyway (cleanup's message-id=, qmgr's removed: about a fifth of a
# busy log) are recognized by their syslog envelope and tag, and never parsed (a "removed" line
# only ends its message's state). The match is anchored at the line start, so text a client
# controls (a HELO name, a reject reason) cannot make another line look like one of these.
_SKIP_LINE = re.compile(
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ][\d:.,+Z-]+) "
    r"([^\s\[\]:]+) [\w.-]*/(?:cleanup|qmgr)\[\d+\]: ([0-9A-Za-z]+): (?:message-id=|(removed)$)"
)


def _parsed(parse, lines, display: str, years, skipped: list, removed):
    """Events of ``lines`` (parse = Parser.parse_line), leaving out the lines _SKIP_LINE names;
    adds their number to skipped[0] and calls removed(host, qid) for each "removed" line."""
    match = _SKIP_LINE.match
    n = 0
    for line in lines:
        if "message-id=" in line or line[-9:] == ": removed":
            m = match(line)
            if m:
                n += 1
                if m.group(3):
                    removed(m.group(1), m.group(2))
                continue
        yield parse(line, display, 0, years)
    skipped[0] += n


# -- parallel parsing of big plain files ------------------------------------------------------

PARALLEL_MIN_BYTES = 24 * 1024 * 1024  # below this, one process is faster than starting others
PIECE_BYTES = 32 * 1024 * 1024  # big files are parsed in pieces of about this size
_READ_BLOCK = 4 * 1024 * 1024
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
    """The lines of a byte range (which starts at a line start), read a block at a time."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        rest = b""
        while left > 0:
            data = fh.read(min(_READ_BLOCK, left))
            if not data:
                break
            left -= len(data)
            if rest:
                data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1:]
            for line in data[:cut].decode("utf-8", errors="replace").split("\n"):
                yield line[:-1] if line.endswith("\r") else line
        if rest:
            line = rest.decode("utf-8", errors="replace")
            yield line[:-1] if line.endswith("\r") else line


def _parse_chunk(job) -> Part:
    """Worker: parse one byte range of a plain file (same results as read_lines)."""
    from .parse import Parser, YearGuesser

    path, display, mtime, start, end, since, until = job
    parser = _WORKER.get("parser") or Parser()
    years = YearGuesser(None, mtime)
    skipped = [0]
    part = Part(inherit=True)
    part.consume(_parsed(parser.parse_line, _chunk_lines(path, start, end), display, years, skipped,
                         part.removed), since, until)
    part.lines += skipped[0]
    return part


def collect(paths, year: int | None = None, since: float | None = None, until: float | None = None,
            jobs: int | None = None) -> tuple[Part, list[str], dict]:
    """Partial aggregates of every line of the given paths (see ``inputs.resolve``).

    Plain files larger than PARALLEL_MIN_BYTES are parsed in pieces by up to ``jobs`` processes
    (default: the number of CPUs) when no explicit year is given (an explicit year makes the
    December → January rollover depend on every earlier line). Returns (aggregates, source
    names, year assumptions).
    """
    from .inputs import read_lines
    from .parse import Parser, YearGuesser

    sources = resolve(list(paths) if paths else [])
    parser = Parser(year=year)
    if jobs is None:
        jobs = os.cpu_count() or 1
    total = Part()
    for source in sources:
        big = (jobs > 1 and year is None and _is_plain_file(source.path)
               and os.path.getsize(source.path) >= PARALLEL_MIN_BYTES)
        if big:
            _collect_parallel(parser, source, jobs, since, until, total)
        else:
            years = YearGuesser(year, source.mtime)
            skipped = [0]
            total.consume(_parsed(parser.parse_line, read_lines(source), source.display, years, skipped,
                                  total.removed), since, until)
            total.lines += skipped[0]
            if years.years_used:
                parser.assumptions[source.display] = years.describe()
    assumptions = dict(parser.assumptions)
    return total, [s.display for s in sources], assumptions


def _collect_parallel(parser, source: Source, jobs: int, since, until, total: Part) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .parse import YearGuesser

    pieces = max(jobs, -(-os.path.getsize(source.path) // PIECE_BYTES))
    ranges = _split(source.path, pieces)
    mtime = source.mtime
    todo = [(source.path, source.display, mtime, s, e, since, until) for s, e in ranges]
    _WORKER["parser"] = parser
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context()
    lines = total.lines
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo))), mp_context=ctx) as pool:
        # pieces come back in order; each is folded in (and dropped) as soon as it arrives
        for part in pool.map(_parse_chunk, todo):
            total.absorb(part)
    if total.lines > lines:
        parser.assumptions[source.display] = YearGuesser(None, mtime).describe()


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
_IN_REPLY = re.compile(r"\s*\(in reply to (.*?) command\)\s*$")
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
    if "." in s:
        s = _IP.sub("IP", s)
    if "name=" in s or "domain=" in s:
        s = _NAME.sub(r"\1=…", s)
    s = _QUEUED_AS.sub(r"\1 …", s)
    s = " ".join(s.split())  # whitespace runs → one space, stripped (str.split's whitespace is re's \s)
    s = s.replace("<…>: ", "")
    if len(s) > _CAUSE_MAX:
        s = s[:_CAUSE_MAX - 1] + "…"
    return s


_TAIL_END = re.compile(r";? (?:from|to)=<|;? proto=|;? helo=<")


def full_reason(reason, tail) -> str | None:
    """smtpd's reason, with the part after its first ";" that the grammar leaves in ``tail``
    ("Service unavailable; Client host [ip] blocked using zen.spamhaus.org")."""
    if not isinstance(tail, str) or not tail:
        return reason
    rest = _TAIL_END.split(tail, maxsplit=1)[0].rstrip(";").strip()
    return f"{reason}; {rest}" if rest else reason


def _field(kind: str, *names: str) -> itemgetter:
    """Getter of the named fields of a ROWS[kind] tuple (of several: a tuple of them)."""
    return itemgetter(*(ROWS[kind].index(name) for name in names))


def _columns(kind: str, rows: list, *names: str) -> list[list]:
    """Named fields of ROWS[kind] tuples, a list each. (Not zip(*rows): it makes an iterator per
    row, enough short-lived objects to set off full garbage collections.)"""
    return [list(map(_field(kind, name), rows)) for name in names]


def _each(func, values) -> list:
    """[func(v) for v in values], with func called once per distinct value."""
    table = {v: func(v) for v in dict.fromkeys(values)}
    return list(map(table.__getitem__, values))


def _objects(values) -> pd.Series:
    """Text as an object column (cheaper to factorize than pandas' string dtype)."""
    return pd.Series(values, dtype=object)


def _floats(values) -> np.ndarray:
    """Numbers of row tuples as floats, None → NaN."""
    return np.array(values, dtype="float64")


def _ints(values) -> np.ndarray:
    """Whole numbers of row tuples (sizes) as int64, through floats like always (same results)."""
    return np.array(values, dtype="float64").astype("int64")


def _instance(name):
    """The instance column of the tables: "?" for a line without one."""
    return "?" if name is None else name


def _sender_key(addr) -> str:
    """The sender column: the normalized address, "from=<>" for the null sender."""
    return normalize_address(addr) if addr else "from=<>"


def _rcpt_domain(addr) -> str:
    """The domain of a recipient, as the per-domain delivery table keys it."""
    return address_domain(normalize_address(addr))


# The costly per-value functions keep their results across batches (logs repeat the same reasons
# and client names all day); lru_cache bounds them, so memory does not grow with the log.
_cause = functools.lru_cache(maxsize=1 << 14)(cause)


@functools.lru_cache(maxsize=1 << 15)
def _host_domain(host) -> str | None:
    """client_domain() of a client name, None when there is none (then the IP address is used)."""
    return None if not host or host == "unknown" else client_domain(host, None)


def _client_key(host, ip) -> str:
    """client_domain(host, ip), with the name's part cached."""
    dom = _host_domain(host)
    return (ip or "") if dom is None else dom


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
    n = part.n
    P = part.partial

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
        "deferred": len(part.deferred_keys),
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
        "senders": len(senders),
        "sending_domains": len(sender_domains),
        "recipients": len(rcpts),
        "recipient_domains": int((dom_dlv["sent"] > 0).sum()) if len(dom_dlv) else 0,
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
    n_closed = int(closed["connections"].sum()) if len(closed) else 0
    total_secs = float(closed["total_time"].sum()) if len(closed) else 0.0
    smtpd = {
        "connections": n_conn,
        "sessions_timed": n_closed,
        "hosts_domains": len(closed),
        "avg_connect_time": round(total_secs / n_closed, 1) if n_closed else 0.0,
        "max_connect_time": float(closed["max_time"].max()) if len(closed) else 0.0,
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
             .reset_index().sort_values(["hits", "dnsbl"], ascending=[False, True])[["hits", "clients", "dnsbl"]]
             if len(db) else pd.DataFrame(columns=["hits", "clients", "dnsbl"]))
    tl = P("tls")
    tls_protocols = _grouped(tl, ["direction", "program", "protocol"])
    if len(tl):
        tls_in = int(tl.loc[(tl["direction"] == "inbound") & (tl["program"] == "smtpd"), "n"].sum())
        tls_out = int(tl.loc[(tl["direction"] == "outbound") & tl["program"].isin(("smtp", "lmtp")), "n"].sum())
    else:
        tls_in = tls_out = 0
    out_sessions = sum(len(a) for a in part.out_sessions[:1]) if len(part.out_sessions) <= 1 else \
        len(np.unique(np.concatenate(part.out_sessions)))
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
