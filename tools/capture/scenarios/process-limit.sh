#!/bin/bash
# process-limit: smtpd maxproc 2 and more concurrent slow clients than that.
#
# master(8) only logs 'service "X" (...) has reached its process limit' for a
# service that is not "local only" (src/master/master_ent.c sets
# MASTER_FLAG_LOCAL_ONLY when every listen address is loopback, and
# master_avail.c warns only when the stress parameter is set, i.e. for
# non-local services with maxproc > 1). So Postfix runs inside a private network
# namespace where the smtp service also listens on 192.0.2.1 (TEST-NET-1,
# assigned to the namespace's own lo). Clients connect to 127.0.0.1 inside the
# namespace; no packet can leave it.
# Fallback when namespaces are unavailable: postscreen on 127.0.0.1:25 hands
# connections to an "smtpd pass" service (pass services are never local-only).
# (PFD_NO_NETNS=1 forces the fallback.)
. "$(dirname "$0")/../lib.sh"
scenario_begin process-limit

MAXPROC=2
N_CLIENTS=5
HOLD=3

NETNS=pfd-capture
if [ -z "${PFD_NO_NETNS:-}" ] && ip netns add "$NETNS" 2>/dev/null && ip -n "$NETNS" link set lo up &&
    ip -n "$NETNS" addr add 192.0.2.1/32 dev lo; then
    MODE=netns
    NSX=(ip netns exec "$NETNS")
    printf '%s\n' "ip netns add $NETNS" "ip -n $NETNS link set lo up" \
        "ip -n $NETNS addr add 192.0.2.1/32 dev lo" >>"$CMDLOG"
else
    ip netns del "$NETNS" 2>/dev/null || true
    NETNS=""
    MODE=pass
fi

if [ "$MODE" = netns ]; then
    DESCRIPTION="Postfix runs inside a private network namespace \`$NETNS\` (created by the
script: only its own \`lo\`, with 127.0.0.1 and 192.0.2.1). \`inet_interfaces =
127.0.0.1, 192.0.2.1\`: the smtp service listens on a non-loopback address too,
so master does not treat it as local-only (master_ent.c), and the smtp service
in master.cf has maxproc $MAXPROC:
\`smtp inet n - y - $MAXPROC smtpd\`.

Traffic: $N_CLIENTS concurrent clients (tools/capture/smtpc.py slow, inside the
namespace, to 127.0.0.1:25), each: EHLO, wait ${HOLD}s, QUIT. The third client
finds both smtpd processes busy: master logs once
\`warning: service \"smtp\" (25) has reached its process limit \"$MAXPROC\": new clients may experience noticeable delays\`
plus the two advice lines (\`to avoid this condition...\`, \`see http://www.postfix.org/STRESS_README.html...\`)."
    KEY=smtp
    x postconf -e "inet_interfaces = 127.0.0.1, 192.0.2.1"
    x postconf -F "smtp/inet/process_limit = $MAXPROC"
else
    DESCRIPTION="Network namespaces were unavailable, so the fallback ran: postscreen on
127.0.0.1:25 passes connections to \`smtpd pass - - y - $MAXPROC smtpd\` (a pass
service is never flagged local-only by master). $N_CLIENTS concurrent slow
clients (EHLO, wait ${HOLD}s, QUIT) exceed the $MAXPROC smtpd processes."
    KEY=smtpd
    x postconf -M# "smtp/inet"
    x postconf -M "smtp/inet=smtp inet n - y - 1 postscreen" \
        "smtpd/pass=smtpd pass - - y - $MAXPROC smtpd" \
        "dnsblog/unix=dnsblog unix - - y - 0 dnsblog" \
        "tlsproxy/unix=tlsproxy unix - - y - 0 tlsproxy"
fi

x "${NSX[@]}" /etc/init.d/postfix start >/dev/null
pf_wait_up
"${NSX[@]}" bash -c "$(declare -f wait_port); PY=$PY; wait_port 127.0.0.1 25"
x "${NSX[@]}" "${SMTPC[@]}" slow --server 127.0.0.1:25 --n "$N_CLIENTS" --hold "$HOLD" --timeout 30
sleep 1
scenario_end

if [ "$MODE" = netns ]; then
    check_log "process limit" 'postfix/master\[[0-9]+\]: warning: service "smtp" \(25\) has reached its process limit "2": new clients may experience noticeable delays' 1
else
    check_log "process limit" 'postfix/master\[[0-9]+\]: warning: service "smtpd" \(private/smtpd\) has reached its process limit "2"' 1
fi
check_log "all clients served" 'disconnect from localhost\[127\.0\.0\.1\] ehlo=1 quit=1 commands=2' "$N_CLIENTS"
N=$(count_log 'has reached its process limit')

write_expected <<EOF
{"scenario": "process-limit",
 "findings": [
   {"id": "PRC001", "category": "process-limit", "severity": "warning", "count": $N, "key": "$KEY"}
 ],
 "max_severity_of_others": "notice"}
EOF
[ "$N" -eq 1 ] || { log "FAIL process-limit lines: $N (master warns at most once per 1000s)"; CHECK_FAILED=1; }
exit $CHECK_FAILED
