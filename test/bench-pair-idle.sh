#!/usr/bin/env bash
# Measures what a pair costs at rest, side by side with keepalived: two
# network namespaces joined by a veth pair (198.18.0.11 and 198.18.0.12),
# each running the test PBX, a `pbxha run` node with the default timings
# (SIP probe every 200ms, heartbeats every 200ms over the veth, the
# tie-breaker — the test PBX's TCP listener — asked every second at rest)
# and Debian's keepalived (VRRPv3, advert_int 0.1, VIP 198.18.0.100, a
# vrrp_script forking `sipsak -s` against the same test PBX every second).
# Over TRIALS trials of SECONDS each, after a 12s warm-up, it prints each
# node's CPU share (user + system; for keepalived with its reaped children,
# the sipsak forks) and resident memory (pbxha: the largest of readings
# every second through the trial; keepalived: both its processes at the end),
# then the medians per node and the ratio keepalived / pbxha.
#
#   test/bench-pair-idle.sh [TRIALS] [SECONDS]     # as root; default 3 trials of 30s
#   PBXHA_FAILOVER_PROFILE=fast test/bench-pair-idle.sh   # the fast profile: the nodes read it
#
# With PROFILE=DIR, each pbxha node writes a CPU profile and an allocation
# profile of its last trial to DIR (node-a.cpu, node-a.allocs, ...);
# LOGLEVEL sets the nodes' log level and KEEPLOGS=DIR keeps their logs.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-3}
seconds=${2:-30}
[ "$(id -u)" = 0 ] || { echo "bench-pair-idle: needs root (network namespaces)" >&2; exit 1; }
for c in keepalived sipsak ip; do
	command -v "$c" >/dev/null || { echo "bench-pair-idle: $c not installed (test/run.sh installs it)" >&2; exit 1; }
done
. test/bench-lib.sh
"$work/pbxha" keygen "$work/pbxha.key" >/dev/null

# Two namespaces and a veth pair; removed at exit after the processes.
tag=$$
declare -A ns ip
ns[a]=pbxidle-a-$tag ns[b]=pbxidle-b-$tag ip[a]=198.18.0.11 ip[b]=198.18.0.12
teardown() {
	cleanup
	for n in a b; do ip netns del "${ns[$n]}" 2>/dev/null || true; done
}
trap teardown EXIT
for n in a b; do
	ip netns add "${ns[$n]}"
	ip -n "${ns[$n]}" link set lo up
done
ip link add "vi-a-$tag" netns "${ns[a]}" type veth peer name "vi-b-$tag" netns "${ns[b]}"
for n in a b; do
	ip -n "${ns[$n]}" addr add "${ip[$n]}/24" dev "vi-$n-$tag"
	ip -n "${ns[$n]}" link set "vi-$n-$tag" up
done
# in_ns NODE CMD...: runs CMD in NODE's namespace. Started with & it is
# not a function call (a subshell's PID is not the command's): background
# commands use `ip netns exec` directly, which execs the command in place.
in_ns() { local n=$1; shift; ip netns exec "${ns[$n]}" "$@"; }

# One test PBX per node, on the node's address.
declare -A sip tcp
for n in a b; do
	ip netns exec "${ns[$n]}" "$work/testpbx" -listen "${ip[$n]}:0" -transport udp,tcp >"$work/pbx-$n.out" &
	pids+=($!)
	for _ in $(seq 100); do grep -q ready "$work/pbx-$n.out" 2>/dev/null && break; sleep 0.1; done
	sip[$n]=$(sed -n 's/.*udp=\([^ ]*\).*/\1/p' "$work/pbx-$n.out")
	tcp[$n]=$(sed -n 's/.*tcp=\([^ ]*\).*/\1/p' "$work/pbx-$n.out")
	[ -n "${sip[$n]}" ] && [ -n "${tcp[$n]}" ] || { echo "testpbx $n did not start" >&2; exit 1; }
done

for n in a b; do
	peer=b; [ "$n" = b ] && peer=a
	mkdir -p "$work/$n"
	cat >"$work/$n/pbxha.yaml" <<EOF
node: {name: node-$n, cluster: bench}
log: {level: ${LOGLEVEL:-info}}
control: {socket: $work/$n/pbxha.sock}
state_dir: $work/$n
probes:
  sip:
    - {name: sip, target: "sip:${sip[$n]};transport=udp"}
peer:
  paths: [{local: "${ip[$n]}:7400", peer: "${ip[$peer]}:7400"}]
  key_file: $work/pbxha.key
failover:
  tie_breakers: ["${tcp[$n]}"]
