#!/bin/bash
# tls-handshake: STARTTLS with a self-signed certificate; good TLS sessions and
# clients whose handshakes fail (hang-up, plain text, a protocol the server refuses).
. "$(dirname "$0")/../lib.sh"
scenario_begin tls-handshake

N_OK=3            # good STARTTLS sessions from 127.0.0.1, one message each
N_CLOSE_LOCAL=1   # 127.0.0.1: STARTTLS, then hang up without a handshake
N_CLOSE=2         # 127.0.0.5: same
N_GARBAGE=2       # 127.0.0.5: STARTTLS, then plain text instead of a ClientHello
N_TLS1=2          # 127.0.0.5: ClientHello offering only TLSv1.0 (server wants >= TLSv1.2)
N_FAILED=$((N_CLOSE_LOCAL + N_CLOSE + N_GARBAGE + N_TLS1))
N_FAILED5=$((N_CLOSE + N_GARBAGE + N_TLS1))

DESCRIPTION="Postfix offering STARTTLS on port 25 with a self-signed certificate
made by \`openssl req -x509\` in the scenario (RSA 2048, CN=mail.capture.example):
\`smtpd_tls_security_level = may\`, \`smtpd_tls_chain_files = KEY, CERT\`,
\`smtpd_tls_loglevel = 1\`, \`smtpd_tls_protocols = >=TLSv1.2\`,
\`smtpd_tls_mandatory_protocols = >=TLSv1.2\`. Clients are tools/capture/smtpc.py tls:

- $N_OK sessions from 127.0.0.1: EHLO, STARTTLS, handshake (no certificate
  verification), EHLO, one message to alice@capture.example, QUIT ->
  \`Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 ...\`
- $N_CLOSE_LOCAL session from 127.0.0.1 and $N_CLOSE from 127.0.0.5: STARTTLS (220), then
  hang up -> \`SSL_accept error from ...: lost connection\`
- $N_GARBAGE sessions from 127.0.0.5: STARTTLS, then plain text -> \`SSL_accept error\`
  with \`TLS library problem: ...wrong version number\`
- $N_TLS1 sessions from 127.0.0.5: a ClientHello offering only TLSv1.0 -> \`SSL_accept
  error\` with \`TLS library problem: ...unsupported protocol\`

Each failed handshake also ends with \`lost connection after STARTTLS\`.
127.0.0.5 has no PTR (unknown[127.0.0.5]).

expected.json: TLS002 (notice) counting the failed handshakes, that is the
$N_FAILED \`SSL_accept error\` lines (the \`TLS library problem\` lines that follow
some of them give their OpenSSL reasons), keyed by the peer with the most
failures, 127.0.0.5.
The good TLS sessions, the \`lost connection after STARTTLS\` lines (CON001) and
the unknown client (DNS001) raise nothing above notice."

TLS="$WORK/tls"
mkdir -p "$TLS"
x openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mail.capture.example \
    -keyout "$TLS/key.pem" -out "$TLS/cert.pem" 2>/dev/null
chmod 600 "$TLS/key.pem"
x postconf -e "smtpd_tls_security_level = may" \
    "smtpd_tls_chain_files = $TLS/key.pem, $TLS/cert.pem" \
    "smtpd_tls_loglevel = 1" \
    "smtpd_tls_protocols = >=TLSv1.2" \
    "smtpd_tls_mandatory_protocols = >=TLSv1.2"
pf_start_init
wait_port 127.0.0.1 25

T=("${SMTPC[@]}" tls --timeout 10)
x "${T[@]}" --source 127.0.0.1 --mode ok --count "$N_OK" --send-to alice@capture.example
x "${T[@]}" --source 127.0.0.1 --mode close --count "$N_CLOSE_LOCAL"
x "${T[@]}" --source 127.0.0.5 --helo scan.example.net --mode close --count "$N_CLOSE"
x "${T[@]}" --source 127.0.0.5 --helo scan.example.net --mode garbage --count "$N_GARBAGE"
x "${T[@]}" --source 127.0.0.5 --helo scan.example.net --mode tls1 --count "$N_TLS1"
pf_wait_queue_settled 20
sleep 1
scenario_end

check_log "TLS established" 'Anonymous TLS connection established from localhost\[127\.0\.0\.1\]' "$N_OK"
check_log "TLS mail delivered" 'to=<alice@capture\.example>.*status=sent' "$N_OK"
check_log "SSL_accept lost connection 127.0.0.1" 'SSL_accept error from localhost\[127\.0\.0\.1\]: lost connection' "$N_CLOSE_LOCAL"
check_log "SSL_accept errors 127.0.0.5" 'SSL_accept error from [^ ]*\[127\.0\.0\.5\]' "$N_FAILED5"
check_log "wrong version number" 'TLS library problem: .*wrong version number' "$N_GARBAGE"
check_log "unsupported protocol" 'TLS library problem: .*unsupported protocol' "$N_TLS1"
check_log "lost connection after STARTTLS" 'lost connection after STARTTLS from' "$N_FAILED"
check_none "TLS setup problems" 'cannot get|disabling TLS|private key|PEM routines|fopen'
N_ACCEPT=$(count_log 'SSL_accept error from')
N_LIB=$(count_log 'warning: TLS library problem:')
[ "$N_ACCEPT" -eq "$N_FAILED" ] || { log "FAIL SSL_accept error lines: $N_ACCEPT != $N_FAILED"; CHECK_FAILED=1; }

write_expected <<EOF
{"scenario": "tls-handshake",
 "findings": [
   {"id": "TLS002", "category": "tls", "severity": "notice", "count": $N_FAILED, "key": "127.0.0.5"}
 ],
 "max_severity_of_others": "notice"}
EOF
log "TLS002 lines: $N_ACCEPT SSL_accept error + $N_LIB TLS library problem"
exit $CHECK_FAILED
