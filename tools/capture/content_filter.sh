# shellcheck shell=bash
# The amavis-style after-queue content filter setup of FILTER_README ("Advanced content
# filter"), shared by scenarios/content-filter.sh and scenarios/content-filter-down.sh
# (sourced after lib.sh and scenario_begin).

FILTER_PORT=10024    # the filter's SMTP port (tools/capture/filter.py; amavisd-new's usual port)
REINJECT_PORT=10025  # the smtpd that takes the filtered mail back
FILTER_CONFIG_TEXT="\`content_filter = scan:[127.0.0.1]:$FILTER_PORT\` in main.cf, and in master.cf
(as FILTER_README's advanced content filter example, the usual amavisd-new setup):

\`\`\`
scan      unix  -       -       n       -       10      smtp
  -o smtp_send_xforward_command=yes
  -o disable_mime_output_conversion=yes
  -o smtp_generic_maps=
127.0.0.1:$REINJECT_PORT inet  n  -     n       -       10      smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_helo_restrictions=
  -o smtpd_client_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o smtpd_data_restrictions=
  -o mynetworks=127.0.0.0/8
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
\`\`\`"

content_filter_config() {
    x postconf -e "content_filter = scan:[127.0.0.1]:$FILTER_PORT"
    x postconf -M "scan/unix=scan unix - - n - 10 smtp" \
        "127.0.0.1:$REINJECT_PORT/inet=127.0.0.1:$REINJECT_PORT inet n - n - 10 smtpd"
    x postconf -P "scan/unix/smtp_send_xforward_command=yes" \
        "scan/unix/disable_mime_output_conversion=yes" \
        "scan/unix/smtp_generic_maps=" \
        "127.0.0.1:$REINJECT_PORT/inet/content_filter=" \
        "127.0.0.1:$REINJECT_PORT/inet/receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_helo_restrictions=" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_client_restrictions=" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_sender_restrictions=" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_relay_restrictions=" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_recipient_restrictions=permit_mynetworks,reject" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_data_restrictions=" \
        "127.0.0.1:$REINJECT_PORT/inet/mynetworks=127.0.0.0/8" \
        "127.0.0.1:$REINJECT_PORT/inet/smtpd_authorized_xforward_hosts=127.0.0.0/8"
}
