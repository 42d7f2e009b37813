#!/bin/bash
# content-filter-down: content_filter = scan:[127.0.0.1]:10024 with nothing listening there
# (amavisd-new down): every message, local or remote, is deferred before any delivery.
. "$(dirname "$0")/../lib.sh"
scenario_begin content-filter-down
. "$CAPTURE_DIR/content_filter.sh"
INJECTED_JSON=1

N_LOCAL=3     # sender@ -> alice@capture.example
N_RELAY=2     # sender@ -> user1@example.net
N_PICKUP=1    # sendmail(1) -> dave@capture.example
N_MSGS=$((N_LOCAL + N_RELAY + N_PICKUP))
TARGET="127.0.0.1[127.0.0.1]:$FILTER_PORT"

DESCRIPTION="The content filter is down (an amavisd-new that is not running): the same setup as
the \`content-filter\` scenario, $FILTER_CONFIG_TEXT

but nothing listens on 127.0.0.1:$FILTER_PORT for the whole run. Every message goes to the
\`scan\` transport first, so all mail, local and remote alike, is deferred with
\`connect to $TARGET: Connection refused\` (later attempts: \`delivery temporarily
suspended\`), and nothing is delivered.

Traffic: $N_LOCAL messages to alice@capture.example and $N_RELAY to user1@example.net
(tools/capture/smtpc.py to 127.0.0.1:25), $N_PICKUP \`sendmail -f root@capture.example
dave@capture.example\` (pickup); then \`postqueue -f\` (a second attempt for each). All $N_MSGS
messages are still in the deferred queue at the end.

expected.json: DLV002 for $TARGET (the content filter; error: a service on this host),
DLV001 ($N_MSGS deferred, connection refused), QUE001 ($N_MSGS still queued), and the planned rule
FLT001 (content filter down: mail waits for the filter named in content_filter) with the
$N_MSGS messages it holds; FLT001 does not exist yet, so this scenario's test fails until it does."

content_filter_config
pf_start_init
wait_port 127.0.0.1 25
wait_port 127.0.0.1 "$REINJECT_PORT"

DOWN_START=$(now)
x "${SMTPC[@]}" send --to alice@capture.example --count "$N_LOCAL" --subject "filter down local"
x "${SMTPC[@]}" send --to user1@example.net --count "$N_RELAY" --subject "filter down relayed"
printf 'Subject: filter down pickup\nFrom: root@capture.example\nTo: dave@capture.example\n\nhello\n' |
    x sendmail -f root@capture.example dave@capture.example
pf_wait_queue_settled 30
sleep 3
x postqueue -f
pf_wait_queue_settled 30
sleep 3
scenario_end

check_log "connection refused" "connect to 127\.0\.0\.1\[127\.0\.0\.1\]:$FILTER_PORT: Connection refused" 1
check_log "deferred to the filter" "relay=none, .*status=deferred \((delivery temporarily suspended: )?connect to 127\.0\.0\.1\[127\.0\.0\.1\]:$FILTER_PORT: Connection refused\)" "$N_MSGS"
check_none "deliveries" "status=sent"
check_none "re-injections" "orig_queue_id="
n_deferred=$(grep -E "status=deferred" "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
n_queued=$(grep -c . "$OUT/postqueue.json" || true)
[ "$n_deferred" -eq "$N_MSGS" ] || { log "FAIL deferred messages $n_deferred != $N_MSGS"; CHECK_FAILED=1; }
[ "$n_queued" -eq "$N_MSGS" ] || { log "FAIL queued $n_queued != $N_MSGS"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "content-filter-down",
 "findings": [
   {"id": "DLV002", "category": "delivery", "severity": "error", "count": $N_MSGS, "key": "$TARGET"},
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $N_MSGS, "key": "connection refused"},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_MSGS},
   {"id": "FLT001", "severity": "error", "count": $N_MSGS, "key": "scan:[127.0.0.1]:$FILTER_PORT"}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "content-filter-down",
 "incidents": [
   {"what": "content filter down", "start": "$DOWN_START", "end": null, "state": "ongoing",
    "details": {"content_filter": "scan:[127.0.0.1]:$FILTER_PORT", "cause": "nothing listening on 127.0.0.1:$FILTER_PORT",
                "messages": $N_MSGS, "local_recipients": $((N_LOCAL + N_PICKUP)), "remote_recipients": $N_RELAY,
                "via_pickup": $N_PICKUP, "still_queued_at_end": $n_queued}}
 ]}
EOF
exit $CHECK_FAILED
