#!/bin/bash
# Container start: prepare the volumes, configure Postfix on $HVIEW_SMTP_PORT (it pipes mail
# to the mailhandler as user hview), then run Postfix (`start-fg`) and `dataprocessor serve` (as
# hview) side by side. SIGTERM drains serve (running jobs finish) and stops Postfix; if
# either one dies on its own, the other is stopped too and the container exits, so the
# orchestrator restarts it whole.
#
# Given a command (`docker run … hview/dataprocessor:1.0.0 tar -czf …`, `… dpctl --version`),
# it runs that command instead, as official images do, and exits with its status: no Postfix,
# no serve, nothing changed on the volumes.
set -euo pipefail
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
root=${DP__PATHS__ROOT:-/home/mailbox}
logs=${DP__LOGGING__DIRECTORY:-/var/log/hview}
smtp_port=${HVIEW_SMTP_PORT:-25}
mkdir -p "$root" "$logs"
chown hview:hview "$root" "$logs"
# Folders a root process left behind (an older dpctl, a restore): the service must own
# them, or mail for that customer or group would be deferred.
find "$root" "$logs" -maxdepth 7 ! -user hview -exec chown hview:hview {} + 2>/dev/null || true
# serve (as hview) reads the TLS private key, which on the host may be root's alone (chmod
# 600, as it should be): it gets a copy only hview can read. The certificate too: the
# README makes both under `umask 077`, so neither tls/ nor cert.pem is open to hview.
if [ -n "${DP__API__TLS_PRIVATE_KEY:-}" ] && [ -f "$DP__API__TLS_PRIVATE_KEY" ]; then
  install -D -m 0400 -o hview -g hview "$DP__API__TLS_PRIVATE_KEY" /run/hview/tls_private_key.pem
  export DP__API__TLS_PRIVATE_KEY=/run/hview/tls_private_key.pem
fi
if [ -n "${DP__API__TLS_CERTIFICATE:-}" ] && [ -f "$DP__API__TLS_CERTIFICATE" ]; then
  install -D -m 0444 "$DP__API__TLS_CERTIFICATE" /run/hview/tls_certificate.pem
  export DP__API__TLS_CERTIFICATE=/run/hview/tls_certificate.pem
fi

# Configure Postfix now, with this container's environment (passed on to the mailhandler).
/etc/hview/postfix/install.sh /usr/local/bin/mailhandler "$DATAPROCESSOR_CONFIG" \
  "inet_interfaces = all" "maillog_file = /dev/stdout"
# SMTP on $HVIEW_SMTP_PORT: the stock `smtp` service moves to that port.
if [ "$smtp_port" != 25 ]; then
  postconf -M# smtp/inet
  postconf -M "$smtp_port/inet=$smtp_port inet n - y - - smtpd"
fi
# Postfix copies these into its queue directory for its chrooted daemons.
cp /etc/resolv.conf /etc/hosts /etc/services /var/spool/postfix/etc/ 2>/dev/null || true

postfix start-fg &
postfix_pid=$!
setpriv --reuid hview --regid hview --init-groups dataprocessor serve &
serve_pid=$!

stop() {
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  # Postfix may still be starting (serve refused its settings at once): stop it once it runs.
  while kill -0 "$postfix_pid" 2>/dev/null; do
    postfix stop 2>/dev/null || sleep 0.2
  done
  wait "$postfix_pid" 2>/dev/null || true
}
trap 'stop; exit 0' TERM INT

set +e
wait -n "$postfix_pid" "$serve_pid"
status=$?
echo "entrypoint: a process exited (status $status); stopping the container" >&2
stop
exit "$status"
