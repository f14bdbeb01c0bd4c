#!/usr/bin/env bash
# Measures what a pair costs at rest: CPU share and resident memory of each
# of two `pbxha run` nodes on loopback (127.0.0.1 and 127.0.0.2) with the
# default timings — a SIP probe every 250ms, heartbeats every 200ms,
# decisions every 50ms, a tie-breaker connect every 200ms (to the test PBX's
# TCP listener) — over TRIALS trials of SECONDS each after a 5s warm-up.
# Prints each trial and the medians. Loopback only.
#
#   test/bench-pair-idle.sh [TRIALS] [SECONDS]     # default 3 trials of 30s
#   PBXHA_FAILOVER_PROFILE=fast test/bench-pair-idle.sh   # the fast profile: the nodes read it
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-3}
seconds=${2:-30}
. test/bench-lib.sh
"$work/pbxha" keygen "$work/pbxha.key" >/dev/null

# One test PBX per node, on the node's address.
declare -A sip tcp
for n in a b; do
	ip=127.0.0.1; [ "$n" = b ] && ip=127.0.0.2
	start_testpbx "$n" "$ip:0"
	sip[$n]=$udp_addr tcp[$n]=$tcp_addr
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
	for p in "${run[@]}"; do t1[$p]=$(cpu_ticks "$p"); done
	sleep "$seconds"
	roles=""
	for i in 0 1; do
		p=${run[$i]} n=a; [ "$i" = 1 ] && n=b
		t2=$(cpu_ticks "$p")
		r=$(rss_kib "$p")
		c=$(cpu_share $((t2 - t1[$p])) "$seconds")
		role=$("$work/pbxha" status --json --socket "$work/$n/pbxha.sock" | sed -n 's/^  "role": "\(.*\)",$/\1/p')
		roles+=" node-$n ${role:-?} cpu ${c}% rss $((r / 1024)) MiB;"
		cpu+=("$c") rss+=("$r")
	done
	for p in "${run[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	echo "trial $t:$roles"
done
echo "median per node over $trials trials of ${seconds}s: cpu $(median "${cpu[@]}")% of one core, rss $(($(median "${rss[@]}") / 1024)) MiB"
