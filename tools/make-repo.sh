#!/bin/bash
# make repo: the .debs in a signed apt repository, as a user adds it.
#   build/repo/dists/bookworm/{InRelease,Release,Release.gpg}, pool/main/...
#   build/repo/chipmunk-archive-keyring.asc   the public key
#   build/repo/chipmunk.sources               for /etc/apt/sources.list.d/
# (reprepro 5.3 has no "all" architecture: the arch-all packages are in
# every binary-ARCH index, which apt reads alike.)  Signed by the armored secret key in $REPO_KEY; without it, a throwaway key
# is made in build/repo-key/ (and said so).  reprepro keeps the repository.
# Usage: make-repo.sh DEB_DIR OUT_DIR [URL]
set -euo pipefail
debs=$(cd "$1" && pwd)
out=$2
url=${3:-https://chipmunk.example.org/debian}
key=${REPO_KEY:-}
export GNUPGHOME
GNUPGHOME=$(mktemp -d)
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT

if [ -z "$key" ]; then
    key=build/repo-key/throwaway-secret.asc
    if [ ! -e "$key" ]; then
        mkdir -p build/repo-key
        gpg --batch --quiet --passphrase '' --quick-gen-key \
            "Chipmunk throwaway archive key <repo@chipmunk.invalid>" ed25519 sign 1y
        gpg --batch --quiet --armor --export-secret-keys > "$key"
        chmod 600 "$key"
    fi
    echo "make repo: signed with a throwaway key ($key); set REPO_KEY=/path/key.asc" \
         "to sign with your own"
fi
gpg --batch --quiet --import "$key"
fingerprint=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr/ {print $10; exit}')

rm -rf "$out"
mkdir -p "$out/conf"
cat > "$out/conf/distributions" <<CONF
Origin: Chipmunk
Label: Chipmunk
Codename: bookworm
Suite: stable
Architectures: amd64 arm64 armhf i386
Components: main
Description: Chipmunk dynamic DNS: chipmunk-server and chipmunk-client
SignWith: $fingerprint
CONF
reprepro --silent -b "$out" includedeb bookworm "$debs"/*.deb
gpg --batch --armor --export "$fingerprint" > "$out/chipmunk-archive-keyring.asc"
cat > "$out/chipmunk.sources" <<SOURCES
Types: deb
URIs: $url
Suites: bookworm
Components: main
Signed-By: /etc/apt/keyrings/chipmunk-archive-keyring.asc
SOURCES
rm -rf "$out/conf" "$out/db"
echo "make repo: $out (key $fingerprint)"
