#!/bin/bash
# bounce-storm: many relayed messages rejected permanently by the next hop
# (status=bounced), and the non-delivery notifications to the senders cannot be
# delivered either (MAILER-DAEMON backscatter piling up in the deferred queue).
. "$(dirname "$0")/../lib.sh"
scenario_begin bounce-storm

N_SPAM=30    # messages from spamN@forged.example to userN@example.net: all bounce
N_LOCAL=2    # ordinary local messages (delivered)
SINK_PORT=2526
DEAD_PORT=2599

DESCRIPTION="A dictionary-attack/backscatter setup on loopback:

- \`transport_maps = hash:/etc/postfix/pfd_bounce_transport\`:
  \`example.net smtp:[127.0.0.1]:$SINK_PORT\` (an smtp-sink started with
  \`-f RCPT -B '550 5.1.1 <unknown>: Recipient address rejected: User unknown'\`:
  it rejects every RCPT TO permanently) and
  \`forged.example smtp:[127.0.0.1]:$DEAD_PORT\` (nothing listens: Connection refused).

Traffic (tools/capture/smtpc.py to 127.0.0.1:25, accepted: 127.0.0.1 is in mynetworks):
- $N_SPAM messages spamN@forged.example -> userN@example.net: each is relayed to the sink,
  rejected at RCPT with 550 5.1.1 -> \`status=bounced\`, and bounce logs
  \`sender non-delivery notification: QUEUEID\`
- the $N_SPAM MAILER-DAEMON notifications (from=<>) go to spamN@forged.example, i.e. to the
  dead port: \`status=deferred (connect to 127.0.0.1[127.0.0.1]:$DEAD_PORT: Connection refused)\`
  (later ones \`delivery temporarily suspended: ...\`): they stay in the deferred queue
- $N_LOCAL messages to bob@capture.example (delivered locally)

At the end the deferred queue holds exactly the $N_SPAM bounces (all from MAILER-DAEMON)."

x sh -c "printf 'example.net smtp:[127.0.0.1]:$SINK_PORT\nforged.example smtp:[127.0.0.1]:$DEAD_PORT\n' > /etc/postfix/pfd_bounce_transport"
x postmap hash:/etc/postfix/pfd_bounce_transport
x postconf -e "transport_maps = hash:/etc/postfix/pfd_bounce_transport"

start_sink "$SINK_PORT" -f RCPT -B "550 5.1.1 <unknown>: Recipient address rejected: User unknown"
pf_start_init
wait_port 127.0.0.1 25

for i in $(seq 1 "$N_SPAM"); do
    x "${SMTPC[@]}" send --from "spam$i@forged.example" --to "user$i@example.net" --subject offer >/dev/null
done
x "${SMTPC[@]}" send --to bob@capture.example --count "$N_LOCAL" --subject local
pf_wait_queue_settled 40
sleep 3
pf_wait_queue_settled 20
scenario_end
x rm -f /etc/postfix/pfd_bounce_transport /etc/postfix/pfd_bounce_transport.db

check_log "bounced by the sink" 'postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<user[0-9]+@example\.net>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:2526, .*dsn=5\.1\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1' "$N_SPAM"
check_log "non-delivery notifications" 'postfix/bounce\[[0-9]+\]: [0-9A-F]+: sender non-delivery notification: [0-9A-F]+' "$N_SPAM"
check_log "MAILER-DAEMON queued" 'qmgr\[[0-9]+\]: [0-9A-F]+: from=<>, size' "$N_SPAM"
check_log "bounces deferred" 'to=<spam[0-9]+@forged\.example>, relay=none, .*status=deferred \((delivery temporarily suspended: )?connect to 127\.0\.0\.1\[127\.0\.0\.1\]:2599: Connection refused\)' "$N_SPAM"
check_log "local deliveries" 'to=<bob@capture.example>.*status=sent' "$N_LOCAL"
N_BOUNCED=$(grep -E 'status=bounced' "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
N_DEFERRED=$(grep -E 'status=deferred' "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
N_QUEUED=$(grep -c . "$OUT/postqueue.json" || true)
N_QUEUED_NULL=$(grep -c '"sender": "MAILER-DAEMON"' "$OUT/postqueue.json" || true)
[ "$N_BOUNCED" -eq "$N_SPAM" ] || { log "FAIL bounced msgs $N_BOUNCED != $N_SPAM"; CHECK_FAILED=1; }
[ "$N_DEFERRED" -eq "$N_SPAM" ] || { log "FAIL deferred msgs $N_DEFERRED != $N_SPAM"; CHECK_FAILED=1; }
[ "$N_QUEUED" -eq "$N_SPAM" ] || { log "FAIL queued $N_QUEUED != $N_SPAM"; CHECK_FAILED=1; }
[ "$N_QUEUED_NULL" -eq "$N_SPAM" ] || { log "FAIL queued null-sender $N_QUEUED_NULL != $N_SPAM"; CHECK_FAILED=1; }

# DLV003: $N_SPAM bounced messages (100% of the originals; half of all messages with a
# delivery attempt). DLV004: the $N_SPAM null-sender notifications are all the failed
# deliveries' deferred mail -> DLV004 owns the backscatter, QSH001 stays silent.
# DLV002/DLV001: every attempt to [127.0.0.1]:2599 fails. QUE001: the bounces stay queued.
write_expected <<EOF
{"scenario": "bounce-storm",
 "findings": [
   {"id": "DLV003", "category": "delivery", "severity": "warning", "count": $N_SPAM},
   {"id": "DLV004", "category": "delivery", "severity": "warning", "count": $N_SPAM},
   {"id": "DLV002", "category": "delivery", "severity": "error", "count": $N_SPAM, "key": "127.0.0.1[127.0.0.1]:$DEAD_PORT"},
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $N_SPAM, "key": "connection refused"},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_SPAM}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
