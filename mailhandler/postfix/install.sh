#!/bin/sh
# Configures the local Postfix to hand mail for the ingest domain to the mailhandler.
# usage: install.sh MAILHANDLER_BINARY CONFIG_JSON ["key = value" ...]
# Extra settings (e.g. inet_interfaces, maillog_file) are applied after main.cf.
# Run it where Postfix starts (the container runs it at every start).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 MAILHANDLER_BINARY CONFIG_JSON [\"key = value\" ...]" >&2; exit 2; }
binary=$1
config=$2
shift 2

# A Postfix installed with "No configuration" has no main.cf yet: start from the defaults.
conf_dir=$(postconf -d -h config_directory)
[ -f "$conf_dir/main.cf" ] || : > "$conf_dir/main.cf"

grep -v -E '^[[:space:]]*(#|$)' "$here/main.cf" | while IFS= read -r setting; do
  postconf -e "$setting"
done
for setting in "$@"; do
  postconf -e "$setting"
done

# Postfix gives pipe commands an almost empty environment: pass the DataProcessor's
# overrides (DATABASE_URL, DP__*) from the environment Postfix is started in. Run this
# script again (and restart Postfix) when those change.
names=$(env | sed -n -E 's/^(DATABASE_URL|DP__[A-Za-z0-9_]+)=.*/\1/p' | tr '\n' ' ')
postconf -e "import_environment = $(postconf -d -h import_environment) $names"
postconf -e "export_environment = $(postconf -d -h export_environment) $names"

entry=$(grep -v -E '^[[:space:]]*(#|$)' "$here/master.cf" | tr '\n' ' ' | tr -s ' ' |
  sed -e "s|@MAILHANDLER@|$binary|" -e "s|@CONFIG@|$config|")
name=$(echo "$entry" | cut -d' ' -f1)
type=$(echo "$entry" | cut -d' ' -f2)
postconf -M "$name/$type=$entry"
