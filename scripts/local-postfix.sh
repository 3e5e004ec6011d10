#!/usr/bin/env bash
# Points this machine's Postfix at the local instance that scripts/run-local.sh runs: mail
# for ingest.hview.example sent to 127.0.0.1:25 goes to the mailhandler, into .local/mailbox,
# and serve makes its job. Run it after run-local.sh has started (it reads .local/env).
#   scripts/local-postfix.sh
#   swaks --server 127.0.0.1:25 --to bobs_burgers@ingest.hview.example --data @mailhandler/tests/fixtures/alert.eml
#   scripts/local-postfix.sh --undo
# --undo puts the machine's Postfix back as it was before the first run: main.cf and
# master.cf from the .hview-backup copies this script leaves (removed if there were none),
# /usr/local/lib/hview removed if this script made it, and Postfix running or stopped as it
# was. (Packages services.sh installed, such as Postfix itself, stay.)
set -euo pipefail
cd "$(dirname "$0")/.."
install_dir=/usr/local/lib/hview

if [ "${1:-}" = "--undo" ]; then
  command -v postconf >/dev/null || { echo "local-postfix: no Postfix here: nothing to undo"; exit 0; }
  conf=$(postconf -h config_directory)
  state=$conf/hview-backup.state
  if [ ! -f "$state" ]; then
    echo "local-postfix: nothing to undo (no $state: this script has not changed this Postfix)"
    exit 0
  fi
  # shellcheck disable=SC1090
  source "$state"
  postfix stop >/dev/null 2>&1 || true
  for f in main.cf master.cf; do
    if [ -f "$conf/$f.hview-backup" ]; then
      cp -p "$conf/$f.hview-backup" "$conf/$f" && rm -f "$conf/$f.hview-backup"
    elif had=had_${f%.cf}_cf && [ "${!had:-yes}" = no ]; then
      rm -f "$conf/$f"
    fi
  done
  if [ "${made_install_dir:-no}" = yes ]; then rm -rf "$install_dir"; fi
  if [ "${was_running:-no}" = yes ]; then
    # Started afresh without this checkout's DATABASE_URL and DP__* in its environment.
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin postfix start >/dev/null
    echo "local-postfix: Postfix put back as it was (its main.cf and master.cf, running)"
  else
    echo "local-postfix: Postfix put back as it was (its main.cf and master.cf, stopped)"
  fi
  rm -f "$state"
  exit 0
fi

[ -f .local/env ] || { echo "local-postfix: start scripts/run-local.sh first (no .local/env)" >&2; exit 1; }
scripts/services.sh postfix
# shellcheck disable=SC1091
source .local/env

# What --undo puts back, noted before the first change only (a second run keeps it).
conf=$(postconf -h config_directory)
state=$conf/hview-backup.state
if [ ! -f "$state" ]; then
  {
    for f in main.cf master.cf; do
      if [ -f "$conf/$f" ]; then echo "had_${f%.cf}_cf=yes"; else echo "had_${f%.cf}_cf=no"; fi
    done
    if postfix status >/dev/null 2>&1; then echo was_running=yes; else echo was_running=no; fi
    if [ -e "$install_dir" ]; then echo made_install_dir=no; else echo made_install_dir=yes; fi
  } > "$state.tmp"
  mv "$state.tmp" "$state"
fi
for f in main.cf master.cf; do
  [ -f "$conf/$f" ] && [ ! -f "$conf/$f.hview-backup" ] && cp -p "$conf/$f" "$conf/$f.hview-backup"
done

# The pipe runs the mailhandler as hview: it needs a binary and a config it can read and
# a mailbox and log folder it can write, wherever this checkout is.
mkdir -p "$install_dir"
cp "${CARGO_TARGET_DIR:-target}/debug/mailhandler" "$install_dir/mailhandler"
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
echo "  swaks --server 127.0.0.1:25 --to bobs_burgers@ingest.hview.example --data @mailhandler/tests/fixtures/alert.eml"
echo "Put this machine's Postfix back as it was: scripts/local-postfix.sh --undo"
