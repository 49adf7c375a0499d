#!/usr/bin/env bash
# Mirrors a generated rpm-md repository with fetch sync and with dnf
# reposync, side by side in one run, and prints a Markdown report: medians
# of wall time, CPU time and peak RSS over ROUNDS rounds, then fetch sync's
# peak RSS as the repository grows.
#
#   bench/rpm.sh            10,000 packages of 4 KiB, 3 rounds; RSS at 10,000 and 200,000
#   QUICK=1 bench/rpm.sh    1,000 packages, one round: a smoke run
#
# Environment: ROUNDS, N (packages), MEM_NS (sizes of the RSS case), JOBS
# (transfers at once for both, default 16), PEERS (default "fetch reposync
# fetch-again"; PEERS= runs the RSS case only), KEEP=1 keeps the work
# directory.
# The repository (bench/rpmgen) has packages of pseudo-random bytes, not
# real rpms: both tools check sizes and sha256 checksums, not rpm headers.
# The report also goes to bench/out/rpm-DATE.md. All traffic stays on
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1} N=${N:-1000} MEM_NS=${MEM_NS:-1000 10000}
else
	ROUNDS=${ROUNDS:-3} N=${N:-10000} MEM_NS=${MEM_NS:-10000 200000}
fi
JOBS=${JOBS:-16}
need nginx=nginx-light /usr/bin/time=time dnf=dnf bc=bc

make_work fetch-rpm
mkdir -p "$WORK"/{bin,data,out}
log "building"
go build -o "$WORK/bin/" ./bench/rpmgen ./cmd/fetch
log "generating repositories of $N $MEM_NS packages"
for n in $(printf '%s\n' "$N" $MEM_NS | sort -un); do
	"$WORK/bin/rpmgen" -dir "$WORK/data/r$n" -n "$n" -size 4096
done

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
start_nginx "$BASE/r$N/repodata/repomd.xml" 4096 'user root;' "
	keepalive_requests 10000000;
	access_log off;
	server {
		listen 127.0.0.1:$PORT;
		root $WORK/data;
	}"

RESULTS=$WORK/results.tsv # peer packages seconds cpu_seconds peak_kib
: >"$RESULTS"

# run PEER N ROUND: one timed run of PEER mirroring the repository of N
# packages into an empty folder; checks that every package arrived. A new
# folder each run, none removed before the end: making files right after
# removing 10,000 is slower on ext4 (it passes over recently freed inodes),
# a cost of the benchmark, not of the peer that runs next.
run() {
	local p=$1 n=$2 r=$3 out=$WORK/out/$1.$2.$3 t=$WORK/time
	rm -rf "$WORK/cache"
	sync
	case $p in
	fetch | fetch-mem) /usr/bin/time -f '%e %U %S %M' -o "$t" "$WORK/bin/fetch" sync -q -j "$JOBS" -per-host "$JOBS" "$BASE/r$n/" "$out" ;;
	fetch-again) # a second sync of the unchanged repository: every package checked in place
		"$WORK/bin/fetch" sync -q -j "$JOBS" -per-host "$JOBS" "$BASE/r$n/" "$out"
		sync
		/usr/bin/time -f '%e %U %S %M' -o "$t" "$WORK/bin/fetch" sync -q -j "$JOBS" -per-host "$JOBS" "$BASE/r$n/" "$out" ;;
	reposync) /usr/bin/time -f '%e %U %S %M' -o "$t" dnf -q --disableplugin=local reposync --setopt=reposdir=/nonexistent \
		--setopt=cachedir="$WORK/cache" --setopt=max_parallel_downloads="$JOBS" --releasever=1 \
		--repofrompath=bench,"$BASE/r$n/" --repoid=bench --download-metadata -p "$out" >/dev/null ;;
	esac
	local got wall user sys kib
	got=$(find "$out" -name '*.rpm' | wc -l)
	[ "$got" = "$n" ] || {
		log "$p: $got packages of $n"
		exit 1
	}
	read -r wall user sys kib <"$t"
	printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$n" "$wall" "$(echo "$user + $sys" | bc)" "$kib" >>"$RESULTS"
	log "$p $n round $r: ${wall}s, ${user}+${sys}s CPU, $kib KiB"
}

read -r -a PEERS <<<"${PEERS-fetch reposync fetch-again}"
for r in $(seq 0 "$ROUNDS"); do # round 0 warms the caches and is not counted
	[ ${#PEERS[@]} -gt 0 ] || break
	for i in "${!PEERS[@]}"; do
		run "${PEERS[$(((i + r) % ${#PEERS[@]}))]}" "$N" "$r"
	done
	if [ "$r" = 0 ]; then : >"$RESULTS"; fi
done
for n in $MEM_NS; do
	run fetch-mem "$n" mem
done

col() { awk -F'\t' -v p="$1" -v n="$2" -v c="$3" '$1 == p && $2 == n { print $c }' "$RESULTS" | median; }
mib() { echo "$1 / 1024" | bc; }
REPORT=$WORK/report.md
{
	if [ ${#PEERS[@]} -gt 0 ]; then
		echo "## rpm-md mirror: $N packages of 4 KiB, $JOBS transfers at once, median of $ROUNDS rounds"
		echo
		echo "| tool | wall s | CPU s | peak RSS MiB | wall / fetch's |"
		echo "| --- | --- | --- | --- | --- |"
		fw=$(col fetch "$N" 3)
		for p in "${PEERS[@]}"; do
			w=$(col "$p" "$N" 3)
			printf '| %s | %s | %s | %s | %.2f |\n' "$p" "$w" "$(col "$p" "$N" 4)" "$(mib "$(col "$p" "$N" 5)")" "$(echo "$w / $fw" | bc -l)"
		done
		echo
		echo "fetch-again: a second fetch sync of the unchanged repository (no package downloaded)."
		echo
	fi
	echo "## fetch sync's peak RSS as the repository grows"
	echo
	echo "| packages | wall s | peak RSS MiB |"
	echo "| --- | --- | --- |"
	for n in $MEM_NS; do
		printf "| %s | %s | %s |\n" "$n" "$(col fetch-mem "$n" 3)" "$(mib "$(col fetch-mem "$n" 5)")"
	done
	echo
	echo "$(nproc) cores; dnf $(dnf --version | head -1) (reposync with max_parallel_downloads=$JOBS, --download-metadata)"
} >"$REPORT"
mkdir -p bench/out
cp "$REPORT" "bench/out/rpm-$(date -u +%Y%m%d-%H%M%S).md"
cat "$REPORT"
