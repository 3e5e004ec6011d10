#!/usr/bin/env bash
# Makes release X.Y.Z (the seed's RELEASE.MAJOR.MINOR; CHANGELOG.md says which part to raise):
#
#   scripts/release.sh 1.0.1
#
# 1. checks CHANGELOG.md has a "## [X.Y.Z] - <date>" section and the work tree is clean;
# 2. sets the workspace version (Cargo.toml, Cargo.lock) and records the checksums of the
#    migrations this release ships (shared_modules/released_migrations.sha256: from now on
#    they are never edited);
# 3. runs the whole test suite (scripts/test.sh);
# 4. commits, tags vX.Y.Z, builds the image (scripts/image.sh: :X.Y.Z, :X.Y, :latest, OCI
#    labels) and prints what to push. Nothing is pushed.
# RELEASE_SKIP_TESTS=1 and RELEASE_SKIP_IMAGE=1 skip steps 3 and the image (a rehearsal, as
# build_info/tests/release_script.rs does; never for a real release).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[release %3ds] %s\n' "$SECONDS" "$*" >&2; }
fail() { log "$*"; exit 1; }

version=${1:-}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "usage: scripts/release.sh X.Y.Z (three numbers, RELEASE.MAJOR.MINOR)"
grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md ||
  fail "CHANGELOG.md has no '## [$version] - YYYY-MM-DD' section: move what [Unreleased] lists there first"
[ -z "$(git status --porcelain)" ] || fail "the work tree is not clean: commit or remove these first: $(git status --porcelain | head -5 | tr '\n' ' ')"
! git rev-parse -q --verify "refs/tags/v$version" >/dev/null || fail "tag v$version exists already"

current=$(sed -n -E '/^\[workspace.package\]/,/^\[/{s/^version = "([^"]+)"/\1/p}' Cargo.toml)
log "version $current -> $version"
sed -i -E "/^\[workspace.package\]/,/^\[/{s/^version = \"[^\"]+\"/version = \"$version\"/}" Cargo.toml
cargo update --workspace --offline -q 2>/dev/null || cargo update --workspace -q
# The image tag compose runs by default and the README's commands name.
sed -i -E "s/HVIEW_VERSION:-$current\}/HVIEW_VERSION:-$version}/" docker-compose.yml
sed -i "s|hview/dataprocessor:$current|hview/dataprocessor:$version|g; s|HVIEW_VERSION:-$current}|HVIEW_VERSION:-$version}|g; s|the workspace version, \`$current\`|the workspace version, \`$version\`|" README.md

log "recording the checksums of the migrations $version ships"
listed=shared_modules/released_migrations.sha256
new=$(cd shared_modules && for f in migrations/*/*.sql; do grep -q "  $f\$" released_migrations.sha256 || sha256sum "$f"; done)
if [ -n "$new" ]; then
  printf '# %s\n%s\n' "$version" "$new" >>"$listed"
fi

if [ "${RELEASE_SKIP_TESTS:-}" != 1 ]; then
  log "running the whole test suite"
  scripts/test.sh
fi

git add Cargo.toml Cargo.lock "$listed" docker-compose.yml README.md
git commit -q -m "Release $version"
git tag -a "v$version" -m "DataProcessor $version (CHANGELOG.md)"
if [ "${RELEASE_SKIP_IMAGE:-}" != 1 ]; then
  log "building the image"
  scripts/image.sh
fi
log "released $version (commit $(git rev-parse --short=12 HEAD), tag v$version). To publish:"
short=${version%.*}
cat <<PUSH
  git push origin main v$version
  docker push hview/dataprocessor:$version
  docker push hview/dataprocessor:$short
  docker push hview/dataprocessor:latest
PUSH
