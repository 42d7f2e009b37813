#!/bin/bash
# greylisting: postgrey as a check_policy_service on 127.0.0.1:10023; outside clients get
# 450 4.2.0 Greylisted, retry too early (greylisted again), then after the delay and pass.
. "$(dirname "$0")/../lib.sh"
scenario_begin greylisting
INJECTED_JSON=1

apt_install_no_start postgrey   # Debian's package; its own service is never started here
PG_PORT=10023
DELAY=15          # postgrey --delay (Debian's default is 300 s)
CLIENT=127.0.0.7  # outside mynetworks (127.0.0.1/32)
senders=(news@partner.example orders@shop.example friend@example.com)
rcpts=(alice@capture.example bob@capture.example carol@capture.example)
N_TRIPLETS=${#senders[@]}
N_LOCAL=2

DESCRIPTION="Greylisting with postgrey (Debian package \`postgrey\`, installed without starting its
service; the scenario runs its own: \`postgrey --inet=127.0.0.1:$PG_PORT --delay=$DELAY
--dbdir=DIR\`, user postgrey, a fresh database). main.cf:
\`mynetworks = 127.0.0.1/32\`,
\`smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, check_policy_service inet:127.0.0.1:$PG_PORT\`.

Traffic (tools/capture/smtpc.py; $CLIENT is outside mynetworks and has no PTR):
- $N_TRIPLETS senders from $CLIENT (${senders[*]}), one message each to
  ${rcpts[*]} (one recipient each):
  1. first attempt: \`450 4.2.0 <rcpt>: Recipient address rejected: Greylisted, see
     http://postgrey.schweikert.ch/help/capture.example.html\` ($N_TRIPLETS rejects)
  2. retry after 5 s, before the ${DELAY} s delay is over: greylisted again ($N_TRIPLETS rejects)
  3. retry after $((DELAY + 5)) s: passed (postgrey adds \`X-Greylist: delayed N seconds by
     postgrey-1.37\`), delivered
- $N_LOCAL messages from 127.0.0.1 (mynetworks: not greylisted) to alice@capture.example

expected.json: the planned rule GRY001 (greylisting: clients deferred by a greylisting policy
service), notice, counting the $((2 * N_TRIPLETS)) greylist rejects, keyed by the policy service
inet:127.0.0.1:$PG_PORT; nothing above notice (greylisting working as designed). GRY001 does not
exist yet, so this scenario's test fails until it does."

x postconf -e "mynetworks = 127.0.0.1/32" \
    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, check_policy_service inet:127.0.0.1:$PG_PORT"
chmod 755 "$WORK"
x mkdir -p "$WORK/postgrey"
x chown postgrey:postgrey "$WORK/postgrey"
start_bg PG_PID postgrey "--inet=127.0.0.1:$PG_PORT" "--delay=$DELAY" "--dbdir=$WORK/postgrey"
wait_port 127.0.0.1 "$PG_PORT"
pf_start_init
wait_port 127.0.0.1 25

attempt() {
    local i
    for i in $(seq 0 $((N_TRIPLETS - 1))); do
        x "${SMTPC[@]}" send --source "$CLIENT" --helo mx.partner.example --from "${senders[$i]}" \
            --to "${rcpts[$i]}" --subject "greylisted $1 ($((i + 1)))" || true
    done
}
GREY_START=$(now)
t0=$(date +%s)
attempt "try 1"
x "${SMTPC[@]}" send --to alice@capture.example --count "$N_LOCAL" --subject "from mynetworks"
sleep 5
attempt "try 2"
while [ $(( $(date +%s) - t0 )) -lt $((DELAY + 5)) ]; do sleep 0.5; done
attempt "try 3"
GREY_END=$(now)
pf_wait_queue_settled 20
sleep 2
scenario_end

check_log "greylisted" "NOQUEUE: reject: RCPT from unknown\[$CLIENT\]: 450 4\.2\.0 <[a-z]+@capture\.example>: Recipient address rejected: Greylisted, see http://postgrey\.schweikert\.ch/help/capture\.example\.html" $((2 * N_TRIPLETS))
for i in $(seq 0 $((N_TRIPLETS - 1))); do
    check_log "passed: ${rcpts[$i]}" "to=<${rcpts[$i]}>.*status=sent" 1
done
N_SENT=$(count_log "status=sent")
[ "$N_SENT" -eq $((N_TRIPLETS + N_LOCAL)) ] || { log "FAIL deliveries $N_SENT != $((N_TRIPLETS + N_LOCAL))"; CHECK_FAILED=1; }
N_G=$(count_log "Greylisted, see")
[ "$N_G" -eq $((2 * N_TRIPLETS)) ] || { log "FAIL greylist rejects $N_G != $((2 * N_TRIPLETS))"; CHECK_FAILED=1; }
check_none "warnings" "warning: "

write_expected <<EOF
{"scenario": "greylisting",
 "findings": [
   {"id": "GRY001", "severity": "notice", "count": $((2 * N_TRIPLETS)), "key": "inet:127.0.0.1:$PG_PORT"}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "greylisting",
 "incidents": [
   {"what": "greylisting", "start": "$GREY_START", "end": "$GREY_END", "state": "recovered",
    "details": {"policy_service": "inet:127.0.0.1:$PG_PORT", "software": "postgrey", "delay_seconds": $DELAY,
                "client": "$CLIENT", "triplets": $N_TRIPLETS, "greylist_rejects": $((2 * N_TRIPLETS)),
                "attempts_per_triplet": 3, "passed_after_delay": $N_TRIPLETS}}
 ]}
EOF
exit $CHECK_FAILED
