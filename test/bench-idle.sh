#!/usr/bin/env bash
# Measures the sidecar's own cost at rest: CPU share and resident memory of
# `pbxha run` probing the test PBX with 5 SIP probes per second (five probes,
# 1s interval, alternating UDP and TCP), over TRIALS trials of SECONDS each
# after a 5s warm-up. Prints each trial and the medians. Loopback only.
#
#   test/bench-idle.sh [TRIALS] [SECONDS]     # default 3 trials of 30s
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
"$work/testpbx" -listen 127.0.0.1:0 -transport udp,tcp >"$work/pbx.out" &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/pbx.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*udp=\([^ ]*\).*/\1/p' "$work/pbx.out")
[ -n "$addr" ] || { echo "testpbx did not start" >&2; exit 1; }

{
	echo "control: {socket: $work/pbxha.sock}"
	echo "state_dir: $work"
	echo "probes:"
	echo "  sip:"
	for i in 1 2 3 4 5; do
		tp=udp; [ $((i % 2)) -eq 0 ] && tp=tcp
		echo "    - {name: sip$i, target: \"sip:$addr;transport=$tp\", interval: 1s, timeout: 500ms}"
	done
} >"$work/pbxha.yaml"

hz=$(getconf CLK_TCK)
cpu=() rss=()
for t in $(seq "$trials"); do
	"$work/pbxha" run -c "$work/pbxha.yaml" 2>"$work/pbxha.log" &
	pid=$!
	pids+=("$pid")
	sleep 5
	read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
	sleep "$seconds"
	read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$pid/stat")
	r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	c=$(awk -v d=$((u2 + s2 - u1 - s1)) -v hz="$hz" -v s="$seconds" 'BEGIN {printf "%.3f", 100 * d / hz / s}')
	checks=$("$work/pbxha" status --json --socket "$work/pbxha.sock" | grep -c '"status": "ok"' || true)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "trial $t: cpu ${c}% of one core, rss $((r / 1024)) MiB ($checks ok results in history)"
	cpu+=("$c") rss+=("$r")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median over $trials trials of ${seconds}s: cpu $(median "${cpu[@]}")% of one core, rss $(($(median "${rss[@]}") / 1024)) MiB"
