#!/usr/bin/env bash
# Writes the files of a private Tor network in containers for compose.testnet.yaml:
#   deploy/docker/testnet.sh DIR
# DIR/<node>/ for auth1..3, relay1..4 and client (torrc; the authorities' keys made here with
# tor-gencert and tor --list-fingerprint), and DIR/torrc.obhost, DIR/torrc.backend: the torrcs the
# obhosts and backends of docker-compose.yml run with on that network (their shipped torrc, included,
# plus the test network's options). Addresses are fixed: compose.testnet.yaml gives every container
# its address on the network "tor" (10.77.1.0/24). Needs tor and tor-gencert on this machine.
# The private network follows deploy/testnet (TestingTorNetwork, 20 s voting interval).
set -euo pipefail

dir=${1:?usage: testnet.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

auths=(auth1:10.77.1.11 auth2:10.77.1.12 auth3:10.77.1.13)
relays=(relay1:10.77.1.21 relay2:10.77.1.22 relay3:10.77.1.23 relay4:10.77.1.24)
or_port=7000
dir_port=7001

common() {
	cat <<EOT
TestingTorNetwork 1
AssumeReachable 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteExit *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
UseDefaultFallbackDirs 0
ClientUseIPv6 0
EOT
	cat "$dir/dirauthorities"
}

# Authority keys and the DirAuthority lines every torrc lists.
: >"$dir/dirauthorities.tmp"
for a in "${auths[@]}"; do
	name=${a%%:*} ip=${a#*:}
	d=$dir/$name
	rm -rf "$d"
	install -d -m 0700 "$d" "$d/keys"
	pass=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	(cd "$d/keys" && echo "$pass" | timeout 60 tor-gencert --create-identity-key -m 12 -a "$ip:$dir_port" \
		-i authority_identity_key -s authority_signing_key -c authority_certificate --passphrase-fd 0 >/dev/null 2>&1) ||
		{ echo "testnet.sh: tor-gencert failed in $d/keys" >&2; exit 1; }
	v3ident=$(sed -n 's/^fingerprint \([0-9A-F]\{40\}\)$/\1/p' "$d/keys/authority_certificate")
	printf 'DataDirectory %s\nORPort %s:%d\nNickname %s\nSocksPort 0\n' "$d" "$ip" "$or_port" "$name" >"$d/torrc.fingerprint"
	timeout 60 tor --list-fingerprint -f "$d/torrc.fingerprint" --defaults-torrc /dev/null >/dev/null 2>&1 ||
		{ echo "testnet.sh: tor --list-fingerprint failed for $d" >&2; exit 1; }
	fp=$(awk '{print $2}' "$d/fingerprint")
	rm -f "$d/torrc.fingerprint" "$d/lock"
	[ -n "$v3ident" ] && [ -n "$fp" ] || { echo "testnet.sh: no fingerprint for $name" >&2; exit 1; }
	echo "DirAuthority $name orport=$or_port no-v2 v3ident=$v3ident $ip:$dir_port $fp" >>"$dir/dirauthorities.tmp"
done
mv "$dir/dirauthorities.tmp" "$dir/dirauthorities"

# Authorities and relays: tor as root in its container, data in /tn (DIR/<node>, mounted).
for n in "${auths[@]}" "${relays[@]}"; do
	name=${n%%:*} ip=${n#*:}
	install -d -m 0700 "$dir/$name"
	{
		echo "# Written by deploy/docker/testnet.sh: $name"
		common
		cat <<EOT
DataDirectory /tn
Log notice stdout
Nickname $name
SocksPort 0
ORPort $ip:$or_port
DirPort $ip:$dir_port
Address $ip
AddressDisableIPv6 1
ExitPolicy reject *:*
EOT
		case $name in
		auth*)
			cat <<EOT
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingV3AuthInitialVotingInterval 20
TestingV3AuthInitialVoteDelay 4
TestingV3AuthInitialDistDelay 4
V3AuthVotingInterval 20
V3AuthVoteDelay 4
V3AuthDistDelay 4
EOT
			;;
		esac
	} >"$dir/$name/torrc"
done

# The client: the SOCKS port the tests (and you) reach the master address through.
install -d -m 0700 "$dir/client"
{
	echo "# Written by deploy/docker/testnet.sh: client"
	common
	cat <<EOT
DataDirectory /tn
Log notice stdout
SocksPort 0.0.0.0:9050
SocksPolicy accept *
EOT
} >"$dir/client/torrc"

# obhosts: the image's management torrc plus the test network (OB_TORRC points here).
{
	echo "# Written by deploy/docker/testnet.sh: the obhosts' tor on the private network"
	echo "%include /etc/tor/torrc"
	common
} >"$dir/torrc.obhost"

# backends: the shipped backend torrc (mounted at /etc/tor/torrc-backend) plus the test network.
{
	echo "# Written by deploy/docker/testnet.sh: the backends' tor on the private network"
	echo "%include /etc/tor/torrc-backend"
	common
} >"$dir/torrc.backend"
chmod 0644 "$dir/torrc.obhost" "$dir/torrc.backend"
echo "testnet.sh: wrote the private Tor network into $dir" >&2
