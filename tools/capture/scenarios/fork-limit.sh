#!/bin/bash
# fork-limit: master(8) cannot fork a new smtpd: "master_spawn: fork: Resource
# temporarily unavailable -- throttling" (src/master/master_spawn.c).
#
# Safe method: after Postfix is up, master and its children are moved into a
# private cgroup v1 pids cgroup whose pids.max equals the number of Postfix
# processes running, so any further fork() by master fails with EAGAIN. Nothing
# else on the system is limited. Concurrent SMTP clients then make master try to
# spawn smtpd. The limit is lifted (processes moved back, cgroup removed) while
# the smtp service is still throttled (service_throttle_time = 60s, default),
# so master logs exactly one fork warning; after the throttle master starts
# smtpd again and one message is delivered. The cgroup is removed on any exit.
. "$(dirname "$0")/../lib.sh"
scenario_begin fork-limit

PIDS_ROOT=/sys/fs/cgroup/pids
CG="$PIDS_ROOT/pfd-fork-limit"
N_CLIENTS=4      # concurrent clients while fork is impossible (each waits 8s for a banner, then hangs up)
WAIT_BANNER=8

# cg_release: lift the limit, move every process in $CG back to $CG_HOME, remove $CG.
cg_release() {
    local i p
    [ -d "$CG" ] || return 0
    echo max >"$CG/pids.max" 2>/dev/null || true
    for i in $(seq 1 20); do
        [ -n "$(cat "$CG/cgroup.procs" 2>/dev/null)" ] || break   # (cgroup files have size 0)
        for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do
            echo "$p" >"${CG_HOME:-$PIDS_ROOT}/cgroup.procs" 2>/dev/null || true
        done
        sleep 0.1
    done
    for i in $(seq 1 20); do
        rmdir "$CG" 2>/dev/null && return 0
        sleep 0.25
    done
    log "could not remove $CG (still holds: $(tr '\n' ' ' <"$CG/cgroup.procs" 2>/dev/null))"
    return 1
}
# Release the cgroup before lib.sh's cleanup stops Postfix, on any exit.
trap '_rc=$?; set +e; cg_release || { pf_stop; cg_release; }; (exit $_rc); scenario_cleanup' EXIT

if [ ! -w "$PIDS_ROOT/cgroup.procs" ]; then
    log "no writable cgroup v1 pids controller at $PIDS_ROOT"
    exit 1
fi
[ -d "$CG" ] && { log "stale $CG from an earlier run"; CG_HOME=$PIDS_ROOT cg_release || exit 1; }

