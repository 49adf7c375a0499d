#!/usr/bin/env bash
# Measures "fetch proxy" side by side with nginx serving the same files, and
# checks a fleet of proxies behind nginx's consistent hash. Prints a Markdown
# report (also written to bench/out/proxy-DATE.md):
#
#   - hits: a file kept by the proxy, against nginx sending the same file
#     (sendfile both), curl to /dev/null, ROUNDS rounds interleaved;
#   - misses: the first request through the proxy (downloaded from nginx,
#     streamed, kept), against curl straight from nginx;
#   - revalidation: REVAL_N requests for a PULP_MANIFEST, which the proxy
#     revalidates on every request (a 304 from nginx), against nginx;
#   - fleet: two proxies behind nginx with "hash $request_uri consistent":
#     how many times the upstream was asked for each file, what each proxy
#     kept, and what happens when one of them stops.
#
#   bench/proxy.sh            64 MiB and 1 GiB, 5 rounds
#   QUICK=1 bench/proxy.sh    16 MiB, 1 round: a smoke run
#
# Environment: ROUNDS, SIZES_MIB (default "64 1024"), REVAL_N (default 500),
# KEEP=1 keeps the work directory. All traffic stays on 127.0.0.1. Run it as
# root where nginx or curl are missing: it installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=${ROUNDS:-1} SIZES_MIB=${SIZES_MIB:-16} REVAL_N=${REVAL_N:-50}
else
	ROUNDS=${ROUNDS:-5} SIZES_MIB=${SIZES_MIB:-64 1024} REVAL_N=${REVAL_N:-500}
fi
FLEET_N=40

need nginx=nginx-light curl=curl

make_work fetch-proxy-bench
mkdir -p "$WORK"/{bin,data,caches}

log "building"
go build -o "$WORK/bin/" ./bench/gen ./cmd/fetch
for mib in $SIZES_MIB; do
	"$WORK/bin/gen" -dir "$WORK/data" -prefix "f$mib" -n 1 -size $((mib << 20)) >/dev/null
done
"$WORK/bin/gen" -dir "$WORK/data" -prefix fleet -n "$FLEET_N" -size 65536 >"$WORK/fleet.manifest"
"$WORK/bin/gen" -dir "$WORK/data" -prefix meta -n 1 -size 4096 >/dev/null
mv "$WORK/data/meta/00000" "$WORK/data/meta/PULP_MANIFEST"

UP_PORT=$(free_port) LB_PORT=$(free_port) A_PORT=$(free_port) B_PORT=$(free_port)
UP=http://127.0.0.1:$UP_PORT LB=http://127.0.0.1:$LB_PORT A=http://127.0.0.1:$A_PORT B=http://127.0.0.1:$B_PORT

# One nginx: the upstream (logging each request it serves) and, on another
# port, the front of the fleet.
start_nginx "$UP/meta/PULP_MANIFEST" 4096 'user root;' "$(
	cat <<EOF
	tcp_nopush on;
	log_format upstream '\$request_uri \$status';
	server {
		listen 127.0.0.1:$UP_PORT;
		root $WORK/data;
		access_log $WORK/nginx/upstream.log upstream;
	}
	# The fleet: each path always goes to the same proxy while it is up.
	upstream fleet {
		hash \$request_uri consistent;
		server 127.0.0.1:$A_PORT max_fails=1 fail_timeout=30s;
		server 127.0.0.1:$B_PORT max_fails=1 fail_timeout=30s;
	}
	server {
		listen 127.0.0.1:$LB_PORT;
		access_log off;
		location / {
			proxy_pass http://fleet;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
			proxy_next_upstream error timeout;
		}
	}
EOF
)"

start_proxy() { # name port
	background "$WORK/bin/fetch" proxy -listen "127.0.0.1:$2" -upstream "$UP/" -cache "$WORK/caches/$1" \
		>"$WORK/$1.log" 2>"$WORK/$1.err"
	eval "PID_$1=$LAST_PID"
	for _ in $(seq 100); do grep -q "serving" "$WORK/$1.err" 2>/dev/null && return; sleep 0.1; done
	log "proxy $1 did not start"; cat "$WORK/$1.err" >&2; exit 1
}
start_proxy a "$A_PORT"
start_proxy b "$B_PORT"

