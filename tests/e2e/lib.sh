#!/bin/bash
# What the e2e scenarios share: the log, steps and failure, bounded waits,
# and adding the signed repository as a user does.  Sourced, not run.
set -euo pipefail
export LC_ALL=C.UTF-8 SYSTEMD_PAGER=
RESULTS=${RESULTS:-/results}
DEBS=${DEBS-/opt/chipmunk-e2e}
LOG=$RESULTS/log
exec >>"$LOG" 2>&1
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; exit 1; }
on_exit() {
    code=$?
    if [ "$code" -ne 0 ]; then
        echo "== the journal of the chipmunk units (last 150 lines)"
        journalctl -b --no-pager -u chipmunk-server -u chipmunk-client \
            -u chipmunk-clientd | tail -150
        echo FAIL > $RESULTS/status
    else
        echo PASS > $RESULTS/status
    fi
}
trap on_exit EXIT

# wait_for SECONDS DESCRIPTION COMMAND...: poll once a second, bounded.
wait_for() {
    local seconds=$1 what=$2; shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    fail "$what (after ${seconds}s)"
}


# add_repository: as a user adds it, the key and the .sources file from the
# repository (served on the container's loopback from $DEBS/repo), then
# apt-get update, which must verify the signature.
add_repository() {
    python3 -m http.server --bind 127.0.0.1 --directory "$DEBS/repo" 8099 >/dev/null 2>&1 &
    wait_for 15 "the repository is served" curl -sf http://127.0.0.1:8099/chipmunk.sources
    install -d -m 755 /etc/apt/keyrings
    curl -fsS http://127.0.0.1:8099/chipmunk-archive-keyring.asc \
        -o /etc/apt/keyrings/chipmunk-archive-keyring.asc
    curl -fsS http://127.0.0.1:8099/chipmunk.sources \
        | sed 's|^URIs: .*|URIs: http://127.0.0.1:8099|' > /etc/apt/sources.list.d/chipmunk.sources
    # only this source: the container has no other network
    apt-get update -o Dir::Etc::SourceList=sources.list.d/chipmunk.sources \
        -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 2>&1 | tee /tmp/update.log
    ! grep -qiE "not signed|NO_PUBKEY|signatures were invalid|^E:" /tmp/update.log \
        || fail "apt-get update did not verify the repository"
}

# configure_client USER NAMES: the client.ini an admin writes (the original
# format): USER's password pw on the local server, method = set, NAMES in
# the hostsfile provider's file.
configure_client() {
    cat > /etc/chipmunk/client.ini <<INI
[ChipmunkAPIServer]
username = $1
password = pw
method = set
endpoint = http://127.0.0.1:8080

[dDNS]
provider = hostsfile

[hostsfile]
path = /var/lib/chipmunk-client/hosts
names = $2
INI
}
