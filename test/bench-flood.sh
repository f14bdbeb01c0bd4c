#!/usr/bin/env bash
# Measures what a flood of idle keep-alive connections on the metrics
# listener costs `pbxha run` (a non-race build probing the test PBX by SIP
# every 200ms): its resident memory and open descriptors before and after
# CONNS connections that each sent one request and stay open, and whether
# the SIP probe failed meanwhile. With FDLIMIT set, pbxha runs under
# `ulimit -n FDLIMIT`. Prints each trial and the medians. Loopback only.
#
#   test/bench-flood.sh [TRIALS] [CONNS] [FDLIMIT]   # default 3 trials, 5000 connections, no limit
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-3}
conns=${2:-5000}
fdlimit=${3:-}
. test/bench-lib.sh
start_testpbx a 127.0.0.1:0
ulimit -n $((conns + 1000)) # the flood's own connections are this shell's descriptors

# A free port: one nothing answers on, tried at random above 30000.
for _ in $(seq 50); do
	port=$((30000 + RANDOM % 30000))
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
cat >"$work/pbxha.yaml" <<EOF
control: {socket: $work/pbxha.sock}
state_dir: $work
metrics: {listen: "127.0.0.1:$port"}
probes:
  sip:
    - {name: pbx, target: "sip:$udp_addr;transport=udp", interval: 200ms, timeout: 150ms, rise: 1, fall: 1}
EOF

# failures: failed SIP checks in the status history, or "unknown" when the
# control socket does not answer.
failures() {
	local st
	st=$("$work/pbxha" status --json --socket "$work/pbxha.sock" 2>/dev/null) || { echo unknown; return; }
	grep -c '"status": "failed"' <<<"$st" || true
}

rss0=() rss1=() fds=()
for t in $(seq "$trials"); do
	if [ -n "$fdlimit" ]; then
		(ulimit -n "$fdlimit" && exec "$work/pbxha" run -c "$work/pbxha.yaml") 2>"$work/pbxha.log" &
	else
		"$work/pbxha" run -c "$work/pbxha.yaml" 2>"$work/pbxha.log" &
	fi
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do "$work/pbxha" status --socket "$work/pbxha.sock" >/dev/null 2>&1 && break; sleep 0.1; done
	sleep 3
	r0=$(rss_kib "$pid")
	open=()
	for _ in $(seq "$conns"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port" || continue
		printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd" || true
		open+=("$fd")
	done
	sleep 3
	r1=$(rss_kib "$pid")
	n=$(ls "/proc/$pid/fd" | wc -l)
	f=$(failures)
	scrape=failed
	if exec {s}<>"/dev/tcp/127.0.0.1/$port"; then
		printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$s"
		IFS= read -r -t 10 line <&"$s" && [[ $line == "HTTP/1.1 200"* ]] && scrape=ok
		exec {s}>&-
	fi
	for fd in "${open[@]}"; do exec {fd}>&-; done
	kill "$pid"; wait "$pid" 2>/dev/null || true
	grep -q 'too many open files' "$work/pbxha.log" && f="$f (the log says too many open files)"
	echo "trial $t: ${#open[@]} connections: rss $((r0 / 1024)) -> $((r1 / 1024)) MiB, $n fds open, $f failed SIP checks in history, scrape $scrape"
	rss0+=("$r0") rss1+=("$r1") fds+=("$n")
done
echo "median over $trials trials of $conns connections${fdlimit:+ (ulimit -n $fdlimit)}: rss $(($(median "${rss0[@]}") / 1024)) -> $(($(median "${rss1[@]}") / 1024)) MiB, $(median "${fds[@]}") fds open"
