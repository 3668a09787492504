#!/bin/bash
# The user's story on a booted systemd, with real apt: install, serve, reload,
# configure the client, run it from its timer, the daemon, verify the units,
# purge.  Each step appends to $RESULTS/log; $RESULTS/status is PASS or FAIL.
# make e2e runs it in a booted container with the .debs in $DEBS; the
# autopkgtest (debian/tests/e2e) runs it with the packages already installed
# (DEBS empty), so the install and reinstall steps are skipped there.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -n "$DEBS" ] && [ -d "$DEBS/repo" ]; then
    # As a user adds it: the key and the .sources file from the repository
    # (served on the container's loopback), then apt verifies the signature.
    step "add the signed repository, apt-get update, install from it"
    add_repository
    apt-get install -y chipmunk-server chipmunk-client
    [ "$(dpkg-query -W -f='${Version}' chipmunk-server)" = \
        "$(apt-cache policy chipmunk-server | sed -n 's/^  Candidate: //p')" ] \
        || fail "installed the repository's version"
elif [ -n "$DEBS" ]; then
    step "apt-get install ./*.deb"
    apt-get install -y "$DEBS"/*.deb
fi

step "the server is active and says so"
wait_for 30 "chipmunk-server active" systemctl is-active chipmunk-server
status=$(systemctl show -P StatusText chipmunk-server)
echo "StatusText: $status"
# workers = auto: one per CPU
with_workers=""
[ "$(nproc)" -gt 1 ] && with_workers=" with $(nproc) workers"
[ "$status" = "Serving on 127.0.0.1:8080 for 0 users$with_workers" ] || fail "status text"
systemctl status chipmunk-server --no-pager | grep -F "Status: \"Serving on" \
    || fail "systemctl status shows STATUS"
[ "$(ps -o user= -p "$(systemctl show -P MainPID chipmunk-server)")" = chipmunk ] \
    || fail "server runs as chipmunk"
[ "$(stat -c '%a %U %G' /etc/chipmunk/server.ini)" = "640 root chipmunk" ] \
    || fail "server.ini is 0640 root:chipmunk"
code=$(curl -s -o /dev/null -w '%{http_code}' -u e2e:pw http://127.0.0.1:8080/get/ip)
[ "$code" = 401 ] || fail "no users: refused (got $code)"

step "a new user works after systemctl reload, without a restart"
pid=$(systemctl show -P MainPID chipmunk-server)
hash=$(echo pw | chipmunk-server hash-password)
printf 'e2e = %s\n' "$hash" >> /etc/chipmunk/server.ini
chipmunk-server --config /etc/chipmunk/server.ini check
systemctl reload chipmunk-server
[ "$(systemctl show -P MainPID chipmunk-server)" = "$pid" ] || fail "same process"
answer=$(curl -sf -u e2e:pw http://127.0.0.1:8080/get/ip)
echo "answer: $answer"
[ "$answer" = "Your IP:  127.0.0.1" ] || fail "/get/ip after reload"
[ "$(systemctl show -P StatusText chipmunk-server)" = \
  "Serving on 127.0.0.1:8080 for 1 user$with_workers" ] || fail "status after reload"

if [ -n "$DEBS" ]; then
    step "an upgrade (reinstall) keeps the edited config and its mode"
    apt-get install -y --reinstall "$DEBS"/chipmunk-server_*.deb
    grep -q '^e2e = ' /etc/chipmunk/server.ini || fail "edited server.ini survived"
    [ "$(stat -c '%a %U %G' /etc/chipmunk/server.ini)" = "640 root chipmunk" ] \
        || fail "server.ini still 0640 root:chipmunk"
    wait_for 30 "chipmunk-server active after the upgrade" systemctl is-active chipmunk-server
    [ "$(curl -sf -u e2e:pw http://127.0.0.1:8080/ip)" = 127.0.0.1 ] \
        || fail "serving after upgrade"
fi

step "the client, configured, runs from its timer"
configure_client e2e "home.e2e.lan home"
chipmunk-client --config /etc/chipmunk/client.ini check >/dev/null
systemctl enable --now chipmunk-client.timer
systemctl list-timers chipmunk-client.timer --no-pager
wait_for 150 "the timer ran chipmunk-client.service" \
    test -s /var/lib/chipmunk-client/hosts
cat /var/lib/chipmunk-client/hosts
grep -qx "127.0.0.1 home.e2e.lan home" /var/lib/chipmunk-client/hosts || fail "hosts"
[ "$(cat /var/lib/chipmunk/e2e.cm)" = 127.0.0.1 ] || fail "e2e.cm on the server"
[ "$(stat -c %U /var/lib/chipmunk-client/state.json)" = chipmunk ] \
    || fail "client runs as chipmunk"
client_succeeded() { [ "$(systemctl show -P Result chipmunk-client)" = success ]; }
wait_for 30 "client run finished" client_succeeded

step "journalctl -u chipmunk-client -o json has the CHIPMUNK_* fields"
journalctl -u chipmunk-client -o json --no-pager | python3 -c '
import json, sys
entries = [json.loads(line) for line in sys.stdin]
events = {e.get("CHIPMUNK_EVENT"): e for e in entries}
assert events["address-changed"]["CHIPMUNK_IP"] == "127.0.0.1", events
assert events["address-changed"]["MESSAGE_ID"] == "b7ce25d019014dbe8411dbea6c83ad16"
assert events["dns-updated"]["CHIPMUNK_PROVIDER"] == "hostsfile"
assert events["dns-updated"]["CHIPMUNK_RECORD"] == "hostsfile home.e2e.lan home A"
assert events["dns-updated"]["SYSLOG_IDENTIFIER"] == "chipmunk-client"
print("journal fields:", sorted(k for k in events["dns-updated"] if k.startswith("CHIPMUNK_")))
' || fail "journal fields"

step "chipmunk-clientd reaches active and pings the watchdog"
systemctl disable --now chipmunk-client.timer
mkdir -p /run/systemd/system/chipmunk-clientd.service.d
printf '[Service]\nWatchdogSec=4s\n' > /run/systemd/system/chipmunk-clientd.service.d/e2e.conf
systemctl daemon-reload
systemctl start chipmunk-clientd
systemctl is-active chipmunk-clientd
first=$(systemctl show -P WatchdogTimestampMonotonic chipmunk-clientd)
pinged_again() {
    [ "$(systemctl show -P WatchdogTimestampMonotonic chipmunk-clientd)" != "$first" ]
}
wait_for 15 "a second watchdog ping" pinged_again
echo "StatusText: $(systemctl show -P StatusText chipmunk-clientd)"
systemctl show -P StatusText chipmunk-clientd \
    | grep -q "^Address 127.0.0.1 (checked: start); next check in" || fail "clientd status"
journalctl -u chipmunk-clientd -o cat | grep -q "watching the network" \
    || fail "clientd watches netlink (RestrictAddressFamilies has AF_NETLINK)"
[ "$(ps -o user= -p "$(systemctl show -P MainPID chipmunk-clientd)")" = chipmunk ] \
    || fail "clientd runs as chipmunk"
systemctl stop chipmunk-clientd
rm -r /run/systemd/system/chipmunk-clientd.service.d
systemctl daemon-reload

step "socket activation: systemd owns port 8080, the server starts on demand"
systemctl stop chipmunk-server
systemctl start chipmunk-server.socket
systemctl is-active --quiet chipmunk-server && fail "server started before a connection"
answer=$(curl -sf -u e2e:pw http://127.0.0.1:8080/get/ip)
[ "$answer" = "Your IP:  127.0.0.1" ] || fail "answer through the activated socket: $answer"
wait_for 15 "activated server active" systemctl is-active chipmunk-server
echo "StatusText: $(systemctl show -P StatusText chipmunk-server)"
[ "$(systemctl show -P StatusText chipmunk-server)" = "Serving on [::]:8080 for 1 user$with_workers" ] \
    || fail "the server serves on systemd's socket"
[ "$(curl -sf -g -u e2e:pw 'http://[::1]:8080/ip')" = "::1" ] || fail "IPv6 on the same socket"
systemctl stop chipmunk-server.socket chipmunk-server

step "every unit verifies; every service's exposure is at most 2.0"
units="chipmunk-server.service chipmunk-server.socket chipmunk-client.service
       chipmunk-client.timer chipmunk-clientd.service"
# shellcheck disable=SC2086
systemd-analyze verify $units
for unit in chipmunk-server.service chipmunk-client.service chipmunk-clientd.service; do
    score=$(systemd-analyze security --no-pager "$unit" | tail -1 \
            | sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "exposure $unit: $score" | tee -a $RESULTS/exposure
    python3 -c "import sys; sys.exit(float('$score') > 2.0)" || fail "$unit exposure $score"
done

step "apt-get purge leaves no files"
apt-get purge -y chipmunk-server chipmunk-client python3-chipmunk
for path in /etc/chipmunk /var/lib/chipmunk /var/lib/chipmunk-client \
            /lib/systemd/system/chipmunk-server.service /usr/bin/chipmunk-client \
            /lib/systemd/system/chipmunk-server.service.d /lib/systemd/system/chipmunk-clientd.service.d \
            /usr/lib/python3/dist-packages/chipmunk /etc/systemd/system/timers.target.wants/chipmunk-client.timer \
            /etc/systemd/system/multi-user.target.wants/chipmunk-server.service; do
    [ ! -e "$path" ] || fail "left behind: $path"
done
! systemctl is-active --quiet chipmunk-server || fail "server still running"
echo "all steps passed"
