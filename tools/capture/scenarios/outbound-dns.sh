#!/bin/bash
# outbound-dns: no relayhost, smtp looks up MX/A records in DNS, and the lookups
# fail: temporary failure (resolver gets no answer), MX without address record,
# NXDOMAIN. A private dnsmasq on 127.0.0.153 serves the chroot's resolv.conf.
. "$(dirname "$0")/../lib.sh"
scenario_begin outbound-dns

dpkg -s dnsmasq-base >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
}
DNS_IP=127.0.0.153
DEAD_DNS=127.0.0.154   # nothing listens there: dnsmasq's forwarded queries get no answer

N_TEMP=5     # to userN@tempfail.example  (MX query forwarded to a dead server: try again)
N_NOADDR=2   # to userN@noaddr.example    (MX mx.noaddr.example, which has no A record)
N_NX=2       # to userN@nxdomain.example  (NXDOMAIN)
N_LOCAL=2    # to bob@capture.example     (local, no DNS involved)

DESCRIPTION="No relayhost: \`smtp_host_lookup = dns\`, \`disable_dns_lookups = no\`, so smtp looks
up MX and A records. Postfix started via Debian's init script; then the chroot's
etc/resolv.conf was pointed at a private DNS server (\`dnsmasq\` from dnsmasq-base,
listening only on $DNS_IP:53, no upstream servers) and etc/hosts reduced to
\`127.0.0.1 localhost\`. dnsmasq serves:

| domain | DNS answer | expected Postfix result |
|---|---|---|
| tempfail.example | forwarded to $DEAD_DNS:53, where nothing listens: no answer | \`Host or domain name not found. Name service error for name=tempfail.example type=MX: Host not found, try again\`, deferred |
| noaddr.example | MX 10 mx.noaddr.example; mx.noaddr.example has no A record (NXDOMAIN) | \`warning: no MX host for noaddr.example has a valid address record\` and \`Name service error for name=mx.noaddr.example type=A: Host not found\`, bounced (5.4.4) |
| nxdomain.example | \`--local\` zone without records: the MX query gets an empty answer, so Postfix falls back to the A record, which does not exist | \`Host or domain name not found. Name service error for name=nxdomain.example type=A: Host not found\`, bounced (5.4.4) |

Traffic (tools/capture/smtpc.py to 127.0.0.1:25), all from alice@capture.example:
$N_TEMP messages to userN@tempfail.example, $N_NOADDR to userN@noaddr.example,
$N_NX to userN@nxdomain.example, and $N_LOCAL to bob@capture.example (delivered locally).
Bounces for the failed mail go back to alice@capture.example (local, delivered)."

x postconf -e "smtp_host_lookup = dns" "disable_dns_lookups = no"

start_dnsmasq \
    --server=/tempfail.example/$DEAD_DNS \
    --mx-host=noaddr.example,mx.noaddr.example,10 \
    --local=/noaddr.example/ --local=/nxdomain.example/

pf_start_init
wait_port 127.0.0.1 25
use_private_dns

for i in $(seq 1 "$N_TEMP"); do
    x "${SMTPC[@]}" send --from alice@capture.example --to "user$i@tempfail.example" --subject tempfail
done
for i in $(seq 1 "$N_NOADDR"); do
    x "${SMTPC[@]}" send --from alice@capture.example --to "user$i@noaddr.example" --subject noaddr
done
for i in $(seq 1 "$N_NX"); do
    x "${SMTPC[@]}" send --from alice@capture.example --to "user$i@nxdomain.example" --subject nxdomain
done
x "${SMTPC[@]}" send --to bob@capture.example --count "$N_LOCAL" --subject local
pf_wait_queue_settled 60
sleep 3
pf_wait_queue_settled 30
scenario_end

check_log "try again" 'postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<user[0-9]+@tempfail\.example>, relay=none, .*status=deferred \((delivery temporarily suspended: )?Host or domain name not found\. Name service error for name=tempfail\.example type=MX: Host not found, try again\)' "$N_TEMP"
check_log "no MX address" 'postfix/smtp\[[0-9]+\]: warning: no MX host for noaddr\.example has a valid address record' 1
check_log "noaddr delivery" 'to=<user[0-9]+@noaddr\.example>, relay=none, .*status=(deferred|bounced)' "$N_NOADDR"
check_log "nxdomain" 'to=<user[0-9]+@nxdomain\.example>, relay=none, .*status=bounced \(Host or domain name not found\. Name service error for name=nxdomain\.example type=(MX|A): Host not found\)' "$N_NX"
check_log "local deliveries" 'to=<bob@capture.example>.*status=sent' "$N_LOCAL"
check_log "bounces to alice" 'postfix/local\[[0-9]+\]: [0-9A-F]+: to=<alice@capture\.example>.*status=sent' 1
# DNS005 counts smtp lines that failed on DNS: delivery lines (deferred/bounced) whose
# reason is a DNS error, and the "no MX host ... valid address record" warnings.
N_DNS_DLV=$(count_log 'postfix/smtp\[[0-9]+\]: [0-9A-F]+: to=<.*status=(deferred|bounced) \((delivery temporarily suspended: )?(Host or domain name not found|no MX host|.*Name service error)')
N_DNS_WARN=$(count_log 'postfix/smtp\[[0-9]+\]: warning: no MX host for .* has a valid address record')
N_DNS005=$((N_DNS_DLV + N_DNS_WARN))
N_TEMP_LINES=$(count_log 'status=deferred .*name=tempfail\.example type=MX')
N_DEFERRED=$(grep -E 'status=deferred' "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
N_BOUNCED=$(grep -E 'status=bounced' "$OUT/maillog" | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/' | sort -u | wc -l)
N_QUEUED=$(grep -c . "$OUT/postqueue.json" || true)
log "DNS005 lines: $N_DNS_DLV delivery + $N_DNS_WARN warnings; deferred msgs $N_DEFERRED, bounced msgs $N_BOUNCED, queued $N_QUEUED"
# DNS005's key is the name failing most often (name=X in the reason, X of "no MX host for X").
NAMES=$(grep -E 'postfix/smtp\[' "$OUT/maillog" | grep -oE 'name=[^ ]+ type=|no MX host for [^ ]+' |
    sed -E 's/^name=//; s/ type=$//; s/^no MX host for //' | sort | uniq -c | sort -rn)
log "DNS005 names: $(echo $NAMES)"
TOP2=$(echo "$NAMES" | awk 'NR==2{print $1}')
[ "$N_TEMP_LINES" -gt "${TOP2:-0}" ] && [ "$(echo "$NAMES" | awk 'NR==1{print $2}')" = tempfail.example ] ||
    { log "FAIL tempfail.example is not the top name"; CHECK_FAILED=1; }
[ "$N_QUEUED" -eq "$N_DEFERRED" ] || { log "FAIL queued $N_QUEUED != deferred $N_DEFERRED"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "outbound-dns",
 "findings": [
   {"id": "DNS005", "category": "dns", "severity": "warning", "count": $N_DNS005, "key": "tempfail.example"},
   {"id": "DLV001", "category": "delivery", "severity": "warning", "count": $N_DEFERRED, "key": "dns"},
   {"id": "QUE001", "category": "queue", "severity": "notice", "count": $N_QUEUED}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
