#!/usr/bin/env bash
# Runs the benchmarks of bench/README.md side by side against their peers and
# prints a Markdown report: medians over ROUNDS rounds, and ratios to fetch.
#
#   bench/run.sh             full sizes (10,000 files, 1 GiB, 1,000,000 requests)
#   QUICK=1 bench/run.sh     small sizes and one round: a smoke run
#
# Environment: ROUNDS (default 5; QUICK: 1), CASES (default "small large
# segments conns memory ftp"), SEG_MIBS (the segments case's file sizes,
# default "64 1024"; QUICK: "64") and SEG_ROUNDS (its rounds, default ROUNDS), KEEP=1 keeps the work directory, GOBENCH=0 skips the in-package go
# test benchmarks, FETCH_B=path adds a second fetch command as the peer
# "fetch-b" (to compare before and after a change), ONLY_PEERS="fetch
# nethttp" runs only those peers. The report also goes to
# bench/out/results-DATE.md. All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1}
	SMALL_N=500 LARGE_MIB=64 MEM_NS="10000" CONN_N=1000 SEG_MIBS=${SEG_MIBS:-64}
else
	ROUNDS=${ROUNDS:-5}
	SMALL_N=10000 LARGE_MIB=1024 MEM_NS="10000 1000000" CONN_N=5000 SEG_MIBS=${SEG_MIBS:-64 1024}
fi
# The segments case: nginx sends each connection at most SEG_RATE bytes a
# second (limit_rate), as mirrors and CDNs that shape each connection do.
SEG_RATE=16m SEG_ROUNDS=${SEG_ROUNDS:-$ROUNDS}
SMALL_SIZE=4096 JOBS=16 CONN_LIMIT=8 TINY_FILES=50 TINY_SIZE=64
GOBENCH=${GOBENCH:-1}
CASES=${CASES:-small large segments conns memory ftp}
has() { [[ " $CASES " == *" $1 "* ]]; }

. bench/lib.sh

# Tools: install what is missing.
need nginx=nginx-light aria2c=aria2 curl=curl /usr/bin/time=time

make_work fetch-bench
mkdir -p "$WORK"/{bin,data,lists,out,trash}

log "building"
go build -o "$WORK/bin/" ./bench/gen ./bench/nethttp ./bench/fetchall
FETCH=
if [ -d cmd/fetch ] && go build -o "$WORK/bin/fetch" ./cmd/fetch; then
	FETCH=$WORK/bin/fetch
	# A limit per host below -j would leave fetch with fewer connections
	# than its peers get.
	PER_HOST=()
	if "$FETCH" -h 2>&1 | grep -q -- -per-host; then PER_HOST=(-per-host); fi
else
	log "cmd/fetch is not there: the fetch command is left out of the file cases"
fi

log "generating data"
has small && SN=$SMALL_N || SN=0
has large && LN=1 || LN=0
"$WORK/bin/gen" -dir "$WORK/data" -prefix small -n "$SN" -size "$SMALL_SIZE" >"$WORK/lists/small.manifest"
"$WORK/bin/gen" -dir "$WORK/data" -prefix large -n "$LN" -size $((LARGE_MIB << 20)) >"$WORK/lists/large.manifest"
"$WORK/bin/gen" -dir "$WORK/data" -prefix tiny -n "$TINY_FILES" -size "$TINY_SIZE" >/dev/null
if has segments; then
	for m in $SEG_MIBS; do
		"$WORK/bin/gen" -dir "$WORK/data" -prefix "seg$m" -n 1 -size $((m << 20)) >"$WORK/lists/seg$m.manifest"
	done
fi

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
start_nginx "$BASE/status" 16384 'user root;' "$(
	cat <<EOF
	tcp_nopush on;
	# Connections live as long as the clients keep them: the connection
	# counts are the clients' doing.
	keepalive_requests 10000000;
	keepalive_timeout 300s;
	access_log off;
	log_format conn '\$connection';
	server {
		listen 127.0.0.1:$PORT;
		root $WORK/data;
		location /conns/ {
			alias $WORK/data/tiny/;
			access_log $WORK/nginx/conns.log conn;
		}
		location /slow/ {
			alias $WORK/data/;
			limit_rate $SEG_RATE;
		}
		location = /status { stub_status; }
	}
EOF
)"

