#!/usr/bin/env bash
# Measures what coordination through etcd costs at rest: CPU share and
# resident memory of each of three `pbxha run` nodes on loopback (127.0.0.1,
# .2, .3) with coordination etcd — a SIP probe every 250ms (PROBE_INTERVAL,
# the default), decisions every 50ms, lease renewals every lease_ttl/4
# (LEASE_TTL, default 2s, the default) — and, reported apart, of each member of the three-member etcd
# (Debian's etcd-server, heartbeat 100ms, election 500ms) they use, over
# TRIALS trials of SECONDS each after a 5s warm-up. Prints each trial and
# the medians. Loopback only.
#
#   test/bench-etcd-idle.sh [TRIALS] [SECONDS]     # default 3 trials of 30s
#
# With PROFILE=DIR, each pbxha node writes a CPU profile and an allocation
# profile of its last trial to DIR (node-a.cpu, node-a.allocs, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-3}
seconds=${2:-30}
ttl=${LEASE_TTL:-2s}
interval=${PROBE_INTERVAL:-250ms}
. test/bench-lib.sh

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Three etcd members on loopback, each with its own data directory.
declare -a cport pport
initial=""
for i in 1 2 3; do
	cport[$i]=$(port) pport[$i]=$(port)
	initial+="${initial:+,}e$i=http://127.0.0.1:${pport[$i]}"
done
epids=()
endpoints=""
for i in 1 2 3; do
	etcd --name "e$i" --data-dir "$work/e$i" \
		--listen-client-urls "http://127.0.0.1:${cport[$i]}" --advertise-client-urls "http://127.0.0.1:${cport[$i]}" \
		--listen-peer-urls "http://127.0.0.1:${pport[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pport[$i]}" \
		--initial-cluster "$initial" --initial-cluster-state new --heartbeat-interval 100 --election-timeout 500 \
		--logger zap --log-outputs stderr 2>"$work/e$i.log" &
	epids+=($!)
	pids+=($!)
	endpoints+="${endpoints:+, }\"http://127.0.0.1:${cport[$i]}\""
done
for i in 1 2 3; do
	for _ in $(seq 300); do grep -q "serving client traffic" "$work/e$i.log" 2>/dev/null && break; sleep 0.1; done
done

declare -A sip
for n in a b c; do
	ip=127.0.0.1; [ "$n" = b ] && ip=127.0.0.2; [ "$n" = c ] && ip=127.0.0.3
	start_testpbx "$n" "$ip:0"
	sip[$n]=$udp_addr
	mkdir -p "$work/$n"
	cat >"$work/$n/pbxha.yaml" <<EOF
node: {name: node-$n, cluster: bench}
control: {socket: $work/$n/pbxha.sock}
state_dir: $work/$n
probes:
  sip:
    - {name: sip, target: "sip:${sip[$n]};transport=udp", interval: $interval}
coordination: etcd
etcd:
  endpoints: [$endpoints]
  lease_ttl: $ttl
EOF
done

cpu=() rss=() ecpu=()
for t in $(seq "$trials"); do
	run=()
	for n in a b c; do
		prof=()
		[ -n "${PROFILE:-}" ] && prof=(--cpu-profile "$PROFILE/node-$n.cpu" --mem-profile "$PROFILE/node-$n.allocs")
		"$work/pbxha" run -c "$work/$n/pbxha.yaml" "${prof[@]}" 2>"$work/$n/pbxha.log" &
		run+=($!)
		pids+=($!)
	done
	sleep 5
	declare -A t1
	for p in "${run[@]}" "${epids[@]}"; do t1[$p]=$(cpu_ticks "$p"); done
	sleep "$seconds"
	roles=""
	for i in 0 1 2; do
		p=${run[$i]} n=a; [ "$i" = 1 ] && n=b; [ "$i" = 2 ] && n=c
		t2=$(cpu_ticks "$p")
		r=$(rss_kib "$p")
		c=$(cpu_share $((t2 - t1[$p])) "$seconds")
		role=$("$work/pbxha" status --json --socket "$work/$n/pbxha.sock" | sed -n 's/^  "role": "\(.*\)",$/\1/p')
		roles+=" node-$n ${role:-?} cpu ${c}% rss $((r / 1024)) MiB;"
		cpu+=("$c") rss+=("$r")
	done
	for p in "${epids[@]}"; do
		c=$(cpu_share $(($(cpu_ticks "$p") - t1[$p])) "$seconds")
		roles+=" etcd cpu ${c}%;"
		ecpu+=("$c")
	done
	for p in "${run[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	echo "trial $t:$roles"
done
echo "median per node over $trials trials of ${seconds}s (lease_ttl $ttl, probe every $interval): cpu $(median "${cpu[@]}")% of one core, rss $(($(median "${rss[@]}") / 1024)) MiB; etcd per member: cpu $(median "${ecpu[@]}")%"
