#!/bin/bash
# multi-incident: one "bad day" of a few minutes with five incidents in one log: a relayhost
# outage that recovers, a dictionary attack, relay probing from outside mynetworks, a milter
# outage of ~30 s, and a connection burst against the smtpd process limit.
#
# Postfix and every helper (smtp-sink as the relayhost, the milter, the clients) run inside a
# private network namespace: master logs the process-limit warning only for a service that is
# not local-only, so smtp also listens on 192.0.2.1 there (see process-limit.sh). The start and
# end of each injection are measured with `date` and written to injected.json.
. "$(dirname "$0")/../lib.sh"
scenario_begin multi-incident
INJECTED_JSON=1

RELAY_PORT=2526
MILTER_PORT=8891
MILTER="inet:127.0.0.1:$MILTER_PORT"
MAXPROC=4            # smtp inet process limit
N_WARM_LOCAL=3       # warm-up: local messages to bob@
N_WARM_RELAY=2       # warm-up: relayed messages (delivered through the relayhost)
N_RELAY_DOWN=6       # relayed messages sent while the relayhost is down (10 s apart)
DICT_IP=127.0.0.5
DICT_SESS=2          # dictionary-attack sessions
DICT_RCPT=22         # RCPT TO unknown users per session (the hard error limit cuts it at 20)
HARD_LIMIT=20        # smtpd_hard_error_limit (the default, stated in main.cf)
DICT_REJECTS=$((DICT_SESS * HARD_LIMIT))
PROBE_IP=127.0.0.3
PROBE_SESS=2
PROBE_RCPT=6
N_PROBE=$((PROBE_SESS * PROBE_RCPT))
MILTER_DOWN_SECS=30
MILTER_EVERY=5       # one message attempt every 5 s while the milter is down
N_MILTER_DOWN=$((MILTER_DOWN_SECS / MILTER_EVERY))
N_MILTER_OK=2        # messages after the milter is back
BURST_IP=127.0.0.6
BURST_N=10           # concurrent slow sessions
BURST_HOLD=4

users=(admin info sales support webmaster office contact billing jobs marketing accounts help
       hello team service enquiries ceo finance press careers legal orders)
for u in "${users[@]}"; do
    if getent passwd "$u" >/dev/null || grep -qi "^$u:" /etc/aliases; then
        log "'$u' is a local account or alias here: the dictionary attack needs unknown users"; exit 1
    fi
done

