#!/bin/bash
# postscreen: postscreen in front of smtpd on 127.0.0.1:25, with greet and DNSBL
# tests enforced; pregreeting clients and a DNSBL-listed client are rejected.
. "$(dirname "$0")/../lib.sh"
scenario_begin postscreen

dpkg -s dnsmasq-base >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
}
DNS_IP=127.0.0.153
CLEAN_IP=127.0.0.1     # well-behaved client: passes, mail delivered
PREGREET_IP=127.0.0.10 # talks before the greeting
LISTED_IP=127.0.0.20   # listed in the fake DNSBL bl.capture.example
PSC_CACHE=/var/lib/postfix/pfd_capture_psc_cache

N_CLEAN=2
N_PREGREET=2
N_LISTED=4

DESCRIPTION="postscreen on 127.0.0.1:25 in front of smtpd (master.cf: \`smtp inet n - y - 1 postscreen\`,
\`smtpd pass - - y - - smtpd\`, \`dnsblog unix - - y - 0 dnsblog\`, \`tlsproxy unix - - y - 0 tlsproxy\`).
main.cf: \`postscreen_access_list =\` (empty, so loopback is not allowlisted by
permit_mynetworks), \`postscreen_greet_action = enforce\`, \`postscreen_greet_wait = 2s\`,
\`postscreen_dnsbl_sites = bl.capture.example*2\`, \`postscreen_dnsbl_action = enforce\`,
\`postscreen_cache_map = btree:$PSC_CACHE\` (a private cache, removed before and after).

A private DNS server (\`dnsmasq\` from dnsmasq-base, only on $DNS_IP:53, no upstream,
\`--local=/bl.capture.example/\`) answers \`20.0.0.127.bl.capture.example A 127.0.0.2\`
(client $LISTED_IP is listed) and NXDOMAIN for every other client. The chroot's
etc/resolv.conf points at it (etc/hosts reduced to \`127.0.0.1 localhost\`).

Traffic (tools/capture/smtpc.py, source addresses on lo):
- $N_CLEAN messages from $CLEAN_IP to alice@capture.example: \`PASS NEW\`, handed to smtpd, delivered
- $N_PREGREET connections from $PREGREET_IP that send \`EHLO pregreet.capture.example\` right after
  connecting, before the greeting: \`PREGREET 31 after 0 from [$PREGREET_IP]:PORT: EHLO ...\`,
  then MAIL/RCPT to postscreen's dummy SMTP engine: \`NOQUEUE: reject: RCPT from [$PREGREET_IP]:PORT: 550 5.5.1 Protocol error\`
- $N_LISTED messages from $LISTED_IP: dnsblog \`addr $LISTED_IP listed by domain bl.capture.example as 127.0.0.2\`,
  postscreen \`DNSBL rank 2 for [$LISTED_IP]:PORT\`, then
  \`NOQUEUE: reject: RCPT from [$LISTED_IP]:PORT: 550 5.7.1 Service unavailable; client [$LISTED_IP] blocked using bl.capture.example\`"

x rm -f "$PSC_CACHE.db"
x postconf -M# "smtp/inet"
x postconf -M "smtp/inet=smtp inet n - y - 1 postscreen" \
    "smtpd/pass=smtpd pass - - y - - smtpd" \
    "dnsblog/unix=dnsblog unix - - y - 0 dnsblog" \
    "tlsproxy/unix=tlsproxy unix - - y - 0 tlsproxy"
x postconf -e "postscreen_access_list =" \
    "postscreen_greet_action = enforce" \
    "postscreen_greet_wait = 2s" \
    "postscreen_dnsbl_sites = bl.capture.example*2" \
    "postscreen_dnsbl_action = enforce" \
    "postscreen_cache_map = btree:$PSC_CACHE"

start_dnsmasq \
    --local=/bl.capture.example/ --local=/127.in-addr.arpa/ \
    --host-record=20.0.0.127.bl.capture.example,127.0.0.2

pf_start_init
wait_port 127.0.0.1 25
use_private_dns

x "${SMTPC[@]}" send --source "$CLEAN_IP" --to alice@capture.example --count "$N_CLEAN" --subject clean
for i in $(seq 1 "$N_PREGREET"); do
    x "${SMTPC[@]}" script --timeout 10 --source "$PREGREET_IP" \
        'sendraw:EHLO pregreet.capture.example\r\n' drain:4 \
        'send:MAIL FROM:<zombie@pregreet.example>' drain:1 \
        'send:RCPT TO:<alice@capture.example>' drain:1 \
        'send:QUIT' drain:1 || true
done
x "${SMTPC[@]}" send --source "$LISTED_IP" --helo listed.capture.example --from zombie@listed.example \
    --to alice@capture.example --count "$N_LISTED" --subject listed || true
pf_wait_queue_settled 20
sleep 1
scenario_end
x rm -f "$PSC_CACHE.db"

check_log "clean pass" "postfix/postscreen\[[0-9]+\]: PASS NEW \[$CLEAN_IP\]:[0-9]+" 1
check_log "clean delivered" 'postfix/local\[[0-9]+\]: [0-9A-F]+: to=<alice@capture\.example>.*status=sent' "$N_CLEAN"
check_log "pregreet" "postfix/postscreen\[[0-9]+\]: PREGREET [0-9]+ after [0-9.]+ from \[127\.0\.0\.10\]:[0-9]+: EHLO pregreet" "$N_PREGREET"
check_log "pregreet reject" 'postfix/postscreen\[[0-9]+\]: NOQUEUE: reject: RCPT from \[127\.0\.0\.10\]:[0-9]+: 550 5\.5\.1 Protocol error' "$N_PREGREET"
check_log "dnsblog listed" 'postfix/dnsblog\[[0-9]+\]: addr 127\.0\.0\.20 listed by domain bl\.capture\.example as 127\.0\.0\.2' "$N_LISTED"
check_log "DNSBL rank" 'postfix/postscreen\[[0-9]+\]: DNSBL rank 2 for \[127\.0\.0\.20\]:[0-9]+' "$N_LISTED"
check_log "DNSBL reject" 'postfix/postscreen\[[0-9]+\]: NOQUEUE: reject: RCPT from \[127\.0\.0\.20\]:[0-9]+: 550 5\.7\.1 Service unavailable; client \[127\.0\.0\.20\] blocked using bl\.capture\.example' "$N_LISTED"
check_none "clean client blocked" 'postfix/postscreen\[[0-9]+\]: (PREGREET|DNSBL rank|NOQUEUE: reject: RCPT) .*\[127\.0\.0\.1\]:'
# PSC001 counts postscreen's blocking verdicts (PREGREET, DNSBL rank, HANGUP, ...), its
# NOQUEUE rejects, and dnsblog's "listed by domain" lines; key = the client seen most.
N_PSC=$(count_log 'postfix/postscreen\[[0-9]+\]: (PREGREET|DNSBL rank|HANGUP|COMMAND PIPELINING|NON-SMTP COMMAND|BARE NEWLINE|COMMAND (TIME|COUNT|LENGTH) LIMIT|DENYLISTED|BLACKLISTED|NOQUEUE: reject:) |postfix/dnsblog\[[0-9]+\]: addr .* listed by domain')
N_PSC_LISTED=$(count_log '(postfix/postscreen\[[0-9]+\]: (DNSBL rank|NOQUEUE: reject:|HANGUP|PREGREET).*\[127\.0\.0\.20\]:|postfix/dnsblog\[[0-9]+\]: addr 127\.0\.0\.20 listed)')
log "PSC001 lines: $N_PSC ($N_PSC_LISTED for 127.0.0.20)"
[ $((2 * N_PSC_LISTED)) -gt "$N_PSC" ] || { log "FAIL 127.0.0.20 is not the top client"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "postscreen",
 "findings": [
   {"id": "PSC001", "category": "postscreen", "severity": "notice", "count": $N_PSC, "key": "$LISTED_IP"}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
