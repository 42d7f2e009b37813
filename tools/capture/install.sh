#!/bin/bash
# Install Debian's postfix (and helpers) non-interactively, keep pristine configs.
# Idempotent: safe to run again.
set -euo pipefail
need=()
command -v postconf >/dev/null 2>&1 || need+=(postfix)
[ -x /usr/bin/python3 ] || need+=(python3)
for p in iproute2 util-linux procps cpio; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string capture.example" | debconf-set-selections
    echo "postfix postfix/destinations string capture.example, localhost" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's postinst may start postfix; the harness starts it per scenario.
if [ ! -f /etc/postfix/main.cf.pristine ]; then
    cp -p /etc/postfix/main.cf /etc/postfix/main.cf.pristine
    cp -p /etc/postfix/master.cf /etc/postfix/master.cf.pristine
fi
