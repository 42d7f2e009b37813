#!/bin/bash
# error-limit: misbehaving SMTP clients (raw sockets from smtpc.py script).
. "$(dirname "$0")/../lib.sh"
scenario_begin error-limit

HARD=5
N_RCPT_ERR=3     # clients hitting the hard error limit with bad RCPTs
N_CMD_ERR=2      # clients hitting it with unknown commands
N_LOST_MAIL=2    # clients that drop the connection after MAIL FROM
N_LOST_CONN=1    # client that connects and closes without a word
N_TIMEOUT=1      # client that goes silent after EHLO (smtpd_timeout = 3s)
N_PIPE_EHLO=1    # EHLO + MAIL pipelined in one write
N_PIPE_HELO=1    # HELO + MAIL + RCPT pipelined in one write
N_NONSMTP=2      # HTTP requests to port 25
N_GOOD=3         # normal messages

DESCRIPTION="Postfix with \`smtpd_hard_error_limit = $HARD\`, \`smtpd_soft_error_limit = 2\`,
\`smtpd_error_sleep_time = 0\`, \`smtpd_timeout = 3s\`. All clients are
tools/capture/smtpc.py on 127.0.0.1 (logged as localhost[127.0.0.1]):

- $N_RCPT_ERR clients: EHLO, MAIL FROM, then 6 RCPT TO unknown local users ->
  \`too many errors after RCPT\`
- $N_CMD_ERR clients: EHLO then 6 unknown commands (XYZZY) -> \`too many errors after UNKNOWN\`
- $N_LOST_MAIL clients: EHLO, MAIL FROM, then close -> \`lost connection after MAIL\`
- $N_LOST_CONN client: connect and close at once -> \`lost connection after CONNECT\`
- $N_TIMEOUT client: EHLO then silence for 5s -> \`timeout after EHLO\`
- $N_PIPE_EHLO client: \`EHLO\` and \`MAIL FROM\` in one packet ->
  \`improper command pipelining after EHLO\`
- $N_PIPE_HELO client: \`HELO\`, \`MAIL FROM\`, \`RCPT TO\` in one packet ->
  \`improper command pipelining after HELO\`
- $N_NONSMTP clients: \`GET / HTTP/1.0\` and \`POST /cgi-bin/x HTTP/1.1\` ->
  \`warning: non-SMTP command from localhost[127.0.0.1]\`
- $N_GOOD normal messages to alice@capture.example (delivered)

The hard-limit clients also produce ordinary \`550 5.1.1 ... User unknown\`
reject lines (5 per RCPT client before the limit)."

x postconf -e "smtpd_hard_error_limit = $HARD" "smtpd_soft_error_limit = 2" \
    "smtpd_error_sleep_time = 0" "smtpd_timeout = 3s"
pf_start_init
wait_port 127.0.0.1 25

S=("${SMTPC[@]}" script --timeout 10)
for i in $(seq 1 "$N_RCPT_ERR"); do
    x "${S[@]}" read "send:EHLO bad$i.capture.example" read "send:MAIL FROM:<spammer@example.com>" read \
        send:"RCPT TO:<nouser1@capture.example>" read send:"RCPT TO:<nouser2@capture.example>" read \
        send:"RCPT TO:<nouser3@capture.example>" read send:"RCPT TO:<nouser4@capture.example>" read \
        send:"RCPT TO:<nouser5@capture.example>" read send:"RCPT TO:<nouser6@capture.example>" readall
done
for i in $(seq 1 "$N_CMD_ERR"); do
    x "${S[@]}" read "send:EHLO junk$i.capture.example" read send:XYZZY read send:XYZZY read send:XYZZY read \
        send:XYZZY read send:XYZZY read send:XYZZY readall
done
for i in $(seq 1 "$N_LOST_MAIL"); do
    x "${S[@]}" read "send:EHLO drop$i.capture.example" read "send:MAIL FROM:<drop@example.com>" read close
done
x "${S[@]}" close
x "${S[@]}" read "send:EHLO slow.capture.example" read readall
x "${S[@]}" read "sendraw:EHLO pipe.capture.example\r\nMAIL FROM:<pipe@example.com>\r\n" drain:1 \
    send:QUIT readall
x "${S[@]}" read "sendraw:HELO pipe2.capture.example\r\nMAIL FROM:<pipe2@example.com>\r\nRCPT TO:<alice@capture.example>\r\n" \
    drain:1 send:QUIT readall
x "${S[@]}" read "send:GET / HTTP/1.0" readall
x "${S[@]}" read "send:POST /cgi-bin/x HTTP/1.1" readall
x "${SMTPC[@]}" send --to alice@capture.example --count "$N_GOOD" --subject good
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "too many errors after RCPT" 'too many errors after RCPT from localhost\[127\.0\.0\.1\]' "$N_RCPT_ERR"
check_log "too many errors after UNKNOWN" 'too many errors after UNKNOWN from localhost\[127\.0\.0\.1\]' "$N_CMD_ERR"
check_log "lost connection after MAIL" 'lost connection after MAIL from localhost' "$N_LOST_MAIL"
check_log "lost connection after CONNECT" 'lost connection after CONNECT from localhost' "$N_LOST_CONN"
check_log "timeout after EHLO" 'timeout after EHLO from localhost' "$N_TIMEOUT"
check_log "improper pipelining after EHLO" 'improper command pipelining after EHLO from localhost' "$N_PIPE_EHLO"
check_log "improper pipelining after HELO" 'improper command pipelining after HELO from localhost' "$N_PIPE_HELO"
check_log "non-SMTP command" 'warning: non-SMTP command from localhost\[127\.0\.0\.1\]' "$N_NONSMTP"

N_ERR=$(count_log 'too many errors after')
N_CON=$(count_log '(lost connection|timeout) after')
N_PIPE=$(count_log 'improper command pipelining after')
N_NS=$(count_log 'non-SMTP command from')
want_err=$((N_RCPT_ERR + N_CMD_ERR)); want_con=$((N_LOST_MAIL + N_LOST_CONN + N_TIMEOUT))
want_pipe=$((N_PIPE_EHLO + N_PIPE_HELO))
[ "$N_ERR" -eq $want_err ] || { log "FAIL too many errors: $N_ERR != $want_err"; CHECK_FAILED=1; }
[ "$N_CON" -eq $want_con ] || { log "FAIL lost/timeout: $N_CON != $want_con"; CHECK_FAILED=1; }
[ "$N_PIPE" -eq $want_pipe ] || { log "FAIL pipelining: $N_PIPE != $want_pipe"; CHECK_FAILED=1; }
[ "$N_NS" -eq "$N_NONSMTP" ] || { log "FAIL non-SMTP: $N_NS != $N_NONSMTP"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "error-limit",
 "findings": [
   {"id": "ERR001", "category": "error-limit", "severity": "warning", "count": $want_err, "key": "127.0.0.1"},
   {"id": "CON001", "category": "connection", "severity": "notice", "count": $want_con, "key": "127.0.0.1"},
   {"id": "CON002", "category": "connection", "severity": "notice", "count": $want_pipe, "key": "127.0.0.1"},
   {"id": "CON003", "category": "connection", "severity": "notice", "count": $N_NONSMTP, "key": "127.0.0.1"}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
