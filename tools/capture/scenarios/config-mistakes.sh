#!/bin/bash
# config-mistakes: a collection of common main.cf/master.cf mistakes, each
# exercised by a little traffic so that Postfix logs it.
. "$(dirname "$0")/../lib.sh"
scenario_begin config-mistakes

N_OK=2       # normal messages on port 25 (sender check uses the stale map)
N_BOGUS=2    # messages on 127.0.0.1:2501 (unknown restriction)
N_MISSING=2  # messages on 127.0.0.1:2502 (missing map)
N_MILTER=2   # messages on 127.0.0.1:2503 (unreachable milter)
N_SASL=1     # connections to 127.0.0.1:2504 (SASL socket missing; smtpd dies)
N_LOOP=2     # messages to example.net: relayhost is ourselves -> loop

DESCRIPTION="Several configuration mistakes at once (each on its own smtpd service where
they would otherwise mask each other; \`syslog_name\` tells them apart):

- main.cf, all smtpd: \`smtpd_tls_security_level = may\` with
  \`smtpd_tls_cert_file = /etc/postfix/missing.pem\` (file does not exist) ->
  every smtpd process logs \`warning: error opening chain file: /etc/postfix/missing.pem:
  No such file or directory\` (Postfix 3.7 loads cert+key as a chain file; the
  older \`cannot get RSA certificate from file\` text does not appear) and offers no STARTTLS
- main.cf: \`smtpd_sender_restrictions = check_sender_access hash:/etc/postfix/stale_access\`
  where stale_access.db was built by postmap, then given an mtime 1 hour ago and
  the source 30 minutes ago -> \`database /etc/postfix/stale_access.db is older than source file /etc/postfix/stale_access\`
- main.cf: \`relayhost = [127.0.0.1]:25\`, i.e. this Postfix itself -> mail for
  example.net: \`warning: relayhost configuration problem\` and
  \`status=deferred (mail for 127.0.0.1 loops back to myself)\` (a relayhost loop
  is deferred with dsn 4.3.5, not bounced; the messages stay queued)
- main.cf: \`smtpd_banner\` defined twice (second definition appended at the end) ->
  \`overriding earlier entry\` from every Postfix program that reads main.cf
- 127.0.0.1:2501 (syslog_name postfix/bogus): \`smtpd_recipient_restrictions =
  reject_bogus_thing, permit_mynetworks, reject_unauth_destination\` ->
  \`unknown smtpd restriction: \"reject_bogus_thing\"\`, 451 4.3.5
- 127.0.0.1:2502 (postfix/missingmap): \`smtpd_sender_restrictions =
  check_sender_access hash:/etc/postfix/missing\` (no such file, no .db) ->
  \`error: open database /etc/postfix/missing.db: No such file or directory\`,
  \`hash:/etc/postfix/missing is unavailable\`, \`lookup error\`, 451 4.3.0
- 127.0.0.1:2503 (postfix/milter): \`smtpd_milters = inet:127.0.0.1:8899\` with
  nothing listening (milter_default_action = tempfail, the default) ->
  \`connect to Milter service inet:127.0.0.1:8899: Connection refused\`, 451 4.7.1
- 127.0.0.1:2504 (postfix/sasl, not chrooted): \`smtpd_sasl_auth_enable = yes\`,
  \`smtpd_sasl_type = dovecot\`, \`smtpd_sasl_path = private/auth\` but no Dovecot
  runs (socket missing) -> \`SASL: Connect to Dovecot auth socket ... failed\`,
  \`fatal: no SASL authentication mechanisms\`, master throttles the service

Traffic: $N_OK messages to alice@ on port 25; $N_BOGUS on 2501; $N_MISSING on 2502;
$N_MILTER on 2503; $N_SASL EHLO on 2504; $N_LOOP messages from alice@capture.example
to user@example.net on port 25 (deferred: loop; still queued at the end)."

x sh -c 'printf "sender@capture.example OK\n" > /etc/postfix/stale_access'
x postmap hash:/etc/postfix/stale_access
# The source must be newer than the .db and older than 100 s (dict_db.c
# ignores a source changed in the last 100 s: postmap may still be running).
x touch -d '1 hour ago' /etc/postfix/stale_access.db
x touch -d '30 minutes ago' /etc/postfix/stale_access
x rm -f /etc/postfix/missing /etc/postfix/missing.db /etc/postfix/missing.pem
x postconf -e "smtpd_tls_security_level = may" \
    "smtpd_tls_cert_file = /etc/postfix/missing.pem" \
    "smtpd_tls_key_file = /etc/postfix/missing.pem" \
    "smtpd_sender_restrictions = check_sender_access hash:/etc/postfix/stale_access" \
    "relayhost = [127.0.0.1]:25"
x postconf -M \
    "127.0.0.1:2501/inet=127.0.0.1:2501 inet n - y - - smtpd -o syslog_name=postfix/bogus -o smtpd_recipient_restrictions=reject_bogus_thing,permit_mynetworks,reject_unauth_destination" \
    "127.0.0.1:2502/inet=127.0.0.1:2502 inet n - y - - smtpd -o syslog_name=postfix/missingmap -o smtpd_sender_restrictions=check_sender_access,hash:/etc/postfix/missing" \
    "127.0.0.1:2503/inet=127.0.0.1:2503 inet n - y - - smtpd -o syslog_name=postfix/milter -o smtpd_milters=inet:127.0.0.1:8899" \
    "127.0.0.1:2504/inet=127.0.0.1:2504 inet n - n - - smtpd -o syslog_name=postfix/sasl -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=private/auth"
# The duplicate parameter goes in last (postconf -e would just replace it).
x sh -c 'printf "smtpd_banner = \$myhostname ESMTP\n" >> /etc/postfix/main.cf'

pf_start_init
for p in 25 2501 2502 2503 2504; do wait_port 127.0.0.1 $p; done

x "${SMTPC[@]}" send --to alice@capture.example --count "$N_OK" --subject ok
x "${SMTPC[@]}" send --server 127.0.0.1:2501 --to alice@capture.example --count "$N_BOGUS" --subject bogus || true
x "${SMTPC[@]}" send --server 127.0.0.1:2502 --to alice@capture.example --count "$N_MISSING" --subject missingmap || true
x "${SMTPC[@]}" send --server 127.0.0.1:2503 --to alice@capture.example --count "$N_MILTER" --subject milter || true
x "${SMTPC[@]}" script --timeout 8 --server 127.0.0.1:2504 read "send:EHLO client.capture.example" readall
x "${SMTPC[@]}" send --from alice@capture.example --to user@example.net --count "$N_LOOP" --subject loop
pf_wait_queue_settled 20
sleep 2
scenario_end
x rm -f /etc/postfix/stale_access /etc/postfix/stale_access.db

check_log "unknown restriction" 'postfix/bogus/smtpd\[[0-9]+\]: warning: unknown smtpd restriction: "reject_bogus_thing"' "$N_BOGUS"
check_log "stale map" 'warning: database /etc/postfix/stale_access\.db is older than source file /etc/postfix/stale_access' 1
check_log "missing map open" 'error: open database /etc/postfix/missing\.db: No such file or directory' 1
check_log "missing map unavailable" 'warning: hash:/etc/postfix/missing is unavailable' 1
check_log "missing map lookup error" 'warning: hash:/etc/postfix/missing lookup error' "$N_MISSING"
check_log "milter" 'warning: connect to Milter service inet:127\.0\.0\.1:8899: Connection refused' "$N_MILTER"
check_log "tls cert" 'warning: error opening chain file: /etc/postfix/missing\.pem: No such file or directory' 5
check_log "sasl" 'postfix/sasl/smtpd\[[0-9]+\]: warning: SASL: Connect to Dovecot auth socket .private/auth. failed: No such file or directory' "$N_SASL"
check_log "sasl fatal" 'fatal: no SASL authentication mechanisms' "$N_SASL"
check_log "loop" 'status=deferred \(mail for 127\.0\.0\.1 loops back to myself\)' "$N_LOOP"
check_log "relayhost problem" 'postfix/smtp\[[0-9]+\]: warning: relayhost configuration problem' "$N_LOOP"
check_log "overriding" 'overriding earlier entry: smtpd_banner=' 1

N_CFG001=$(count_log 'unknown smtpd restriction')
N_CFG006=$(count_log 'loops back to myself')
N_MLT=$(count_log 'connect to Milter service')
write_expected <<EOF
{"scenario": "config-mistakes",
 "findings": [
   {"id": "CFG001", "category": "config", "severity": "error", "count": $N_BOGUS, "key": "reject_bogus_thing"},
   {"id": "CFG002", "category": "config", "severity": "warning", "count_min": 1, "key": "smtpd_banner"},
   {"id": "CFG003", "category": "config", "severity": "warning", "count_min": 1, "key": "/etc/postfix/stale_access.db"},
   {"id": "CFG004", "category": "config", "severity": "error", "count_min": $((N_MISSING + 1)), "key": "hash:/etc/postfix/missing"},
   {"id": "CFG005", "category": "config", "severity": "error", "count_min": 2, "key": "smtpd"},
   {"id": "CFG006", "category": "config", "severity": "error", "count": $N_LOOP, "key": "127.0.0.1"},
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $N_LOOP},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_LOOP},
   {"id": "MLT001", "category": "milter", "severity": "error", "count_min": $N_MILTER, "key": "inet:127.0.0.1:8899"},
   {"id": "TLS001", "category": "tls", "severity": "error", "count_min": 5, "key": "/etc/postfix/missing.pem"},
   {"id": "GEN001", "category": "other", "severity": "error", "count_min": $N_SASL, "key": "no SASL authentication mechanisms"}
 ],
 "max_severity_of_others": "warning"}
EOF
[ "$N_CFG001" -eq "$N_BOGUS" ] || { log "FAIL CFG001 lines $N_CFG001 != $N_BOGUS"; CHECK_FAILED=1; }
[ "$N_CFG006" -eq "$N_LOOP" ] || { log "FAIL CFG006 lines $N_CFG006 != $N_LOOP"; CHECK_FAILED=1; }
log "milter lines: $N_MLT"
exit $CHECK_FAILED
