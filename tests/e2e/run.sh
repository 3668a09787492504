#!/bin/bash
# Boot real systemd in a container on an overlay of this machine's root,
# install the .debs there and run scenario.sh.  Root only.  The overlay
# lives on a tmpfs, nothing touches the host's /, and everything is
# unmounted whatever happens.  Usage: run.sh DEB_DIR [REPO_DIR [OLD_DEB_DIR]]
# (with REPO_DIR, the packages are installed from that signed repository;
# SCENARIO=upgrade.sh runs the upgrade from the previous release's packages
# in OLD_DEB_DIR instead of scenario.sh)
set -euo pipefail
debs=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
"$here/check-depends.sh" "$debs"
base=$(mktemp -d /mnt/chipmunk-e2e.XXXXXX)
results=$(mktemp -d /tmp/chipmunk-e2e-results.XXXXXX)
BOOT_TIMEOUT=${E2E_TIMEOUT:-420}

cleanup() {
    umount "$base/root" 2>/dev/null || true
    umount "$base" 2>/dev/null || true
    rmdir "$base" 2>/dev/null || true
}
trap cleanup EXIT

mount -t tmpfs tmpfs "$base"
mkdir "$base/up" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/up,workdir=$base/work" "$base/root"
mkdir -p "$base/root/opt/chipmunk-e2e"
cp "$debs"/*.deb "$here/lib.sh" "$base/root/opt/chipmunk-e2e/"
cp "$here/${SCENARIO:-scenario.sh}" "$base/root/opt/chipmunk-e2e/scenario.sh"
if [ -n "${2:-}" ]; then
    cp -r "$2" "$base/root/opt/chipmunk-e2e/repo"
fi
if [ -n "${3:-}" ]; then
    mkdir "$base/root/opt/chipmunk-e2e/old"
    cp "$3"/*.deb "$base/root/opt/chipmunk-e2e/old/"
fi
cp "$here/chipmunk-e2e.service" "$base/root/etc/systemd/system/"
# Container images often forbid service starts with policy-rc.d; a real
# system has none, and the scenario must see what postinst really starts.
rm -f "$base/root/usr/sbin/policy-rc.d"
# Leave the container's journal its own: no links into the host's.
rm -f "$base/root/etc/machine-id" && touch "$base/root/etc/machine-id"

started=$(date +%s)
set +e
timeout --kill-after=10 "$BOOT_TIMEOUT" systemd-nspawn --quiet --keep-unit --register=no \
    --private-network -D "$base/root" --bind="$results:/results" \
    -b -- systemd.wants=chipmunk-e2e.service >"$results/console" 2>&1
code=$?
set -e
elapsed=$(( $(date +%s) - started ))
cat "$results/log" 2>/dev/null || true
if [ "$(cat "$results/status" 2>/dev/null)" != PASS ]; then
    echo "e2e: FAILED (nspawn exit $code after ${elapsed}s); console:"
    tail -60 "$results/console"
    exit 1
fi
rm -rf "$results"
echo "e2e (${SCENARIO:-scenario.sh}) on a booted systemd with real apt: all steps passed in ${elapsed}s"
echo "e2e: 1 passed, 0 failed"