# Lists in each peer's format, from a manifest of "relpath sha256 size".
lists() { # name manifest [base]
	local name=$1 manifest=$2 BASE=${3:-$BASE}
	awk -v base="$BASE" '{ print base "/" $1 " out=" $1 " sha256=" $2 " size=" $3 }' "$manifest" >"$WORK/lists/$name.list"
	awk -v base="$BASE" '{ print base "/" $1 "\n  out=" $1 "\n  checksum=sha-256=" $2 }' "$manifest" >"$WORK/lists/$name.aria2"
	awk -v base="$BASE" -v out="$WORK/out" '{ print "url = \"" base "/" $1 "\"\noutput = \"" out "/" $1 "\"" }' "$manifest" >"$WORK/lists/$name.curl"
	awk '{ print $2 "  " $1 }' "$manifest" >"$WORK/lists/$name.sha256"
}
lists small "$WORK/lists/small.manifest"
lists large "$WORK/lists/large.manifest"
for m in $SEG_MIBS; do
	has segments && lists "seg$m" "$WORK/lists/seg$m.manifest" "$BASE/slow"
done
awk -v n="$CONN_N" -v files="$TINY_FILES" 'BEGIN { for (i = 0; i < n; i++) printf "conns/%05d %s %d\n", i % files, "-", 0 }' >"$WORK/lists/conns.manifest"
awk -v base="$BASE" '{ printf "%s/%s out=conns/%05d\n", base, $1, NR - 1 }' "$WORK/lists/conns.manifest" >"$WORK/lists/conns.list"
awk -v base="$BASE" '{ printf "%s/%s\n  out=conns/%05d\n", base, $1, NR - 1 }' "$WORK/lists/conns.manifest" >"$WORK/lists/conns.aria2"
awk -v base="$BASE" -v out="$WORK/out" '{ printf "url = \"%s/%s\"\noutput = \"%s/conns/%05d\"\n", base, $1, out, NR - 1 }' "$WORK/lists/conns.manifest" >"$WORK/lists/conns.curl"

# peer_cmd CASE PEER J: the command line of PEER for CASE with J transfers.
peer_cmd() {
	local c=$1 p=$2 j=$3 L=$WORK/lists O=$WORK/out
	case $p in
	fetch) echo "$FETCH -q -j $j ${PER_HOST[*]:+${PER_HOST[*]} $j} -i $L/$c.list -o $O" ;;
	fetch-s*) echo "$FETCH -q -segments ${p#fetch-s} -j $j -per-host $j -i $L/$c.list -o $O" ;;
	aria2c-x8) # aria2c's -s with its default smallest part (-k 20M), and with -k 1M
		echo "aria2c -q -x 8 -s 8 --file-allocation=none --allow-overwrite=true --auto-file-renaming=false -i $L/$c.aria2 -d $O" ;;
	aria2c-x8-k1M) echo "aria2c -q -x 8 -s 8 -k 1M --file-allocation=none --allow-overwrite=true --auto-file-renaming=false -i $L/$c.aria2 -d $O" ;;
	fetch-b) echo "$FETCH_B -q -j $j ${PER_HOST[*]:+${PER_HOST[*]} $j} -i $L/$c.list -o $O" ;;
	nethttp) echo "$WORK/bin/nethttp -j $j -i $L/$c.list -o $O" ;;
	nethttp-naive) echo "$WORK/bin/nethttp -naive -j $j -i $L/$c.list -o $O" ;;
	aria2c) echo "aria2c -q -j $j -x 1 --file-allocation=none --allow-overwrite=true --auto-file-renaming=false -i $L/$c.aria2 -d $O" ;;
	curl) # curl cannot verify: sha256sum afterwards, in the time.
		local check="cd $O && sha256sum --quiet --strict -c $L/$c.sha256"
		[ "$c" = conns ] && check=true
		echo "sh -c 'curl -sS --fail --create-dirs --parallel --parallel-max $j -K $L/$c.curl && $check'" ;;
	esac
}

RESULTS=$WORK/results.tsv # case peer round seconds peak_rss_kib extra cpu_seconds
: >"$RESULTS"

