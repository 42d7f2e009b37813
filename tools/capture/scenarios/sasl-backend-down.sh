#!/bin/bash
# sasl-backend-down: SMTP AUTH on the submission port through Dovecot SASL, and Dovecot's auth
# socket is missing (dovecot-core installed, Dovecot not running).
. "$(dirname "$0")/../lib.sh"
scenario_begin sasl-backend-down
INJECTED_JSON=1

# dovecot-core installed as on a real server; its service is never started here.
dpkg -s dovecot-core >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-core >/dev/null
}
AUTH_SOCKET="$SPOOL/private/auth"
N_AUTH=4      # submission sessions that try AUTH PLAIN/LOGIN (alternating)
N_OK=2        # messages on port 25 (no SASL there): delivered

DESCRIPTION="SMTP AUTH is offered on the submission port (587) through Dovecot SASL, but Dovecot
is not running, so its auth socket \`private/auth\` ($AUTH_SOCKET) does not exist.
dovecot-core is installed (as on a real server) and never started.
master.cf:

\`\`\`
submission inet n - y - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_tls_security_level=none
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
\`\`\`

(no TLS: loopback only). Clients: $N_AUTH sessions to 127.0.0.1:587 (tools/capture/smtpc.py auth,
user alice, alternating AUTH PLAIN and AUTH LOGIN), each meant to authenticate and send one
message. smtpd cannot reach the SASL server: \`warning: SASL: Connect to Dovecot auth socket
'private/auth' failed: No such file or directory\`, then \`fatal: no SASL authentication
mechanisms\`; the process dies right after \`connect from\`, before its greeting, and master logs \`process
/usr/lib/postfix/sbin/smtpd pid N exit status 1\` and throttles the submission service
(\`bad command startup -- throttling\`): the other clients wait in the listen queue (their
smtpc.py gives up after 20 s), and a minute later master starts an smtpd for each of them, which
dies the same way. No client can authenticate.
Meanwhile $N_OK messages on port 25 (no SASL there) are delivered to bob@capture.example.

expected.json: the planned rule SAS001 (SASL server backend unavailable) with the $N_AUTH
sessions whose smtpd could not reach the Dovecot socket, keyed by the socket (private/auth); it
explains the \`fatal: no SASL authentication mechanisms\` lines and the socket warnings (today the
catch-alls GEN001 and GEN002 report them), and CFG005 (smtpd on submission exits at startup and is
throttled). SAS001 does not exist yet, so this scenario's test fails until it does."

x rm -f "$AUTH_SOCKET"
x postconf -M "submission/inet=submission inet n - y - - smtpd"
x postconf -P "submission/inet/syslog_name=postfix/submission" \
    "submission/inet/smtpd_sasl_auth_enable=yes" \
    "submission/inet/smtpd_sasl_type=dovecot" \
    "submission/inet/smtpd_sasl_path=private/auth" \
    "submission/inet/smtpd_tls_security_level=none" \
    "submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject"
pf_start_init
wait_port 127.0.0.1 25
wait_port 127.0.0.1 587

DOWN_START=$(now)
for i in $(seq 1 "$N_AUTH"); do
    mech=PLAIN; [ $((i % 2)) -eq 0 ] && mech=LOGIN
    x "${SMTPC[@]}" auth --timeout 20 --server 127.0.0.1:587 --user alice --password correct-horse \
        --mech "$mech" --send-to bob@capture.example
done
x "${SMTPC[@]}" send --to bob@capture.example --count "$N_OK" --subject "port 25"
pf_wait_queue_settled 20
sleep 2
DOWN_END_OF_LOG=$(now)
scenario_end

check_log "dovecot socket missing" "postfix/submission/smtpd\[[0-9]+\]: warning: SASL: Connect to Dovecot auth socket 'private/auth' failed: No such file or directory" "$N_AUTH"
check_log "no mechanisms" "postfix/submission/smtpd\[[0-9]+\]: fatal: no SASL authentication mechanisms" "$N_AUTH"
check_log "smtpd exit status 1" "postfix/master\[[0-9]+\]: warning: process /usr/lib/postfix/sbin/smtpd pid [0-9]+ exit status 1" "$N_AUTH"
check_log "throttling" "postfix/master\[[0-9]+\]: warning: /usr/lib/postfix/sbin/smtpd: bad command startup -- throttling" 1
check_log "port 25 delivered" "to=<bob@capture\.example>.*status=sent" "$N_OK"
check_none "authenticated sessions" "sasl_method="
N_SOCK=$(count_log "Connect to Dovecot auth socket")
[ "$N_SOCK" -eq "$N_AUTH" ] || { log "FAIL socket warnings $N_SOCK != $N_AUTH"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "sasl-backend-down",
 "findings": [
   {"id": "SAS001", "severity": "error", "count": $N_AUTH, "key": "private/auth"},
   {"id": "CFG005", "category": "config", "severity": "error", "count_min": 1, "key": "smtpd"}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "sasl-backend-down",
 "incidents": [
   {"what": "SASL backend down", "start": "$DOWN_START", "end": null, "state": "ongoing",
    "details": {"service": "submission", "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth",
                "cause": "Dovecot not running: $AUTH_SOCKET does not exist",
                "auth_sessions_tried": $N_AUTH, "authenticated": 0,
                "last_client_at": "$DOWN_END_OF_LOG", "port25_messages_delivered": $N_OK}}
 ]}
EOF
exit $CHECK_FAILED
