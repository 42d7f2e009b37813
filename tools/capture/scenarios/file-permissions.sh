#!/bin/bash
# file-permissions: ownership/permission breakage of Postfix's own files: the maildrop queue
# directory (pickup, then postdrop, fail) and a mailbox local(8) cannot write; fixed at the end
# with `postfix set-permissions` and a chown of the mailbox. Submissions run as the local user
# alice (runuser), since root's postdrop would ignore the directory permissions.
. "$(dirname "$0")/../lib.sh"
scenario_begin file-permissions
INJECTED_JSON=1

MAILDROP="$SPOOL/maildrop"
MBOX=/var/mail/carol
N_PICKUP=2     # sendmail(1) submissions while pickup cannot read maildrop (wait there)
N_MBOX=2       # messages to carol@ while her mailbox belongs to root (bounced)
POSTDROP_WAIT=25   # seconds sendmail is given while postdrop cannot write maildrop

DESCRIPTION="Three permission mistakes on Postfix's own files, each noticed by the program that
needs the file, then repaired:

1. \`chown root $MAILDROP\` (group postdrop and mode 1730 unchanged): postdrop (setgid
   postdrop) can still drop mail there, but pickup (user postfix) can no longer read the
   directory. $N_PICKUP messages are submitted by the local user alice (\`runuser -u alice --
   sendmail -f alice@capture.example dave@capture.example\`): they wait in maildrop; pickup dies
   with \`fatal: scan_dir_push: open directory maildrop: Permission denied\` and master throttles it.
2. \`chgrp root $MAILDROP\` as well (root:root): now postdrop cannot create its file either.
   One more \`sendmail\` by alice (to dave@): postdrop retries every 10 s and logs \`warning:
   mail_queue_enter: create file maildrop/...: Permission denied\`; it is killed after
   ${POSTDROP_WAIT} s (\`timeout $POSTDROP_WAIT runuser -u alice -- sendmail ...\`): that message
   is lost (alice's sendmail fails).
3. \`chown root:root $MBOX\` and \`chmod 600\`: local(8), delivering as user carol, cannot open her
   mailbox. $N_MBOX messages alice@ -> carol@capture.example by SMTP bounce (Postfix treats it as
   permanent: \`dsn=5.2.0, status=bounced (cannot update mailbox $MBOX for user carol. cannot
   open file: Permission denied)\`), and alice gets the non-delivery notifications.

Repair: \`postfix set-permissions\` (resets maildrop to postfix:postdrop 1730, as listed in
/etc/postfix/postfix-files), \`chown carol:mail $MBOX\`, \`chmod 600 $MBOX\`. When master's
throttle ends, pickup starts again and takes the $N_PICKUP waiting messages (delivered to dave);
one more message to carol is delivered.

expected.json: the planned rule PRM001 (Postfix file ownership/permission problems) for maildrop
(pickup and postdrop failures) and for the mailbox (its $N_MBOX bounced messages, also counted by
DLV003 as some bounces, notice). Pickup's failure also makes master log
\`exit status 1\` / \`throttling\` (CFG005, as the current catalog names daemons failing at startup).
PRM001 does not exist yet, so this scenario's test fails until it does."

restore_perms() {
    chown postfix:postdrop "$MAILDROP"; chmod 1730 "$MAILDROP"
    chown carol:mail "$MBOX" 2>/dev/null; chmod 600 "$MBOX" 2>/dev/null
}
trap 'rc=$?; restore_perms; (exit $rc); scenario_cleanup' EXIT
pf_start_init
wait_port 127.0.0.1 25
x "${SMTPC[@]}" send --to alice@capture.example --subject "before"
pf_wait_queue_settled 10
sleep 1

# 1. pickup cannot read maildrop
PICKUP_START=$(now)
x chown root "$MAILDROP"
for i in $(seq 1 "$N_PICKUP"); do
    printf 'Subject: stuck in maildrop %s\nFrom: alice@capture.example\nTo: dave@capture.example\n\nwaits for pickup\n' "$i" |
        x runuser -u alice -- sendmail -f alice@capture.example dave@capture.example
done
sleep 5
# 2. postdrop cannot write maildrop
POSTDROP_START=$(now)
x chgrp root "$MAILDROP"
printf 'Subject: never queued\nFrom: alice@capture.example\nTo: dave@capture.example\n\nlost\n' |
    x timeout "$POSTDROP_WAIT" runuser -u alice -- sendmail -f alice@capture.example dave@capture.example || true
POSTDROP_END=$(now)
# 3. carol's mailbox is not hers
MBOX_START=$(now)
x chown root:root "$MBOX"
x chmod 600 "$MBOX"
x "${SMTPC[@]}" send --from alice@capture.example --to carol@capture.example --count "$N_MBOX" --subject "for carol"
pf_wait_queue_settled 10
sleep 3

# repair
x postfix set-permissions >"$WORK/set-permissions.out" 2>&1 || true
PICKUP_END=$(now)
x chown carol:mail "$MBOX"
x chmod 600 "$MBOX"
MBOX_END=$(now)
x "${SMTPC[@]}" send --from alice@capture.example --to carol@capture.example --subject "for carol, after the fix"
# pickup comes back when master's throttle (60 s) ends
for _ in $(seq 1 100); do
    [ -z "$(find "$MAILDROP" -type f)" ] && break
    sleep 1
done
PICKED_UP=$(now)
pf_wait_queue_settled 20
sleep 2
scenario_end

check_log "postdrop cannot create" "postdrop\[[0-9]+\]: warning: mail_queue_enter: create file maildrop/[^:]+: Permission denied" 1
check_log "mailbox not writable" "to=<carol@capture\.example>.*status=bounced \(cannot update mailbox $MBOX for user carol\. cannot open file: Permission denied\)" "$N_MBOX"
check_log "bounces to alice" "to=<alice@capture\.example>.*status=sent" "$N_MBOX"
check_log "carol delivered after the fix" "to=<carol@capture\.example>.*status=sent" 1
check_log "maildrop picked up after the fix" "postfix/pickup\[[0-9]+\]: [0-9A-F]+: uid=$(id -u alice) from=<alice@capture\.example>" "$N_PICKUP"
check_log "dave delivered" "to=<dave@capture\.example>.*status=sent" "$N_PICKUP"
check_log "pickup failed" "postfix/pickup\[[0-9]+\]: (fatal|warning|error): .*maildrop.*Permission denied" 1
n_postdrop=$(count_log "postdrop\[[0-9]+\]: warning: mail_queue_enter: create file")
n_pickup=$(count_log "postfix/pickup\[[0-9]+\]: (fatal|warning|error): .*Permission denied")
n_mbox=$(count_log "to=<carol@capture\.example>.*status=bounced")
[ "$n_mbox" -eq "$N_MBOX" ] || { log "FAIL carol bounced msgs $n_mbox != $N_MBOX"; CHECK_FAILED=1; }
[ "$n_postdrop" -ge 2 ] || { log "FAIL postdrop warnings $n_postdrop < 2"; CHECK_FAILED=1; }
[ "$(grep -c . "$OUT/postqueue.json" || true)" -eq 0 ] || { log "FAIL mail left in the queue"; CHECK_FAILED=1; }
log "postdrop warnings: $n_postdrop, pickup failures: $n_pickup"

write_expected <<EOF
{"scenario": "file-permissions",
 "findings": [
   {"id": "PRM001", "severity": "error", "count_min": $((n_pickup + n_postdrop)), "key": "maildrop"},
   {"id": "PRM001", "severity": "error", "count": $N_MBOX, "key": "$MBOX"},
   {"id": "DLV003", "category": "delivery", "severity": "notice", "count": $N_MBOX},
   {"id": "CFG005", "category": "config", "severity": "error", "count_min": 1, "key": "pickup"}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "file-permissions",
 "incidents": [
   {"what": "maildrop not readable by pickup", "start": "$PICKUP_START", "end": "$PICKUP_END", "state": "recovered",
    "details": {"path": "$MAILDROP", "change": "owner postfix -> root", "program": "pickup",
                "messages_waiting": $N_PICKUP, "pickup_failure_lines": $n_pickup,
                "fixed_by": "postfix set-permissions", "picked_up_by": "$PICKED_UP"}},
   {"what": "maildrop not writable by postdrop", "start": "$POSTDROP_START", "end": "$POSTDROP_END", "state": "recovered",
    "details": {"path": "$MAILDROP", "change": "group postdrop -> root", "program": "postdrop",
                "submissions_lost": 1, "postdrop_warnings": $n_postdrop,
                "note": "end = when the hanging sendmail was killed; the directory itself was repaired at the maildrop incident's end"}},
   {"what": "mailbox not writable", "start": "$MBOX_START", "end": "$MBOX_END", "state": "recovered",
    "details": {"path": "$MBOX", "change": "carol:mail -> root:root 0600", "program": "local",
                "messages_bounced": $N_MBOX, "delivered_after_fix": 1}}
 ]}
EOF
exit $CHECK_FAILED
