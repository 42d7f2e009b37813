#!/bin/bash
# chroot-sockets: chrooted smtpd given host paths for the SASL (dovecot) socket
# and for a policy service socket; inside the jail those paths do not exist.
. "$(dirname "$0")/../lib.sh"
scenario_begin chroot-sockets

N_POLICY=3   # messages on port 25 (each RCPT queries the policy service)
N_SASL=1     # connections to the submission service (smtpd dies on each;
             # master then throttles the service, so one is enough)

DESCRIPTION="smtpd runs chrooted (master.cf chroot column \`y\`, Debian default), but the
configuration names sockets by their host paths, which do not exist inside
/var/spool/postfix:

- port 25: \`smtpd_recipient_restrictions = check_policy_service unix:/run/policyd.sock, permit_mynetworks, reject_unauth_destination\`
- submission on 127.0.0.1:587 (master.cf): \`-o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=/run/dovecot/auth-client\`
  (the usual fix is a path relative to the queue directory, e.g. private/auth)

(No policy daemon or dovecot runs on this capture host at all; the log lines
are the same as on a host where the sockets exist outside the jail, because
the chrooted smtpd only sees /var/spool/postfix/run/..., which is missing.)

Each policy request tries the socket twice (two \`connect to /run/policyd.sock:
No such file or directory\` warnings) and then logs \`problem talking to server\`.

Traffic: $N_POLICY messages to alice@capture.example on port 25 (each rejected
\`451 4.3.5 Server configuration problem\` after the policy socket connect
fails), and $N_SASL EHLO on port 587 (smtpd cannot reach the dovecot auth
socket, exits with \`fatal: no SASL authentication mechanisms\`; master logs
the exit and throttles the service).

expected.json: CHR003 and CFG005. \`max_severity_of_others\` is \`error\` because
the \`fatal: no SASL authentication mechanisms\` line is a consequence of the
missing socket: it may be reported under CHR003 or on its own (GEN001)."

x postconf -e "smtpd_recipient_restrictions = check_policy_service unix:/run/policyd.sock, permit_mynetworks, reject_unauth_destination"
x postconf -M "127.0.0.1:submission/inet=127.0.0.1:submission inet n - y - - smtpd -o syslog_name=postfix/submission -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=/run/dovecot/auth-client"
pf_start_init
wait_port 127.0.0.1 25
wait_port 127.0.0.1 587

x "${SMTPC[@]}" send --to alice@capture.example --count "$N_POLICY" --subject policy || true
x "${SMTPC[@]}" script --timeout 8 --server 127.0.0.1:587 read "send:EHLO client.capture.example" readall
sleep 2
scenario_end

check_log "policy connect failed" 'warning: connect to /run/policyd\.sock: No such file or directory' "$N_POLICY"
check_log "policy problem talking" 'warning: problem talking to server /run/policyd\.sock: No such file or directory' "$N_POLICY"
check_log "policy 451" 'reject: RCPT from localhost\[127\.0\.0\.1\]: 451 4\.3\.5 <alice@capture\.example>: Recipient address rejected: Server configuration problem' "$N_POLICY"
check_log "SASL connect failed" 'postfix/submission/smtpd\[[0-9]+\]: warning: SASL: Connect to Dovecot auth socket '"'"'/run/dovecot/auth-client'"'"' failed: No such file or directory' "$N_SASL"
check_log "SASL fatal" 'fatal: no SASL authentication mechanisms' "$N_SASL"
N_CHR003=$(count_log '(connect to /run/policyd\.sock|/run/dovecot/auth-client'"'"' failed): No such file or directory')

write_expected <<EOF
{"scenario": "chroot-sockets",
 "findings": [
   {"id": "CHR003", "category": "chroot", "severity": "error", "count_min": $((2 * N_POLICY + N_SASL)), "key": "/run/policyd.sock"},
   {"id": "CFG005", "category": "config", "severity": "error", "count_min": 2, "key": "smtpd"}
 ],
 "max_severity_of_others": "error"}
EOF
log "CHR003-type lines: $N_CHR003"
exit $CHECK_FAILED
