# shellcheck shell=bash
# Common functions for the Postfix capture scenarios (sourced by scenarios/*.sh).
#
# Every scenario runs under `flock /tmp/postfix-diag-postfix.lock` (run_all.sh
# takes the lock), restores a baseline main.cf/master.cf, starts a real Postfix
# on loopback, sends bounded traffic, stops Postfix and copies the results to
# sample_logs/<scenario>/.

set -euo pipefail

CAPTURE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$CAPTURE_DIR/../.." && pwd)"
PFLOG=/var/log/postfix-capture.log
SPOOL=/var/spool/postfix
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SMTPC=("$PY" "$CAPTURE_DIR/smtpc.py")

# Command prefix for Postfix commands that read main.cf: a scenario running
# Postfix inside its own network namespace sets NSX=(ip netns exec NAME),
# because `postfix`/`postqueue` check inet_interfaces against local addresses.
NSX=()

# Test mailbox users (real local accounts, no login shell).
PFD_USERS="alice bob carol dave"

log() { printf '[capture %s] %s\n' "${SCENARIO:-?}" "$*" >&2; }

# shell_line CMD...: the command as one shell-quoted line (repository paths made relative).
shell_line() {
    local a line=""
    for a in "$@"; do
        a="${a//"$REPO_DIR"\//}"
        if [[ "$a" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then line+="$a "
        else line+="'${a//\'/\'\\\'\'}' "; fi
    done
    printf '%s' "${line% }"
}

# x CMD...: run a command and record it for the README ("exact commands").
x() {
    printf '%s\n' "$(shell_line "$@")" >>"$CMDLOG"
    "$@"
}

# start_bg VAR CMD...: start a background helper (inside the scenario's network namespace
# when NSX is set), record it for the README, keep its pid in VAR and in HELPER_PIDS.
# (ip netns exec execs the command, so the pid is the helper's own.)
start_bg() {
    local var="$1"; shift
    printf '%s &\n' "$(shell_line "${NSX[@]}" "$@")" >>"$CMDLOG"
    "${NSX[@]}" "$@" >>"$WORK/bg-$var.log" 2>&1 &
    printf -v "$var" '%s' "$!"
    HELPER_PIDS="${HELPER_PIDS:-} $!"
}

# stop_bg VAR: stop the helper started by start_bg VAR (SIGTERM, by pid) and reap it.
stop_bg() {
    local pid="${!1}"
    printf '%s\n' "kill \$$1   # stop the helper started above" >>"$CMDLOG"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    HELPER_PIDS="$(printf '%s' " ${HELPER_PIDS:-} " | sed "s/ $pid / /")"
}

# ns_setup NAME: a private network namespace for Postfix and every helper: its own lo with
# 127.0.0.0/8 and 192.0.2.1 (TEST-NET-1, so that master does not treat a service listening
# there too as local-only: see scenarios/process-limit.sh). Sets NETNS and NSX.
ns_setup() {
    NETNS="$1"
    ip netns del "$NETNS" 2>/dev/null || true
    x ip netns add "$NETNS"
    x ip -n "$NETNS" link set lo up
    x ip -n "$NETNS" addr add 192.0.2.1/32 dev lo
    NSX=(ip netns exec "$NETNS")
}

# ns_wait_port HOST PORT: wait_port, inside the namespace when NSX is set.
ns_wait_port() {
    "${NSX[@]}" bash -c "$(declare -f wait_port); PY=$PY; wait_port $1 $2 ${3:-40}"
}

# scenario_begin NAME: prepare the output directory and a clean Postfix.
scenario_begin() {
    SCENARIO="$1"
    OUT="${PFD_OUT_ROOT:-$REPO_DIR/sample_logs}/$SCENARIO"
    WORK="$(mktemp -d /tmp/pfd-capture-"$SCENARIO".XXXXXX)"
    CMDLOG="$WORK/commands.txt"
    : >"$CMDLOG"
    mkdir -p "$OUT"
    STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bash "$CAPTURE_DIR/install.sh"
    pf_baseline
    trap 'scenario_cleanup' EXIT
    trap 'exit 143' TERM INT
}

scenario_cleanup() {
    local rc=$?
    set +e
    # Always leave no Postfix of ours running, and helpers stopped.
    pf_stop || true
    kill_helpers
    if [ -n "${NETNS:-}" ]; then ip netns del "$NETNS" 2>/dev/null || true; fi
    pf_restore_pristine || true
    # Leave the chroot as Debian's init script makes it (scenarios break it).
    /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true
    rm -rf "${WORK:-/nonexistent}"
    exit $rc
}

# pf_running: true while a master runs. Checks master.pid and /proc instead of
# `postfix status` (which would log a line) or `master -t` (which reads
# main.cf and fails when inet_interfaces names an address of another netns).
pf_running() {
    local pid
    pid="$(tr -d ' \n' 2>/dev/null <"$SPOOL/pid/master.pid")" || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ]
}

# kill_helpers: stop background helpers we started (by pid) and reap them.
kill_helpers() {
    local p
    for p in ${HELPER_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    for p in ${HELPER_PIDS:-}; do wait "$p" 2>/dev/null || true; done
    HELPER_PIDS=""
}

pf_stop() {
    local i
    if pf_running; then
        "${NSX[@]}" postfix stop >/dev/null 2>&1 || true
        for i in $(seq 1 60); do pf_running || break; sleep 0.5; done
        if pf_running; then "${NSX[@]}" postfix abort >/dev/null 2>&1 || true; sleep 1; fi
    fi
}

pf_restore_pristine() {
    cp /etc/postfix/main.cf.pristine /etc/postfix/main.cf
    cp /etc/postfix/master.cf.pristine /etc/postfix/master.cf
}

# pf_baseline: stopped Postfix, pristine config + our common loopback settings,
# empty queue, empty log, fresh chroot files.
pf_baseline() {
    pf_stop
    x cp /etc/postfix/main.cf.pristine /etc/postfix/main.cf
    x cp /etc/postfix/master.cf.pristine /etc/postfix/master.cf
    x postconf -e \
        "maillog_file = $PFLOG" \
        "myhostname = mail.capture.example" \
        "mydomain = capture.example" \
        "myorigin = \$mydomain" \
        "mydestination = \$myhostname, \$mydomain, localhost" \
        "inet_interfaces = loopback-only" \
        "inet_protocols = ipv4" \
        "mynetworks = 127.0.0.0/8" \
        "relayhost =" \
        "default_transport = smtp" \
        "relay_transport = relay" \
        "smtp_host_lookup = native" \
        "smtpd_banner = \$myhostname ESMTP \$mail_name" \
        "delay_warning_time = 0"
    local u
    for u in $PFD_USERS; do
        getent passwd "$u" >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin "$u"
        : >"/var/mail/$u" 2>/dev/null || true
        chown "$u":mail "/var/mail/$u" 2>/dev/null || true
    done
    x newaliases
    x postsuper -d ALL >/dev/null 2>&1 || true
    x rm -f "$PFLOG"
    # Bring the chroot back to what Debian's init script creates.
    x /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true
}

# pf_start_init: start the way Debian does (fills the chroot), wait for smtpd.
pf_start_init() {
    x /etc/init.d/postfix start >/dev/null
    pf_wait_up
}

# pf_start_plain: `postfix start` without Debian's chroot setup.
pf_start_plain() {
    x postfix start >/dev/null 2>&1 || true
    pf_wait_up
}

pf_wait_up() {
    local i
    for i in $(seq 1 40); do
        pf_running && return 0
        sleep 0.25
    done
    log "postfix did not come up"
    return 1
}

# wait_port HOST PORT [TRIES]: wait until a TCP socket listens on HOST:PORT
# (read from /proc/net/tcp, so no connection is made and nothing is logged).
wait_port() {
    "$PY" - "$1" "$2" "${3:-40}" <<'EOF'
import socket, struct, sys, time
host, port, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
want = "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(host))[0], port)
anyaddr = "00000000:%04X" % port
for _ in range(tries):
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[3] == "0A" and p[1] in (want, anyaddr):
                sys.exit(0)
    time.sleep(0.25)
sys.exit(1)
EOF
}

# pf_wait_queue_empty [SECONDS]: wait until the active+incoming+maildrop queues are empty.
pf_wait_queue_settled() {
    local t="${1:-30}" i n
    for i in $(seq 1 $((t * 2))); do
        n=$(find "$SPOOL/maildrop" "$SPOOL/incoming" "$SPOOL/active" -type f 2>/dev/null | wc -l)
        [ "$n" -eq 0 ] && return 0
        sleep 0.5
    done
    log "queue not settled after ${t}s ($n files left)"
    return 0
}

# start_sink PORT [extra smtp-sink args]: fake relay on 127.0.0.1:PORT.
start_sink() {
    local port="$1"; shift
    printf '%s\n' "smtp-sink -u postfix $* 127.0.0.1:$port 64 &" >>"$CMDLOG"
    smtp-sink -u postfix "$@" "127.0.0.1:$port" 64 >"$WORK/sink-$port.log" 2>&1 &
    HELPER_PIDS="${HELPER_PIDS:-} $!"
    wait_port 127.0.0.1 "$port"
}

# scenario_end: collect artifacts, stop Postfix, copy the log out.
scenario_end() {
    sleep 1
    "${NSX[@]}" postqueue -j >"$OUT/postqueue.json" 2>/dev/null || : >"$OUT/postqueue.json"
    postconf -n >"$OUT/postconf-n.txt"
    cp /etc/postfix/master.cf "$OUT/master.cf"
    printf '%s\n' "postfix stop" >>"$CMDLOG"
    pf_stop
    local p
    kill_helpers
    sleep 0.5
    if [ -f "$PFLOG" ]; then cp "$PFLOG" "$OUT/maillog"; else : >"$OUT/maillog"; fi
    write_readme
    log "captured $(wc -l <"$OUT/maillog") log lines into $OUT"
}

write_readme() {
    local version
    version="$(postconf -h mail_version) (Debian package $(dpkg-query -W -f='${Version}' postfix))"
    {
        echo "# Scenario \`$SCENARIO\`"
        echo
        echo "Captured from a real Postfix by \`tools/capture/scenarios/$SCENARIO.sh\`"
        echo "(run via \`bash tools/capture/run_all.sh $SCENARIO\` or \`make fixtures\`)."
        echo "Nothing in this directory was written by hand except \`expected.json\`,"
        echo "which states what a Postfix expert expects from the injected faults"
        echo "(it is generated by the scenario script from the injected counts, not"
        echo "from any analyzer output)."
        echo
        echo "- Postfix version: $version"
        echo "- Captured at: $STARTED_AT (UTC), host $(uname -sr)"
        echo "- Log written by Postfix's postlogd (\`maillog_file = $PFLOG\`), not syslog."
        echo
        echo "## What was injected"
        echo
        printf '%s\n' "$DESCRIPTION"
        echo
        echo "## Files"
        echo
        echo "- \`maillog\`: the Postfix log of this scenario only"
        echo "- \`postqueue.json\`: \`postqueue -j\` just before Postfix was stopped"
        echo "- \`postconf-n.txt\`, \`master.cf\`: the configuration in effect"
        echo "- \`expected.json\`: findings the analyzer must report"
        if [ -n "${INJECTED_JSON:-}" ]; then
            echo "- \`injected.json\`: the ground truth of what was injected: each incident with its"
            echo "  start and end as measured by the script (\`date\` before and after each injection,"
            echo "  on the clock of the maillog lines, \`YYYY-MM-DDTHH:MM:SS\`, no zone), its state at"
            echo "  the end of the log (recovered or ongoing) and the injected counts"
        fi
        echo
        echo "## Exact commands (in order)"
        echo
        echo '```sh'
        cat "$CMDLOG"
        echo '```'
    } >"$OUT/README.md"
}

# check_log LABEL PATTERN [MIN]: assert that the captured log has >= MIN
# (default 1) lines matching the extended regex PATTERN; report the count.
CHECK_FAILED=0
check_log() {
    local label="$1" pat="$2" min="${3:-1}" n
    n=$(grep -cE -- "$pat" "$OUT/maillog" || true)
    if [ "$n" -ge "$min" ]; then
        log "ok   $label: $n line(s)"
    else
        log "FAIL $label: $n line(s), wanted >= $min  /$pat/"
        CHECK_FAILED=1
    fi
}

# count_log PATTERN: number of matching lines
count_log() { grep -cE -- "$1" "$OUT/maillog" || true; }

# check_none LABEL PATTERN: assert no line matches.
check_none() {
    local n
    n=$(grep -cE -- "$2" "$OUT/maillog" || true)
    if [ "$n" -eq 0 ]; then log "ok   no $1"; else
        log "FAIL unexpected $1: $n line(s)"; grep -E -- "$2" "$OUT/maillog" | head -5 >&2
        CHECK_FAILED=1
    fi
}

# write_expected: expected.json from JSON on stdin (validated, pretty-printed).
write_expected() {
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); f=open(sys.argv[1],"w"); json.dump(d, f, indent=2); f.write("\n")' "$OUT/expected.json"
}

# apt_install_no_start PKG...: install Debian packages whose postinst would start a service
# (postgrey, ...) without starting it: a policy-rc.d that denies every start is put in place for
# the install when there is none (Docker images have one already), and removed afterwards.
apt_install_no_start() {
    local p need=() ours=""
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
    [ ${#need[@]} -eq 0 ] && return 0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# postfix-diag capture: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        ours=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || { [ -n "$ours" ] && rm -f /usr/sbin/policy-rc.d; return 1; }
    [ -n "$ours" ] && rm -f /usr/sbin/policy-rc.d
    return 0
}

# now: the current time as the maillog lines stamp it (postlogd writes local time, no zone),
# for the start/end of an injection in injected.json.
now() { date +%Y-%m-%dT%H:%M:%S; }

# write_injected: injected.json from JSON on stdin: the ground truth of the injection
# ({"scenario", "incidents": [{"what", "start", "end", "state", "details"}]}), validated.
write_injected() {
    "$PY" -c '
import json, re, sys
d = json.load(sys.stdin)
stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
for inc in d["incidents"]:
    assert stamp.match(inc["start"]), inc
    assert inc["end"] is None or (stamp.match(inc["end"]) and inc["end"] >= inc["start"]), inc
    assert inc["state"] in ("recovered", "ongoing") and (inc["end"] is None) == (inc["state"] == "ongoing"), inc
f = open(sys.argv[1], "w"); json.dump(d, f, indent=2); f.write("\n")' "$OUT/injected.json"
}

# A private dnsmasq on $DNS_IP (loopback) for the scenarios that play DNS games, with the
# scenario's own records as arguments. Started directly so that $! is dnsmasq's own pid.
start_dnsmasq() {
    local cmd=(dnsmasq --keep-in-foreground --no-hosts --no-resolv --no-poll --user=nobody --pid-file=
        --listen-address="$DNS_IP" --bind-interfaces --port=53 --log-facility=- "$@")
    printf '%s &\n' "${cmd[*]}" >>"$CMDLOG"
    "${cmd[@]}" >"$WORK/dnsmasq.log" 2>&1 &
    DNSMASQ_PID=$!
    HELPER_PIDS="${HELPER_PIDS:-} $DNSMASQ_PID"
    sleep 1
    kill -0 "$DNSMASQ_PID" 2>/dev/null || { log "dnsmasq did not start:"; cat "$WORK/dnsmasq.log" >&2; exit 1; }
}

# Point the chroot's resolver at that dnsmasq (the host's own resolver files are never touched).
use_private_dns() {
    x sh -c "printf '127.0.0.1 localhost\n' > $SPOOL/etc/hosts"
    x sh -c "printf 'nameserver $DNS_IP\noptions timeout:1 attempts:2\n' > $SPOOL/etc/resolv.conf"
}
