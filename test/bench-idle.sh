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
. test/bench-lib.sh
start_testpbx a 127.0.0.1:0
addr=$udp_addr

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

cpu=() rss=()
for t in $(seq "$trials"); do
	"$work/pbxha" run -c "$work/pbxha.yaml" 2>"$work/pbxha.log" &
	pid=$!
	pids+=("$pid")
	sleep 5
	t1=$(cpu_ticks "$pid")
	sleep "$seconds"
	t2=$(cpu_ticks "$pid")
	r=$(rss_kib "$pid")
	c=$(cpu_share $((t2 - t1)) "$seconds")
	checks=$("$work/pbxha" status --json --socket "$work/pbxha.sock" | grep -c '"status": "ok"' || true)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "trial $t: cpu ${c}% of one core, rss $((r / 1024)) MiB ($checks ok results in history)"
	cpu+=("$c") rss+=("$r")
done
echo "median over $trials trials of ${seconds}s: cpu $(median "${cpu[@]}")% of one core, rss $(($(median "${rss[@]}") / 1024)) MiB"