# measure CASE PEER ROUND J [EXPECTED_FILES]: one timed run, from a cold start
# of the peer, into an empty output directory, after a sync.
measure() {
	local c=$1 p=$2 r=$3 j=$4 want=${5:-}
	# With the file system mounted with discard, deleting 10,000 files
	# slows the next run down by seconds: many files wait in the trash
	# until the case ends. A large file is deleted at once (a new 1 GiB
	# file next to kept ones was slower to write, for every peer alike).
	if [ "$c" = large ] || [[ $c = seg* ]]; then
		rm -rf "$WORK/out"
	elif [ -d "$WORK/out" ]; then
		mv "$WORK/out" "$WORK/trash/$c-$p-$r"
	fi
	mkdir -p "$WORK/out"
	sync
	local cmd t0 t1 rss cpu
	cmd=$(peer_cmd "$c" "$p" "$j")
	t0=$(date +%s.%N)
	if ! /usr/bin/time -f '%M %U %S' -o "$WORK/rss" sh -c "$cmd" >"$WORK/peer.log" 2>&1; then
		log "FAILED: $c $p: $cmd"
		cat "$WORK/peer.log" >&2
		exit 1
	fi
	t1=$(date +%s.%N)
	rss=$(tail -n 1 "$WORK/rss" | cut -d' ' -f1)
	cpu=$(tail -n 1 "$WORK/rss" | awk '{ printf "%.2f", $2 + $3 }')
	if [ -n "$want" ]; then
		local got
		got=$(find "$WORK/out" -type f | wc -l)
		[ "$got" = "$want" ] || { log "FAILED: $c $p: $got files, want $want"; exit 1; }
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$p" "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$rss" "${6:-}" "$cpu" >>"$RESULTS"
	log "$c $p round $r: $(tail -n1 "$RESULTS" | cut -f4) s"
}

