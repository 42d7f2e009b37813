#!/bin/bash
# dns-unknown-clients: the chrooted smtpd's resolver is broken, so even
# 127.0.0.1 (which always resolves to localhost) is logged as unknown[127.0.0.1].
. "$(dirname "$0")/../lib.sh"
scenario_begin dns-unknown-clients

N_LOCAL=8      # messages from 127.0.0.1 (one connection each)
N_MULTI=2      # messages with 2 recipients from 127.0.0.1
N_REJECT=2     # connections whose only recipient is rejected (unknown user)
N_CONNECTS=$((N_LOCAL + N_MULTI + N_REJECT))

DESCRIPTION="Postfix started normally via Debian's init script (which copies /etc/hosts,
/etc/resolv.conf, ... into /var/spool/postfix/etc). Right after the start the
chroot's resolver files were broken (what happens when the jail copy goes stale
or gets emptied while the host's files are fine):

- /var/spool/postfix/etc/hosts: emptied (no \`127.0.0.1 localhost\` line)
- /var/spool/postfix/etc/resolv.conf: \`nameserver 127.0.0.1\` with
  \`options timeout:1 attempts:1\` (nothing listens there: every DNS query fails fast)

smtpd runs chrooted (master.cf default \`y\`), so every client, even 127.0.0.1,
is logged as \`unknown[127.0.0.1]\`. Postfix was not restarted, so
postfix-script's \"differ\" check did not run (no CHR002 lines).

Traffic: $N_CONNECTS SMTP connections from 127.0.0.1 ($N_LOCAL single-recipient
messages, $N_MULTI two-recipient messages, $N_REJECT attempts to an unknown
local user that are rejected). All accepted mail is delivered locally.

Expected: DNS002 (error): all $N_CONNECTS connects are from unknown clients,
including 127.0.0.1 which always resolves on a sane host."

pf_start_init
wait_port 127.0.0.1 25
# Break the jail's resolver after the start (the init script refreshed it).
x sh -c ": > $SPOOL/etc/hosts"
x sh -c "printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > $SPOOL/etc/resolv.conf"

x "${SMTPC[@]}" send --to alice@capture.example --count "$N_LOCAL" --subject unknown-client
x "${SMTPC[@]}" send --to bob@capture.example --to carol@capture.example --count "$N_MULTI" --subject multi
x "${SMTPC[@]}" send --to nosuchuser@capture.example --count "$N_REJECT" --subject reject || true
pf_wait_queue_settled 30
sleep 1
scenario_end

check_log "connects from unknown[127.0.0.1]" 'smtpd\[[0-9]+\]: connect from unknown\[127\.0\.0\.1\]' "$N_CONNECTS"
check_none "connects from localhost" 'connect from localhost\['
check_log "deliveries" 'status=sent' $((N_LOCAL + 2 * N_MULTI))
c=$(count_log 'smtpd\[[0-9]+\]: connect from unknown\[')
[ "$c" -eq "$N_CONNECTS" ] || { log "FAIL expected $N_CONNECTS unknown connects, got $c"; CHECK_FAILED=1; }
check_none "warnings/errors" '(warning|error|fatal|panic): '

write_expected <<EOF
{"scenario": "dns-unknown-clients",
 "findings": [
   {"id": "DNS002", "category": "dns", "severity": "error", "count": $N_CONNECTS, "key": "127.0.0.1"}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