DESCRIPTION="After Postfix was started (Debian init script) and master had its usual children
(pickup, qmgr, postlogd), the script created the cgroup v1 pids cgroup
\`$CG\`, set \`pids.max\` to the number of Postfix processes then running
(master + children) and moved master and its children into it: from then on every
fork() by master fails with EAGAIN. Nothing else on the system was limited.

Traffic: $N_CLIENTS concurrent clients (tools/capture/smtpc.py slow) connect to
127.0.0.1:25; each waits ${WAIT_BANNER}s for the SMTP banner and hangs up. master tries
to spawn an smtpd, fork() fails, and master logs
\`warning: master_spawn: fork: Resource temporarily unavailable -- throttling\` and stops
accepting on the smtp service for service_throttle_time (60s, the default).

Then the limit was lifted (\`pids.max = max\`, processes moved back to their original
pids cgroup, the cgroup removed), still inside the 60s, so there is exactly one fork
warning. One more client sends a message to alice@capture.example and waits for the
banner; when the throttle expires master spawns smtpd, which first accepts the
$N_CLIENTS connections whose clients had already gone
(\`lost connection after CONNECT from localhost[127.0.0.1]\`), then delivers that message."

pf_start_init
wait_port 127.0.0.1 25
MPID="$(tr -d ' \n' <"$SPOOL/pid/master.pid")"
# Wait for the children master starts by itself (bounded).
for i in $(seq 1 40); do
    kids="$(ps -o comm= --ppid "$MPID" | sort | tr '\n' ' ')"
    case " $kids" in *" pickup "*) case " $kids" in *" qmgr "*) case " $kids" in *" postlogd "*) break;; esac;; esac;; esac
    sleep 0.25
done
log "master $MPID children: $kids"
CG_HOME="$PIDS_ROOT$(sed -n 's/^[0-9]*:pids:\(.*\)$/\1/p' "/proc/$MPID/cgroup" | head -1)"
CG_HOME="${CG_HOME%/}"
NPROC=$(( 1 + $(pgrep -c -P "$MPID" || true) ))

printf '%s\n' "mkdir $CG" "echo $NPROC > $CG/pids.max   # master + \$(pgrep -c -P MASTERPID)" \
    "for p in MASTERPID \$(pgrep -P MASTERPID); do echo \$p > $CG/cgroup.procs; done" >>"$CMDLOG"
mkdir "$CG"
echo "$NPROC" >"$CG/pids.max"
echo "$MPID" >"$CG/cgroup.procs"
for p in $(pgrep -P "$MPID"); do echo "$p" >"$CG/cgroup.procs"; done
CUR="$(cat "$CG/pids.current")"
log "pids.max=$NPROC pids.current=$CUR procs: $(tr '\n' ' ' <"$CG/cgroup.procs")"
if [ "$CUR" -ne "$NPROC" ] || [ "$(pgrep -c -P "$MPID" || true)" -ne $((NPROC - 1)) ]; then
    log "FAIL process set changed while moving into $CG"
    exit 1
fi

x "${SMTPC[@]}" slow --server 127.0.0.1:25 --n "$N_CLIENTS" --hold 1 --timeout "$WAIT_BANNER"
for i in $(seq 1 20); do
    grep -q 'master_spawn: fork' "$PFLOG" 2>/dev/null && break
    sleep 0.5
done
log "pids.events: $(cat "$CG/pids.events")"

printf '%s\n' "echo max > $CG/pids.max" \
    "for p in \$(cat $CG/cgroup.procs); do echo \$p > $CG_HOME/cgroup.procs; done" "rmdir $CG" >>"$CMDLOG"
cg_release || exit 1

# Waits in smtpd's listen queue until the 60s throttle expires.
x "${SMTPC[@]}" send --to alice@capture.example --subject fork-limit --timeout 90 || true
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "fork warning" 'postfix/master\[[0-9]+\]: warning: master_spawn: fork: Resource temporarily unavailable -- throttling' 1
check_log "abandoned clients" 'postfix/smtpd\[[0-9]+\]: lost connection after CONNECT from localhost\[127\.0\.0\.1\]' "$N_CLIENTS"
check_log "delivered after the throttle" 'postfix/local\[[0-9]+\]: [0-9A-F]+: to=<alice@capture\.example>.*status=sent' 1
check_none "child exit status" 'postfix/master\[[0-9]+\]: warning: process .* (exit status|killed by signal)'
N_FORK=$(count_log 'warning: master_spawn: fork: ')
N_LOST=$(count_log 'lost connection after CONNECT from localhost\[127\.0\.0\.1\]')

# RES002 counts lines: one master_spawn fork warning (the smtp service was throttled
# for 60s, and the limit was lifted before master could try again).
# CON001: the clients that hung up while waiting for a banner.
write_expected <<EOF
{"scenario": "fork-limit",
 "findings": [
   {"id": "RES002", "category": "resources", "severity": "critical", "count": 1},
   {"id": "CON001", "category": "connection", "severity": "notice", "count": $N_CLIENTS}
 ],
 "max_severity_of_others": "notice"}
EOF
[ "$N_FORK" -eq 1 ] && [ "$N_LOST" -eq "$N_CLIENTS" ] || { log "FAIL fork=$N_FORK lost=$N_LOST, wanted 1 and $N_CLIENTS"; CHECK_FAILED=1; }
exit $CHECK_FAILED