PEERS=(nethttp aria2c curl)
[ -n "${FETCH_B:-}" ] && PEERS=(fetch-b "${PEERS[@]}")
[ -n "$FETCH" ] && PEERS=(fetch "${PEERS[@]}")
if [ -n "${ONLY_PEERS:-}" ]; then read -ra PEERS <<<"$ONLY_PEERS"; fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# Each case runs its rounds apart from the other's, and each round turns the
# order of the peers, after an uncounted round 0: the first run after the
# data was written, and the first after a 1 GiB file was deleted, are slower
# or faster than the others by a second or two on this machine's file
# system (ext4 mounted with discard), and that must not fall on one peer.
rounds() { # CASE J FILES
	local r k order p
	measure "$1" nethttp 0 "$2" "$3"
	for r in $(seq "$ROUNDS"); do
		k=$(((r - 1) % ${#PEERS[@]}))
		order=("${PEERS[@]:k}" "${PEERS[@]:0:k}")
		for p in "${order[@]}"; do measure "$1" "$p" "$r" "$2" "$3"; done
	done
	emptytrash
}
emptytrash() { rm -rf "$WORK/trash" && mkdir "$WORK/trash" && sync; }
if has small; then rounds small "$JOBS" "$SMALL_N"; fi
if has large; then rounds large 1 1; fi

# Segments: one file through a throttle of SEG_RATE a connection, fetch
# with 1, 4 and 8 segments against aria2c -x 8 -s 8 and curl; the same
# rounds, the order turning each round, the first round uncounted.
segrounds() { # CASE
	local r k order p peers=()
	[ -n "$FETCH" ] && peers=(fetch-s1 fetch-s4 fetch-s8)
	peers+=(aria2c-x8 aria2c-x8-k1M curl)
	measure "$1" "${peers[0]}" 0 8 1
	for r in $(seq "$SEG_ROUNDS"); do
		k=$(((r - 1) % ${#peers[@]}))
		order=("${peers[@]:k}" "${peers[@]:0:k}")
		for p in "${order[@]}"; do measure "$1" "$p" "$r" 8 1; done
	done
}
if has segments; then
	for m in $SEG_MIBS; do segrounds "seg$m"; done
fi

# Connections: CONN_N requests, CONN_LIMIT at once; what nginx saw.
conns() { # peer
	: >"$WORK/nginx/conns.log"
	measure conns "$1" 1 "$CONN_LIMIT" "$CONN_N"
	local seen
	seen=$(sort -u "$WORK/nginx/conns.log" | wc -l)
	sed -i '$ s/^\(\([^\t]*\t\)\{5\}\)[^\t]*/\1'"$seen"'/' "$RESULTS"
}
if has conns; then
	for p in "${PEERS[@]}" nethttp-naive; do conns "$p"; done
	emptytrash
	: >"$WORK/nginx/conns.log"
	"$WORK/bin/fetchall" -url "$BASE/conns/%05d" -files "$TINY_FILES" -n "$CONN_N" -j "$CONN_LIMIT" >"$WORK/fetchall.out"
	printf 'conns\tFetchAll\t1\t%s\t%s\t%s\n' "$(sed 's/.*seconds=\([^ ]*\).*/\1/' "$WORK/fetchall.out")" \
		"$(sed 's/.*peak_rss_kib=\([^ ]*\).*/\1/' "$WORK/fetchall.out")" "$(sort -u "$WORK/nginx/conns.log" | wc -l)" >>"$RESULTS"
fi
has memory || MEM_NS=

# Memory: FetchAll over many tiny requests, Writer sink.
for n in $MEM_NS; do
	for r in $(seq "$(( ROUNDS < 3 ? ROUNDS : 3 ))"); do
		"$WORK/bin/fetchall" -url "$BASE/tiny/%05d" -files "$TINY_FILES" -n "$n" -j "$JOBS" >"$WORK/fetchall.out"
		log "memory $n round $r: $(cat "$WORK/fetchall.out")"
		printf 'memory-%s\tFetchAll\t%s\t%s\t%s\t\n' "$n" "$r" "$(sed 's/.*seconds=\([^ ]*\).*/\1/' "$WORK/fetchall.out")" \
			"$(sed 's/.*peak_rss_kib=\([^ ]*\).*/\1/' "$WORK/fetchall.out")" >>"$RESULTS"
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# The report.
col() { awk -F'\t' -v c="$1" -v p="$2" -v k="$3" '$1 == c && $2 == p && $3 > 0 { print $k }' "$RESULTS"; }
report() {
	echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory"
	echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
	echo "- $(go version | cut -d' ' -f3-), nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), $(aria2c --version | head -n1), $(curl --version | head -n1 | cut -d' ' -f1-2)"
	local env="ROUNDS=$ROUNDS"
	[ "$QUICK" = 1 ] && env="QUICK=1 $env"
	[ "$CASES" = "small large segments conns memory ftp" ] || env="$env CASES='$CASES'"
	has segments && env="$env SEG_MIBS='$SEG_MIBS' SEG_ROUNDS=$SEG_ROUNDS"
	[ -n "${FETCH_B:-}" ] && env="$env FETCH_B=$FETCH_B"
	[ -n "${ONLY_PEERS:-}" ] && env="$env ONLY_PEERS='$ONLY_PEERS'"
	echo "- command: \`$env bench/run.sh\`; rounds interleave the peers in an order that turns each round, after an uncounted round 0"
	echo
	local ref c p med lo hi rate rss ratio cpu m
	if has small || has large; then
		echo "| case | peer | median s | min–max s | rate | peak RSS | CPU s (user+sys) | time vs fetch |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	fi
	for c in small large; do
		has "$c" || continue
		ref=
		[ -n "$FETCH" ] && ref=$(col "$c" fetch 4 | median)
		for p in "${PEERS[@]}"; do
			med=$(col "$c" "$p" 4 | median)
			lo=$(col "$c" "$p" 4 | sort -g | head -n1) hi=$(col "$c" "$p" 4 | sort -g | tail -n1)
			rss=$(col "$c" "$p" 5 | median)
			cpu=$(col "$c" "$p" 7 | median)
			if [ "$c" = small ]; then
				rate=$(awk -v n="$SMALL_N" -v t="$med" 'BEGIN { printf "%.0f files/s", n / t }')
			else
				rate=$(awk -v m="$LARGE_MIB" -v t="$med" 'BEGIN { printf "%.0f MiB/s", m / t }')
			fi
			ratio=–
			[ -n "$ref" ] && ratio=$(awk -v a="$med" -v b="$ref" 'BEGIN { printf "%.2f×", a / b }')
			printf '| %s | %s | %.3f | %.3f–%.3f | %s | %.0f MiB | %.2f | %s |\n' \
				"$([ "$c" = small ] && echo "$SMALL_N × 4 KiB, -j $JOBS" || echo "1 × $LARGE_MIB MiB")" \
				"$p$([ "$p" = curl ] && echo ' + sha256sum')" "$med" "$lo" "$hi" "$rate" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$cpu" "$ratio"
		done
	done
	if has segments; then
		echo
		echo "Segments: one file, sha256-verified, to disk, from nginx with \`limit_rate $SEG_RATE\` a connection; \"time vs 1\" is the peer's median over fetch -segments 1's:"
		echo
		echo "| file | peer | median s | min–max s | rate | CPU s (user+sys) | time vs 1 |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
		for m in $SEG_MIBS; do
			c=seg$m
			ref=$(col "$c" fetch-s1 4 | median)
			for p in fetch-s1 fetch-s4 fetch-s8 aria2c-x8 aria2c-x8-k1M curl; do
				[ -n "$(col "$c" "$p" 4)" ] || continue
				med=$(col "$c" "$p" 4 | median)
				lo=$(col "$c" "$p" 4 | sort -g | head -n1) hi=$(col "$c" "$p" 4 | sort -g | tail -n1)
				cpu=$(col "$c" "$p" 7 | median)
				ratio=–
				[ -n "$ref" ] && ratio=$(awk -v a="$med" -v b="$ref" 'BEGIN { printf "%.2f×", a / b }')
				printf '| %s MiB | %s | %.3f | %.3f–%.3f | %.0f MiB/s | %.2f | %s |\n' "$m" "$(segname "$p")" "$med" "$lo" "$hi" \
					"$(awk -v m="$m" -v t="$med" 'BEGIN { print m / t }')" "$cpu" "$ratio"
			done
		done
	fi
	has conns || return 0
	echo
	echo "Connections: $CONN_N requests for $TINY_FILES files of $TINY_SIZE bytes, $CONN_LIMIT at once; connections nginx saw (distinct \`\$connection\`):"
	echo
	echo "| peer | connections | seconds |"
	echo "| --- | ---: | ---: |"
	for p in FetchAll "${PEERS[@]}" nethttp-naive; do
		printf '| %s | %s | %.3f |\n' "$p" "$(col conns "$p" 6)" "$(col conns "$p" 4)"
	done
	[ -n "$MEM_NS" ] || return 0
	echo
	echo "Memory: FetchAll over N requests for $TINY_SIZE-byte files, Writer sink, -j $JOBS; peak RSS (VmHWM) of the process:"
	echo
	echo "| requests | median peak RSS | median s | requests/s |"
	echo "| ---: | ---: | ---: | ---: |"
	for n in $MEM_NS; do
		med=$(col "memory-$n" FetchAll 4 | median)
		printf '| %s | %.1f MiB | %.2f | %.0f |\n' "$n" "$(col "memory-$n" FetchAll 5 | median | awk '{ print $1 / 1024 }')" "$med" "$(awk -v n="$n" -v t="$med" 'BEGIN { print n / t }')"
	done
}
# segname PEER: how the report names a peer of the segments case.
segname() {
	case $1 in
	fetch-s*) echo "fetch -segments ${1#fetch-s}" ;;
	aria2c-x8) echo "aria2c -x 8 -s 8" ;;
	aria2c-x8-k1M) echo "aria2c -x 8 -s 8 -k 1M" ;;
	curl) echo "curl + sha256sum" ;;
	esac
}
mkdir -p bench/out
OUTFILE=bench/out/results-$(date -u +%Y%m%dT%H%M%SZ).md
report | tee "$OUTFILE"

# FTP: bench/ftp.sh, when there, runs its own servers and peers and prints its
# own section.
if has ftp && [ -f bench/ftp.sh ]; then
	echo | tee -a "$OUTFILE"
	FETCH=$FETCH ROUNDS=$ROUNDS QUICK=$QUICK bash bench/ftp.sh | tee -a "$OUTFILE"
fi

if [ "$GOBENCH" = 1 ]; then
	if [ "$QUICK" = 1 ]; then
		gobench=("-bench 'SmallFiles|LargeFile|FetchAllMemory/10000\$' -benchtime 1x")
	else
		gobench=("-bench 'SmallFiles|LargeFile' -benchtime 3x -count 3" "-bench FetchAllMemory -benchtime 1x")
	fi
	{
		echo
		echo "In-package benchmarks:"
		echo
		echo '```'
		for args in "${gobench[@]}"; do
			echo "\$ go test -run '^\$' $args ."
			sh -c "go test -run '^\$' $args ." | grep -E '^Benchmark'
		done
		echo '```'
	} | tee -a "$OUTFILE"
fi
log "report: $OUTFILE"
