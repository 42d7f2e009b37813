#!/bin/bash
# Capture real Postfix log fixtures into sample_logs/<scenario>/.
#   bash tools/capture/run_all.sh              # all scenarios
#   bash tools/capture/run_all.sh healthy ...  # only the named ones
# Must run as root. Installs Debian's postfix if missing. Each scenario holds
# /tmp/postfix-diag-postfix.lock for its whole Postfix usage.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ALL="healthy dns-unknown-clients chroot-broken error-limit relay-down dns-forward-confirm chroot-sockets process-limit config-mistakes sasl-bruteforce relay-abuse tls-handshake bounce-storm outbound-dns postscreen queue-space domain-classes fork-limit multi-incident content-filter content-filter-down sasl-backend-down saslauthd-down relayhost-auth file-permissions greylisting config-fatals"
if [ "$(id -u)" != 0 ]; then echo "run_all.sh: must run as root" >&2; exit 1; fi
bash "$HERE/install.sh" || exit 1
scen="${*:-$ALL}"
failed=""
start=$(date +%s)
for s in $scen; do
    f="$HERE/scenarios/$s.sh"
    if [ ! -f "$f" ]; then echo "run_all.sh: no such scenario: $s" >&2; failed="$failed $s"; continue; fi
    t0=$(date +%s)
    echo "=== scenario $s" >&2
    if ! flock -o -w 900 /tmp/postfix-diag-postfix.lock timeout 300 bash "$f"; then
        failed="$failed $s"
    fi
    echo "=== scenario $s done in $(( $(date +%s) - t0 ))s" >&2
done
echo "run_all.sh: finished in $(( $(date +%s) - start ))s" >&2
if [ -n "$failed" ]; then echo "run_all.sh: FAILED:$failed" >&2; exit 1; fi
exit 0
