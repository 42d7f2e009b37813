#!/bin/bash
# relay-abuse: an outside client probing for an open relay (Relay access denied
# in a burst), and a client hammering port 25 past the anvil connection rate limit.
. "$(dirname "$0")/../lib.sh"
scenario_begin relay-abuse

RATE=3            # smtpd_client_connection_rate_limit (per anvil_rate_time_unit = 60s)
N_PROBE_SESS=2    # relay-probe sessions from 127.0.0.3
N_PROBE_RCPT=6    #   external recipients per session
N_RELAY=$((N_PROBE_SESS * N_PROBE_RCPT))
N_RATE_CONN=8     # connections (one message each) from 127.0.0.4 within a few seconds
N_RATE_REFUSED=$((N_RATE_CONN - RATE))
N_GOOD=2          # normal messages from 127.0.0.1 (in mynetworks)

DESCRIPTION="Postfix with \`mynetworks = 127.0.0.1/32\`,
\`smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\`,
and anvil limits that apply to every client: \`smtpd_client_connection_rate_limit = $RATE\`,
\`anvil_rate_time_unit = 60s\`, \`smtpd_client_event_limit_exceptions =\` (empty,
so loopback/mynetworks clients are not exempt). Clients are
tools/capture/smtpc.py bound to loopback source addresses:

- 127.0.0.3 (not in mynetworks; no PTR, logged as unknown[127.0.0.3]):
  $N_PROBE_SESS sessions, each EHLO, MAIL FROM, $N_PROBE_RCPT \`RCPT TO\` external
  addresses (example.net, example.org, example.com), then QUIT:
  $N_RELAY x \`554 5.7.1 <...>: Relay access denied\` within a few seconds, plus one
  message from it to alice@capture.example (a local domain: accepted)
- 127.0.0.4 (not in mynetworks; unknown[127.0.0.4]): $N_RATE_CONN connections in a
  row, one message to alice@capture.example each: the first $RATE are accepted, the
  other $N_RATE_REFUSED get \`421 4.7.0 Error: too many connections\` and
  \`warning: Connection rate limit exceeded: N from unknown[127.0.0.4] for service smtp\`
- 127.0.0.1: $N_GOOD normal messages to alice@capture.example (delivered)

expected.json: SEC002 (warning; $N_RELAY rejects, at least 10 within 10 minutes:
a relay probe burst) keyed 127.0.0.3, and SEC003 ($N_RATE_REFUSED refusals) keyed
127.0.0.4 at warning, because the refused client is a loopback (local) one whose
mail is delayed by the limit: a limit that is meant for outside clients (the
exceptions list was emptied), which an operator must look at. 127.0.0.3 and
127.0.0.4 have no PTR: DNS001 notice.
With the configuration (`with_config` in expected.json): `mynetworks = 127.0.0.1/32`
says 127.0.0.3 and 127.0.0.4 are outside clients, so SEC002 is a notice (relay probes
refused, as they should be) and SEC003 a notice (the limit stops an outside client,
which is what it is for)."

x postconf -e "mynetworks = 127.0.0.1/32" \
    "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" \
    "smtpd_client_connection_rate_limit = $RATE" \
    "smtpd_client_event_limit_exceptions =" \
    "anvil_rate_time_unit = 60s"
pf_start_init
wait_port 127.0.0.1 25

S=("${SMTPC[@]}" script --timeout 10 --source 127.0.0.3)
domains=(example.net example.org example.com)
for i in $(seq 1 "$N_PROBE_SESS"); do
    steps=(read "send:EHLO probe$i.example.net" read "send:MAIL FROM:<probe$i@example.net>" read)
    for j in $(seq 1 "$N_PROBE_RCPT"); do
        steps+=("send:RCPT TO:<victim$j@${domains[$(( (i + j) % 3 ))]}>" read)
    done
    steps+=(send:QUIT readall)
    x "${S[@]}" "${steps[@]}"
done
x "${SMTPC[@]}" send --source 127.0.0.3 --helo probe.example.net --from probe@example.net \
    --to alice@capture.example --count 1 --subject probe
x "${SMTPC[@]}" send --source 127.0.0.4 --helo burst.example.org --from burst@example.org \
    --to alice@capture.example --count "$N_RATE_CONN" --subject burst || true
x "${SMTPC[@]}" send --source 127.0.0.1 --to alice@capture.example --count "$N_GOOD" --subject good
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "Relay access denied from 127.0.0.3" 'NOQUEUE: reject: RCPT from [^ ]*\[127\.0\.0\.3\]: 554 5\.7\.1 <victim[0-9]+@example\.(net|org|com)>: Relay access denied' "$N_RELAY"
check_log "connection rate limit 127.0.0.4" 'warning: Connection rate limit exceeded: [0-9]+ from [^ ]*\[127\.0\.0\.4\] for service smtp' "$N_RATE_REFUSED"
check_log "probe's local message delivered" 'from=<probe@example\.net>' 1
check_log "good mail delivered" 'to=<alice@capture\.example>.*status=sent' $((1 + RATE + N_GOOD))
N_R=$(count_log 'Relay access denied')
N_L=$(count_log 'rate limit exceeded')
[ "$N_R" -eq "$N_RELAY" ] || { log "FAIL relay rejects: $N_R != $N_RELAY"; CHECK_FAILED=1; }
[ "$N_L" -eq "$N_RATE_REFUSED" ] || { log "FAIL rate limit lines: $N_L != $N_RATE_REFUSED"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "relay-abuse",
 "findings": [
   {"id": "SEC002", "category": "security", "severity": "warning", "count": $N_RELAY, "key": "127.0.0.3"},
   {"id": "SEC003", "category": "security", "severity": "warning", "count": $N_RATE_REFUSED, "key": "127.0.0.4"}
 ],
 "max_severity_of_others": "notice",
 "with_config": {"changes": [{"id": "SEC002", "severity": "notice"}, {"id": "SEC003", "severity": "notice"}],
                 "max_severity_of_others": "notice"}}
EOF
exit $CHECK_FAILED
