#!/bin/bash
# Each binary package depends on what it runs, and no more: installing only
# the client must not pull in cheroot, only the server not requests, and the
# shared modules neither.  Usage: check-depends.sh DEB_DIR
set -euo pipefail
dir=$1
depends() { dpkg-deb -f "$(ls "$dir"/"$1"_*.deb)" Depends; }
fail() { echo "check-depends: $*"; exit 1; }
lib=$(depends python3-chipmunk)
server=$(depends chipmunk-server)
client=$(depends chipmunk-client)
echo "python3-chipmunk: $lib"
echo "chipmunk-server:  $server"
echo "chipmunk-client:  $client"
[[ $lib == *python3-systemd* ]] || fail "python3-chipmunk lacks python3-systemd"
[[ $lib != *python3-cheroot* && $lib != *python3-requests* ]] \
    || fail "python3-chipmunk pulls in a program's dependency"
[[ $server == *python3-cheroot* ]] || fail "chipmunk-server lacks python3-cheroot"
[[ $server != *python3-requests* ]] || fail "chipmunk-server pulls in requests"
[[ $client == *python3-requests* ]] || fail "chipmunk-client lacks python3-requests"
[[ $client != *python3-cheroot* ]] || fail "chipmunk-client pulls in cheroot"
echo "check-depends: 1 passed, 0 failed"
