#!/bin/bash
# config-fatals: configuration mistakes that stop a daemon or a delivery: smtpd_relay_restrictions
# without reject_unauth_destination, a check_policy_service host that does not resolve, a bad
# numerical parameter value, and a transport that transport_maps uses but master.cf does not define.
. "$(dirname "$0")/../lib.sh"
scenario_begin config-fatals
INJECTED_JSON=1

dpkg -s dnsmasq-base >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
}
DNS_IP=127.0.0.153
TRANSPORT=/etc/postfix/transport
[ -e "$TRANSPORT" ] || [ -e "$TRANSPORT.db" ] && { log "$TRANSPORT exists already: refusing to overwrite it"; exit 1; }
POLICY="inet:policy.invalid:10040"
N_NORELAY=2   # messages on 127.0.0.1:2601 (no reject_unauth_destination)
N_POLICY=2    # messages on 127.0.0.1:2602 (policy host does not resolve)
N_BADNUM=1    # connections to 127.0.0.1:2603 (bad numerical value)
N_NOTRANS=2   # messages to example.net (transport smtp-relay not in master.cf)
N_OK=2        # messages on port 25 to alice@ (fine)

DESCRIPTION="Configuration mistakes that a Postfix program refuses to work with, each on its own smtpd
service (\`syslog_name\` tells them apart) or transport:

- 127.0.0.1:2601 (postfix/norelay): \`-o smtpd_relay_restrictions=permit_mynetworks
  -o smtpd_recipient_restrictions=permit_mynetworks\`: neither list has reject_unauth_destination
  (or defer_unauth_destination, reject, defer...): smtpd refuses to run an open relay, \`fatal: in
  parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working
  instance of: reject_unauth_destination, ...\`; $N_NORELAY messages tried
- 127.0.0.1:2602 (postfix/policy): \`-o smtpd_recipient_restrictions=check_policy_service
  $POLICY,permit_mynetworks,reject_unauth_destination\`; the policy host name does not
  resolve (a private dnsmasq on $DNS_IP answers NXDOMAIN for .invalid; the chroot's resolv.conf
  points at it); $N_POLICY messages tried: per message smtpd tries the policy server twice, each
  time \`warning: host or service policy.invalid:10040 not found: Name or service not known\`,
  \`connect to policy.invalid:10040: Cannot assign requested address\` (a leftover errno) and
  \`problem talking to server\`, then answers \`451 4.3.5 Server configuration problem\`
- 127.0.0.1:2603 (postfix/badnum): \`-o smtpd_hard_error_limit=twenty\`: a number parameter with
  a non-numerical value; $N_BADNUM connection
- \`transport_maps = hash:$TRANSPORT\` with \`example.net smtp-relay:[127.0.0.1]:2526\`, and master.cf
  has no \`smtp-relay\` service: $N_NOTRANS messages to userN@example.net on port 25 (from
  alice@capture.example) stay queued
- $N_OK normal messages to alice@capture.example on port 25 (delivered)

expected.json: the planned rule CFG008 (a daemon or delivery stopped by a configuration error), one
finding per mistake, counting its primary line (the fatal, the \`host or service ... not found\`
warning, qmgr's \`connect to transport\` warning); CFG005 (smtpd exits at startup, master throttles it) as the current catalog
names the daemons' exits; DLV001 and QUE001 for the $N_NOTRANS messages waiting for the missing
transport. CFG008 does not exist yet, so this scenario's test fails until it does."

trap 'rc=$?; rm -f "$TRANSPORT" "$TRANSPORT.db"; (exit $rc); scenario_cleanup' EXIT
x sh -c "printf 'example.net smtp-relay:[127.0.0.1]:2526\n' > $TRANSPORT"
x postmap "hash:$TRANSPORT"
x postconf -e "transport_maps = hash:$TRANSPORT"
x postconf -M \
    "127.0.0.1:2601/inet=127.0.0.1:2601 inet n - y - - smtpd -o syslog_name=postfix/norelay -o smtpd_relay_restrictions=permit_mynetworks -o smtpd_recipient_restrictions=permit_mynetworks" \
    "127.0.0.1:2602/inet=127.0.0.1:2602 inet n - y - - smtpd -o syslog_name=postfix/policy -o smtpd_recipient_restrictions=check_policy_service,$POLICY,permit_mynetworks,reject_unauth_destination" \
    "127.0.0.1:2603/inet=127.0.0.1:2603 inet n - y - - smtpd -o syslog_name=postfix/badnum -o smtpd_hard_error_limit=twenty"
start_dnsmasq --local=/invalid/
pf_start_init
for p in 25 2601 2602 2603; do wait_port 127.0.0.1 $p; done
use_private_dns

T0=$(now)
x "${SMTPC[@]}" send --to alice@capture.example --count "$N_OK" --subject ok
NORELAY_START=$(now)
x "${SMTPC[@]}" send --timeout 10 --server 127.0.0.1:2601 --to alice@capture.example --count "$N_NORELAY" --subject norelay || true
NORELAY_END=$(now)
POLICY_START=$(now)
x "${SMTPC[@]}" send --server 127.0.0.1:2602 --to alice@capture.example --count "$N_POLICY" --subject policy || true
POLICY_END=$(now)
BADNUM_START=$(now)
x "${SMTPC[@]}" script --timeout 8 --server 127.0.0.1:2603 read "send:EHLO client.capture.example" readall
BADNUM_END=$(now)
NOTRANS_START=$(now)
x "${SMTPC[@]}" send --from alice@capture.example --to user1@example.net --count "$N_NOTRANS" --subject notrans
pf_wait_queue_settled 20
sleep 3
LAST=$(now)
scenario_end
x rm -f "$TRANSPORT" "$TRANSPORT.db"

check_log "no reject_unauth_destination" "postfix/norelay/smtpd\[[0-9]+\]: fatal: in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination" 1
check_log "policy host" "postfix/policy/smtpd\[[0-9]+\]: warning: host or service policy\.invalid:10040 not found: Name or service not known" "$N_POLICY"
check_log "policy tempfail" "postfix/policy/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 451 4\.3\.5 <alice@capture\.example>: Recipient address rejected: Server configuration problem" "$N_POLICY"
check_log "bad number" "postfix/badnum/smtpd\[[0-9]+\]: fatal: .*smtpd_hard_error_limit.*twenty" 1
check_log "missing transport" "qmgr\[[0-9]+\]: warning: connect to transport private/smtp-relay: No such file or directory" 1
check_log "missing transport deferrals" "to=<user1@example\.net>.*status=deferred \(mail transport unavailable\)" "$N_NOTRANS"
check_log "normal mail" "to=<alice@capture\.example>.*status=sent" "$N_OK"
n_norelay=$(count_log "postfix/norelay/smtpd\[[0-9]+\]: fatal: ")
n_policy=$(count_log "postfix/policy/smtpd\[[0-9]+\]: warning: host or service policy\.invalid:10040 not found: Name or service not known")
n_badnum=$(count_log "postfix/badnum/smtpd\[[0-9]+\]: fatal: ")
n_notrans=$(count_log "warning: connect to transport private/smtp-relay")
n_queued=$(grep -c . "$OUT/postqueue.json" || true)
[ "$n_queued" -eq "$N_NOTRANS" ] || { log "FAIL queued $n_queued != $N_NOTRANS"; CHECK_FAILED=1; }
log "lines: norelay fatals $n_norelay, policy warnings $n_policy, badnum fatals $n_badnum, transport warnings $n_notrans"

write_expected <<EOF
{"scenario": "config-fatals",
 "findings": [
   {"id": "CFG008", "severity": "error", "count": $n_norelay, "key": "smtpd_relay_restrictions"},
   {"id": "CFG008", "severity": "error", "count": $n_policy, "key": "$POLICY"},
   {"id": "CFG008", "severity": "error", "count": $n_badnum, "key": "smtpd_hard_error_limit"},
   {"id": "CFG008", "severity": "error", "count": $n_notrans, "key": "smtp-relay"},
   {"id": "CFG005", "category": "config", "severity": "error", "count_min": 1, "key": "smtpd"},
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $N_NOTRANS, "key": "local configuration"},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_NOTRANS}
 ],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "config-fatals",
 "incidents": [
   {"what": "smtpd_relay_restrictions without reject_unauth_destination", "start": "$NORELAY_START", "end": null, "state": "ongoing",
    "details": {"service": "127.0.0.1:2601", "messages_tried": $N_NORELAY, "fatal_lines": $n_norelay,
                "note": "the mistake stays in master.cf until the end of the log; start/end of the traffic: $NORELAY_START .. $NORELAY_END"}},
   {"what": "policy service host does not resolve", "start": "$POLICY_START", "end": null, "state": "ongoing",
    "details": {"service": "127.0.0.1:2602", "policy": "$POLICY", "messages_tried": $N_POLICY, "not_found_lines": $n_policy,
                "traffic_end": "$POLICY_END"}},
   {"what": "bad numerical parameter value", "start": "$BADNUM_START", "end": null, "state": "ongoing",
    "details": {"service": "127.0.0.1:2603", "parameter": "smtpd_hard_error_limit", "value": "twenty",
                "connections": $N_BADNUM, "fatal_lines": $n_badnum, "traffic_end": "$BADNUM_END"}},
   {"what": "transport not defined in master.cf", "start": "$NOTRANS_START", "end": null, "state": "ongoing",
    "details": {"transport": "smtp-relay", "used_by": "transport_maps: example.net", "messages": $N_NOTRANS,
                "still_queued_at_end": $n_queued, "qmgr_warnings": $n_notrans, "log_ends": "$LAST"}}
 ]}
EOF
exit $CHECK_FAILED
