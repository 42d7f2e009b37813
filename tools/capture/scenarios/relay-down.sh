#!/bin/bash
# relay-down: relayhost = [127.0.0.1]:2599 with nothing listening.
. "$(dirname "$0")/../lib.sh"
scenario_begin relay-down

N_LOCALSENDER=4   # remote-bound messages from alice@capture.example (local sender)
N_REMOTESENDER=2  # remote-bound messages from news@example.com (remote sender)
N_LOCAL=2         # local messages (delivered; the relay is not involved)
N_EXPIRE=2        # force-expired with postsuper -e (one of each sender kind)

DESCRIPTION="\`relayhost = [127.0.0.1]:2599\` and nothing listens on that port, so every
delivery attempt to the relay fails with \`Connection refused\`.

Traffic (tools/capture/smtpc.py to 127.0.0.1:25):
- $N_LOCALSENDER messages alice@capture.example -> userN@example.net (via the relay)
- $N_REMOTESENDER messages news@example.com -> reader@example.net (via the relay)
- $N_LOCAL messages to bob@capture.example (delivered locally)

Then \`postqueue -f\` twice (3 s apart) forces more delivery attempts (some are
logged as \`delivery temporarily suspended\` because qmgr marks the relay dead).
Then $N_EXPIRE deferred messages (one from alice@capture.example, one from
news@example.com) are expired with \`postsuper -e\` and retried with
\`postqueue -i\`: qmgr logs \`status=force-expired, returned to sender\`, and
MAILER-DAEMON sends non-delivery notifications: the one to
alice@capture.example is delivered locally, the one to news@example.com
goes to the dead relay and is deferred too (from=<>).

At the end $((N_LOCALSENDER + N_REMOTESENDER - N_EXPIRE + 1)) messages are in the deferred queue
($((N_LOCALSENDER + N_REMOTESENDER - N_EXPIRE)) originals + 1 bounce)."

x postconf -e "relayhost = [127.0.0.1]:2599"
pf_start_init
wait_port 127.0.0.1 25

for i in $(seq 1 "$N_LOCALSENDER"); do
    x "${SMTPC[@]}" send --from alice@capture.example --to "user$i@example.net" --subject relay-down
done
x "${SMTPC[@]}" send --from news@example.com --to reader@example.net --count "$N_REMOTESENDER" --subject newsletter
x "${SMTPC[@]}" send --to bob@capture.example --count "$N_LOCAL" --subject local
pf_wait_queue_settled 20
sleep 2
x postqueue -f
sleep 3
x postqueue -f
pf_wait_queue_settled 20
sleep 1
# One deferred message of each sender kind, found in the deferred queue.
ids=$(postqueue -j | "$PY" -c '
import json, sys
seen = {}
for line in sys.stdin:
    m = json.loads(line)
    kind = "local" if m["sender"].endswith("@capture.example") else "remote"
    seen.setdefault(kind, m["queue_id"])
print(" ".join(seen.values()))')
log "force-expiring: $ids"
for id in $ids; do x postsuper -e "$id"; done
for id in $ids; do x postqueue -i "$id"; done
pf_wait_queue_settled 20
sleep 3
scenario_end

WANT_QUEUED=$((N_LOCALSENDER + N_REMOTESENDER - N_EXPIRE + 1))
WANT_DEFERRED_MSGS=$((N_LOCALSENDER + N_REMOTESENDER + 1))
check_log "connection refused" 'connect to 127\.0\.0\.1\[127\.0\.0\.1\]:2599: Connection refused' 1
check_log "deferred" 'relay=none, .*status=deferred \((connect to|delivery temporarily suspended: connect to) 127\.0\.0\.1\[127\.0\.0\.1\]:2599: Connection refused\)' "$WANT_DEFERRED_MSGS"
check_log "force-expired" 'status=force-expired, returned to sender' "$N_EXPIRE"
check_log "bounce to local sender" 'postfix/local\[[0-9]+\]: [0-9A-F]+: to=<alice@capture.example>.*status=sent' 1
check_log "MAILER-DAEMON deferred" 'qmgr\[[0-9]+\]: [0-9A-F]+: from=<>, size' 2
check_log "local deliveries" 'to=<bob@capture.example>.*status=sent' "$N_LOCAL"
got_deferred=$(grep -E 'status=deferred' "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
got_queued=$(grep -c . "$OUT/postqueue.json" || true)
[ "$got_deferred" -eq "$WANT_DEFERRED_MSGS" ] || { log "FAIL deferred msgs $got_deferred != $WANT_DEFERRED_MSGS"; CHECK_FAILED=1; }
[ "$got_queued" -eq "$WANT_QUEUED" ] || { log "FAIL queued $got_queued != $WANT_QUEUED"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "relay-down",
 "findings": [
   {"id": "DLV002", "category": "delivery", "severity": "error", "count": $WANT_DEFERRED_MSGS, "key": "127.0.0.1[127.0.0.1]:2599"},
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $WANT_DEFERRED_MSGS, "key": "connection refused"},
   {"id": "QUE002", "category": "queue", "severity": "warning", "count": $N_EXPIRE},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $WANT_QUEUED}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
