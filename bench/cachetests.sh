#!/usr/bin/env bash
# Runs the public HTTP cache test suite (github.com/http-tests/cache-tests,
# the suite behind cache-tests.fyi) against "fetch proxy" and against nginx
# proxy_cache (with proxy_cache_revalidate on), in the same run and against
# the same origin, the suite's own server. Prints a Markdown table of the
# tests each passes, per suite and in all (also written to
# bench/out/cachetests-DATE.md).
#
#   CACHE_TESTS=/path/to/cache-tests bench/cachetests.sh
#
# CACHE_TESTS is a checkout of the suite with its packages installed (git
# clone https://github.com/http-tests/cache-tests; cd cache-tests; npm
# install). Nothing of the suite is kept here. KEEP=1 keeps the work
# directory (the JSON results and the logs). All traffic stays on
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

: "${CACHE_TESTS:?set CACHE_TESTS to a checkout of github.com/http-tests/cache-tests with npm install done}"
CACHE_TESTS=$(cd "$CACHE_TESTS" && pwd)
need nginx=nginx-light curl=curl node=nodejs

make_work fetch-cachetests
mkdir -p "$WORK/bin" "$WORK/nginx/cache"

log "building"
go build -o "$WORK/bin/" ./cmd/fetch

ORIGIN_PORT=$(free_port) NGINX_PORT=$(free_port) PROXY_PORT=$(free_port) METRICS_PORT=$(free_port)
ORIGIN=http://127.0.0.1:$ORIGIN_PORT

log "starting the suite's server at $ORIGIN"
(cd "$CACHE_TESTS" && npm_config_protocol=http npm_config_port=$ORIGIN_PORT npm_config_pidfile="$WORK/origin.pid" \
	exec node test-engine/server/server.mjs) >"$WORK/origin.log" 2>&1 &
LAST_PID=$! && BACKGROUND+=("$LAST_PID")
for _ in $(seq 100); do curl -so /dev/null "$ORIGIN/" && break; sleep 0.1; done

start_nginx "http://127.0.0.1:$NGINX_PORT/nginx-alive" 1024 'user root;' "$(
	cat <<EOF
	proxy_cache_path $WORK/nginx/cache keys_zone=tests:10m;
	server {
		listen 127.0.0.1:$NGINX_PORT;
		access_log off;
		location = /nginx-alive { return 200; }
		location / {
			proxy_pass $ORIGIN;
			proxy_cache tests;
			proxy_cache_revalidate on;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
EOF
)"

log "starting fetch proxy"
background "$WORK/bin/fetch" proxy -listen "127.0.0.1:$PROXY_PORT" -metrics "127.0.0.1:$METRICS_PORT" \
	-upstream "$ORIGIN/" -cache "$WORK/proxy-cache" -retries 0 >"$WORK/proxy.log" 2>"$WORK/proxy.err"
for _ in $(seq 100); do curl -so /dev/null "http://127.0.0.1:$PROXY_PORT/" && break; sleep 0.1; done

# run NAME BASE runs the whole suite against BASE into $WORK/NAME.json.
run() {
	log "running the suite against $1"
	(cd "$CACHE_TESTS" && npm_config_base="$2" npm_config_id='' npm_package_config_id='' node --no-warnings test-engine/cli.mjs) >"$WORK/$1.json" 2>"$WORK/$1.err"
}
run nginx "http://127.0.0.1:$NGINX_PORT"
run fetch "http://127.0.0.1:$PROXY_PORT"
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics.txt" || true

mkdir -p bench/out
out=bench/out/cachetests-$(date -u +%Y%m%dT%H%M%SZ).md
CACHE_TESTS=$CACHE_TESTS node bench/cachetests-score.mjs "$WORK/fetch.json" "$WORK/nginx.json" | tee "$out"
log "report written to $out"