EOF
	prio=150; [ "$n" = b ] && prio=100
	cat >"$work/$n/keepalived.conf" <<EOF
global_defs {
	router_id bench-$n
	script_user root
	enable_script_security
}
vrrp_script chk_sip {
	script "$(command -v sipsak) -s sip:${sip[$n]}"
	interval 1
	timeout 1
	fall 2
	rise 2
}
vrrp_instance bench {
	state BACKUP
	interface vi-$n-$tag
	virtual_router_id 51
	priority $prio
	advert_int 0.1
	virtual_ipaddress {
		198.18.0.100/24
	}
	track_script {
		chk_sip
	}
}
EOF
done

# ka_pids PARENT: keepalived's parent and its VRRP child.
ka_pids() { echo "$1" $(pgrep -P "$1" || true); }
# ticks_all PIDS: user + system ticks of the processes and of their reaped
# children (the forked check scripts).
ticks_all() {
	local s=0
	for p in "$@"; do s=$((s + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat"))); done
	echo "$s"
}
rss_all() {
	local s=0
	for p in "$@"; do s=$((s + $(rss_kib "$p"))); done
	echo "$s"
}

cpu=() rss=() kcpu=() krss=()
for t in $(seq "$trials"); do
	run=() ka=()
	for n in a b; do
		prof=()
		[ -n "${PROFILE:-}" ] && prof=(--cpu-profile "$PROFILE/node-$n.cpu" --mem-profile "$PROFILE/node-$n.allocs")
		ip netns exec "${ns[$n]}" "$work/pbxha" run -c "$work/$n/pbxha.yaml" "${prof[@]}" 2>"$work/$n/pbxha.log" &
		run+=($!)
		pids+=($!)
		ip netns exec "${ns[$n]}" keepalived -n -l -P -f "$work/$n/keepalived.conf" -p "$work/$n/ka.pid" -r "$work/$n/vrrp.pid" \
			>"$work/$n/keepalived.log" 2>&1 &
		ka+=($!)
		pids+=($!)
	done
	# pbxha gives back its start-up pages 10s after it starts: the trial
	# begins after that, so that the memory read is what a node keeps.
	sleep 12
	declare -A t1 k1 kp
	for i in 0 1; do
		t1[$i]=$(cpu_ticks "${run[$i]}")
		kp[$i]=$(ka_pids "${ka[$i]}")
		k1[$i]=$(ticks_all ${kp[$i]})
	done
	peak_rss_during "$seconds" "${run[@]}"
	line=""
	for i in 0 1; do
		n=a; [ "$i" = 1 ] && n=b
		t2=$(cpu_ticks "${run[$i]}") k2=$(ticks_all ${kp[$i]})
		r=${peak[${run[$i]}]} kr=$(rss_all ${kp[$i]})
		c=$(cpu_share $((t2 - t1[$i])) "$elapsed") kc=$(cpu_share $((k2 - k1[$i])) "$elapsed")
		role=$("$work/pbxha" status --json --socket "$work/$n/pbxha.sock" | sed -n 's/^  "role": "\(.*\)",$/\1/p')
		vip=backup; in_ns "$n" ip -4 addr show | grep -q 198.18.0.100 && vip=master
		line+=" node-$n: pbxha ${role:-?} ${c}% $(mib "$r") MiB, keepalived $vip ${kc}% $(mib "$kr") MiB;"
		cpu+=("$c") rss+=("$r") kcpu+=("$kc") krss+=("$kr")
	done
	for p in "${run[@]}" "${ka[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEPLOGS:-}" ]; then
		for n in a b; do cp "$work/$n/pbxha.log" "$KEEPLOGS/$n.log"; cp "$work/$n/keepalived.log" "$KEEPLOGS/$n-keepalived.log"; done
	fi
	echo "trial $t:$line"
done
pc=$(median "${cpu[@]}") pr=$(median "${rss[@]}") kc=$(median "${kcpu[@]}") kr=$(median "${krss[@]}")
echo "median per node over $trials trials of ${seconds}s:"
echo "  pbxha      cpu ${pc}% of one core, rss $(mib "$pr") MiB"
echo "  keepalived cpu ${kc}% of one core, rss $(mib "$kr") MiB (both processes, sipsak forks included)"
awk -v p="$pc" -v k="$kc" -v pr="$pr" -v kr="$kr" 'BEGIN {
	if (p > 0) printf "  ratio keepalived / pbxha: cpu %.2f, rss %.2f\n", k / p, kr / pr
	else printf "  ratio keepalived / pbxha: cpu (pbxha below the clock tick), rss %.2f\n", kr / pr }'
