#!/usr/bin/env bash
# Measures what a pair costs at rest: CPU share and resident memory of each
# of two `pbxha run` nodes on loopback (127.0.0.1 and 127.0.0.2) with the
# default timings — a SIP probe every 250ms, heartbeats every 200ms,
# decisions every 50ms, a tie-breaker connect every 200ms (to the test PBX's
# TCP listener) — over TRIALS trials of SECONDS each after a 5s warm-up.
# Prints each trial and the medians. Loopback only.
#
#   test/bench-pair-idle.sh [TRIALS] [SECONDS]     # default 3 trials of 30s
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-3}
seconds=${2:-30}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/pbxha" ./cmd/pbxha
go build -o "$work/testpbx" ./test/testpbx
"$work/pbxha" keygen "$work/pbxha.key" >/dev/null

# One test PBX per node, on the node's address.
declare -A sip tcp
for n in a b; do
	ip=127.0.0.1; [ "$n" = b ] && ip=127.0.0.2
	"$work/testpbx" -listen "$ip:0" -transport udp,tcp >"$work/pbx-$n.out" &
	pids+=($!)
	for _ in $(seq 100); do grep -q ready "$work/pbx-$n.out" 2>/dev/null && break; sleep 0.1; done
	sip[$n]=$(sed -n 's/.*udp=\([^ ]*\).*/\1/p' "$work/pbx-$n.out")
	tcp[$n]=$(sed -n 's/.*tcp=\([^ ]*\).*/\1/p' "$work/pbx-$n.out")
	[ -n "${sip[$n]}" ] && [ -n "${tcp[$n]}" ] || { echo "testpbx $n did not start" >&2; exit 1; }
done

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hb_a=$(port) hb_b=$(port)
for n in a b; do
	local_hb="127.0.0.1:$hb_a" peer_hb="127.0.0.2:$hb_b"
	[ "$n" = b ] && local_hb="127.0.0.2:$hb_b" peer_hb="127.0.0.1:$hb_a"
	mkdir -p "$work/$n"
	cat >"$work/$n/pbxha.yaml" <<EOF
node: {name: node-$n, cluster: bench}
control: {socket: $work/$n/pbxha.sock}
state_dir: $work/$n
probes:
  sip:
    - {name: sip, target: "sip:${sip[$n]};transport=udp"}
peer:
  paths: [{local: "$local_hb", peer: "$peer_hb"}]
  key_file: $work/pbxha.key
failover:
  tie_breakers: ["${tcp[$n]}"]
EOF
done

hz=$(getconf CLK_TCK)
cpu=() rss=()
for t in $(seq "$trials"); do
	run=()
	for n in a b; do
		"$work/pbxha" run -c "$work/$n/pbxha.yaml" 2>"$work/$n/pbxha.log" &
		run+=($!)
		pids+=($!)
	done
	sleep 5
	declare -A t1
	for p in "${run[@]}"; do t1[$p]=$(awk '{print $14 + $15}' "/proc/$p/stat"); done
	sleep "$seconds"
	roles=""
	for i in 0 1; do
		p=${run[$i]} n=a; [ "$i" = 1 ] && n=b
		t2=$(awk '{print $14 + $15}' "/proc/$p/stat")
		r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status")
		c=$(awk -v d=$((t2 - t1[$p])) -v hz="$hz" -v s="$seconds" 'BEGIN {printf "%.3f", 100 * d / hz / s}')
		role=$("$work/pbxha" status --json --socket "$work/$n/pbxha.sock" | sed -n 's/^  "role": "\(.*\)",$/\1/p')
		roles+=" node-$n ${role:-?} cpu ${c}% rss $((r / 1024)) MiB;"
		cpu+=("$c") rss+=("$r")
	done
	for p in "${run[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	echo "trial $t:$roles"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median per node over $trials trials of ${seconds}s: cpu $(median "${cpu[@]}")% of one core, rss $(($(median "${rss[@]}") / 1024)) MiB"