DESCRIPTION="One Postfix, one log, five incidents in a few minutes (\"a bad day\"). Postfix and
all helpers run in a private network namespace \`pfd-multi\` (its own \`lo\` with 127.0.0.0/8
and 192.0.2.1; no packet leaves it). Configuration:
\`mynetworks = 127.0.0.1/32\`, \`relayhost = [127.0.0.1]:$RELAY_PORT\` (an \`smtp-sink\` there),
\`smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\`,
\`smtpd_milters = $MILTER\` with \`milter_default_action = tempfail\` (the milter is
tools/capture/milter.py, which accepts everything), \`inet_interfaces = 127.0.0.1, 192.0.2.1\`
and the smtp service in master.cf with maxproc $MAXPROC.
Clients are tools/capture/smtpc.py inside the namespace, bound to loopback source addresses;
only 127.0.0.1 is in mynetworks (and has a name, localhost; the others are logged as
unknown[IP]: DNS001 notice).

In order (the measured start and end of each incident are in injected.json):

0. Warm-up: $N_WARM_LOCAL messages to bob@capture.example and $N_WARM_RELAY to partnerN@example.net
   (delivered locally and through the relayhost).
1. Relayhost outage (recovers): the smtp-sink on 127.0.0.1:$RELAY_PORT is stopped; $N_RELAY_DOWN
   messages alice@capture.example -> userN@example.net are sent about 10 s apart (the
   dictionary attack runs in the middle of it): each is deferred with \`connect to
   127.0.0.1[127.0.0.1]:$RELAY_PORT: Connection refused\` (no \`delivery temporarily suspended\`:
   the queue to the relayhost is empty between two messages). After about a minute the sink
   is started again and \`postqueue -f\` delivers all $N_RELAY_DOWN deferred messages.
2. Dictionary attack from $DICT_IP (during the outage): $DICT_SESS sessions, each EHLO, MAIL FROM
   and $DICT_RCPT \`RCPT TO\` unknown users at capture.example (admin, info, sales, ...):
   \`550 5.1.1 ... User unknown in local recipient table\`; from the 10th error on smtpd
   delays each reply by 1 s (smtpd_soft_error_limit), after $HARD_LIMIT it logs \`too many errors
   after RCPT\` and hangs up: $DICT_REJECTS rejects, $DICT_SESS sessions cut off.
3. Relay probing from $PROBE_IP (not in mynetworks): $PROBE_SESS sessions with $PROBE_RCPT external
   recipients each: $N_PROBE x \`554 5.7.1 <...>: Relay access denied\`.
4. Milter outage: milter.py on 127.0.0.1:$MILTER_PORT is stopped for ${MILTER_DOWN_SECS} s; one
   message to bob@ every $MILTER_EVERY s: $N_MILTER_DOWN sessions with \`warning: connect to Milter
   service $MILTER: Connection refused\` and \`milter-reject: ... 451 4.7.1 Service unavailable -
   try again later\` (nothing accepted). The milter is started again and $N_MILTER_OK messages go
   through.
5. Connection burst: $BURST_N concurrent sessions from $BURST_IP (EHLO, wait ${BURST_HOLD} s, QUIT)
   against maxproc $MAXPROC: master logs once \`warning: service \"smtp\" (25) has reached its
   process limit \"$MAXPROC\": new clients may experience noticeable delays\`; every session is
   served in the end.

expected.json: DLV002 for the relayhost [127.0.0.1]:2526, down for a stretch and recovered (a
warning: it deferred mail), with its $N_RELAY_DOWN deferred messages; DLV001 for them (cause
connection refused), at notice because every one was delivered later; ERR001 ($DICT_SESS
sessions cut off, $DICT_IP); SEC002 ($N_PROBE relay denials, $PROBE_IP); MLT001 ($N_MILTER_DOWN
connection failures, $MILTER); PRC001 (1 warning, service smtp). With the configuration (`with_config`):
SEC002 is a notice, because `mynetworks = 127.0.0.1/32` makes the prober an outside client."

ns_setup pfd-multi
x postconf -e "inet_interfaces = 127.0.0.1, 192.0.2.1" \
    "mynetworks = 127.0.0.1/32" \
    "relayhost = [127.0.0.1]:$RELAY_PORT" \
    "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" \
    "smtpd_milters = $MILTER" "milter_default_action = tempfail" \
    "smtpd_soft_error_limit = 10" "smtpd_hard_error_limit = $HARD_LIMIT"
x postconf -F "smtp/inet/process_limit = $MAXPROC"

start_bg MILTER_PID "$PY" "$CAPTURE_DIR/milter.py" --listen "127.0.0.1:$MILTER_PORT"
start_bg SINK_PID smtp-sink -u postfix "127.0.0.1:$RELAY_PORT" 64
ns_wait_port 127.0.0.1 "$MILTER_PORT"
ns_wait_port 127.0.0.1 "$RELAY_PORT"
x "${NSX[@]}" /etc/init.d/postfix start >/dev/null
pf_wait_up
ns_wait_port 127.0.0.1 25

C=("${NSX[@]}" "${SMTPC[@]}")
# 0. warm-up
x "${C[@]}" send --to bob@capture.example --count "$N_WARM_LOCAL" --subject warm-up
for i in $(seq 1 "$N_WARM_RELAY"); do
    x "${C[@]}" send --from alice@capture.example --to "partner$i@example.net" --subject warm-up
done
pf_wait_queue_settled 20
sleep 4   # past smtp_connection_cache_time_limit (2s): no cached session to the sink

dictionary_attack() {
    local i j steps
    for i in $(seq 1 "$DICT_SESS"); do
        steps=(read "send:EHLO mx$i.dict-attack.example" read "send:MAIL FROM:<bounce$i@dict-attack.example>" read)
        for j in $(seq 0 $((DICT_RCPT - 1))); do
            steps+=("send:RCPT TO:<${users[$j]}@capture.example>" read)
        done
        steps+=(send:QUIT readall)
        x "${C[@]}" script --timeout 20 --source "$DICT_IP" "${steps[@]}" >/dev/null
    done
}

# 1. relayhost outage, with 2. the dictionary attack in the middle of it
stop_bg SINK_PID
RELAY_START=$(now)
for i in $(seq 1 "$N_RELAY_DOWN"); do
    x "${C[@]}" send --from alice@capture.example --to "user$i@example.net" --subject "relay outage $i"
    if [ "$i" -eq 2 ]; then
        DICT_START=$(now)
        dictionary_attack
        DICT_END=$(now)
    elif [ "$i" -lt "$N_RELAY_DOWN" ]; then
        sleep 10
    fi
done
sleep 5
start_bg SINK_PID smtp-sink -u postfix "127.0.0.1:$RELAY_PORT" 64
ns_wait_port 127.0.0.1 "$RELAY_PORT"
RELAY_END=$(now)
x "${NSX[@]}" postqueue -f
for _ in $(seq 1 60); do
    [ "$(find "$SPOOL/deferred" "$SPOOL/active" "$SPOOL/incoming" -type f | wc -l)" -eq 0 ] && break
    sleep 0.5
done
RELAY_DELIVERED=$(now)
sleep 5

# 3. relay probing
domains=(example.net example.org example.com)
PROBE_START=$(now)
for i in $(seq 1 "$PROBE_SESS"); do
    steps=(read "send:EHLO probe$i.example.net" read "send:MAIL FROM:<probe$i@example.net>" read)
    for j in $(seq 1 "$PROBE_RCPT"); do
        steps+=("send:RCPT TO:<victim$j@${domains[$(( (i + j) % 3 ))]}>" read)
    done
    steps+=(send:QUIT readall)
    x "${C[@]}" script --timeout 10 --source "$PROBE_IP" "${steps[@]}" >/dev/null
done
PROBE_END=$(now)
sleep 5

# 4. milter outage
stop_bg MILTER_PID
MILTER_START=$(now)
t0=$(date +%s)
for i in $(seq 1 "$N_MILTER_DOWN"); do
    x "${C[@]}" send --to bob@capture.example --subject "milter down $i" >/dev/null || true
    # next attempt on the 5-second grid from the outage start
    while [ $(( $(date +%s) - t0 )) -lt $((i * MILTER_EVERY)) ]; do sleep 0.2; done
done
start_bg MILTER_PID "$PY" "$CAPTURE_DIR/milter.py" --listen "127.0.0.1:$MILTER_PORT"
ns_wait_port 127.0.0.1 "$MILTER_PORT"
MILTER_END=$(now)
x "${C[@]}" send --to bob@capture.example --count "$N_MILTER_OK" --subject "milter back"
pf_wait_queue_settled 20
sleep 5

# 5. connection burst against the process limit
BURST_START=$(now)
x "${C[@]}" slow --server 127.0.0.1:25 --source "$BURST_IP" --n "$BURST_N" --hold "$BURST_HOLD" --timeout 30
BURST_END=$(now)
sleep 2
scenario_end

# The log must show what was injected, with exactly the injected counts.
check_log "relayhost refused" "connect to 127\.0\.0\.1\[127\.0\.0\.1\]:$RELAY_PORT: Connection refused" 1
check_log "relayed deliveries" "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$RELAY_PORT, .*status=sent" $((N_WARM_RELAY + N_RELAY_DOWN))
check_log "dictionary rejects" "NOQUEUE: reject: RCPT from unknown\[$DICT_IP\]: 550 5\.1\.1 <[a-z]+@capture\.example>: Recipient address rejected: User unknown in local recipient table" "$DICT_REJECTS"
check_log "too many errors" "too many errors after RCPT from unknown\[$DICT_IP\]" "$DICT_SESS"
check_log "relay denied" "NOQUEUE: reject: RCPT from unknown\[$PROBE_IP\]: 554 5\.7\.1 <victim[0-9]@example\.(net|org|com)>: Relay access denied" "$N_PROBE"
check_log "milter refused" "warning: connect to Milter service $MILTER: Connection refused" "$N_MILTER_DOWN"
check_log "milter tempfail" "milter-reject: (CONNECT|EHLO|MAIL) from localhost\[127\.0\.0\.1\]: 451 4\.7\.1 Service unavailable - try again later" "$N_MILTER_DOWN"
check_log "process limit" "postfix/master\[[0-9]+\]: warning: service \"smtp\" \(25\) has reached its process limit \"$MAXPROC\"" 1
check_log "burst sessions served" "disconnect from unknown\[$BURST_IP\] ehlo=1 quit=1 commands=2" "$BURST_N"
check_log "local deliveries" "to=<bob@capture\.example>.*status=sent" $((N_WARM_LOCAL + N_MILTER_OK))
n_deferred=$(grep -E "status=deferred" "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
n_rej=$(count_log "Recipient address rejected: User unknown")
n_relay=$(count_log "Relay access denied")
n_milter=$(count_log "connect to Milter service")
n_plim=$(count_log "has reached its process limit")
n_err=$(count_log "too many errors after")
for pair in "deferred messages:$n_deferred:$N_RELAY_DOWN" "unknown-user rejects:$n_rej:$DICT_REJECTS" \
            "relay denied:$n_relay:$N_PROBE" "milter failures:$n_milter:$N_MILTER_DOWN" \
            "process-limit warnings:$n_plim:1" "error-limit disconnects:$n_err:$DICT_SESS"; do
    IFS=: read -r what got want <<<"$pair"
    [ "$got" -eq "$want" ] || { log "FAIL $what: $got != $want"; CHECK_FAILED=1; }
done
[ "$(grep -c . "$OUT/postqueue.json" || true)" -eq 0 ] || { log "FAIL mail left in the queue"; CHECK_FAILED=1; }
check_none "fatal/panic" "(fatal|panic): "

write_expected <<EOF
{"scenario": "multi-incident",
 "findings": [
   {"id": "DLV001", "category": "delivery", "severity": "notice", "count": $N_RELAY_DOWN, "key": "connection refused"},
   {"id": "DLV002", "category": "delivery", "severity": "warning", "count": $N_RELAY_DOWN, "key": "127.0.0.1[127.0.0.1]:2526"},
   {"id": "ERR001", "category": "error-limit", "severity": "warning", "count": $DICT_SESS, "key": "$DICT_IP"},
   {"id": "SEC002", "category": "security", "severity": "warning", "count": $N_PROBE, "key": "$PROBE_IP"},
   {"id": "MLT001", "category": "milter", "severity": "error", "count": $N_MILTER_DOWN, "key": "$MILTER"},
   {"id": "PRC001", "category": "process-limit", "severity": "warning", "count": 1, "key": "smtp"}
 ],
 "max_severity_of_others": "notice",
 "with_config": {"changes": [{"id": "SEC002", "severity": "notice"}], "max_severity_of_others": "notice"}}
EOF

write_injected <<EOF
{"scenario": "multi-incident",
 "incidents": [
   {"what": "relay outage", "start": "$RELAY_START", "end": "$RELAY_END", "state": "recovered",
    "details": {"relayhost": "[127.0.0.1]:$RELAY_PORT", "cause": "nothing listening (smtp-sink stopped)",
                "messages_sent_during_outage": $N_RELAY_DOWN, "deferred_messages": $n_deferred,
                "flushed_with": "postqueue -f", "all_delivered_at": "$RELAY_DELIVERED",
                "delivered_after_recovery": $N_RELAY_DOWN}},
   {"what": "dictionary attack", "start": "$DICT_START", "end": "$DICT_END", "state": "recovered",
    "details": {"client": "$DICT_IP", "sessions": $DICT_SESS, "rcpt_sent_per_session": $DICT_RCPT,
                "unknown_recipient_rejects": $DICT_REJECTS, "error_limit_disconnects": $DICT_SESS,
                "smtpd_soft_error_limit": 10, "smtpd_hard_error_limit": $HARD_LIMIT}},
   {"what": "relay probing", "start": "$PROBE_START", "end": "$PROBE_END", "state": "recovered",
    "details": {"client": "$PROBE_IP", "sessions": $PROBE_SESS, "relay_access_denied": $N_PROBE,
                "mynetworks": "127.0.0.1/32"}},
   {"what": "milter outage", "start": "$MILTER_START", "end": "$MILTER_END", "state": "recovered",
    "details": {"milter": "$MILTER", "milter_default_action": "tempfail",
                "sessions_tempfailed": $N_MILTER_DOWN, "messages_after_recovery": $N_MILTER_OK}},
   {"what": "connection burst", "start": "$BURST_START", "end": "$BURST_END", "state": "recovered",
    "details": {"client": "$BURST_IP", "concurrent_sessions": $BURST_N, "hold_seconds": $BURST_HOLD,
                "service": "smtp", "process_limit": $MAXPROC, "process_limit_warnings": 1}}
 ]}
EOF
exit $CHECK_FAILED
