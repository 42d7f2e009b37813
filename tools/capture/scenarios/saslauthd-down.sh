#!/bin/bash
# saslauthd-down: SMTP AUTH on the submission port through Cyrus SASL with
# pwcheck_method: saslauthd, and saslauthd not running (its socket is missing).
. "$(dirname "$0")/../lib.sh"
scenario_begin saslauthd-down
INJECTED_JSON=1

# Cyrus SASL's PLAIN/LOGIN mechanisms (libsasl2-modules); sasl2-bin (saslauthd) is not needed:
# saslauthd is "down".
dpkg -s libsasl2-modules >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsasl2-modules >/dev/null
}
SASL_CONF=/etc/postfix/sasl/smtpd.conf
MUX_IN_CHROOT="$SPOOL/var/run/saslauthd/mux"
if [ -e "$SASL_CONF" ] || [ -e "$MUX_IN_CHROOT" ]; then
    log "$SASL_CONF or $MUX_IN_CHROOT exists already: refusing to touch a real SASL setup"; exit 1
fi
N_SESS=3      # submission sessions (users alice, bob, carol, each with the right password)
TRIES=2       #   AUTH attempts per session (a mail client trying again)
N_FAIL=$((N_SESS * TRIES))
N_OK=2        # messages on port 25 (no SASL there): delivered

DESCRIPTION="SMTP AUTH on the submission port (587) through Cyrus SASL, with saslauthd as the
password checker, and saslauthd is not running. \`$SASL_CONF\` (Debian's Postfix reads Cyrus
SASL's smtpd.conf from /etc/postfix/sasl/):

\`\`\`
pwcheck_method: saslauthd
mech_list: PLAIN LOGIN
saslauthd_path: /var/run/saslauthd/mux
\`\`\`

master.cf (submission chrooted, as on Debian; the socket path is looked up inside the jail,
$MUX_IN_CHROOT, where a running saslauthd's socket would be bind-mounted or placed; it does not exist):

\`\`\`
submission inet n - y - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=cyrus
  -o smtpd_sasl_path=smtpd
  -o smtpd_tls_security_level=none
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
\`\`\`

Clients: $N_SESS sessions to 127.0.0.1:587 (tools/capture/smtpc.py auth, users alice, bob and carol,
AUTH PLAIN and LOGIN alternating, each with a password that would be right), $TRIES attempts each
(a mail client retrying): $N_FAIL x \`warning: SASL authentication failure: cannot connect to
saslauthd server: No such file or directory\` with \`warning: localhost[127.0.0.1]: SASL PLAIN|LOGIN
authentication failed: generic failure, sasl_username=USER\` (535 5.7.8 to the client; for PLAIN
Cyrus also logs \`SASL authentication failure: Password verification failed\`). Nobody can authenticate:
not password guessing but a dead backend. Meanwhile $N_OK messages on port 25 are delivered.

expected.json: the planned rule SAS001 (SASL server backend unavailable), counting the $N_FAIL
failed AUTH attempts, keyed saslauthd; no SEC001 (these are not wrong passwords). SAS001 does
not exist yet, so this scenario's test fails until it does."

trap 'rc=$?; rm -f "$SASL_CONF"; (exit $rc); scenario_cleanup' EXIT
x sh -c "printf 'pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\nsaslauthd_path: /var/run/saslauthd/mux\n' > $SASL_CONF"
x postconf -M "submission/inet=submission inet n - y - - smtpd"
x postconf -P "submission/inet/syslog_name=postfix/submission" \
    "submission/inet/smtpd_sasl_auth_enable=yes" \
    "submission/inet/smtpd_sasl_type=cyrus" \
    "submission/inet/smtpd_sasl_path=smtpd" \
    "submission/inet/smtpd_tls_security_level=none" \
    "submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject"
pf_start_init
wait_port 127.0.0.1 25
wait_port 127.0.0.1 587

users=(alice bob carol)
DOWN_START=$(now)
for i in $(seq 1 "$N_SESS"); do
    mech=PLAIN; [ $((i % 2)) -eq 0 ] && mech=LOGIN
    x "${SMTPC[@]}" auth --timeout 20 --server 127.0.0.1:587 --user "${users[$((i - 1))]}" \
        --password "right-password-$i" --mech "$mech" --tries "$TRIES" --send-to dave@capture.example
done
x "${SMTPC[@]}" send --to bob@capture.example --count "$N_OK" --subject "port 25"
pf_wait_queue_settled 20
sleep 2
LAST=$(now)
scenario_end
rm -f "$SASL_CONF"

check_log "saslauthd unreachable" "postfix/submission/smtpd\[[0-9]+\]: warning: SASL authentication failure: cannot connect to saslauthd server: No such file or directory" "$N_FAIL"
check_log "generic failure" "postfix/submission/smtpd\[[0-9]+\]: warning: localhost\[127\.0\.0\.1\]: SASL (PLAIN|LOGIN) authentication failed: generic failure" "$N_FAIL"
check_log "port 25 delivered" "to=<bob@capture\.example>.*status=sent" "$N_OK"
check_none "authenticated sessions" "sasl_method="
check_none "fatal" "fatal: "
N_F=$(count_log "SASL (PLAIN|LOGIN) authentication failed")
[ "$N_F" -eq "$N_FAIL" ] || { log "FAIL auth failure lines $N_F != $N_FAIL"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "saslauthd-down",
 "findings": [
   {"id": "SAS001", "severity": "error", "count": $N_FAIL, "key": "saslauthd"}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "saslauthd-down",
 "incidents": [
   {"what": "SASL backend down", "start": "$DOWN_START", "end": null, "state": "ongoing",
    "details": {"service": "submission", "smtpd_sasl_type": "cyrus", "pwcheck_method": "saslauthd",
                "cause": "saslauthd not running: $MUX_IN_CHROOT does not exist",
                "auth_sessions": $N_SESS, "auth_attempts": $N_FAIL, "authenticated": 0,
                "last_client_at": "$LAST", "port25_messages_delivered": $N_OK}}
 ]}
EOF
exit $CHECK_FAILED
