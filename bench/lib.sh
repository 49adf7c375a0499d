# Functions shared by the bench scripts, which source this file: logging,
# tools, the work directory, servers in the background, nginx, medians.

log() { printf '%s\n' "$*" >&2; }

# measure COMMAND...: runs COMMAND, its output in $WORK/out.log, and writes
# "WALL CPU RSS" to $WORK/measured: wall and CPU (user+sys) seconds, peak
# RSS in MiB. When COMMAND fails it shows the output and returns 1.
measure() {
	/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >"$WORK/out.log" 2>&1 || {
		log "FAILED: $*"
		cat "$WORK/out.log" >&2
		return 1
	}
	awk '{ printf "%s %.2f %.1f\n", $1, $2 + $3, $4 / 1024 }' "$WORK/time" >"$WORK/measured"
}

# install_missing PACKAGE... installs the Debian packages named, if any.
install_missing() {
	[ $# -gt 0 ] || return 0
	log "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "$@" >/dev/null
}

# need PROGRAM=PACKAGE...: installs the package of each program that is
# neither on the PATH nor in /usr/sbin (a PROGRAM may be a path).
need() {
	local missing=() p
	for p in "$@"; do
		command -v "${p%%=*}" >/dev/null || [ -x "/usr/sbin/${p%%=*}" ] || missing+=("${p#*=}")
	done
	install_missing "${missing[@]}"
}

# free_port prints a TCP port that is free on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		shuf -i 20000-60000 -n 1
}

# make_work NAME sets WORK to a new directory /var/tmp/NAME.XXXXXX (on
# disk, not a tmpfs: downloads go "to disk"). At exit the servers started
# with background are stopped and WORK is removed (KEEP=1 keeps it).
BACKGROUND=()
make_work() {
	WORK=$(mktemp -d "/var/tmp/$1.XXXXXX")
	trap cleanup_work EXIT
}
cleanup_work() {
	local pid
	for pid in "${BACKGROUND[@]}"; do stop "$pid"; done
	if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}

# background COMMAND... starts COMMAND in the background, to be stopped at
# exit; LAST_PID is its process id.
background() {
	"$@" &
	LAST_PID=$!
	BACKGROUND+=("$LAST_PID")
}

# stop PID stops a process, if it runs, and waits for its end.
stop() {
	if kill -0 "$1" 2>/dev/null; then
		kill "$1"
		while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
	fi
}

# start_nginx URL CONNECTIONS MAIN HTTP writes $WORK/nginx/nginx.conf and
# runs nginx with it until exit, then waits until URL answers. The file
# holds what every bench's nginx has (its workers, in the foreground, its
# pid, error log and temporary files below $WORK/nginx, CONNECTIONS
# connections a worker, the default type, sendfile), MAIN at the top level
# and HTTP in the http block: the servers. Sets NGINX, the program.
start_nginx() {
	local url=$1 connections=$2 main=$3 http=$4
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	mkdir -p "$WORK/nginx/tmp"
	cat >"$WORK/nginx/nginx.conf" <<EOF
$main
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections $connections; }
http {
	default_type application/octet-stream;
	client_body_temp_path $WORK/nginx/tmp/body;
	proxy_temp_path $WORK/nginx/tmp/proxy;
	fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
	uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
	scgi_temp_path $WORK/nginx/tmp/scgi;
	sendfile on;
$http
}
EOF
	background "$NGINX" -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
	for _ in $(seq 100); do curl -fso /dev/null "$url" && return; sleep 0.1; done
	curl -fso /dev/null "$url"
}

# serve_dir DIR runs nginx, serving the files of DIR on a free port of
# 127.0.0.1 with connections kept for the whole run, until exit. Sets
# BASE, its URL.
serve_dir() {
	local port
	port=$(free_port)
	BASE=http://127.0.0.1:$port
	start_nginx "$BASE/status" 4096 "" "$(
		cat <<CONF
	keepalive_requests 10000000;
	keepalive_timeout 300s;
	access_log off;
	server {
		listen 127.0.0.1:$port;
		root $1;
		location = /status { stub_status; }
	}
CONF
	)"
}

# median prints the median of the numbers on stdin, one a line.
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
