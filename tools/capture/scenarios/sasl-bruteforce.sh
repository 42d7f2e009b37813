#!/bin/bash
# sasl-bruteforce: real SMTP AUTH failures (password guessing) against a Dovecot
# SASL backend that smtpd reaches through private/auth inside its chroot.
. "$(dirname "$0")/../lib.sh"
scenario_begin sasl-bruteforce

# dovecot-core (binary only; its service is never started by the package here,
# the scenario runs its own dovecot with a private configuration).
dpkg -s dovecot-core >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-core >/dev/null
}

AUTH_SOCKET="$SPOOL/private/auth"
N_SESS1=4        # guessing sessions from 127.0.0.1
TRIES1=3         #   wrong passwords per session (alternating LOGIN and PLAIN)
N_SESS2=1        # guessing sessions from 127.0.0.2
TRIES2=3
N_FAIL1=$((N_SESS1 * TRIES1))
N_FAIL2=$((N_SESS2 * TRIES2))
N_FAIL=$((N_FAIL1 + N_FAIL2))

DESCRIPTION="Postfix with SMTP AUTH on port 25 through Dovecot SASL:
\`smtpd_sasl_auth_enable = yes\`, \`smtpd_sasl_type = dovecot\`,
\`smtpd_sasl_path = private/auth\`, \`smtpd_tls_auth_only = no\` (no TLS here;
loopback only). A private \`dovecot -F -c CONF\` (package dovecot-core, no
network listeners: \`protocols = none\`) serves the auth socket
$AUTH_SOCKET (mode 0660, postfix:postfix) from a passwd-file with one
user, \`alice\` (password \`correct-horse\`, scheme PLAIN), \`auth_failure_delay = 0\`.

Clients (tools/capture/smtpc.py auth, one SMTP session each, wrong passwords):

- $N_SESS1 sessions from 127.0.0.1 (localhost), $TRIES1 failed AUTH attempts each,
  alternating \`AUTH LOGIN\` and \`AUTH PLAIN\` sessions and user names
  (alice, admin, info, test): $N_FAIL1 x \`SASL LOGIN|PLAIN authentication failed\`
- $N_SESS2 session from 127.0.0.2 (unknown[127.0.0.2], no PTR), $TRIES2 failed
  \`AUTH LOGIN\` attempts as admin: $N_FAIL2 failures
- 1 session from 127.0.0.1 that authenticates as alice with the right password
  (\`AUTH PLAIN\`) and sends one message to bob@capture.example (delivered)

Dovecot's built-in auth penalty (per client IP, growing up to 15 s; not switched
off by \`auth_failure_delay = 0\`) spaces the failures several seconds apart, as on a
real server.

expected.json: SEC001 (warning) counting all $N_FAIL failure lines, keyed by the
client with the most failures, 127.0.0.1 ($N_FAIL1 >= 10: password guessing).
The 127.0.0.2 client is logged as \`unknown[127.0.0.2]\` (no PTR for it), an
ordinary DNS001 notice."

x postconf -e "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = dovecot" \
    "smtpd_sasl_path = private/auth" "smtpd_tls_auth_only = no" \
    "smtpd_sasl_security_options = noanonymous" \
    "broken_sasl_auth_clients = no"

# Dovecot: configuration, passwd-file, run dir (its unprivileged processes must
# traverse $WORK).
chmod 755 "$WORK"
DOVE="$WORK/dovecot"
mkdir -p "$DOVE/run"
printf 'alice:{PLAIN}correct-horse::::::\n' >"$DOVE/users"
chmod 644 "$DOVE/users"
cat >"$DOVE/dovecot.conf" <<EOF
# private Dovecot for the capture: SASL auth only, no network listeners
protocols = none
# no protocol services, so no inet listeners; should one appear, loopback only
listen = 127.0.0.1
base_dir = $DOVE/run
state_dir = $DOVE/run
log_path = $DOVE/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVE/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $AUTH_SOCKET {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  chroot =
}
EOF
DESCRIPTION+="

The Dovecot configuration (\`$DOVE/dovecot.conf\`; the passwd-file holds the
single line \`alice:{PLAIN}correct-horse::::::\`):

\`\`\`
$(cat "$DOVE/dovecot.conf")
\`\`\`"
printf '%s\n' "dovecot -F -c $DOVE/dovecot.conf &   # (configuration listed above)" >>"$CMDLOG"
# Started directly (not through x) so that $! is dovecot's own pid.
dovecot -F -c "$DOVE/dovecot.conf" >"$WORK/dovecot.out" 2>&1 &
DOVECOT_PID=$!
HELPER_PIDS="${HELPER_PIDS:-} $DOVECOT_PID"
# Remove the auth socket on any exit, then do the common cleanup.
trap 'rc=$?; kill_helpers; rm -f "$AUTH_SOCKET"; (exit $rc); scenario_cleanup' EXIT
for i in $(seq 1 40); do [ -S "$AUTH_SOCKET" ] && break; sleep 0.25; done
if ! kill -0 "$DOVECOT_PID" 2>/dev/null || [ ! -S "$AUTH_SOCKET" ]; then
    log "dovecot did not start:"; cat "$WORK/dovecot.out" "$DOVE/dovecot.log" >&2 2>/dev/null; exit 1
fi

if ss -Hltnp 2>/dev/null | grep -q '"dovecot"\|"auth"\|"anvil"'; then
    log "dovecot listens on a TCP port, refusing to go on"; exit 1
fi

pf_start_init
wait_port 127.0.0.1 25

A=("${SMTPC[@]}" auth --timeout 15)
users=(alice admin info test)
for i in $(seq 1 "$N_SESS1"); do
    mech=LOGIN; [ $((i % 2)) -eq 0 ] && mech=PLAIN
    x "${A[@]}" --source 127.0.0.1 --user "${users[$(( (i - 1) % 4 ))]}" --password "guess$i" \
        --mech "$mech" --tries "$TRIES1"
done
for i in $(seq 1 "$N_SESS2"); do
    x "${A[@]}" --source 127.0.0.2 --helo scanner.capture.example --user admin --password "admin$i" \
        --mech LOGIN --tries "$TRIES2"
done
x "${A[@]}" --source 127.0.0.1 --user alice --password correct-horse --mech PLAIN --tries 1 \
    --send-to bob@capture.example
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "SASL failures from 127.0.0.1" 'warning: localhost\[127\.0\.0\.1\]: SASL (LOGIN|PLAIN) authentication failed' "$N_FAIL1"
check_log "SASL failures from 127.0.0.2" 'warning: [^ ]*\[127\.0\.0\.2\]: SASL LOGIN authentication failed' "$N_FAIL2"
check_log "SASL LOGIN failures" 'SASL LOGIN authentication failed' 1
check_log "SASL PLAIN failures" 'SASL PLAIN authentication failed' 1
check_log "successful AUTH" 'client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=alice' 1
check_log "authenticated message delivered" 'to=<bob@capture\.example>.*status=sent' 1
N_SASL=$(count_log 'SASL [A-Z0-9-]+ authentication failed')
[ "$N_SASL" -eq "$N_FAIL" ] || { log "FAIL SASL failure lines: $N_SASL != $N_FAIL"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "sasl-bruteforce",
 "findings": [
   {"id": "SEC001", "category": "security", "severity": "warning", "count": $N_FAIL, "key": "127.0.0.1"}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
