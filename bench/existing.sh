#!/usr/bin/env bash
# Measures a second run over files already in place: 10,000 files of 4 KiB
# (N, SIZE) downloaded from nginx by the fetch command with -j 16, then the
# same command again, which checks every file (Request.CheckExisting: size
# and sha256, read once, in the transfer slots) and downloads nothing, side
# by side with `sha256sum -c` over the same files. Prints a Markdown table
# of medians over ROUNDS rounds (default 5): wall time and CPU (user+sys).
#
#   bench/existing.sh
#   N=1000 ROUNDS=1 bench/existing.sh    # a smoke run
#
# All traffic stays on 127.0.0.1; the work directory under /var/tmp is
# removed at the end (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${N:-10000} SIZE=${SIZE:-4096} ROUNDS=${ROUNDS:-5} JOBS=16
need nginx=nginx-light curl=curl /usr/bin/time=time

make_work fetch-existing
chmod 755 "$WORK" # nginx's workers read the data
mkdir -p "$WORK"/{bin,data}

log "building"
go build -o "$WORK/bin/" ./bench/gen ./cmd/fetch
log "generating $N files of $SIZE bytes"
"$WORK/bin/gen" -dir "$WORK/data" -prefix small -n "$N" -size "$SIZE" >"$WORK/manifest"

serve_dir "$WORK/data"

awk -v base="$BASE" '{ print base "/" $1 " out=" $1 " sha256=" $2 " size=" $3 }' "$WORK/manifest" >"$WORK/list"
awk '{ print $2 "  " $1 }' "$WORK/manifest" >"$WORK/sha256"

# run NAME COMMAND: runs COMMAND, appends "NAME wall cpu" to the results.
run() {
	local name=$1
	shift
	measure "$@" || exit 1
	read -r wall cpu _ <"$WORK/measured"
	printf '%s %s %s\n' "$name" "$wall" "$cpu" >>"$WORK/results"
	log "$name: wall $wall s, cpu $cpu s"
}

FETCH=("$WORK/bin/fetch" -j "$JOBS" -per-host "$JOBS" -i "$WORK/list" -o "$WORK/out")
: >"$WORK/results"
for r in $(seq "$ROUNDS"); do
	rm -rf "$WORK/out"
	sync
	run "first pass (downloads)" "${FETCH[@]}"
	grep -q "$N done, 0 skipped, 0 failed" "$WORK/out.log" || { log "first pass: $(tail -n1 "$WORK/out.log")"; exit 1; }
	run "second pass (CheckExisting)" "${FETCH[@]}"
	grep -q "0 done, $N skipped, 0 failed" "$WORK/out.log" || { log "second pass: $(tail -n1 "$WORK/out.log")"; exit 1; }
	run "sha256sum -c" sh -c "cd '$WORK/out' && sha256sum -c --quiet '$WORK/sha256'"
done

echo "$N files of $SIZE bytes, -j $JOBS, medians of $ROUNDS rounds ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end):"
echo
echo "| run | wall (s) | CPU user+sys (s) |"
echo "| --- | ---: | ---: |"
for name in "first pass (downloads)" "second pass (CheckExisting)" "sha256sum -c"; do
	w=$(grep -F "$name " "$WORK/results" | awk '{ print $(NF-1) }' | median)
	c=$(grep -F "$name " "$WORK/results" | awk '{ print $NF }' | median)
	echo "| $name | $w | $c |"
done
