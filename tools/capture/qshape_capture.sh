#!/bin/bash
# qshape_capture.sh -- build a real Postfix queue on loopback and capture
# `postqueue -j`, the mail log, and the output of Debian's real /usr/sbin/qshape
# (Perl) at several fixed "now" values, as a byte-for-byte test fixture.
#
# How the fixture in tests/fixtures/qshape/<name>/ was made:
#   sudo bash tools/capture/install.sh          # Debian's postfix, pristine configs kept
#   sudo bash tools/capture/qshape_capture.sh tests/fixtures/qshape/capture1
#
# What it does (everything stays on 127.0.0.0/8; nothing leaves the machine):
#   * takes /tmp/postfix-diag-postfix.lock (another capture may use the same system Postfix),
#     saves main.cf/master.cf and restores them (and stops Postfix, empties its queue) on exit;
#   * configures: relayhost = [127.0.0.1]:2599 with nothing listening there (every remote
#     delivery is deferred: "Connection refused"), a local `slowpipe` transport (pipe to
#     /bin/sleep) for *.slow.example so some mail stays in the active queue, a small
#     qmgr_message_active_limit so later mail piles up in the incoming queue, a header_checks
#     HOLD rule, and maillog_file = /var/log/postfix-qshape.log (no syslog needed);
#   * injects mail in three phases about a minute apart, by sendmail(1) and by SMTP to
#     127.0.0.1:25: several sender domains (incl. many subdomains of corp.example and of a
#     long parent domain, for `qshape -p`), recipients in several domains, messages with
#     several recipients, unknown local users from dead sender domains (their bounces from
#     MAILER-DAEMON are deferred), a message with a local recipient that is delivered;
#   * moves mail with postsuper: -h (hold), -H (release), -r (requeue), -d (remove),
#     -e + postqueue -i (force-expire, returned to sender);
#   * stops Postfix (the queue is then frozen), captures `postqueue -j` and runs the real
#     qshape with `time` overridden (Perl CORE::GLOBAL::time) at several "now" values,
#     for several option sets; writes cases.json describing each output.
set -euo pipefail

OUT=${1:?usage: $0 OUTPUT_DIR}
LOCK=/tmp/postfix-diag-postfix.lock
if [ "${QSHAPE_CAPTURE_LOCKED:-}" != 1 ]; then
    exec env QSHAPE_CAPTURE_LOCKED=1 flock -o "$LOCK" bash "$0" "$@"
fi

mkdir -p "$OUT/outputs"
OUT=$(cd "$OUT" && pwd)
LOG=/var/log/postfix-qshape.log
WORK=$(mktemp -d /tmp/qshape-capture.XXXXXX)
cp -p /etc/postfix/main.cf "$WORK/main.cf.saved"
cp -p /etc/postfix/master.cf "$WORK/master.cf.saved"
[ -f /etc/postfix/main.cf.pristine ] || cp -p /etc/postfix/main.cf /etc/postfix/main.cf.pristine
[ -f /etc/postfix/master.cf.pristine ] || cp -p /etc/postfix/master.cf /etc/postfix/master.cf.pristine

cleanup() {
    set +e
    /etc/init.d/postfix stop >/dev/null 2>&1
    postfix stop >/dev/null 2>&1
    # the slowpipe's sleep processes (we started them through Postfix)
    for pid in $(pgrep -u nobody -x sleep); do
        if grep -q 3600 "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid"; fi
    done
    postsuper -d ALL >/dev/null 2>&1
    cp -p "$WORK/main.cf.saved" /etc/postfix/main.cf
    cp -p "$WORK/master.cf.saved" /etc/postfix/master.cf
    rm -rf "$WORK"
}
trap cleanup EXIT

/etc/init.d/postfix stop >/dev/null 2>&1 || true
# start from Debian's pristine configuration, whatever an earlier run left behind
cp /etc/postfix/main.cf.pristine /etc/postfix/main.cf
cp /etc/postfix/master.cf.pristine /etc/postfix/master.cf
postsuper -d ALL >/dev/null 2>&1 || true
: > "$LOG"

cat > "$WORK/header_checks" <<'HC'
/^Subject: .*HOLDME/ HOLD held for review by header_checks
HC

postconf -e \
    "myhostname = mx.capture.example" \
    "mydomain = capture.example" \
    "myorigin = capture.example" \
    "mydestination = capture.example, localhost" \
    "inet_interfaces = loopback-only" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" \
    "relayhost = [127.0.0.1]:2599" \
    "default_transport = smtp" \
    "relay_transport = relay" \
    "transport_maps = inline:{slow.example=slowpipe:, .slow.example=slowpipe:}" \
    "qmgr_message_active_limit = 6" \
    "queue_run_delay = 3600s" \
    "minimal_backoff_time = 3600s" \
    "maximal_backoff_time = 4000s" \
    "header_checks = regexp:$WORK/header_checks" \
    "maillog_file = $LOG" \
    "smtpd_relay_restrictions = permit_mynetworks reject" \
    "smtp_connect_timeout = 5s"
cat >> /etc/postfix/master.cf <<'MC'
slowpipe  unix  -       n       n       -       1       pipe
  flags= user=nobody argv=/bin/sleep 3600
MC

/etc/init.d/postfix start
sleep 3

