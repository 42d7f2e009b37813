#!/bin/bash
# healthy: normal local and relayed deliveries, a few ordinary policy rejects,
# multi-recipient messages, one sendmail(1) submission through pickup.
. "$(dirname "$0")/../lib.sh"
scenario_begin healthy

DESCRIPTION='Nothing is broken. Postfix started via Debian'"'"'s init script (chroot
filled, so 127.0.0.1 resolves to `localhost` through the chroot'"'"'s etc/hosts).
`relayhost = [127.0.0.1]:2526` with `smtp-sink` accepting everything there.

Traffic (smtpc.py = tools/capture/smtpc.py, plain SMTP to 127.0.0.1:25):
- 5 messages to alice@capture.example (local mailbox)
- 3 messages to bob@ and carol@capture.example (2 local recipients each)
- 4 messages to user1@example.net (relayed to the sink)
- 2 messages to user2@example.org + dave@capture.example (remote + local)
- 3 attempts to nosuchuser@capture.example: ordinary
  `550 5.1.1 ... User unknown in local recipient table` rejects
- 1 message to alice@ and ghost@capture.example (one recipient rejected, the
  message is delivered to the other)
- 1 message submitted with `sendmail -f root dave@capture.example` (pickup)

Expected: no finding above notice.'

x postconf -e "relayhost = [127.0.0.1]:2526"
start_sink 2526
pf_start_init
wait_port 127.0.0.1 25

x "${SMTPC[@]}" send --to alice@capture.example --count 5 --subject local
x "${SMTPC[@]}" send --to bob@capture.example --to carol@capture.example --count 3 --subject multi
x "${SMTPC[@]}" send --to user1@example.net --count 4 --subject relayed
x "${SMTPC[@]}" send --to user2@example.org --to dave@capture.example --count 2 --subject mixed
x "${SMTPC[@]}" send --to nosuchuser@capture.example --count 3 --subject unknown-user || true
x "${SMTPC[@]}" send --to alice@capture.example --to ghost@capture.example --count 1 --subject partial
printf 'Subject: via sendmail\nFrom: root@capture.example\nTo: dave@capture.example\n\nhello from pickup\n' |
    x sendmail -f root@capture.example dave@capture.example
pf_wait_queue_settled 30
sleep 2
scenario_end

# Verify the log really shows what we intended.
check_log "connects from localhost[127.0.0.1]" 'smtpd\[[0-9]+\]: connect from localhost\[127\.0\.0\.1\]' 15
check_none "unknown clients" 'connect from unknown\['
check_log "local deliveries" 'postfix/local\[[0-9]+\]: .*status=sent' 15
check_log "relayed deliveries" 'relay=127\.0\.0\.1\[127\.0\.0\.1\]:2526.*status=sent' 6
check_log "unknown recipient rejects" 'reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1' 4
check_log "pickup" 'postfix/pickup\[[0-9]+\]: [0-9A-F]+: uid=0 from=<root@capture.example>' 1
check_none "warnings/errors" '(warning|error|fatal|panic): '

write_expected <<'EOF'
{"scenario": "healthy",
 "findings": [],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
