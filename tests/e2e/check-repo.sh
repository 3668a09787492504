#!/bin/bash
# A user's first step with the signed repository, on this machine: apt,
# with a private set of apt directories (nothing of this machine's apt is
# touched), fetches build/repo over HTTP on loopback as chipmunk.sources
# says, verifies its signature with the published key, and finds the
# packages; a Release tampered with after signing is refused.
# Usage: check-repo.sh REPO_DIR
set -euo pipefail
repo=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/chipmunk-repo-check.XXXXXX)
chmod 755 "$work"  # apt downloads as _apt
mkdir -m 1777 "$work/downloads"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "check-repo: $*"; exit 1; }

serve() {  # serve DIR: an HTTP server on a free loopback port; sets $port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$1" "$port" >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$port/chipmunk.sources" >/dev/null && return 0
        sleep 0.1
    done
    fail "the repository is not served"
}

apt_private() {  # apt-get/apt-cache with the private directories of $work/apt
    local tool=$1; shift
    "$tool" -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/apt/sources" \
        -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" \
        -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0 "$@"
}

update() {  # update DIR: point apt at DIR (as chipmunk.sources says) and update
    rm -rf "$work/apt"
    mkdir -p "$work/apt/sources" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
    serve "$1"
    cp "$1/chipmunk-archive-keyring.asc" "$work/apt/keyring.asc"
    sed -e "s|^URIs: .*|URIs: http://127.0.0.1:$port|" \
        -e "s|^Signed-By: .*|Signed-By: $work/apt/keyring.asc|" \
        "$1/chipmunk.sources" > "$work/apt/sources/chipmunk.sources"
    apt_private apt-get update > "$work/update.log" 2>&1
}

update "$repo" || { cat "$work/update.log"; fail "apt-get update refused the repository"; }
grep -qiE "not signed|NO_PUBKEY|signatures were invalid" "$work/update.log" \
    && { cat "$work/update.log"; fail "a signature warning"; }
version=$(apt_private apt-cache show chipmunk-server | sed -n 's/^Version: //p' | head -1)
[ -n "$version" ] || fail "chipmunk-server is not in the repository"
(cd "$work/downloads" && apt_private apt-get download chipmunk-server chipmunk-client \
    python3-chipmunk >/dev/null) || fail "the packages do not download and verify"
echo "check-repo: apt verified the signature and found chipmunk-server $version"
kill "$server"; server=""

cp -r "$repo" "$work/tampered"
echo "X-Tampered: yes" >> "$work/tampered/dists/bookworm/Release"
sed -i 's/^Suite: stable$/Suite: stab1e/' "$work/tampered/dists/bookworm/InRelease"
if update "$work/tampered"; then
    cat "$work/update.log"
    fail "apt-get update accepted a Release tampered with after signing"
fi
grep -qiE "not signed|signature|invalid" "$work/update.log" \
    || { cat "$work/update.log"; fail "the refusal does not name the signature"; }
echo "check-repo: a tampered Release is refused: $(grep -iE 'signature|not signed' \
    "$work/update.log" | head -1)"
echo "check-repo: 2 passed, 0 failed"
