# Shared by the test/bench-*.sh scripts (sourced, not run): a work directory
# removed at exit, processes stopped by PID at exit, the binaries, and the
# helpers the measurements use. Expects to run from the repository root.

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# pbxha is built as the package ships it (packaging/deb/build.sh): static,
# without cgo, so that what is measured is what an operator runs.
CGO_ENABLED=0 go build -trimpath -o "$work/pbxha" ./cmd/pbxha
go build -o "$work/testpbx" ./test/testpbx
hz=$(getconf CLK_TCK)

# start_testpbx NAME LISTEN: runs the test PBX on LISTEN (host:0) over udp
# and tcp, and sets udp_addr and tcp_addr to where it listens.
start_testpbx() {
	"$work/testpbx" -listen "$2" -transport udp,tcp >"$work/pbx-$1.out" &
	pids+=($!)
	for _ in $(seq 100); do grep -q ready "$work/pbx-$1.out" 2>/dev/null && break; sleep 0.1; done
	udp_addr=$(sed -n 's/.*udp=\([^ ]*\).*/\1/p' "$work/pbx-$1.out")
	tcp_addr=$(sed -n 's/.*tcp=\([^ ]*\).*/\1/p' "$work/pbx-$1.out")
	[ -n "$udp_addr" ] && [ -n "$tcp_addr" ] || { echo "testpbx $1 did not start" >&2; exit 1; }
}

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# cpu_share TICKS SECONDS: TICKS used over SECONDS as a percentage of one core.
cpu_share() { awk -v d="$1" -v hz="$hz" -v s="$2" 'BEGIN {printf "%.3f", 100 * d / hz / s}'; }

# mib KIB: KiB as MiB with one decimal (a whole-MiB print would hide up
# to 1023 KiB over a goal).
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# rss_kib PID: resident memory in KiB.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# peak_rss_during SECONDS PID...: waits SECONDS, reading each PID's resident
# memory every second, and sets peak[PID] to the largest reading (KiB) and
# elapsed to the seconds that really went by (for cpu_share).
declare -A peak
peak_rss_during() {
	local s=$1 p r t0
	shift
	t0=$(date +%s.%N)
	for p in "$@"; do peak[$p]=0; done
	for _ in $(seq "$s"); do
		sleep 1
		for p in "$@"; do
			r=$(rss_kib "$p")
			[ "$r" -gt "${peak[$p]}" ] && peak[$p]=$r
		done
	done
	elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
