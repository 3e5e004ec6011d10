#!/usr/bin/env bash
# Builds the DataProcessor image, tagged hview/dataprocessor:<version> (the workspace
# version, RELEASE.MAJOR.MINOR), :<RELEASE.MAJOR> and :latest, with the OCI labels
# org.opencontainers.image.version, .revision and .created.
#
#   scripts/image.sh                 # docker when its daemon answers, else podman
#   IMAGE_BINARIES=target/debug scripts/image.sh   # reuse binaries already built (tests)
#
# With docker the Dockerfile builds everything itself. Where no image registry can be
# reached (podman here), what cannot be pulled is made locally, and the Dockerfile is used
# unchanged: the Debian base comes from debootstrap, and the `build` stage is replaced by a
# build context holding the three binaries, built on this host (same glibc as the image's
# bookworm) by cargo, which rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every line says how long the build has taken so far: some steps take minutes.
log() { printf '[image %3ds] %s\n' "$SECONDS" "$*" >&2; }
# A long command's "I: <Step> …" lines (debootstrap's, one or two per package) shown as a
# line for each new step and one every 10 s within a step, errors and warnings as they
# come: a minute and a half of work never looks like a hang.
steps() {
  local what=$1 seen=' ' shown=$SECONDS line step
  while IFS= read -r line; do
    case $line in
      I:\ *)
        step=${line#I: }
        step=${step%% *}
        if [[ $seen != *" $step "* ]] || ((SECONDS - shown >= 10)); then
          log "$what: ${line#I: }"
          seen="$seen$step "
          shown=$SECONDS
        fi
        ;;
      E:* | W:*) log "$what: $line" ;;
    esac
  done
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

version=$(sed -n -E '/^\[workspace.package\]/,/^\[/{s/^version = "([^"]+)"/\1/p}' Cargo.toml)
name=hview/dataprocessor
tags=(-t "$name:$version" -t "$name:latest")
# RELEASE.MAJOR too: a MINOR release reaches those who run `:1.0`.
tags+=(-t "$name:${version%.*}")
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
labels=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision"
        --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  log "building $name:$version with docker"
  DOCKER_BUILDKIT=1 docker build "${labels[@]}" "${tags[@]}" .
  exit 0
fi

if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  log "installing podman, debootstrap and runc"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap runc >/dev/null
fi
# crun fails on this kernel's cgroups: runc and cgroupfs, and no default ulimits.
conf=/etc/containers/containers.conf
if ! grep -q '^runtime = "runc"' "$conf" 2>/dev/null; then
  log "configuring podman ($conf)"
  as_root mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' |
    as_root tee "$conf" >/dev/null
fi

base=docker.io/library/debian:bookworm-slim
if ! podman image exists "$base"; then
  log "making $base with debootstrap (no registry to pull from)"
  rootfs=$(mktemp -d)
  as_root debootstrap --variant=minbase bookworm "$rootfs" 2>&1 | steps debootstrap
  log "debootstrap done; importing it into podman"
  as_root tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
  as_root rm -rf "$rootfs"
fi

binaries=${IMAGE_BINARIES:-}
if [ -z "$binaries" ]; then
  log "building the release binaries on the host"
  DP_GIT_COMMIT=$revision cargo build --release --locked --bins
  binaries=${CARGO_TARGET_DIR:-target}/release
fi
context=target/image-context
rm -rf "$context"
mkdir -p "$context/out"
for bin in dataprocessor mailhandler dpctl; do
  [ -x "$binaries/$bin" ] || { log "missing $binaries/$bin (cargo build --bins first)"; exit 1; }
  cp "$binaries/$bin" "$context/out/$bin"
done
log "building $name:$version with podman (the build stage from $binaries)"
# docker format: OCI images drop HEALTHCHECK.
podman build --format docker --build-context "build=$context" "${labels[@]}" "${tags[@]}" .
log "built $name:$version, $name:${version%.*} and $name:latest (commit $revision)"
