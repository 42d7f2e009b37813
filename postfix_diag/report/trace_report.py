"""`trace` output: each trail of a message's queue ids, line by line, and where it ends (text),
or trace.result()'s dict as JSON (docs/trace.md). Log text is escaped (report.escape)."""

from __future__ import annotations

import json

from ..trace import DELAY_NAMES
from .escape import terminal

_ORIGINS = {
    "smtpd": "received by {service} from {client}",
    "re-injection": "re-injected by a content filter via {service} from {client} (was {from_qid})",
    "relayed": "received by {service} from {client}, relayed by {from_host} (was {from_qid} there)",
    "notification": "notification from the bounce daemon about {from_qid}",
    "requeue": "requeued (postsuper -r) from {from_qid}",
    "pickup": "local submission (pickup, uid={uid})",
    "unknown": "arrived before the log begins",
}


def _origin(o: dict) -> str:
    values = {k: terminal(v if v is not None else "?") for k, v in o.items()}
    return _ORIGINS[o["kind"]].format_map(_Default(values))


class _Default(dict):
    def __missing__(self, key):
        return "?"


def _hhmmss(stamp) -> str:
    return stamp.replace("T", " ") if stamp else "-" * 19


def render_text(result: dict) -> str:
    trails = result["trails"]
    if not trails:
        return "No message matches the query.\n"
    out: list[str] = []
    for n, trail in enumerate(trails, 1):
        ids = " -> ".join(terminal(q) for q in trail["queue_ids"])
        out.append(f"Trail {n} of {len(trails)}: {ids}")
        for m in trail["messages"]:
            out.append("")
            head = f"  {terminal(m['host'] or '?')} {terminal(m['qid'])}: {_origin(m['origin'])}"
            out.append(head)
            facts = []
            if m["message_id"]:
                facts.append(f"message-id=<{terminal(m['message_id'])}>")
            if m["from"] is not None:
                facts.append(f"from=<{terminal(m['from'])}>")
            if m["size"] is not None:
                facts.append(f"size={m['size']}")
            if m["nrcpt"] is not None:
                facts.append(f"nrcpt={m['nrcpt']}")
            if facts:
                out.append("    " + ", ".join(facts))
            for ln in m["lines"]:
                out.append(f"    {_hhmmss(ln['time'])}  {terminal(ln['program'] or '?'):<8} {terminal(ln['text'])}"
                           f"  [{terminal(ln['file'])}:{ln['line']}]")
                d = ln.get("delivery")
                if d and d["delays"]:
                    split = ", ".join(f"{d['delays'][k]:g} s {name}" for k, name in DELAY_NAMES.items())
                    out.append(f"{'':33}delays: {split}")
                if d:
                    hop = next((c for c in m["children"] if c["in_log"] and c["how"] != "notification"
                                and c["qid"] in (d["reply"] or "")), None)
                    if hop is not None:
                        out.append(f"{'':33}-> {'forwarded' if hop['how'] == 'forwarded' else 'queued'} as "
                                   f"{terminal(hop['qid'])} (below)")
        out.append("")
        out.append("  Trail ends:")
        out.extend(f"    {terminal(e)}" for e in trail["end"])
        out.append("")
    return "\n".join(out)


def render_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=True) + "\n"
