#!/usr/bin/env bash
# Installs (if absent) and starts the local services the DataProcessor and its tests use:
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust on loopback), plus the tools given as
# arguments: `s3` (awscli + moto, boto3, Debian's rclone), `postfix` (postfix + swaks), `podman` (podman,
# debootstrap, runc, podman-compose), `promtool` (into .local/bin). Idempotent; safe to rerun.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql postgresql-client
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    # A test machine: trust connections from loopback, as the tests connect as postgres without a password.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  if ! pg_up; then
    log "starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  pg_up || { log "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }
}

ensure_s3_tools() {
  if ! command -v aws >/dev/null 2>&1 || ! command -v moto_server >/dev/null 2>&1; then
    log "installing awscli and moto"
    python3 -m pip install -q "awscli" "moto[server]"
  fi
  # The S3 clients customers use, run by api/tests/s3_clients.rs against the embedded store.
  if ! python3 -c "import boto3" >/dev/null 2>&1; then
    log "installing boto3"
    python3 -m pip install -q "boto3"
  fi
  if ! command -v rclone >/dev/null 2>&1; then
    log "installing rclone"
    apt_install rclone
  fi
}

# The console's browser tests: Debian's Chromium and ChromeDriver, driven by selenium.
ensure_browser() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    log "installing chromium and chromium-driver"
    apt_install chromium chromium-driver
  fi
  if ! python3 -c "import selenium" >/dev/null 2>&1; then
    log "installing selenium"
    python3 -m pip install -q "selenium>=4.20"
  fi
}

ensure_postfix() {
  if ! command -v postfix >/dev/null 2>&1 || ! command -v swaks >/dev/null 2>&1; then
    log "installing postfix and swaks"
    echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
    apt_install postfix swaks
  fi
  # "No configuration" leaves no main.cf, and postconf cannot start from nothing: begin with
  # Postfix's built-in defaults (mailhandler/postfix/install.sh adds what the DataProcessor needs).
  if [ ! -f /etc/postfix/main.cf ]; then
    log "creating /etc/postfix/main.cf (Postfix's defaults)"
    printf '# Created by scripts/services.sh: Postfix defaults, plus what mailhandler/postfix/install.sh adds.\ncompatibility_level = 3.6\n' \
      | as_root tee /etc/postfix/main.cf >/dev/null
  fi
  # The unprivileged user Postfix runs the mailhandler as (user= in mailhandler/postfix/master.cf).
  id hview >/dev/null 2>&1 || as_root useradd --system --no-create-home --shell /usr/sbin/nologin hview
}

# podman (no Docker engine here) and podman-compose, for the container tests; podman is
# configured and its base image made by scripts/image.sh.
ensure_podman() {
  if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    log "installing podman, debootstrap and runc"
    apt_install podman debootstrap runc
  fi
  if ! command -v podman-compose >/dev/null 2>&1; then
    log "installing podman-compose"
    python3 -m pip install -q podman-compose
  fi
}

# promtool, to check the example alerting rules: taken out of Debian's prometheus package
# (installing the package would start a Prometheus server).
ensure_promtool() {
  local bin
  bin="$(cd "$(dirname "$0")/.." && pwd)/.local/bin"
  command -v promtool >/dev/null 2>&1 && return
  [ -x "$bin/promtool" ] && return
  log "extracting promtool from Debian's prometheus package into .local/bin"
  local dir
  dir=$(mktemp -d)
  [ -n "$apt_updated" ] || { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; }
  (cd "$dir" && apt-get download prometheus >/dev/null)
  dpkg-deb -x "$dir"/prometheus_*.deb "$dir/x"
  mkdir -p "$bin"
  cp "$dir/x/usr/bin/promtool" "$bin/promtool"
  rm -rf "$dir"
}

ensure_postgres
for extra in "$@"; do
  case "$extra" in
    s3) ensure_s3_tools ;;
    postfix) ensure_postfix ;;
    podman) ensure_podman ;;
    promtool) ensure_promtool ;;
    browser) ensure_browser ;;
    *) log "unknown service $extra"; exit 2 ;;
  esac
done
