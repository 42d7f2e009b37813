#!/bin/bash
# queue-space: smtpd finds "not enough free space in mail queue" (queue_minfree
# larger than the free space of the queue file system) and refuses mail with 452.
. "$(dirname "$0")/../lib.sh"
scenario_begin queue-space

MINFREE=1000000000000000   # 1e15 bytes (~1 PB): more than any test file system has free
N_CLIENTS=4                # SMTP messages attempted (each refused at MAIL FROM)

DESCRIPTION="\`queue_minfree = $MINFREE\` (1e15 bytes), far more than the free space of the
file system holding /var/spool/postfix, simulating a full queue file system without
filling a disk. smtpd checks the free space at MAIL FROM (smtpd_check.c
smtpd_check_queue) and refuses the mail:
\`warning: not enough free space in mail queue: N bytes < 1.5*message size limit\` and
\`NOQUEUE: reject: MAIL from localhost[127.0.0.1]: 452 4.3.1 Insufficient system storage\`.

Traffic (tools/capture/smtpc.py to 127.0.0.1:25): $N_CLIENTS messages
(one per connection) sender@capture.example -> alice@capture.example; all refused.
Because \`notify_classes\` includes \`resource\` (the default), smtpd also mails a
transcript of each refused session to the postmaster (from=<double-bounce@...>): these
$N_CLIENTS notices are the only mail that enters the queue."

x postconf -e "queue_minfree = $MINFREE"
pf_start_init
wait_port 127.0.0.1 25
x "${SMTPC[@]}" send --to alice@capture.example --count "$N_CLIENTS" --subject queue-space || true
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "free space warning" 'postfix/smtpd\[[0-9]+\]: warning: not enough free space in mail queue: [0-9]+ bytes < 1\.5\*message size limit' "$N_CLIENTS"
check_log "452 reject" 'postfix/smtpd\[[0-9]+\]: NOQUEUE: reject: MAIL from localhost\[127\.0\.0\.1\]: 452 4\.3\.1 Insufficient system storage' "$N_CLIENTS"
check_none "accepted client mail" 'postfix/qmgr\[[0-9]+\]: [0-9A-F]+: from=<sender@capture\.example>'
check_log "postmaster notices" 'postfix/qmgr\[[0-9]+\]: [0-9A-F]+: from=<double-bounce@mail\.capture\.example>' "$N_CLIENTS"
N_WARN=$(count_log 'warning: not enough free space in mail queue')
N_REJ=$(count_log 'NOQUEUE: reject: .*: 452 4\.3\.1 Insufficient system storage')

# RES001 counts lines: smtpd's free-space warnings and the 452 4.3.1 rejects.
write_expected <<EOF
{"scenario": "queue-space",
 "findings": [
   {"id": "RES001", "category": "resources", "severity": "critical", "count": $((N_WARN + N_REJ))}
 ],
 "max_severity_of_others": "notice"}
EOF
[ "$N_WARN" -eq "$N_CLIENTS" ] && [ "$N_REJ" -eq "$N_CLIENTS" ] || { log "FAIL warn=$N_WARN rej=$N_REJ, wanted $N_CLIENTS each"; CHECK_FAILED=1; }
exit $CHECK_FAILED
