#!/bin/bash
# relayhost-auth: Postfix's SMTP client fails to authenticate to its smarthosts: a wrong password
# in smtp_sasl_password_maps (535 5.7.8, fixed later), and no usable SASL mechanism (the server
# offers only plaintext mechanisms without TLS, smtp_sasl_security_options forbids them).
. "$(dirname "$0")/../lib.sh"
scenario_begin relayhost-auth
INJECTED_JSON=1

dpkg -s libsasl2-modules >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsasl2-modules >/dev/null
}
PW_PORT=2587      # relayhost: the password in sasl_passwd is wrong
MECH_PORT=2588    # smarthost for example.org: no mechanism the client may use
N_PW=3            # messages alice@ -> userN@example.net (relayhost)
N_MECH=2          # messages alice@ -> userN@example.org (transport_maps -> [127.0.0.1]:2588)
N_LOCAL=2         # local messages (unaffected)
SASL_PASSWD=/etc/postfix/sasl_passwd
TRANSPORT=/etc/postfix/transport
for f in "$SASL_PASSWD" "$SASL_PASSWD.db" "$TRANSPORT" "$TRANSPORT.db"; do
    [ -e "$f" ] && { log "$f exists already: refusing to overwrite it"; exit 1; }
done

DESCRIPTION="Two smarthosts that require SMTP AUTH (tools/capture/smarthost.py: AUTH PLAIN LOGIN, no
STARTTLS, user \`relayuser\`, password \`secret\`; \`530 5.7.0 Authentication required\` before AUTH,
\`535 5.7.8 Error: authentication failed: authentication failure\` for a wrong password):

- \`relayhost = [127.0.0.1]:$PW_PORT\`, and \`$SASL_PASSWD\` has the wrong password for it:
  \`[127.0.0.1]:$PW_PORT relayuser:wrong-password\`
- \`transport_maps = hash:$TRANSPORT\` with \`example.org smtp-org:[127.0.0.1]:$MECH_PORT\`, where
  master.cf's \`smtp-org\` (an smtp(8) transport) keeps Postfix's default
  \`smtp_sasl_security_options = noplaintext, noanonymous\`; the server offers only PLAIN and
  LOGIN and no TLS, so the client has no mechanism it may use (its password,
  \`[127.0.0.1]:$MECH_PORT relayuser:secret\`, is right but never sent)

main.cf: \`smtp_sasl_auth_enable = yes\`, \`smtp_sasl_password_maps = hash:$SASL_PASSWD\`,
\`smtp_sasl_security_options = noanonymous\` (plaintext allowed for the relayhost: loopback, no TLS),
\`smtp_sasl_tls_security_options = noanonymous\`.

Traffic: $N_PW messages alice@capture.example -> userN@example.net (relayhost), $N_MECH to
userN@example.org, $N_LOCAL to bob@capture.example (delivered locally); \`postqueue -f\` once.
The relayhost deliveries are deferred with \`SASL authentication failed; server 127.0.0.1[127.0.0.1]
said: 535 5.7.8 Error: authentication failed: authentication failure\`; the example.org ones with
\`SASL authentication failed; cannot authenticate to server 127.0.0.1[127.0.0.1]: no mechanism available\`.
Then the password is fixed (\`[127.0.0.1]:$PW_PORT relayuser:secret\`, \`postmap\`) and \`postqueue -f\`
delivers the $N_PW relayhost messages; the $N_MECH example.org messages stay deferred.

expected.json: DLV001 ($((N_PW + N_MECH)) deferred messages; most by the remote's 535 reply), QUE001
($N_MECH still queued), and the planned rule SAS002 (relayhost SASL client failures), one finding
per server: $N_PW messages for 127.0.0.1[127.0.0.1]:$PW_PORT (wrong password, fixed) and $N_MECH for
127.0.0.1[127.0.0.1]:$MECH_PORT (no usable mechanism). SAS002 does not exist yet, so this
scenario's test fails until it does."

trap 'rc=$?; rm -f "$SASL_PASSWD" "$SASL_PASSWD.db" "$TRANSPORT" "$TRANSPORT.db"; (exit $rc); scenario_cleanup' EXIT
start_bg PW_PID "$PY" "$CAPTURE_DIR/smarthost.py" --listen "127.0.0.1:$PW_PORT" --user relayuser --password secret
start_bg MECH_PID "$PY" "$CAPTURE_DIR/smarthost.py" --listen "127.0.0.1:$MECH_PORT" --user relayuser --password secret
wait_port 127.0.0.1 "$PW_PORT"
wait_port 127.0.0.1 "$MECH_PORT"
x sh -c "printf '[127.0.0.1]:$PW_PORT relayuser:wrong-password\n[127.0.0.1]:$MECH_PORT relayuser:secret\n' > $SASL_PASSWD"
x chmod 600 "$SASL_PASSWD"
x postmap "hash:$SASL_PASSWD"
x sh -c "printf 'example.org smtp-org:[127.0.0.1]:$MECH_PORT\n' > $TRANSPORT"
x postmap "hash:$TRANSPORT"
x postconf -e "relayhost = [127.0.0.1]:$PW_PORT" \
    "smtp_sasl_auth_enable = yes" \
    "smtp_sasl_password_maps = hash:$SASL_PASSWD" \
    "smtp_sasl_security_options = noanonymous" \
    "smtp_sasl_tls_security_options = noanonymous" \
    "transport_maps = hash:$TRANSPORT"
x postconf -M "smtp-org/unix=smtp-org unix - - y - - smtp"
x postconf -P "smtp-org/unix/smtp_sasl_security_options=noplaintext,noanonymous"
pf_start_init
wait_port 127.0.0.1 25

PW_START=$(now)
for i in $(seq 1 "$N_PW"); do
    x "${SMTPC[@]}" send --from alice@capture.example --to "user$i@example.net" --subject "via relayhost $i"
done
MECH_START=$(now)
for i in $(seq 1 "$N_MECH"); do
    x "${SMTPC[@]}" send --from alice@capture.example --to "user$i@example.org" --subject "via smtp-org $i"
done
x "${SMTPC[@]}" send --to bob@capture.example --count "$N_LOCAL" --subject local
pf_wait_queue_settled 20
sleep 3
x postqueue -f
pf_wait_queue_settled 20
sleep 3
x sh -c "printf '[127.0.0.1]:$PW_PORT relayuser:secret\n[127.0.0.1]:$MECH_PORT relayuser:secret\n' > $SASL_PASSWD"
x postmap "hash:$SASL_PASSWD"
PW_END=$(now)
x postqueue -f
pf_wait_queue_settled 20
sleep 3
scenario_end

check_log "wrong password" "status=deferred \(SASL authentication failed; server 127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8 Error: authentication failed: authentication failure\)" "$N_PW"
check_log "no mechanism" "status=deferred \(SASL authentication failed; cannot authenticate to server 127\.0\.0\.1\[127\.0\.0\.1\]: no mechanism available\)" "$N_MECH"
check_log "relayhost delivered after the fix" "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$PW_PORT, .*status=sent \(250 2\.0\.0 Ok: queued as SMART[0-9]+\)" "$N_PW"
check_log "local deliveries" "to=<bob@capture\.example>.*status=sent" "$N_LOCAL"
check_none "example.org delivered" "to=<user[0-9]@example\.org>.*status=sent"
n_pw_msgs=$(grep -E "said: 535 5\.7\.8" "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
n_mech_msgs=$(grep -E "no mechanism available\)" "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
n_queued=$(grep -c . "$OUT/postqueue.json" || true)
[ "$n_pw_msgs" -eq "$N_PW" ] || { log "FAIL 535 messages $n_pw_msgs != $N_PW"; CHECK_FAILED=1; }
[ "$n_mech_msgs" -eq "$N_MECH" ] || { log "FAIL no-mechanism messages $n_mech_msgs != $N_MECH"; CHECK_FAILED=1; }
[ "$n_queued" -eq "$N_MECH" ] || { log "FAIL queued $n_queued != $N_MECH"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "relayhost-auth",
 "findings": [
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $((N_PW + N_MECH))},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_MECH},
   {"id": "SAS002", "severity": "error", "count": $N_PW, "key": "127.0.0.1[127.0.0.1]:$PW_PORT"},
   {"id": "SAS002", "severity": "error", "count": $N_MECH, "key": "127.0.0.1[127.0.0.1]:$MECH_PORT"}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "relayhost-auth",
 "incidents": [
   {"what": "relayhost SASL authentication failure (wrong password)", "start": "$PW_START", "end": "$PW_END",
    "state": "recovered",
    "details": {"server": "[127.0.0.1]:$PW_PORT", "role": "relayhost", "reply": "535 5.7.8",
                "cause": "wrong password in smtp_sasl_password_maps", "fixed_by": "right password, postmap, postqueue -f",
                "messages_deferred": $N_PW, "delivered_after_fix": $N_PW}},
   {"what": "smarthost SASL: no usable mechanism", "start": "$MECH_START", "end": null, "state": "ongoing",
    "details": {"server": "[127.0.0.1]:$MECH_PORT", "role": "transport_maps smtp-org for example.org",
                "offered": "PLAIN LOGIN, no TLS", "smtp_sasl_security_options": "noplaintext, noanonymous",
                "messages_deferred": $N_MECH, "still_queued_at_end": $n_queued}}
 ]}
EOF
exit $CHECK_FAILED