send() {  # send FROM SUBJECT RCPT...
    local from=$1 subj=$2; shift 2
    printf 'From: %s\nSubject: %s\n\nqshape capture test message.\n' "$from" "$subj" \
        | sendmail -f "${from:-<>}" -- "$@"
}
smtp_send() {  # smtp_send FROM RCPT...
    python3 - "$@" <<'PY'
import smtplib, sys
frm, rcpts = sys.argv[1], sys.argv[2:]
msg = f"From: {frm or 'MAILER-DAEMON'}\r\nSubject: smtp test\r\n\r\nqshape capture test via SMTP.\r\n"
with smtplib.SMTP("127.0.0.1", 25, local_hostname="client.capture.example") as s:
    s.sendmail(frm, rcpts, msg)
PY
}
qid_of() {  # the queue id of the newest message whose log line matches $1
    { grep -E "$1" "$LOG" || true; } | tail -1 | sed -E 's/.*\]: ([0-9A-F]+): .*/\1/'
}

# ---- phase 1: deferred mail, many sender subdomains ------------------------------------------
for i in 1 2 3 4 5 6; do
    send "alice@s$i.corp.example" "corp $i" "bob@example.net" "carol@example.org"
done
send "news@lists.example.com" "news" "u1@example.net" "u2@example.net" "u3@example.net" "U4@Example.NET"
send "ops@corp.example" "ops" "admin@a-really-quite-long-parent-domain-name.example.net"
for i in 1 2 3 4 5 6; do
    send "x$i@d$i.a-really-quite-long-parent-domain-name.example.net" "long $i" "r$i@s$i.a-really-quite-long-parent-domain-name.example.net"
done
smtp_send "" "dsn@example.org"
smtp_send "web@shop.example" "buyer1@example.com" "buyer2@mail.example.com"
sleep 50

# ---- phase 2: bounces, partial deliveries, holds, a second batch ------------------------------
send "spammer@dead1.example" "to unknown" "nosuchuser@capture.example"
send "spammer@dead2.example" "to unknown" "nouser1@capture.example" "nouser2@capture.example"
send "mixed@corp.example" "mixed" "postmaster@capture.example" "nosuch@capture.example" "remote@example.org"
send "held@hold.example" "please HOLDME" "someone@example.net"
for i in 1 2 3; do
    smtp_send "robot@s$i.corp.example" "t$i@example.org" "t$i@example.com"
done
send "bulk@corp.example" "bulk" "a@one.example.org" "b@two.example.org" "c@three.example.org" "d@four.example.org" "e@five.example.org" "f@six.example.org"
sleep 8

# postsuper: hold three deferred messages, release one, requeue one, remove one, expire one
H1=$(qid_of 'from=<alice@s1.corp.example>')
H2=$(qid_of 'from=<alice@s2.corp.example>')
H3=$(qid_of 'from=<news@lists.example.com>')
postsuper -h "$H1"; postsuper -h "$H2"; postsuper -h "$H3"
sleep 1
postsuper -H "$H2"
R1=$(qid_of 'from=<alice@s3.corp.example>')
postsuper -r "$R1"
D1=$(qid_of 'from=<alice@s4.corp.example>')
postsuper -d "$D1"
E1=$(qid_of 'from=<ops@corp.example>')
postsuper -e "$E1"
postqueue -i "$E1"
sleep 40

# ---- phase 3: slow destinations fill the active queue, the rest waits in incoming -----------
for i in 1 2 3 4 5 6 7 8 9; do
    send "sender$i@app.example" "slow $i" "user$i@mx$((i % 3)).slow.example"
done
sleep 3
send "late@corp.example" "late" "late1@example.net" "late2@example.org"
send "" "dsn late" "late3@example.net"
sleep 5

# ---- freeze and capture ---------------------------------------------------------------------
/etc/init.d/postfix stop
sleep 2
cp "$LOG" "$OUT/maillog"
NOW=$(date +%s)
postqueue -j > "$OUT/postqueue.json"

run_qshape() {  # run_qshape NOW ARGS...
    local now=$1; shift
    perl -e 'my $t = shift @ARGV; no warnings; *CORE::GLOBAL::time = sub { $t }; do "/usr/sbin/qshape"; die $@ if $@' -- "$now" "$@"
}
OPTSETS=(
    ""
    "-s"
    "-p"
    "-p -m 2"
    "-s -p"
    "-t 1"
    "-l"
    "-b 5"
    "-b 14 -t 1"
    "-w 120"
    "-w 120 -p"
    "hold"
    "deferred"
    "-s deferred"
    "-p deferred"
    "-s -p -m 3 deferred"
    "-t 1 deferred"
    "-l -t 2 -b 12 deferred"
    "incoming active deferred hold"
    "-s incoming active deferred hold"
    "-p -m 2 incoming active deferred hold"
    "maildrop"
)
# now = capture time + offset; several offsets put the ~100 s arrival spread across a bucket boundary
OFFSETS=(0 150 200 330 520 1150 1800 10800 76700 172800 864000)
{
    echo '{'
    echo "  \"captured_at\": $NOW,"
    echo "  \"mail_version\": \"$(postconf -h mail_version)\","
    echo "  \"timezone\": \"$(date +%Z)\","
    echo '  "cases": ['
    first=1
    for off in "${OFFSETS[@]}"; do
        now=$((NOW + off))
        for opts in "${OPTSETS[@]}"; do
            name="now+${off}__$(echo "${opts:-default}" | tr ' ' '_' | tr -d -- '-')"
            # shellcheck disable=SC2086
            run_qshape "$now" $opts > "$OUT/outputs/$name.txt"
            args=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' $opts)
            [ $first = 1 ] || echo ','
            first=0
            printf '    {"file": "outputs/%s.txt", "now": %d, "args": %s}' "$name" "$now" "$args"
        done
    done
    echo
    echo '  ]'
    echo '}'
} > "$OUT/cases.json"
echo "captured at $NOW into $OUT"
