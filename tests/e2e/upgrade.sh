#!/bin/bash
# The upgrade from the previous release on a booted systemd, with real apt:
# install the previous release's packages ($DEBS/old, built from the commit
# packaging/releases names), configure it as an admin does (a user, a
# dyndns2 hostname published to a hosts file, the client on its timer with
# state), then apt-get upgrade from the signed repository ($DEBS/repo) and
# check that nothing was lost; then a downgrade, and purge.  Prints what the
# upgrade changed on disk, file by file.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
OLD=$DEBS/old
# as unattended-upgrades runs dpkg: keep the admin's files, never ask
KEEP_CONFIG=(-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
PUBLISHED=/var/lib/chipmunk/published-hosts

# every file of ours with its mode, owner and checksum
snapshot() {
    find /etc/chipmunk /var/lib/chipmunk /var/lib/chipmunk-client /lib/systemd/system \
         /usr/share/man -path '*chipmunk*' -type f -printf '%p %m %u:%g ' \
         -exec md5sum {} \; 2>/dev/null | awk '{print $1, $2, $3, $4}' | sort
}
version() { dpkg-query -W -f='${Version}' "$1"; }
dyndns2() {
    curl -sf -u alice:pw "http://127.0.0.1:8080/nic/update?hostname=home.e2e.example&myip=$1"
}
client_run() {
    systemctl start chipmunk-client.service
    [ "$(systemctl show -P Result chipmunk-client)" = success ]
}

step "install the previous release: $(cd "$OLD" && echo *.deb)"
apt-get install -y "$OLD"/*.deb
old_version=$(version chipmunk-server)
wait_for 30 "chipmunk-server $old_version active" systemctl is-active chipmunk-server

step "configure it as an admin does"
hash=$(echo pw | chipmunk-server hash-password)
sed -i -e 's/^\[Hostnames\]$/[Hostnames]\nalice = home.e2e.example/' \
       -e 's/^\[Publish\]$/[Publish]\nprovider = hostsfile/' /etc/chipmunk/server.ini
printf 'alice = %s\n\n[hostsfile]\npath = %s\n' "$hash" "$PUBLISHED" >> /etc/chipmunk/server.ini
chipmunk-server --config /etc/chipmunk/server.ini check >/dev/null
systemctl reload chipmunk-server
# 2.0.0 says it reloaded before every worker has: wait for the new user
wait_for 15 "alice logs in on $old_version" curl -sf -u alice:pw http://127.0.0.1:8080/ip
[ "$(dyndns2 11.0.0.9)" = "good 11.0.0.9" ] || fail "dyndns2 on $old_version"
grep -q '^11.0.0.9 home.e2e.example$' "$PUBLISHED" || fail "published by $old_version"
configure_client alice "home.e2e.lan"
systemctl enable --now chipmunk-client.timer
# what the timer runs, now rather than at its first elapse
client_run || fail "the client on $old_version"
grep -qx "127.0.0.1 home.e2e.lan" /var/lib/chipmunk-client/hosts || fail "hosts by $old_version"
systemctl is-active --quiet chipmunk-client.timer || fail "timer active before the upgrade"
snapshot > "$RESULTS/before"
config_before=$(md5sum /etc/chipmunk/*.ini)
server_pid=$(systemctl show -P MainPID chipmunk-server)

step "apt-get upgrade from the signed repository"
add_repository
since=$(date '+%Y-%m-%d %H:%M:%S')
sleep 1
# our packages only: the container (an overlay of the host) has no network
# for the Debian updates the host's package lists know of
DEBIAN_FRONTEND=noninteractive apt-get install --only-upgrade -y "${KEEP_CONFIG[@]}" \
    chipmunk-server chipmunk-client </dev/null 2>&1 | tee /tmp/upgrade.log
new_version=$(version chipmunk-server)
[ "$new_version" != "$old_version" ] || fail "upgraded (still $old_version)"
for package in python3-chipmunk chipmunk-client; do
    [ "$(version $package)" = "$new_version" ] || fail "$package upgraded with the server"
done
echo "upgraded $old_version -> $new_version"

step "what the upgrade changed on disk, file by file (before any request to $new_version)"
snapshot > "$RESULTS/after"
{ diff "$RESULTS/before" "$RESULTS/after" || true; } | sed -n 's/^[<>] //p' \
    | awk '{print $1}' | sort -u | while read -r path; do
    old=$(grep -F "$path " "$RESULTS/before" || true)
    new=$(grep -F "$path " "$RESULTS/after" || true)
    if [ -z "$old" ]; then echo "  new:     $new"
    elif [ -z "$new" ]; then echo "  gone:    $old"
    else echo "  changed: $path ($(echo "$old" | cut -d' ' -f2-3) -> $(echo "$new" | cut -d' ' -f2-3))"
    fi
done

step "the admin's config files are untouched; changed shipped files handled as Debian does"
[ "$(md5sum /etc/chipmunk/*.ini)" = "$config_before" ] || fail "config files changed"
mkdir -p /tmp/shipped-old /tmp/shipped-new
for deb in "$OLD"/chipmunk-*.deb; do dpkg-deb -x "$deb" /tmp/shipped-old; done
for deb in "$DEBS"/chipmunk-*.deb; do dpkg-deb -x "$deb" /tmp/shipped-new; done
for file in server.ini client.ini; do
    if cmp -s "/tmp/shipped-old/etc/chipmunk/$file" "/tmp/shipped-new/etc/chipmunk/$file"; then
        [ ! -e "/etc/chipmunk/$file.dpkg-dist" ] || fail "$file: unchanged, yet a .dpkg-dist"
        echo "$file: the shipped file did not change: no prompt, nothing beside it"
    else
        cmp -s "/etc/chipmunk/$file.dpkg-dist" "/tmp/shipped-new/etc/chipmunk/$file" \
            || fail "$file: the new shipped version is not beside it as .dpkg-dist"
        echo "$file: the shipped file changed: the admin's kept, the new one is $file.dpkg-dist"
    fi
done
[ "$(stat -c '%a %U %G' /etc/chipmunk/server.ini)" = "640 root chipmunk" ] \
    || fail "server.ini still 0640 root:chipmunk"

step "the server was restarted once and serves the old users and state"
wait_for 30 "chipmunk-server active after the upgrade" systemctl is-active chipmunk-server
[ "$(systemctl show -P MainPID chipmunk-server)" != "$server_pid" ] || fail "restarted"
starts=$(journalctl _PID=1 --since "$since" -o cat | grep -c '^Started chipmunk-server' || true)
[ "$starts" = 1 ] || fail "the server started $starts times during the upgrade"
[ "$(cat /var/lib/chipmunk/alice.cm)" = 127.0.0.1 ] || fail "alice.cm kept"
[ "$(curl -sf -u alice:pw http://127.0.0.1:8080/ip)" = 127.0.0.1 ] || fail "alice after"
[ "$(dyndns2 11.0.0.9)" = "nochg 11.0.0.9" ] || fail "the old hostname's state"
[ "$(dyndns2 11.0.0.10)" = "good 11.0.0.10" ] || fail "dyndns2 after the upgrade"
grep -q '^11.0.0.10 home.e2e.example$' "$PUBLISHED" || fail "published after the upgrade"

step "the client's timer is still enabled, its state readable by $new_version"
[ "$(systemctl is-enabled chipmunk-client.timer)" = enabled ] || fail "timer enabled"
systemctl is-active --quiet chipmunk-client.timer \
    || fail "timer active: $(systemctl status --no-pager chipmunk-client.timer)"
chipmunk-client --config /etc/chipmunk/client.ini status | tee /tmp/status
grep -q '^IPv4: *127.0.0.1' /tmp/status || fail "the old state read"
grep -q '^hostsfile home.e2e.lan A: \(updated\|unchanged\), 127.0.0.1' /tmp/status \
    || fail "the record's history kept"
client_run || fail "the client runs on $new_version"
ls /var/lib/chipmunk-client/state.json.corrupt-* 2>/dev/null && fail "state moved aside"

step "no warning in the journal since the upgrade, but documented deprecations"
journalctl --since "$since" -p warning -o cat -u chipmunk-server -u chipmunk-client \
    | { grep -v 'is deprecated' || true; } | tee /tmp/warnings
[ ! -s /tmp/warnings ] || fail "warnings after the upgrade"

step "a downgrade to $old_version reads the state $new_version wrote"
DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "${KEEP_CONFIG[@]}" \
    "$OLD"/*.deb </dev/null
[ "$(version chipmunk-server)" = "$old_version" ] || fail "downgraded"
wait_for 30 "chipmunk-server $old_version active" systemctl is-active chipmunk-server
[ "$(dyndns2 11.0.0.11)" = "good 11.0.0.11" ] || fail "dyndns2 after the downgrade"
chipmunk-client --config /etc/chipmunk/client.ini status | grep -q '^IPv4: *127.0.0.1' \
    || fail "$old_version reads the client state"
client_run || fail "the client runs again on $old_version"
ls /var/lib/chipmunk-client/state.json.corrupt-* 2>/dev/null && fail "state moved aside"

step "apt-get purge leaves no files"
apt-get purge -y chipmunk-server chipmunk-client python3-chipmunk
for path in /etc/chipmunk /var/lib/chipmunk /var/lib/chipmunk-client \
            /usr/lib/python3/dist-packages/chipmunk; do
    [ ! -e "$path" ] || fail "left behind: $path"
done
echo "all steps passed"
