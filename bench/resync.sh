#!/usr/bin/env bash
# Measures a re-sync of an unchanged repository against the first sync of
# it: a PULP_MANIFEST of N files of SIZE bytes (default 40,000 × 4 KiB)
# and one file of BIG bytes (default 1 GiB), served by nginx, mirrored by
# `fetch sync -j 16` into an empty folder, then again into the same folder
# (every file in place trusted by its record, nothing read), then again
# with -verify (every file read and hashed, as a re-sync did before
# records), side by side with `rsync -a --dry-run` from the served tree to
# the mirror, the floor that a walk with one stat a file reaches. Prints a
# Markdown table of medians over ROUNDS rounds (default 3): wall time, CPU
# (user+sys) and peak RSS, and the re-sync's wall time as a fraction of
# the first sync's. OLD=REV runs the fetch of the git revision REV too,
# in the same rounds (the two take turns going first), its rows marked
# with REV and their fraction taken of its own first sync.
#
#   bench/resync.sh
#   OLD=2c50149 bench/resync.sh
#   N=200000 ROUNDS=1 bench/resync.sh
#   N=1000 BIG=$((64<<20)) ROUNDS=1 bench/resync.sh    # a smoke run
#
# All traffic stays on 127.0.0.1; the work directory under /var/tmp is
# removed at the end (KEEP=1 keeps it). The page cache is not dropped: the
# re-syncs read what the first sync just wrote, the case most favourable
# to hashing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${N:-40000} SIZE=${SIZE:-4096} BIG=${BIG:-$((1 << 30))} ROUNDS=${ROUNDS:-3} JOBS=16 OLD=${OLD:-}
need nginx=nginx-light curl=curl rsync=rsync /usr/bin/time=time

make_work fetch-resync
chmod 755 "$WORK" # nginx's workers read the data
mkdir -p "$WORK"/{bin,data}

log "building"
go build -o "$WORK/bin/" ./bench/gen ./cmd/fetch
PEERS=("")
if [ -n "$OLD" ]; then
	mkdir -p "$WORK/old"
	git archive "$OLD" | tar -x -C "$WORK/old"
	(cd "$WORK/old" && go build -o "$WORK/bin/fetch-old" ./cmd/fetch)
	PEERS+=(" ($OLD)")
fi
log "generating $N files of $SIZE bytes and one of $BIG bytes"
{
	"$WORK/bin/gen" -dir "$WORK/data" -prefix small -n "$N" -size "$SIZE"
	"$WORK/bin/gen" -dir "$WORK/data" -prefix big -n 1 -size "$BIG"
} | awk '{ print $1 "," $2 "," $3 }' >"$WORK/data/PULP_MANIFEST"

serve_dir "$WORK/data"

# run NAME COMMAND: runs COMMAND, appends "NAME|wall|cpu|rss" to the
# results (rss in MiB).
run() {
	local name=$1
	shift
	measure "$@" || exit 1
	read -r wall cpu rss <"$WORK/measured"
	printf '%s|%s|%s|%s\n' "$name" "$wall" "$cpu" "$rss" >>"$WORK/results"
	log "$name: $(tail -n1 "$WORK/results" | cut -d'|' -f2- | tr '|' ' ') (wall s, cpu s, rss MiB); $(tail -n1 "$WORK/out.log")"
}

FILES=$((N + 1))
: >"$WORK/results"
# syncs PEER: the first sync, the re-sync and the re-sync -verify of the
# fetch of PEER ("" or " (REV)").
syncs() {
	local bin=$WORK/bin/fetch
	[ -z "$1" ] || bin=$WORK/bin/fetch-old
	local sync=("$bin" sync -j "$JOBS" -per-host "$JOBS" "$BASE/PULP_MANIFEST" "$WORK/out")
	rm -rf "$WORK/out"
	sync
	run "first sync$1" "${sync[@]}"
	grep -q "$FILES done, 0 skipped, 0 failed" "$WORK/out.log" || { log "first sync: $(tail -n1 "$WORK/out.log")"; exit 1; }
	run "re-sync$1" "${sync[@]}"
	grep -q "0 done, $FILES skipped, 0 failed" "$WORK/out.log" || { log "re-sync: $(tail -n1 "$WORK/out.log")"; exit 1; }
	# A revision from before -verify has no such run.
	"$bin" sync -h 2>&1 | grep -q -- -verify || return 0
	run "re-sync -verify$1" "${sync[@]}" -verify
	grep -q "0 done, $FILES skipped, 0 failed; in place: 0 trusted, $FILES hashed" "$WORK/out.log" || { log "re-sync -verify: $(tail -n1 "$WORK/out.log")"; exit 1; }
}

FILES=$((N + 1))
for r in $(seq "$ROUNDS"); do
	order=("${PEERS[@]}")
	if [ $((r % 2)) = 0 ] && [ ${#PEERS[@]} = 2 ]; then order=("${PEERS[1]}" "${PEERS[0]}"); fi
	for p in "${order[@]}"; do syncs "$p"; done
	run "rsync -a --dry-run" rsync -a --dry-run "$WORK/data/" "$WORK/out/"
done

echo "PULP_MANIFEST of $N files of $SIZE bytes and one of $BIG bytes from nginx on loopback, fetch sync -j $JOBS, medians of $ROUNDS rounds ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end):"
echo
echo "| run | wall (s) | × first sync | CPU user+sys (s) | peak RSS (MiB) |"
echo "| --- | ---: | ---: | ---: | ---: |"
# column NAME N prints the median of column N of the runs named NAME.
column() { awk -F'|' -v name="$1" -v n="$2" '$1 == name { print $n }' "$WORK/results" | median; }
for p in "${PEERS[@]}"; do
	first=$(column "first sync$p" 2)
	names=("first sync$p" "re-sync$p" "re-sync -verify$p")
	[ "$p" != "${PEERS[0]}" ] || names+=("rsync -a --dry-run")
	for name in "${names[@]}"; do
		awk -F'|' -v name="$name" '$1 == name { found = 1 } END { exit !found }' "$WORK/results" || continue
		w=$(column "$name" 2)
		echo "| $name | $w | $(awk -v w="$w" -v f="$first" 'BEGIN { printf "%.3f", w / f }') | $(column "$name" 3) | $(column "$name" 4) |"
	done
done
