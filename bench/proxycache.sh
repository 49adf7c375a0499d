#!/usr/bin/env bash
# Measures "fetch proxy" beside nginx proxy_cache, both in front of the
# same nginx origin, and prints a Markdown table (also written to
# bench/out/proxycache-DATE.md):
#
#   - small hits: wrk -t1 -c32 on one 4 KiB file, then on 1,000 different
#     16 KiB files (a path after another), requests per second;
#   - CPU per small hit: the user and system time of each cache's server
#     processes (from /proc) over a wrk run, divided by its hits;
#   - a big file (1 GiB) with curl: a hit, and a miss on a fresh cache.
#
# Every measured request is checked in the cache's access log: a hit for
# the hit runs, a miss for the misses (nginx $upstream_cache_status, fetch
# cache=). The two caches take turns, ROUNDS rounds; medians.
#
#   bench/proxycache.sh           ROUNDS=3, 10 s wrk runs, 1 GiB 3 times a round
#   QUICK=1 bench/proxycache.sh   1 round, 5 s wrk runs, 256 MiB once
#
# Environment: ROUNDS, DURATION (wrk's, e.g. 10s), BIG_MIB, BIG_N (misses and
# hits of the big file a round; the medians are over all), KEEP=1 keeps the
# work directory. nginx runs the origin and proxy_cache in one server (the
# origin is idle during the hit runs, so its CPU is the cache's). All
# traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-5s} BIG_MIB=${BIG_MIB:-256} BIG_N=${BIG_N:-1}
else
	ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} BIG_MIB=${BIG_MIB:-1024} BIG_N=${BIG_N:-3}
fi
need nginx=nginx-light curl=curl wrk=wrk

make_work fetch-proxycache-bench
mkdir -p "$WORK"/{bin,data,ngcache,fcache}
log "building"
go build -o "$WORK/bin/" ./bench/gen ./cmd/fetch
"$WORK/bin/gen" -dir "$WORK/data" -prefix one -n 1 -size 4096 >/dev/null
"$WORK/bin/gen" -dir "$WORK/data" -prefix many -n 1000 -size 16384 >/dev/null
"$WORK/bin/gen" -dir "$WORK/data" -prefix big -n 1 -size $((BIG_MIB << 20)) >/dev/null

UP_PORT=$(free_port) NC_PORT=$(free_port) FP_PORT=$(free_port)
UP=http://127.0.0.1:$UP_PORT NC=http://127.0.0.1:$NC_PORT FP=http://127.0.0.1:$FP_PORT
start_nginx "$UP/one/00000" 4096 'user root;' "$(
	cat <<CONF
	keepalive_requests 10000000;
	keepalive_timeout 300s;
	server {
		listen 127.0.0.1:$UP_PORT;
		root $WORK/data;
		access_log off;
	}
	proxy_cache_path $WORK/ngcache levels=1:2 keys_zone=bench:16m max_size=8g inactive=1d use_temp_path=off;
	upstream origin { server 127.0.0.1:$UP_PORT; keepalive 32; }
	log_format cache '\$request_uri \$upstream_cache_status';
	server {
		listen 127.0.0.1:$NC_PORT;
		access_log $WORK/nginx/cache.log cache;
		location / {
			proxy_pass http://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache bench;
			proxy_cache_valid 200 1d;
		}
	}
CONF
)"
NGINX_PID=$LAST_PID
background "$WORK/bin/fetch" proxy -listen "127.0.0.1:$FP_PORT" -upstream "$UP/" -cache "$WORK/fcache" -max-age 24h \
	>"$WORK/fetch.log" 2>"$WORK/fetch.err"
FETCH_PID=$LAST_PID
for _ in $(seq 100); do grep -q serving "$WORK/fetch.err" 2>/dev/null && break; sleep 0.1; done

# The log of each cache, and how it names a hit and a miss.
declare -A LOGF=([nginx]=$WORK/nginx/cache.log [fetch]=$WORK/fetch.log)
declare -A HIT=([nginx]=' HIT$' [fetch]='cache=hit')
declare -A MISS=([nginx]=' MISS$' [fetch]='cache=miss')
declare -A URL=([nginx]=$NC [fetch]=$FP)
lines() { wc -l <"${LOGF[$1]}"; }
# since PEER FROM PATTERN: lines of PEER's log after line FROM matching PATTERN.
since() { tail -n +$(($2 + 1)) "${LOGF[$1]}" | grep -c -- "$3" || true; }
# cpu PEER: clock ticks used by PEER's server processes.
cpu() {
	local pids=$FETCH_PID p t=0
	[ "$1" = nginx ] && pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
	for p in $pids; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
	echo "$t"
}
TCK=$(getconf CLK_TCK)
calc() { awk "BEGIN { print $1 }"; }
BAD=0
check() { # peer from pattern want what
	local got
	got=$(since "$1" "$2" "$3")
	if [ "$got" != "$4" ] || [ "$(($(lines "$1") - $2))" != "$4" ]; then
		log "$1 $5: $got of $(($(lines "$1") - $2)) logged requests match '$3', want $4"
		BAD=$((BAD + 1))
	fi
}