get() { curl -fsS -o /dev/null -w '%{time_total}\n' "$1"; }
# forget: remove what proxy a keeps, so that the next request is a miss.
forget() { find "$WORK/caches/a" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +; }
stats() { # values on stdin: median min max
	sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

RESULTS=$WORK/results.md
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(load)
{
	echo "| case | peer | median s | min–max s | rate | time vs nginx |"
	echo "| --- | --- | ---: | ---: | ---: | ---: |"
} >"$RESULTS"
calc() { awk "BEGIN { print $1 }"; }
row() { # case peer stats-line mib nginx-median
	read -r med lo hi <<<"$3"
	printf '| %s | %s | %s | %s–%s | %.0f MiB/s | %.2f× |\n' "$1" "$2" "$med" "$lo" "$hi" "$(calc "$4 / $med")" "$(calc "$med / $5")" >>"$RESULTS"
}
for mib in $SIZES_MIB; do
	path=f$mib/00000
	log "$mib MiB: misses and hits, $ROUNDS rounds"
	get "$UP/$path" >/dev/null # page cache warm for both
	: >"$WORK/direct" && : >"$WORK/miss" && : >"$WORK/hit"
	for r in $(seq "$ROUNDS"); do
		forget
		get "$A/$path" >>"$WORK/miss"
		# Turn the order each round: neither peer always goes first.
		if [ $((r % 2)) = 0 ]; then
			get "$UP/$path" >>"$WORK/direct"
			get "$A/$path" >>"$WORK/hit"
		else
			get "$A/$path" >>"$WORK/hit"
			get "$UP/$path" >>"$WORK/direct"
		fi
	done
	direct=$(stats <"$WORK/direct")
	nmed=${direct%% *}
	row "$mib MiB" "nginx" "$direct" "$mib" "$nmed"
	row "$mib MiB" "fetch proxy, hit" "$(stats <"$WORK/hit")" "$mib" "$nmed"
	row "$mib MiB" "fetch proxy, miss" "$(stats <"$WORK/miss")" "$mib" "$nmed"
done

log "revalidation: $REVAL_N requests for a PULP_MANIFEST"
get "$A/meta/PULP_MANIFEST" >/dev/null # kept
many() { # base: REVAL_N requests on one connection; prints seconds
	local args=() start end
	for _ in $(seq "$REVAL_N"); do args+=(-o /dev/null "$1/meta/PULP_MANIFEST"); done
	start=$(date +%s.%N)
	curl -fsS "${args[@]}"
	end=$(date +%s.%N)
	calc "$end - $start"
}
before=$(grep -c '^/meta/PULP_MANIFEST 304' "$WORK/nginx/upstream.log" || true)
t_direct=$(many "$UP")
t_proxy=$(many "$A")
after=$(grep -c '^/meta/PULP_MANIFEST 304' "$WORK/nginx/upstream.log" || true)
REVAL_LINE=$(printf 'revalidation: %d requests for a 4 KiB PULP_MANIFEST on one connection: nginx %.1f ms each, fetch proxy %.1f ms each (%d answered 304 by nginx meanwhile)' \
	"$REVAL_N" "$(calc "$t_direct * 1000 / $REVAL_N")" "$(calc "$t_proxy * 1000 / $REVAL_N")" $((after - before)))

log "fleet: $FLEET_N files through two proxies behind nginx"
fleet_get() { # fetch every fleet file through the front and check its sha256
	local bad=0 rel sum size got
	while read -r rel sum size; do
		got=$(curl -fsS "$LB/$rel" | sha256sum | cut -d' ' -f1) || got=failed
		[ "$got" = "$sum" ] || bad=$((bad + 1))
	done <"$WORK/fleet.manifest"
	echo "$bad"
}
upstream_fleet() { grep -c '^/fleet/' "$WORK/nginx/upstream.log" || true; }
kept() { grep -rl --include='*.json' '/fleet/' "$WORK/caches/$1" | wc -l; }
bad1=$(fleet_get)
bad2=$(fleet_get)
up1=$(upstream_fleet)
kept_a=$(kept a) kept_b=$(kept b)
stop "$PID_a"
bad3=$(fleet_get)
up2=$(upstream_fleet)
FLEET_LINES=(
	"fleet: $FLEET_N files of 64 KiB fetched twice through nginx (hash \$request_uri consistent) in front of two proxies: the upstream was asked $up1 times; proxy a kept $kept_a of them, proxy b $kept_b; bodies with a wrong sha256 or failed: $((bad1 + bad2))"
	"fleet after proxy a stopped: every file fetched again, $bad3 with a wrong sha256 or failed; the upstream was asked $((up2 - up1)) more times (a's share, now fetched by b)"
)

{
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/ { print $2 }') GiB memory"
	echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $(load)"
	echo "- $(go version | cut -d' ' -f3-), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(curl --version | head -n1 | cut -d' ' -f1-2)"
	echo "- command: \`ROUNDS=$ROUNDS SIZES_MIB='$SIZES_MIB' bench/proxy.sh\`"
	echo
	cat "$RESULTS"
	echo
	echo "- $REVAL_LINE"
	for l in "${FLEET_LINES[@]}"; do echo "- $l"; done
} | tee "$WORK/report.md"
mkdir -p bench/out
cp "$WORK/report.md" "bench/out/proxy-$(date -u +%Y%m%d-%H%M%S).md"
