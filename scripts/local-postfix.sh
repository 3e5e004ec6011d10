#!/usr/bin/env bash
# Points this machine's Postfix at the local instance that scripts/run-local.sh runs: mail
# for ingest.hview.example sent to 127.0.0.1:25 goes to the mailhandler, into .local/mailbox,
# and serve makes its job. Run it after run-local.sh has started (it reads .local/env).
#   scripts/local-postfix.sh
#   swaks --server 127.0.0.1:25 --to bobs_burgers@ingest.hview.example --data mailhandler/tests/fixtures/alert.eml
# Undo: restore /etc/postfix/main.cf and master.cf from the .hview-backup copies this
# script leaves, then `postfix reload`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .local/env ] || { echo "local-postfix: start scripts/run-local.sh first (no .local/env)" >&2; exit 1; }
scripts/services.sh postfix
# shellcheck disable=SC1091
source .local/env

conf=$(postconf -h config_directory)
for f in main.cf master.cf; do
  [ -f "$conf/$f" ] && [ ! -f "$conf/$f.hview-backup" ] && cp "$conf/$f" "$conf/$f.hview-backup"
done

# The pipe runs the mailhandler as hview: it needs a binary and a config it can read and
# a mailbox and log folder it can write, wherever this checkout is.
install_dir=/usr/local/lib/hview
mkdir -p "$install_dir"
cp target/debug/mailhandler "$install_dir/mailhandler"
cp config.json "$install_dir/config.json"
chmod 0755 "$install_dir" "$install_dir/mailhandler"
chmod 0644 "$install_dir/config.json"
mkdir -p "$DP__PATHS__ROOT" "$DP__LOGGING__DIRECTORY"
chown -R hview:hview "$DP__PATHS__ROOT" "$DP__LOGGING__DIRECTORY"
for dir in "$DP__PATHS__ROOT" "$DP__LOGGING__DIRECTORY"; do
  if ! setpriv --reuid hview --regid hview --init-groups test -w "$dir"; then
    echo "local-postfix: user hview cannot write $dir (a parent folder is private?); move the checkout or run from a shared folder" >&2
    exit 1
  fi
done

mailhandler/postfix/install.sh "$install_dir/mailhandler" "$install_dir/config.json" "inet_interfaces = loopback-only"
# Postfix passes the environment it was started with to the pipe: start it afresh with ours.
postfix stop >/dev/null 2>&1 || true
postfix start
postqueue -f
echo "Postfix on 127.0.0.1:25 now delivers mail for ingest.hview.example to the local instance:"
echo "  swaks --server 127.0.0.1:25 --to bobs_burgers@ingest.hview.example --data mailhandler/tests/fixtures/alert.eml"
