#!/bin/sh
# Entrypoint of the backend image: installs the generated HiddenServiceDir for tor, serves a page that
# names this backend on 127.0.0.1:8080, and runs tor (as debian-tor) in the foreground.
#
#   OB_BACKEND_NAME   the name shown by the page (default: the container's host name)
#   OB_HS_SOURCE      the generated <tag>N/hs folder, mounted read-only (default /backend-hs)
set -eu

name=${OB_BACKEND_NAME:-$(hostname)}
src=${OB_HS_SOURCE:-/backend-hs}
hs=/var/lib/tor/onionbalance-backend

for f in hs_ed25519_secret_key hs_ed25519_public_key hostname ob_config; do
	if [ ! -f "$src/$f" ]; then
		echo "backend-entrypoint: $src/$f is missing: mount a backend's hs/ folder written by onionbalance-config at $src" >&2
		exit 1
	fi
done
# tor insists on a HiddenServiceDir it owns with mode 0700; the mount keeps the host's owner.
install -d -o debian-tor -g debian-tor -m 0700 /var/lib/tor "$hs"
for f in hs_ed25519_secret_key hs_ed25519_public_key hostname ob_config; do
	install -o debian-tor -g debian-tor -m 0600 "$src/$f" "$hs/$f"
done

mkdir -p /srv/www
printf 'backend %s (%s)\n' "$name" "$(cat "$hs/hostname")" >/srv/www/index.html
busybox httpd -p 127.0.0.1:8080 -h /srv/www -u nobody:nogroup

exec setpriv --reuid=debian-tor --regid=debian-tor --init-groups -- tor -f /etc/tor/torrc
