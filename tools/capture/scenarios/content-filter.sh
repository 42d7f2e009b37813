#!/bin/bash
# content-filter: an amavis-style after-queue content filter working as it should, for message
# tracing: each message is queued twice (before and after the filter), and the filter's reply
# `250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as NEWQID` links the two.
. "$(dirname "$0")/../lib.sh"
scenario_begin content-filter
. "$CAPTURE_DIR/content_filter.sh"
INJECTED_JSON=1

RELAY_PORT=2526
N_LOCAL=3     # sender@ -> alice@capture.example
N_RELAY=2     # sender@ -> user1@example.net (through the relayhost)
N_MIXED=1     # sender@ -> bob@capture.example + user2@example.org
N_PICKUP=1    # sendmail(1) -> dave@capture.example
N_MSGS=$((N_LOCAL + N_RELAY + N_MIXED + N_PICKUP))
N_RCPTS=$((N_LOCAL + N_RELAY + 2 * N_MIXED + N_PICKUP))

DESCRIPTION="Nothing is broken: every message goes through an amavis-style content filter and
comes back. $FILTER_CONFIG_TEXT

The filter is tools/capture/filter.py on 127.0.0.1:$FILTER_PORT: an SMTP server that adds an
\`X-Virus-Scanned: capture-filter\` header and, before it answers the DATA command, re-sends the
message to 127.0.0.1:$REINJECT_PORT (passing the original client and queue id on with XFORWARD),
then answers with the next hop's reply as amavisd-new does:
\`250 2.0.0 from MTA(smtp:[127.0.0.1]:$REINJECT_PORT): 250 2.0.0 Ok: queued as NEWQID\`.
\`relayhost = [127.0.0.1]:$RELAY_PORT\` with an \`smtp-sink\` for the remote recipients.

Traffic (tools/capture/smtpc.py to 127.0.0.1:25, and one sendmail(1) submission):
- $N_LOCAL messages to alice@capture.example (local)
- $N_RELAY messages to user1@example.net (relayed)
- $N_MIXED message to bob@capture.example and user2@example.org (one local, one relayed recipient)
- $N_PICKUP message \`sendmail -f root@capture.example dave@capture.example\` (pickup)

Each of the $N_MSGS messages has two queue ids: the first (smtpd or pickup, then
\`relay=127.0.0.1[127.0.0.1]:$FILTER_PORT\`, \`status=sent (250 2.0.0 from MTA(...): 250 2.0.0 Ok: queued as NEWQID)\`)
and the second (smtpd on 127.0.0.1:$REINJECT_PORT, \`client=localhost[127.0.0.1], orig_queue_id=FIRSTQID, orig_client=...\`,
then local delivery or the relayhost).

injected.json lists each message with both queue ids. Postfix assigns queue ids, so the script
cannot know them in advance: they come from the filter's own journal (for each message the first
queue id, which Postfix passes as XFORWARD IDENT for mail received by SMTP, and for the pickup
message, which gets no XFORWARD, the \`id\` of its topmost Received: header; and the \`queued as\`
reply of the re-injection), and the script checks each pair against the log (the filter's
\`queued as\` reply in the first id's delivery line, and \`orig_queue_id=\` on the second id's smtpd
line, which smtpd logs only for forwarded SMTP clients: the pickup message's re-injection shows
only \`client=localhost[127.0.0.1]\`).

expected.json: no finding above notice."

x postconf -e "relayhost = [127.0.0.1]:$RELAY_PORT"
content_filter_config
start_sink "$RELAY_PORT"
start_bg FILTER_PID "$PY" "$CAPTURE_DIR/filter.py" --listen "127.0.0.1:$FILTER_PORT" \
    --next "127.0.0.1:$REINJECT_PORT" --journal "$WORK/filter-journal.jsonl"
wait_port 127.0.0.1 "$FILTER_PORT"
pf_start_init
wait_port 127.0.0.1 25
wait_port 127.0.0.1 "$REINJECT_PORT"

T_START=$(now)
x "${SMTPC[@]}" send --to alice@capture.example --count "$N_LOCAL" --subject "filtered local"
x "${SMTPC[@]}" send --to user1@example.net --count "$N_RELAY" --subject "filtered relayed"
x "${SMTPC[@]}" send --to bob@capture.example --to user2@example.org --count "$N_MIXED" --subject "filtered mixed"
printf 'Subject: filtered pickup\nFrom: root@capture.example\nTo: dave@capture.example\n\nhello through the filter\n' |
    x sendmail -f root@capture.example dave@capture.example
pf_wait_queue_settled 30
sleep 3
T_END=$(now)
cp "$WORK/filter-journal.jsonl" "$WORK/journal.keep"
scenario_end

check_log "handed to the filter" "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$FILTER_PORT, .*status=sent \(250 2\.0\.0 from MTA\(smtp:\[127\.0\.0\.1\]:$REINJECT_PORT\): 250 2\.0\.0 Ok: queued as [0-9A-F]+\)" "$N_RCPTS"
# smtpd logs orig_queue_id/orig_client only for forwarded SMTP clients, not for pickup's mail
check_log "re-injected with the original queue id" "postfix/smtpd\[[0-9]+\]: [0-9A-F]+: client=localhost\[127\.0\.0\.1\], orig_queue_id=[0-9A-F]+" $((N_MSGS - N_PICKUP))
check_log "local deliveries" "postfix/local\[[0-9]+\]: .*status=sent" $((N_LOCAL + N_MIXED + N_PICKUP))
check_log "relayed deliveries" "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$RELAY_PORT, .*status=sent" $((N_RELAY + N_MIXED))
check_log "pickup" "postfix/pickup\[[0-9]+\]: [0-9A-F]+: uid=0 from=<root@capture\.example>" "$N_PICKUP"
check_none "warnings/errors" "(warning|error|fatal|panic): "
check_none "deferrals" "status=(deferred|bounced)"

# injected.json from the filter's journal; every pair checked against the log.
MESSAGES=$("$PY" - "$WORK/journal.keep" "$OUT/maillog" <<'EOF'
import json, re, sys
journal, maillog = sys.argv[1], open(sys.argv[2]).read()
out, bad = [], 0
for line in open(journal):
    r = json.loads(line)
    m = re.search(r"queued as ([0-9A-F]+)", r["next_hop_reply"])
    old, new = r["orig_queue_id"], m.group(1) if m else None
    ok = (new is not None
          and re.search(rf": {old}: to=<[^>]+>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:10024, .*queued as {new}\)", maillog)
          and (re.search(rf": {new}: client=[^,]+, orig_queue_id={old}\b", maillog)
               or (r["client"] in (None, "[UNAVAILABLE]")  # pickup: nothing to forward, nothing logged
                   and re.search(rf": {new}: client=localhost\[127\.0\.0\.1\]$", maillog, re.M))))
    bad += not ok
    out.append({"subject": r["subject"], "sender": r["sender"], "recipients": r["recipients"],
                "original_queue_id": old, "original_queue_id_from": r["orig_queue_id_from"],
                "reinjected_queue_id": new, "client": r["client"]})
print(json.dumps(out))
sys.exit(1 if bad else 0)
EOF
) || { log "FAIL a journal pair is not in the log"; CHECK_FAILED=1; }
n_j=$("$PY" -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$MESSAGES")
[ "$n_j" -eq "$N_MSGS" ] || { log "FAIL filter journal has $n_j messages, want $N_MSGS"; CHECK_FAILED=1; }

write_expected <<'EOF'
{"scenario": "content-filter",
 "findings": [],
 "max_severity_of_others": "notice"}
EOF
write_injected <<EOF
{"scenario": "content-filter",
 "incidents": [],
 "traffic": {"start": "$T_START", "end": "$T_END", "messages": $N_MSGS, "recipients": $N_RCPTS,
             "content_filter": "scan:[127.0.0.1]:$FILTER_PORT", "reinjection": "127.0.0.1:$REINJECT_PORT"},
 "messages": $MESSAGES}
EOF
exit $CHECK_FAILED
