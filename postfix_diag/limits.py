"""The bounds on state that a log's content can grow, in one place: what each bound keeps, and
how a report says that a run reached it.

Log content is written by outsiders (every SMTP client opens transactions, every local user can
write lines under any syslog tag with ``logger -t``), so every table keyed by what the log names
is bounded. A report says so whenever a bound was reached: the ``limits`` object of the JSON
reports (``{name: {"limit": N, "dropped": n}}``, present only when some bound was reached) and
the end of the parse coverage line of the text and Markdown reports. Below its bound, each table
is exact and does not depend on where a log was cut into pieces (pipeline.py).

The tracker (track.py): SMTP transactions that reach no queue file are dropped after
MAX_UNQUEUED newer messages; messages in flight are at most MAX_IN_FLIGHT, beyond which the tenth
with the oldest last line are dropped (forged qmgr lines, lost "removed" lines); a queued
message (not on hold) with no line for STALE_AFTER of log time is gone.

The rules' tables: a top-offender counter (the clients, senders, domains a finding lists, and its
key) keeps the top MAX_OFFENDERS keys (rules.base.BoundedCounter on topcount.TopCounter: past it
the less frequent half goes to "(other)", so a flood of one-off clients cannot push out the real
top offender that comes after it); a lookup table (was this relay ever delivered to, how many
distinct clients had a name, which clients got mail relayed) keeps its first MAX_LOOKUP keys
(rules.base.FirstKeysCounter). Their lines counted under "(other)" are the limits "offenders" and
"lookups" (rules.engine.Engine.dropped). Other per-subject tables of the rules keep their first
keys with their own caps (rules.base.group_in) and are not counted here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    what: str  # "N <what>" reads as the report's words for the dropped count


MAX_UNQUEUED = 10_000  # track.py: newer messages after which one that reached no queue file is dropped
MAX_IN_FLIGHT = 200_000  # track.py: messages in flight (queued, or not yet) at most; the oldest by last line go
MAX_PROGRAMS = 1_000  # coverage.py: (instance, program, recognized?, format) rows counted one by one
MAX_UNRECOGNIZED_SHAPES = 20_000  # coverage.py: distinct unrecognized shapes kept with an example
MAX_OFFENDERS = 5_000  # rules/base.py: keys (clients, senders, domains) of a rule's top-offender counter
# track.py: seconds of log time without a line before a queued message (not on hold) is gone:
# Postfix retries deferred mail at least every maximal_backoff_time (4000 s) and returns it after
# maximal_queue_lifetime (5 days); two days more for the bounce and for a Postfix stopped a while
STALE_AFTER = 7 * 86400
MAX_SUMMARY_KEYS = 20_000  # summary.py: rows of each per-sender/recipient/client/domain table
MAX_LOOKUP = 50_000  # rules/base.py: keys of a rule's lookup table (relays delivered to, distinct clients)


def _limits() -> dict[str, Limit]:
    return {limit.name: limit for limit in (
        Limit("unqueued_messages", MAX_UNQUEUED,
              "SMTP transactions that reached no queue file dropped after {limit} newer messages"),
        Limit("in_flight_messages", MAX_IN_FLIGHT,
              "messages in flight dropped (those with the oldest last line), beyond {limit} at once"),
        Limit("summary_keys", MAX_SUMMARY_KEYS,
              "senders, recipients, client or recipient domains or listed clients summed under (other), "
              "beyond the top {limit} of a table"),
        Limit("stale_messages", STALE_AFTER,
              "queued messages dropped after {limit} seconds of log time without a line"),
        Limit("programs", MAX_PROGRAMS,
              "lines counted under the program (other), beyond {limit} program/instance/format combinations"),
        Limit("unrecognized_shapes", MAX_UNRECOGNIZED_SHAPES,
              "unrecognized lines beyond {limit} distinct shapes counted without an example"),
        Limit("offenders", MAX_OFFENDERS,
              "lines of rule evidence counted under (other), beyond the top {limit} keys of a table"),
        Limit("lookups", MAX_LOOKUP,
              "lines of rule lookups (relays delivered to, distinct clients) counted under (other), "
              "beyond the first {limit} keys"),
    )}


def reached(name: str, dropped: int, into: dict) -> None:
    """Add ``dropped`` to the count of limit ``name`` in a ``limits`` dict (nothing when 0)."""
    if not dropped:
        return
    entry = into.get(name)
    if entry is None:
        entry = into[name] = {"limit": _limits()[name].limit, "dropped": 0}
    entry["dropped"] += dropped


def describe(limits: dict) -> str:
    """One phrase for the limits a run reached ("" when none)."""
    known = _limits()
    parts = []
    for name, entry in limits.items():
        limit = known.get(name)
        what = limit.what.format(limit=f"{entry['limit']:,}") if limit else name
        parts.append(f"{entry['dropped']:,} {what}")
    return "; ".join(parts)


def documented() -> list[Limit]:
    """Every bound, for the documentation."""
    return list(_limits().values())
