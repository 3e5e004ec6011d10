#!/bin/sh
# Container start: prepare the volumes, start Postfix (which pipes mail to the mailhandler as
# user hview), then run `dataprocessor serve` as hview in the foreground. SIGTERM reaches
# serve through tini; serve drains its jobs and exits 0.
set -eu
root=${DP__PATHS__ROOT:-/home/mailbox}
logs=${DP__LOGGING__DIRECTORY:-/var/log/hview}
mkdir -p "$root" "$logs"
chown hview:hview "$root" "$logs"

# Configure Postfix now, with this container's environment (passed on to the mailhandler).
/etc/hview/postfix/install.sh /usr/local/bin/mailhandler "$DATAPROCESSOR_CONFIG" \
  "inet_interfaces = all" "maillog_file = /dev/stdout"

# Postfix copies these into its queue directory for its chrooted daemons.
cp /etc/resolv.conf /etc/hosts /etc/services /var/spool/postfix/etc/ 2>/dev/null || true
postfix start

trap 'postfix stop' EXIT
setpriv --reuid hview --regid hview --init-groups dataprocessor serve
