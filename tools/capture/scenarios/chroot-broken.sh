#!/bin/bash
# chroot-broken: Postfix started with a plain `postfix start` (not Debian's
# init script) while the chroot copy of /etc is stale/incomplete and the
# chroot's lib/ is empty.
. "$(dirname "$0")/../lib.sh"
scenario_begin chroot-broken

N_MSG=4        # messages accepted by smtpd (one connection each)
N_RELAY=1      # message for the relayhost (smtp client dies on the port name)

DESCRIPTION="The Postfix chroot jail /var/spool/postfix was left in a broken state and
Postfix was started with a plain \`postfix start\` (which, unlike Debian's init
script /usr/lib/postfix/configure-instance.sh, does not refresh the jail):

- /var/spool/postfix/etc/ emptied, then stale copies put back:
  - etc/hosts: an old file without the \`127.0.0.1 localhost\` line
  - etc/resolv.conf: an old \`nameserver 127.0.0.1\` (nothing listens: DNS fails fast)
  - etc/services: only the first 40 lines of /etc/services (no
    \`submissions 465/tcp ssmtp smtps\` line)
  - etc/localtime, etc/nsswitch.conf, etc/host.conf: missing
- /var/spool/postfix/lib/ emptied
- \`relayhost = [127.0.0.1]:ssmtp\`: a port *name* that is not in Postfix's
  builtin \`known_tcp_ports\` (lmtp, smtp, smtps, submissions, submission; since
  3.6 those resolve without /etc/services), so the chrooted smtp client must ask
  the jail's etc/services and fails.

\`postfix start\` runs postfix-script check-warn, which logs one
\`warning: /var/spool/postfix/etc/X and /etc/X differ\` for each of the three
stale files. smtpd (chrooted) logs every client as \`unknown[127.0.0.1]\`.
The chrooted smtp client dies with \`fatal: unknown service: ssmtp/tcp\`, so
master throttles the smtp transport and the relay message stays deferred.

Traffic: $N_MSG local messages from 127.0.0.1 (delivered), $N_RELAY message to
user@example.net (relayhost, stays queued)."

x postconf -e "relayhost = [127.0.0.1]:ssmtp"
# Break the jail.
x sh -c "rm -rf $SPOOL/etc/* $SPOOL/lib/*"
x sh -c "printf '# stale copy\n10.99.99.99 oldgateway.capture.example\n' > $SPOOL/etc/hosts"
x sh -c "printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > $SPOOL/etc/resolv.conf"
x sh -c "head -n 40 /etc/services > $SPOOL/etc/services"
pf_start_plain
wait_port 127.0.0.1 25

x "${SMTPC[@]}" send --to alice@capture.example --count "$N_MSG" --subject chroot-local
x "${SMTPC[@]}" send --to user@example.net --count "$N_RELAY" --subject chroot-relay
pf_wait_queue_settled 20
sleep 3
scenario_end

check_log "differ warnings" 'postfix-script\[[0-9]+\]: warning: /var/spool/postfix/etc/(hosts|resolv\.conf|services) and /etc/\1 differ' 3
check_log "unknown service" 'postfix/smtp\[[0-9]+\]: fatal: unknown service: ssmtp/tcp' 1
check_log "unknown clients" 'connect from unknown\[127\.0\.0\.1\]' $((N_MSG + N_RELAY))
check_log "bad command startup" 'warning: /usr/lib/postfix/sbin/smtp: bad command startup -- throttling' 1
check_none "localhost clients" 'connect from localhost\['
N_UNK=$(count_log 'smtpd\[[0-9]+\]: connect from unknown\[')
[ "$N_UNK" -eq $((N_MSG + N_RELAY)) ] || { log "FAIL unknown connects $N_UNK"; CHECK_FAILED=1; }
N_DIFFER=$(count_log 'postfix-script\[[0-9]+\]: warning: /var/spool/postfix/etc/.* and /etc/.* differ')

write_expected <<EOF
{"scenario": "chroot-broken",
 "findings": [
   {"id": "CHR002", "category": "chroot", "severity": "error", "count": 3},
   {"id": "CHR001", "category": "chroot", "severity": "error", "count_min": 1, "key": "ssmtp"},
   {"id": "DNS002", "category": "dns", "severity": "error", "count": $((N_MSG + N_RELAY)), "key": "127.0.0.1"},
   {"id": "CFG005", "category": "config", "severity": "error", "count_min": 2, "key": "smtp"},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_RELAY}
 ],
 "max_severity_of_others": "warning"}
EOF
[ "$N_DIFFER" -eq 3 ] || { log "FAIL expected 3 differ lines, got $N_DIFFER"; CHECK_FAILED=1; }
exit $CHECK_FAILED
