#!/usr/bin/env bash
# Measures what coordination through etcd costs at rest: CPU share and
# resident memory (the largest of readings every second) of each of three `pbxha run` nodes on loopback (127.0.0.1,
# .2, .3) with coordination etcd — a SIP probe every 200ms (PROBE_INTERVAL,
# the default), decisions on events and at deadlines, lease renewals every
# lease_ttl/4 (LEASE_TTL, default 2s, the default) — and, reported apart,
# of each member of the three-member etcd (Debian's etcd-server, heartbeat
# 100ms, election 500ms) they use, over TRIALS trials of SECONDS each after
# a 12s warm-up. Prints each trial and the medians. Loopback only.
#
# In the same run, as the anchor issue 16 compares with: two nodes of
# Debian's patroni on the same etcd (loop_wait 1, ttl 5, retry_timeout 2:
# the tightest timings it accepts), each managing a PostgreSQL of its own
# (a primary and its streaming replica), measured over the same windows:
# the patroni process alone (its PostgreSQL apart), then the ratio
# patroni / pbxha. Needs root (patroni and PostgreSQL run as postgres);
# PATRONI=0, no root, or no patroni installed leaves it out. The loopback
# addresses (127.0.0.1-3) and the etcd members are the same either way.
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
interval=${PROBE_INTERVAL:-200ms}
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

# patroni on the same etcd: p1 bootstraps, p2 follows; both must be up
# (a leader, and a replica) before the trials.
patroni=()
if [ "${PATRONI:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v patroni >/dev/null && id postgres >/dev/null 2>&1; then
	pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	pdir="$work/patroni"
	mkdir -p "$pdir"
	chmod 755 "$work"
	chown postgres: "$pdir"
	hosts=""
	for i in 1 2 3; do hosts+="${hosts:+,}127.0.0.1:${cport[$i]}"; done
	declare -A papi
	for n in p1 p2; do
		papi[$n]=$(port)
		pgport=$(port)
		mkdir -p "$pdir/$n-sock" && chown postgres: "$pdir/$n-sock"
		cat >"$pdir/$n.yml" <<EOF
scope: bench
namespace: /patroni/
name: $n
log: {level: WARNING}
restapi: {listen: "127.0.0.1:${papi[$n]}", connect_address: "127.0.0.1:${papi[$n]}"}
etcd3: {hosts: "$hosts"}
bootstrap:
  dcs: {ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576}
  initdb: [{encoding: UTF8}, {locale: C}]
  pg_hba: ["local all all trust", "host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"]
postgresql:
  listen: "127.0.0.1:$pgport"
  connect_address: "127.0.0.1:$pgport"
  data_dir: $pdir/$n
  bin_dir: $pgbin
  pgpass: $pdir/$n.pgpass
  authentication: {superuser: {username: postgres}, replication: {username: postgres}}
  parameters: {unix_socket_directories: "$pdir/$n-sock"}
EOF
		chown postgres: "$pdir/$n.yml"
		setpriv --reuid=postgres --regid=postgres --init-groups -- patroni "$pdir/$n.yml" >"$pdir/$n.log" 2>&1 &
		patroni+=($!)
		pids+=($!)
		# p1 bootstraps first; p2 then joins as its replica.
		path=/primary
		[ "$n" = p2 ] && path=/replica
		code=""
		for _ in $(seq 1200); do
			code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${papi[$n]}$path" || true)
			[ "$code" = 200 ] && break
			sleep 0.1
		done
		[ "$code" = 200 ] || { echo "patroni $n did not come up; its log:" >&2; tail -30 "$pdir/$n.log" >&2; exit 1; }
	done
fi

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

cpu=() rss=() ecpu=() pcpu1=() pcpu2=() prss=()
for t in $(seq "$trials"); do
	run=()
	for n in a b c; do
		prof=()
		[ -n "${PROFILE:-}" ] && prof=(--cpu-profile "$PROFILE/node-$n.cpu" --mem-profile "$PROFILE/node-$n.allocs")
		"$work/pbxha" run -c "$work/$n/pbxha.yaml" "${prof[@]}" 2>"$work/$n/pbxha.log" &
		run+=($!)
		pids+=($!)
	done
	# pbxha gives back its start-up pages 10s after it starts: the trial
	# begins after that, so that the memory read is what a node keeps.
	sleep 12
	declare -A t1
	for p in "${run[@]}" "${epids[@]}" "${patroni[@]}"; do t1[$p]=$(cpu_ticks "$p"); done
	peak_rss_during "$seconds" "${run[@]}"
	roles=""
	for i in 0 1 2; do
		p=${run[$i]} n=a; [ "$i" = 1 ] && n=b; [ "$i" = 2 ] && n=c
		t2=$(cpu_ticks "$p")
		r=${peak[$p]}
		c=$(cpu_share $((t2 - t1[$p])) "$elapsed")
		role=$("$work/pbxha" status --json --socket "$work/$n/pbxha.sock" | sed -n 's/^  "role": "\(.*\)",$/\1/p')
		roles+=" node-$n ${role:-?} cpu ${c}% rss $(mib "$r") MiB;"
		cpu+=("$c") rss+=("$r")
	done
	for p in "${epids[@]}"; do
		c=$(cpu_share $(($(cpu_ticks "$p") - t1[$p])) "$elapsed")
		roles+=" etcd cpu ${c}%;"
		ecpu+=("$c")
	done
	for i in "${!patroni[@]}"; do
		p=${patroni[$i]}
		c=$(cpu_share $(($(cpu_ticks "$p") - t1[$p])) "$elapsed")
		r=$(rss_kib "$p")
		role=primary
		[ "$i" = 1 ] && role=replica
		roles+=" patroni p$((i + 1)) ($role) cpu ${c}% rss $(mib "$r") MiB;"
		if [ "$i" = 0 ]; then pcpu1+=("$c"); else pcpu2+=("$c"); fi
		prss+=("$r")
	done
	for p in "${run[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	echo "trial $t:$roles"
done
echo "median per node over $trials trials of ${seconds}s (lease_ttl $ttl, probe every $interval): cpu $(median "${cpu[@]}")% of one core, rss $(mib "$(median "${rss[@]}")") MiB; etcd per member: cpu $(median "${ecpu[@]}")%"
if [ ${#patroni[@]} -gt 0 ]; then
	# The primary's patroni works more than the replica's: the mean of
	# the two medians is the per-node figure.
	p1=$(median "${pcpu1[@]}") p2=$(median "${pcpu2[@]}")
	pc=$(awk -v a="$p1" -v b="$p2" 'BEGIN {printf "%.3f", (a + b) / 2}')
	echo "patroni per node (loop_wait 1, same etcd; its PostgreSQL apart): cpu ${pc}% of one core (primary ${p1}%, replica ${p2}%), rss $(mib "$(median "${prss[@]}")") MiB; patroni / pbxha (cpu): $(awk -v a="$pc" -v b="$(median "${cpu[@]}")" 'BEGIN {printf "%.2f", a / b}')"
	# patroni stops its PostgreSQL first on SIGTERM (a background job
	# of a script ignores SIGINT).
	for p in "${patroni[@]}"; do kill "$p"; done
	for p in "${patroni[@]}"; do wait "$p" 2>/dev/null || true; done
fi
