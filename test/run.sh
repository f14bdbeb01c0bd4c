#!/usr/bin/env bash
# Runs every pbxha test, the way CI does.
#
# As root it first installs what the tests use from Debian (PostgreSQL,
# MariaDB, Kamailio, sipsak, SIPp, etcd, iproute2, nftables, rsync) without
# starting their system services; the tests start their own throwaway servers
# on loopback and stop them by PID. Run by hand without root, tests that need
# those are skipped; under CI=true such a skip is a failure.
#
#   test/run.sh                 # everything (as root)
#   test/run.sh ./probe/...     # only some packages (extra args go to go test)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(postgresql mariadb-server kamailio sipsak keepalived sip-tester etcd-server iproute2 procps nftables logrotate file man-db prometheus chromium rsync)

install_packages() {
	local missing=()
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "test/run.sh: not root, cannot install: ${missing[*]} (tests that need them will skip)" >&2
		return 0
	fi
	echo "test/run.sh: installing ${missing[*]}" >&2
	# Keep Debian from starting the packages' own services: the tests run
	# their own servers on free loopback ports.
	local policy=/usr/sbin/policy-rc.d made_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ -n "$made_policy" ] && rm -f "$policy"
	return 0
}

install_packages

echo "test/run.sh: gofmt and go vet" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" $unformatted >&2
	exit 1
fi
go vet ./...

if [ $# -eq 0 ]; then
	set -- ./...
fi
echo "test/run.sh: go test -race $*" >&2
go test -race -count=1 -timeout 25m "$@"
