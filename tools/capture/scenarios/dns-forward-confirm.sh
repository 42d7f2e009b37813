#!/bin/bash
# dns-forward-confirm: clients whose reverse DNS does not forward-confirm,
# or that have no reverse DNS at all, against reject_unknown_* restrictions.
. "$(dirname "$0")/../lib.sh"
scenario_begin dns-forward-confirm

# dnsmasq (binary only, no service) answers the chrooted smtpd's queries.
dpkg -s dnsmasq-base >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
}
DNS_IP=127.0.0.153

N_GOOD1=3   # from 127.0.0.1 (localhost, in mynetworks)
N_GOOD=2    # from each of 127.0.0.2-4 (good PTR + matching A record)
N_LIAR=3    # from 127.0.0.5: PTR liar.capture.example, but its A is 127.0.0.6
N_GHOST=2   # from 127.0.0.7: PTR ghost.capture.example, which has no A record
N_NOPTR=2   # from 127.0.0.8: no PTR record at all (NXDOMAIN)

DESCRIPTION="A private DNS server (\`dnsmasq\` from dnsmasq-base, listening only on
$DNS_IP:53, no upstream servers, authoritative-style \`--local\` for
capture.example and 127.in-addr.arpa) serves these records:

| client IP | PTR | A of that name |
|---|---|---|
| 127.0.0.2..4 | goodN.capture.example | 127.0.0.N (forward-confirmed) |
| 127.0.0.5 | liar.capture.example | 127.0.0.6 (does not match) |
| 127.0.0.7 | ghost.capture.example | none (NXDOMAIN) |
| 127.0.0.8 | none (NXDOMAIN) | - |

Postfix started via Debian's init script; then the chroot's etc/resolv.conf
was pointed at $DNS_IP and etc/hosts reduced to \`127.0.0.1 localhost\`.
\`mynetworks = 127.0.0.1/32\` and
\`smtpd_client_restrictions = permit_mynetworks, reject_unknown_reverse_client_hostname, reject_unknown_client_hostname\`.

Traffic (tools/capture/smtpc.py with \`--source IP\`, one message per connection,
one recipient alice@capture.example):
- $N_GOOD1 from 127.0.0.1 and $N_GOOD from each of 127.0.0.2-4: accepted, delivered
- $N_LIAR from 127.0.0.5: \`warning: hostname liar.capture.example does not resolve to address 127.0.0.5\`,
  client shown as unknown[127.0.0.5], rejected 450 \`cannot find your hostname\`
- $N_GHOST from 127.0.0.7: \`warning: hostname ghost.capture.example does not resolve to address 127.0.0.7: Name or service not known\`,
  rejected 450 \`cannot find your hostname\`
- $N_NOPTR from 127.0.0.8: no PTR, rejected 450 \`cannot find your reverse hostname\`"

x postconf -e "mynetworks = 127.0.0.1/32" \
    "smtpd_client_restrictions = permit_mynetworks, reject_unknown_reverse_client_hostname, reject_unknown_client_hostname"

start_dnsmasq \
    --local=/capture.example/ --local=/127.in-addr.arpa/ \
    --host-record=good2.capture.example,127.0.0.2 \
    --host-record=good3.capture.example,127.0.0.3 \
    --host-record=good4.capture.example,127.0.0.4 \
    --ptr-record=5.0.0.127.in-addr.arpa,liar.capture.example \
    --address=/liar.capture.example/127.0.0.6 \
    --ptr-record=7.0.0.127.in-addr.arpa,ghost.capture.example

pf_start_init
wait_port 127.0.0.1 25
use_private_dns

x "${SMTPC[@]}" send --source 127.0.0.1 --to alice@capture.example --count "$N_GOOD1" --subject good
for n in 2 3 4; do
    x "${SMTPC[@]}" send --source 127.0.0.$n --helo "good$n.capture.example" --to alice@capture.example --count "$N_GOOD" --subject good
done
x "${SMTPC[@]}" send --source 127.0.0.5 --helo liar.capture.example --to alice@capture.example --count "$N_LIAR" --subject liar || true
x "${SMTPC[@]}" send --source 127.0.0.7 --helo ghost.capture.example --to alice@capture.example --count "$N_GHOST" --subject ghost || true
x "${SMTPC[@]}" send --source 127.0.0.8 --helo noptr.capture.example --to alice@capture.example --count "$N_NOPTR" --subject noptr || true
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "good clients" 'connect from good[234]\.capture\.example\[127\.0\.0\.[234]\]' $((3 * N_GOOD))
check_log "localhost" 'connect from localhost\[127\.0\.0\.1\]' "$N_GOOD1"
check_log "liar warning" 'warning: hostname liar\.capture\.example does not resolve to address 127\.0\.0\.5$' "$N_LIAR"
check_log "ghost warning" 'warning: hostname ghost\.capture\.example does not resolve to address 127\.0\.0\.7: ' "$N_GHOST"
check_log "cannot find your hostname" 'reject: RCPT from unknown\[127\.0\.0\.[57]\]: 450 4\.7\.25 Client host rejected: cannot find your hostname' $((N_LIAR + N_GHOST))
check_log "cannot find your reverse hostname" 'reject: RCPT from unknown\[127\.0\.0\.8\]: 450 4\.7\.[0-9]+ Client host rejected: cannot find your reverse hostname' "$N_NOPTR"
N_DNS003=$(count_log 'warning: hostname .* does not resolve to address')
N_DNS004=$(count_log 'cannot find your (reverse )?hostname')
N_UNKNOWN=$(count_log 'smtpd\[[0-9]+\]: connect from unknown\[')
[ "$N_DNS003" -eq $((N_LIAR + N_GHOST)) ] || { log "FAIL DNS003 $N_DNS003"; CHECK_FAILED=1; }
[ "$N_DNS004" -eq $((N_LIAR + N_GHOST + N_NOPTR)) ] || { log "FAIL DNS004 $N_DNS004"; CHECK_FAILED=1; }
[ "$N_UNKNOWN" -eq $((N_LIAR + N_GHOST + N_NOPTR)) ] || { log "FAIL unknown connects $N_UNKNOWN"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "dns-forward-confirm",
 "findings": [
   {"id": "DNS003", "category": "dns", "severity": "warning", "count": $((N_LIAR + N_GHOST)), "key": "127.0.0.5"},
   {"id": "DNS004", "category": "dns", "severity": "notice", "count": $((N_LIAR + N_GHOST + N_NOPTR)), "key": "127.0.0.5"},
   {"id": "DNS001", "category": "dns", "severity": "notice", "count": $((N_LIAR + N_GHOST + N_NOPTR))}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
