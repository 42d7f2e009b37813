#!/bin/bash
# domain-classes: a domain listed both in mydestination and in virtual_alias_domains.
. "$(dirname "$0")/../lib.sh"
scenario_begin domain-classes

DOMAIN=lists.capture.example
N_ALIAS=3    # messages to info@$DOMAIN (listed in virtual_alias_maps -> alice)
N_PLAIN=2    # messages to bob@$DOMAIN

DESCRIPTION="\`$DOMAIN\` is listed in both address classes:
\`mydestination = \$myhostname, \$mydomain, localhost, $DOMAIN\` and
\`virtual_alias_domains = $DOMAIN\` (with \`virtual_alias_maps = hash:/etc/postfix/pfd_virtual\`:
\`info@$DOMAIN alice@capture.example\`). trivial-rewrite nags each time it resolves an
address in that domain: \`warning: do not list domain $DOMAIN in BOTH mydestination and virtual_alias_domains\`.

Traffic (tools/capture/smtpc.py to 127.0.0.1:25): $N_ALIAS messages to info@$DOMAIN
and $N_PLAIN to bob@$DOMAIN."

x sh -c "printf 'info@$DOMAIN alice@capture.example\n' > /etc/postfix/pfd_virtual"
x postmap hash:/etc/postfix/pfd_virtual
x postconf -e "mydestination = \$myhostname, \$mydomain, localhost, $DOMAIN" \
    "virtual_alias_domains = $DOMAIN" \
    "virtual_alias_maps = hash:/etc/postfix/pfd_virtual"
pf_start_init
wait_port 127.0.0.1 25
x "${SMTPC[@]}" send --to "info@$DOMAIN" --count "$N_ALIAS" --subject alias || true
x "${SMTPC[@]}" send --to "bob@$DOMAIN" --count "$N_PLAIN" --subject plain || true
pf_wait_queue_settled 20
sleep 1
scenario_end
x rm -f /etc/postfix/pfd_virtual /etc/postfix/pfd_virtual.db

check_log "both classes" "postfix/trivial-rewrite\[[0-9]+\]: warning: do not list domain ${DOMAIN//./\\.} in BOTH mydestination and virtual_alias_domains" 1
N=$(count_log 'warning: do not list domain .* in BOTH ')

write_expected <<EOF
{"scenario": "domain-classes",
 "findings": [
   {"id": "CFG007", "category": "config", "severity": "warning", "count": $N, "key": "$DOMAIN"}
 ],
 "max_severity_of_others": "notice"}
EOF
exit $CHECK_FAILED
