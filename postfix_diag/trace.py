"""`trace`: the life of chosen messages, line by line, followed across queue ids and hosts.

A consumer of the one stream (pipeline.Stream) behind the one tracker (track.Tracker): every
line the tracker ties to a message (``feed_message_line``), and every other line that names a
queue id in flight (``feed``: a remote server's reply, a cleanup warning...), is kept on that
message's ``Life`` (``Message.facts["trace"]``). When the tracker hands a message over (removed,
or its queue id reused) or at the end of the log, the life is matched against the ``Query``:

- a matching life is kept, and so is every life it is linked to;
- another is remembered among the last RECENT_LIVES finished lives, in case a life kept later
  links to it (a content filter's reply names the new queue id after that id is delivered).

Links between lives (both directions, so a query may start anywhere in the trail):

- ``queued as NEWQID`` in a delivery's reply: a content filter re-injected the message (amavis
  style: ``250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as NEWQID``), or
  another host's Postfix took it (its log, when given, has smtpd's ``NEWQID: client=...``);
- ``forwarded as NEWQID``: local(8) forwarded it (an alias or .forward to another address);
- ``orig_queue_id=QID`` on smtpd's ``client=`` line: the re-injecting smtpd (the 10025 side)
  names the queue id the filter got the message from (XFORWARD);
- ``QID: sender non-delivery notification: NEWQID`` (and delay/success notices): the bounce
  daemon's notification, a message of its own;
- ``pickup``'s ``orig_id=`` (postsuper -r): the same message under a new queue id.

A queue id names a life on one host; a ``queued as`` link may cross hosts (the host's own
messages first). The trail of linked lives ends where the log says (``Life.ends``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from . import pipeline
from .model import iso
from .track import Message

RECENT_LIVES = 20000  # finished lives that matched nothing, remembered for links from later ones
_QUEUED_AS = re.compile(r"\bqueued as ([0-9A-Za-z]{5,})\b")
_FORWARDED_AS = re.compile(r"\bforwarded as ([0-9A-Za-z]{5,})\b")
_LOCAL_RELAYS = ("local", "virtual", "none")
DELAY_PARTS = ("before_qmgr", "in_qmgr", "connection", "transmission")
DELAY_NAMES = {"before_qmgr": "before the queue manager", "in_qmgr": "in the queue manager",
               "connection": "connection setup", "transmission": "transmission"}


# --- what to find ------------------------------------------------------------------------------

@dataclass
class Query:
    """What a message must have to be traced: every criterion given (each a tuple of values, any
    of which will do). Addresses compare case-insensitively; ``@domain`` matches the domain;
    ``<>`` the null sender. A client is an IP address, a network (192.0.2.0/24), or a host name.
    ``since``/``until`` (epochs of the log's clock): the life overlaps [since, until)."""

    qids: tuple = ()
    message_ids: tuple = ()
    senders: tuple = ()
    recipients: tuple = ()
    clients: tuple = ()
    since: float | None = None
    until: float | None = None

    def __post_init__(self):
        self.message_ids = tuple(m.strip().strip("<>") for m in self.message_ids)
        self.senders = tuple(s.strip().lower() for s in self.senders)
        self.recipients = tuple(r.strip().strip("<>").lower() for r in self.recipients)
        self._networks = []
        self._names = []
        for c in self.clients:
            try:
                self._networks.append(ipaddress.ip_network(c.strip(), strict=False))
            except ValueError:
                self._names.append(c.strip().lower())

    @property
    def empty(self) -> bool:
        return not (self.qids or self.message_ids or self.senders or self.recipients or self.clients
                    or self.since is not None or self.until is not None)

    def as_dict(self) -> dict:
        return {"qid": list(self.qids), "message_id": list(self.message_ids), "from": list(self.senders),
                "to": list(self.recipients), "client": list(self.clients), "since": iso(self.since),
                "until": iso(self.until)}

    def matches(self, life: Life) -> bool:
        m = life.msg
        if self.qids and life.qid not in self.qids:
            return False
        if self.message_ids and (m.message_id or "").strip("<>") not in self.message_ids:
            return False
        if self.senders and not _address_in(m.sender, self.senders, sender=True):
            return False
        if self.recipients and not any(_address_in(a, self.recipients) for a in life.recipients()):
            return False
        if (self._networks or self._names) and not any(self._client_is(c) for c in life.clients()):
            return False
        first, last = life.first_ts, life.last_ts
        if self.since is not None and (last is None or last < self.since):
            return False
        if self.until is not None and (first is None or first >= self.until):
            return False
        return True

    def _client_is(self, client: tuple) -> bool:
        name, ip = client
        if ip and self._networks:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                address = None
            if address is not None and any(address in net for net in self._networks):
                return True
        return bool(name) and name.lower() in self._names


def _address_in(address: str | None, wanted: tuple, sender: bool = False) -> bool:
    if address is None:
        return False
    a = address.lower()
    for w in wanted:
        if sender and w in ("<>", "") and a == "":
            return True
        if w.startswith("@") and a.endswith(w):
            return True
        if a == w:
            return True
    return False


# --- what is kept of a message -------------------------------------------------------------------

@dataclass(slots=True)
class Line:
    """One log line of a message's life."""

    ts: float | None
    file: str
    lineno: int
    program: str | None
    pid: int | None
    kind: str
    text: str
    fields: dict

    def place(self) -> tuple:
        return (getattr(self.file, "rank", 0), self.lineno)


@dataclass(eq=False)
class Life:
    """A queue id's life on one host: its lines, links to other lives, and the tracker's message."""

    host: str | None
    qid: str
    lines: list = field(default_factory=list)
    msg: Message | None = None
    finished: bool = False  # the tracker handed it over (removed, or its queue id reused)
    parents: list = field(default_factory=list)  # (host or None, qid, how)
    children: list = field(default_factory=list)  # (host or None, qid, how)

    @property
    def first_ts(self):
        return next((ln.ts for ln in self.lines if ln.ts is not None), None)

    @property
    def last_ts(self):
        return next((ln.ts for ln in reversed(self.lines) if ln.ts is not None), None)

    def place(self) -> tuple:
        return self.lines[0].place() if self.lines else (0, 0)

    def recipients(self) -> list[str]:
        out = []
        for address, r in (self.msg.recipients.items() if self.msg else ()):
            out.append(address)
            if r.orig_to:
                out.append(r.orig_to)
        out.extend(ln.fields.get("to") for ln in self.lines if ln.fields.get("to"))
        return out

    def clients(self) -> list[tuple]:
        out = []
        if self.msg is not None and (self.msg.client_ip or self.msg.client_host):
            out.append((self.msg.client_host, self.msg.client_ip))
        for ln in self.lines:
            orig = ln.fields.get("orig_client")
            if ln.kind == "client" and orig:
                name, _, rest = orig.partition("[")
                out.append((name, rest.rstrip("]")))
        return out

    def link(self, side: list, host, qid: str, how: str) -> None:
        if (host, qid, how) not in side:
            side.append((host, qid, how))

    def links(self):
        yield from self.parents
        yield from self.children


def _split_delays(text) -> dict | None:
    """Postfix's ``delays=a/b/c/d``, named (Postfix's smtp(8)/qmgr docs: time before the queue
    manager, including message transmission; time in the queue manager; connection setup,
    including DNS, HELO and TLS; message transmission)."""
    if not isinstance(text, str):
        return None
    parts = text.split("/")
    if len(parts) != 4:
        return None
    out = {}
    for name, value in zip(DELAY_PARTS, parts, strict=True):
        try:
            out[name] = float(value)
        except ValueError:
            return None
    return out


# --- the consumer --------------------------------------------------------------------------------

class Trace:
    """The stream consumer (see the module docstring). ``tracker``: the stream's, read only
    (``Tracker.messages``), set by ``stream()``."""

    def __init__(self, query: Query, recent: int = RECENT_LIVES):
        self.query = query
        self.tracker = None
        self.kept: list[Life] = []
        self._kept_ids: set = set()
        self._recent: OrderedDict = OrderedDict()  # id(life) -> life, oldest first
        self._recent_max = recent
        self._by_qid: dict = {}  # qid -> [lives] kept or recent or in flight
        self._wanted: set = set()  # (host or None, qid) that a kept life links to, not seen yet
        self._pointing: dict = {}  # qid -> recent lives that link to a life of that queue id
        self._lives = 0  # lives in _by_qid (about: pruning recounts)
        self._prune_at = 50000

    # --- feeding ------------------------------------------------------------------------------
    def feed(self, ev) -> None:
        qid = ev.qid
        if not qid or qid == "NOQUEUE" or self.tracker is None:
            return
        msg = self.tracker.messages.get((ev.host, qid))
        if msg is not None:
            self._add(self._life_of(msg), ev)
        elif ev.kind == "bounce_notice":  # about a message already handed over
            life = self._find(ev.host, qid)
            if life is not None:
                self._add(life, ev)

    def feed_message_line(self, ev, msg: Message) -> None:
        self._add(self._life_of(msg), ev)

    def feed_message(self, msg: Message) -> None:
        life = msg.facts.get("trace")
        if life is None or life.qid != msg.qid:
            return
        life.msg, life.finished = msg, True
        self._settle(life)

    def finish(self, queued: list[Message]) -> list[list[Life]]:
        """The trails, once the stream is finished (``queued``: what the tracker still holds)."""
        for msg in queued:
            life = msg.facts.get("trace")
            if life is not None and life.qid == msg.qid:
                life.msg = msg
                self._settle(life)
        return self.trails()

    def _life_of(self, msg: Message) -> Life:
        life = msg.facts.get("trace")
        if life is None or life.qid != msg.qid:
            old = life
            life = Life(msg.host, msg.qid, msg=msg)
            msg.facts["trace"] = life
            self._by_qid.setdefault(msg.qid, []).append(life)
            self._lives += 1
            if self._lives >= self._prune_at:
                self._prune()
            if old is not None:  # postsuper -r then pickup: the same message, a new queue id
                life.link(life.parents, msg.host, old.qid, "requeued")
                old.link(old.children, msg.host, msg.qid, "requeued")
        return life

    def _add(self, life: Life, ev) -> None:
        if life.lines and life.lines[-1].lineno == ev.lineno and life.lines[-1].file == ev.file:
            return  # fed already (feed, then feed_message_line)
        f = ev.f if isinstance(ev.f, dict) else ev.f.as_dict()
        text = ev.text or ""
        if ev.qid and text.startswith(ev.qid + ": "):
            text = text[len(ev.qid) + 2:]
        life.lines.append(Line(ev.ts, ev.file, ev.lineno, ev.program, ev.pid, ev.kind, text, dict(f)))
        kind = ev.kind
        if kind == "client" and f.get("orig_queue_id"):
            life.link(life.parents, ev.host, f["orig_queue_id"], "content filter")
        elif kind == "delivery":
            reply = f.get("reason") or ""
            found = _FORWARDED_AS.search(reply)
            if found:
                life.link(life.children, ev.host, found.group(1), "forwarded")
            else:
                found = _QUEUED_AS.search(reply)
                if found:
                    life.link(life.children, None, found.group(1), "relayed")
        elif kind == "bounce_notice" and f.get("new_qid"):
            if life.qid == ev.qid:
                life.link(life.children, ev.host, f["new_qid"], "notification")
            else:
                life.link(life.parents, ev.host, ev.qid, "notification")
        elif kind == "pickup" and f.get("orig_id") and not life.parents:
            life.link(life.parents, ev.host, f["orig_id"], "requeued")

    # --- keeping what matters -----------------------------------------------------------------
    def _settle(self, life: Life) -> None:
        if id(life) in self._kept_ids:
            return
        if self.query.matches(life) or self._wanted_now(life) or any(
                self._is_kept(h, q) for h, q, _ in life.links()):
            self._keep(life)
            return
        self._recent[id(life)] = life
        for _, qid, _ in life.links():
            self._pointing.setdefault(qid, []).append(life)
        while len(self._recent) > self._recent_max:
            _, old = self._recent.popitem(last=False)
            self._forget(old)

    def _wanted_now(self, life: Life) -> bool:
        key_any, key_host = (None, life.qid), (life.host, life.qid)
        hit = key_any in self._wanted or key_host in self._wanted
        self._wanted.discard(key_any)
        self._wanted.discard(key_host)
        return hit

    def _is_kept(self, host, qid) -> bool:
        return any(id(life) in self._kept_ids for life in self._candidates(host, qid))

    def _candidates(self, host, qid) -> list[Life]:
        lives = self._by_qid.get(qid, ())
        if host is not None:
            return [x for x in lives if x.host == host]
        same = lives  # any host (a "queued as" reply)
        return list(same)

    def _find(self, host, qid) -> Life | None:
        lives = self._candidates(host, qid)
        return lives[-1] if lives else None

    def _prune(self) -> None:
        """Forget the lives the tracker dropped unseen (smtpd transactions that never reached a
        queue file: Tracker._sweep), so that memory follows what is in flight, kept or recent."""
        messages = self.tracker.messages if self.tracker is not None else {}
        for qid in list(self._by_qid):
            lives = [x for x in self._by_qid[qid] if x.finished or id(x) in self._kept_ids or id(x) in self._recent
                     or messages.get((x.host, x.qid)) is x.msg]
            if lives:
                self._by_qid[qid] = lives
            else:
                del self._by_qid[qid]
        self._lives = sum(len(v) for v in self._by_qid.values())
        self._prune_at = max(50000, 2 * self._lives)

    def _forget(self, life: Life) -> None:
        lives = self._by_qid.get(life.qid)
        if lives:
            lives[:] = [x for x in lives if x is not life]
            if not lives:
                del self._by_qid[life.qid]
        for _, qid, _ in life.links():
            pointing = self._pointing.get(qid)
            if pointing:
                pointing[:] = [x for x in pointing if x is not life]
                if not pointing:
                    del self._pointing[qid]

    def _keep(self, life: Life) -> None:
        todo = [life]
        while todo:
            x = todo.pop()
            if id(x) in self._kept_ids:
                continue
            self._kept_ids.add(id(x))
            self._recent.pop(id(x), None)
            self.kept.append(x)
            for host, qid, _ in x.links():
                lives = self._candidates(host, qid)
                if host is None:  # prefer the same host's message of that queue id
                    lives = [y for y in lives if y.host == x.host] or lives
                if not lives:
                    self._wanted.add((host, qid))
                for y in lives:
                    if id(y) in self._recent:
                        todo.append(y)
            for y in list(self._pointing.get(x.qid, ())):  # recent lives whose links point at this one
                if id(y) in self._recent and any(q == x.qid and (h is None or h == x.host) for h, q, _ in y.links()):
                    todo.append(y)

    # --- the answer ---------------------------------------------------------------------------
    def trails(self) -> list[list[Life]]:
        """Kept lives grouped by link (each group in the order of their first lines), groups in
        the order of their first lives."""
        kept = sorted(self.kept, key=Life.place)
        group = {id(x): i for i, x in enumerate(kept)}

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        parent = list(range(len(kept)))
        for i, x in enumerate(kept):
            for host, qid, _ in x.links():
                for y in self._resolve(x, host, qid):
                    j = group.get(id(y))
                    if j is not None:
                        parent[root(i)] = root(j)
        out: dict = {}
        for i, x in enumerate(kept):
            out.setdefault(root(i), []).append(x)
        return sorted(out.values(), key=lambda lives: lives[0].place())

    def _resolve(self, x: Life, host, qid) -> list[Life]:
        lives = [y for y in self._candidates(host, qid) if id(y) in self._kept_ids and y is not x]
        if host is None:
            lives = [y for y in lives if y.host == x.host] or lives
        return lives[-1:] if len(lives) > 1 else lives


def stream(query: Query) -> pipeline.Stream:
    """The stream of ``trace``: one Trace consumer that reads the stream's tracker."""
    trace = Trace(query)
    s = pipeline.Stream([trace])
    trace.tracker = s.tracker
    return s


# --- where a life, and a trail, ends -----------------------------------------------------------

def delivery_of(line: Line) -> dict:
    f = line.fields
    return {"to": f.get("to"), "orig_to": f.get("orig_to"), "relay": f.get("relay"), "delay": f.get("delay"),
            "delays": _split_delays(f.get("delays")), "dsn": f.get("dsn"), "status": f.get("status"),
            "reply": f.get("reason")}


def origin(life: Life, came_from: tuple | None = None) -> dict:
    """Where a life came from: smtpd (a client, or a content filter's re-injection), pickup
    (a local submission), the bounce daemon, a requeue; "unknown" when the log starts later.
    ``came_from``: (host, queue id) of the trail's life whose delivery reply named this one."""
    for how in ("content filter", "notification", "requeued"):
        parent = next((q for _, q, h in life.parents if h == how), None)
        if parent:
            out = {"kind": {"content filter": "re-injection", "notification": "notification",
                            "requeued": "requeue"}[how], "from_qid": parent}
            if how == "content filter":
                out.update(_client_origin(life))
            return out
    for ln in life.lines:
        if ln.kind == "client":
            out = {"kind": "smtpd", **_client_origin(life)}
            if came_from is not None:
                host, qid = came_from
                out["from_qid"] = qid
                if host == life.host:
                    out["kind"] = "re-injection"  # a filter on this host sent it back (no XFORWARD)
                else:
                    out.update(kind="relayed", from_host=host)
            return out
        if ln.kind == "pickup":
            return {"kind": "pickup", "uid": ln.fields.get("uid"), "sender": ln.fields.get("from")}
    return {"kind": "unknown"}


def _client_origin(life: Life) -> dict:
    m = life.msg
    ln = next((x for x in life.lines if x.kind == "client"), None)
    out = {"client": m.client if m is not None else None, "service": m.origin if m is not None else None}
    if ln is not None and ln.fields.get("orig_client"):
        out["orig_client"] = ln.fields["orig_client"]
    return out


def ends(life: Life, linked: set) -> list[str]:
    """What the log says became of this life, one sentence per outcome. ``linked``: the queue
    ids of the trail's other lives (a reply naming one of them is a hop, not an end)."""
    m = life.msg
    out: list[str] = []
    last: dict = {}
    for ln in life.lines:
        if ln.kind == "delivery":
            last[ln.fields.get("orig_to") if ln.program == "local" and ln.fields.get("orig_to")
                 else ln.fields.get("to")] = ln
    for rcpt, ln in last.items():
        d = delivery_of(ln)
        status, relay, reply = d["status"], d["relay"] or "?", d["reply"] or ""
        hop = _QUEUED_AS.search(reply) or _FORWARDED_AS.search(reply)
        if status == "sent":
            if hop and hop.group(1) in linked:
                continue  # the next life of the trail says where it went
            if hop and _FORWARDED_AS.search(reply):
                out.append(f"<{rcpt}> forwarded as {hop.group(1)} (not in the log given)")
            elif relay.split("[")[0] in _LOCAL_RELAYS or ln.program in ("local", "virtual", "pipe"):
                out.append(f"<{rcpt}> delivered by {ln.program} (relay={relay}): {reply}")
            elif hop:
                out.append(f"<{rcpt}> handed to relay {relay}, queued there as {hop.group(1)} "
                           f"(that host's log was not given)")
            else:
                out.append(f"<{rcpt}> handed to relay {relay}: {reply}")
        elif status == "bounced":
            out.append(f"<{rcpt}> bounced ({d['dsn']}): {reply}")
        elif status == "expired":
            out.append(f"<{rcpt}> expired in the queue: {reply}")
        elif status == "deferred" and (m is None or m.removed_ts is None):
            pass  # said below: still queued
        elif status != "deferred":
            out.append(f"<{rcpt}> {status} (relay={relay}): {reply}")
    if m is not None and m.removed_ts is None and not life.finished:
        pending = [f"<{a}> deferred: {r.reason}" for a, r in m.recipients.items() if r.status == "deferred"]
        where = f"in the {m.queue} queue"
        out.append(f"still queued at the end of the log ({where}" + (f"; {'; '.join(pending)}" if pending else "")
                   + ")")
    elif m is not None and m.expired:
        out.append("expired: returned to the sender after the maximal queue lifetime")
    elif not last and not out:
        kinds = {ln.kind for ln in life.lines}
        if "discard" in kinds:
            out.append("discarded")
        elif "reject" in kinds:
            out.append("rejected: " + next(ln.text for ln in life.lines if ln.kind == "reject"))
        elif m is not None and m.removed_ts is not None:
            out.append("removed from the queue without a delivery in the log (postsuper -d?)")
        else:
            out.append("the queue id was reused before the log showed its end")
    return out


def trail_end(lives: list[Life]) -> list[str]:
    linked = {x.qid for x in lives}
    out = []
    for x in lives:
        out.extend(f"{x.qid}: {e}" for e in ends(x, linked - {x.qid}))
    return out


def run(paths, query: Query, year: int | None = None) -> tuple[list[list[Life]], list]:
    """Trace the messages ``query`` finds in the logs at ``paths``: (trails, sources)."""
    from .inputs import resolve
    from .parse import Parser

    sources = resolve(list(paths) if paths else [])
    fed = pipeline.run(sources, lambda head=True: stream(query), Parser(year=year))
    trace = fed.consumers[0]
    return trace.finish(fed.finish()), [s.display for s in sources]


def result(trails: list[list[Life]], query: Query, sources=()) -> dict:
    """The JSON-ready answer the writers read (report/trace_report.py; docs/trace.md)."""
    out = []
    for lives in trails:
        linked = {x.qid for x in lives}
        named_by = {}  # qid -> (host, qid) of the life whose delivery reply named it
        for x in lives:
            for _, q, how in x.children:
                if how == "relayed":
                    named_by.setdefault(q, (x.host, x.qid))
        messages = []
        for x in lives:
            m = x.msg
            messages.append({
                "host": x.host, "qid": x.qid, "origin": origin(x, named_by.get(x.qid)),
                "message_id": m.message_id if m else None,
                "from": m.sender if m else None, "size": m.size if m else None, "nrcpt": m.nrcpt if m else None,
                "first_seen": iso(x.first_ts), "last_seen": iso(x.last_ts),
                "state": _state(x),
                "parents": [{"qid": q, "how": h} for _, q, h in x.parents],
                "children": [{"qid": q, "how": h, "in_log": q in linked} for _, q, h in x.children],
                "lines": [_line_dict(ln) for ln in x.lines],
                "end": ends(x, linked - {x.qid}),
            })
        out.append({"queue_ids": [x.qid for x in lives], "hosts": sorted({x.host or "" for x in lives}),
                    "messages": messages, "end": trail_end(lives)})
    return {"query": query.as_dict(), "sources": [str(s) for s in sources], "trails": out}


def _state(life: Life) -> str:
    m = life.msg
    if m is not None and m.removed_ts is not None:
        return "removed"
    if life.finished:
        return "ended"  # its queue id started a new life
    return "queued"


def _line_dict(ln: Line) -> dict:
    d = {"time": iso(ln.ts), "file": str(ln.file), "line": ln.lineno, "program": ln.program, "pid": ln.pid,
         "kind": ln.kind, "text": ln.text}
    if ln.kind == "delivery":
        d["delivery"] = delivery_of(ln)
    return d