cat >"$WORK/many.lua" <<'LUA'
local i = 0
request = function()
	i = (i + 1) % 1000
	return wrk.format("GET", string.format("/many/%05d", i))
end
LUA
warm() { # peer: every small file kept
	curl -fsS -o /dev/null "${URL[$1]}/one/00000"
	for i in $(seq 0 999); do printf 'url = "%s/many/%05d"\noutput = "/dev/null"\n' "${URL[$1]}" "$i"; done | curl -fsS -K -
}
# small PEER NAME ARGS...: one wrk run; appends req/s to $WORK/NAME.PEER and
# CPU µs per hit to $WORK/cpu-NAME.PEER.
small() {
	local peer=$1 name=$2 from c0 c1 out reqs rate
	shift 2
	sleep 0.5 # what came before logged
	from=$(lines "$peer") c0=$(cpu "$peer")
	out=$(wrk -t1 -c32 -d"$DURATION" "$@" "${URL[$peer]}/one/00000")
	c1=$(cpu "$peer")
	sleep 0.5 # the last lines logged (fetch writes its log every 200 ms)
	reqs=$(since "$peer" "$from" "${HIT[$peer]}")
	check "$peer" "$from" "${HIT[$peer]}" "$reqs" "$name"
	rate=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
	echo "$rate" >>"$WORK/$name.$peer"
	calc "($c1 - $c0) * 1000000 / $TCK / $reqs" >>"$WORK/cpu-$name.$peer"
}
big() { # peer kind: one curl of the big file; appends seconds
	local from t
	sleep 0.5 # what came before logged
	from=$(lines "$1")
	t=$(curl -fsS -o /dev/null -w '%{time_total}' "${URL[$1]}/big/00000")
	sleep 0.5
	local pat=${HIT[$1]}
	[ "$2" = miss ] && pat=${MISS[$1]}
	check "$1" "$from" "$pat" 1 "$2"
	echo "$t" >>"$WORK/big-$2.$1"
}
fresh() { # peer: forget the big file
	if [ "$1" = nginx ]; then
		grep -rla 'KEY: .*/big/00000$' "$WORK/ngcache" | xargs -r rm -f || true
	else
		find "$WORK/fcache" -name '*.json' -exec grep -l '/big/00000"' {} + | while read -r j; do rm -f "$j" "${j%.json}"; done || true
	fi
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "warming both caches"
for p in nginx fetch; do warm "$p"; done
curl -fsS -o /dev/null "$UP/big/00000" # the origin's page cache
for r in $(seq "$ROUNDS"); do
	order="nginx fetch"
	[ $((r % 2)) = 0 ] && order="fetch nginx"
	for p in $order; do
		log "round $r: $p"
		small "$p" one
		small "$p" many -s "$WORK/many.lua"
		for _ in $(seq "$BIG_N"); do
			# Each miss starts with no writeback of the last one under way.
			fresh "$p"
			sync
			big "$p" miss
			big "$p" hit
		done
	done
done

row() { # label file-stem format
	local n f
	n=$(median <"$WORK/$2.nginx") f=$(median <"$WORK/$2.fetch")
	printf "| %s | $3 | $3 | %.2f× |\n" "$1" "$n" "$f" "$(calc "$f / $n")"
}
{
	echo "- machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GiB; load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $(go version | cut -d' ' -f3-), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
	echo "- command: \`ROUNDS=$ROUNDS DURATION=$DURATION BIG_MIB=$BIG_MIB BIG_N=$BIG_N bench/proxycache.sh\`; requests not logged as expected: $BAD"
	echo
	echo "| workload (median of $ROUNDS rounds; of $((ROUNDS * BIG_N)) for the big file) | nginx proxy_cache | fetch proxy | fetch / nginx |"
	echo "| --- | ---: | ---: | ---: |"
	row "one 4 KiB file, wrk -t1 -c32, req/s" one "%.0f"
	row "1,000 different 16 KiB files, req/s" many "%.0f"
	row "server CPU per 4 KiB hit, µs" cpu-one "%.1f"
	row "server CPU per 16 KiB hit, µs" cpu-many "%.1f"
	row "$BIG_MIB MiB hit (curl), s" big-hit "%.3f"
	row "$BIG_MIB MiB miss, fresh cache (curl), s" big-miss "%.3f"
} | tee "$WORK/report.md"
mkdir -p bench/out
cp "$WORK/report.md" "bench/out/proxycache-$(date -u +%Y%m%d-%H%M%S).md"
