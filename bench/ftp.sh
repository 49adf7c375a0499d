#!/usr/bin/env bash
# FTP benchmark: small files from vsftpd on 127.0.0.1, fetch (the library,
# through bench/ftpbench) against `lftp mirror --parallel=J`, in the same run,
# with the same J. Prints a Markdown section: medians over ROUNDS rounds and
# ratios to fetch.
#
#   bench/ftp.sh             1,000 and 10,000 files of 4 KiB, 3 rounds
#   QUICK=1 bench/ftp.sh     1,000 files, one round
#
# Environment: ROUNDS, J (default 8), KEEP=1 keeps the work directory, FETCH
# (the path of a built cmd/fetch, as bench/run.sh passes it) adds the command
# as a peer. Installs vsftpd and lftp with apt-get when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1} SIZES="1000"
else
	ROUNDS=${ROUNDS:-3} SIZES="1000 10000"
fi
J=${J:-8} FILE_SIZE=4096 FETCH=${FETCH:-}

. bench/lib.sh

need lftp=lftp vsftpd=vsftpd /usr/bin/time=time
VSFTPD=$(command -v vsftpd || echo /usr/sbin/vsftpd)

make_work fetch-ftpbench
mkdir -p "$WORK"/{bin,data,lists,out}

log "ftp: building"
go build -o "$WORK/bin/" ./bench/gen ./bench/ftpbench

log "ftp: generating data"
for n in $SIZES; do
	"$WORK/bin/gen" -dir "$WORK/data" -prefix "ftp$n" -n "$n" -size "$FILE_SIZE" >"$WORK/lists/ftp$n.manifest"
	awk '{ print $2 "  " $1 }' "$WORK/lists/ftp$n.manifest" >"$WORK/lists/ftp$n.sha256"
done

PORT=$(free_port)
BASE=ftp://127.0.0.1:$PORT
for n in $SIZES; do
	awk -v base="$BASE" '{ print base "/" $1 " out=" $1 " sha256=" $2 " size=" $3 }' "$WORK/lists/ftp$n.manifest" >"$WORK/lists/ftp$n.list"
done
# Anonymous downloads from the data directory; run_as_launching_user lets it
# run as whoever runs this, root included, without a chroot.
cat >"$WORK/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
background=NO
run_as_launching_user=YES
seccomp_sandbox=NO
anonymous_enable=YES
anon_root=$WORK/data
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
max_clients=0
max_per_ip=0
xferlog_enable=NO
vsftpd_log_file=$WORK/vsftpd.log
EOF
background "$VSFTPD" "$WORK/vsftpd.conf" >"$WORK/vsftpd.out" 2>&1
for _ in $(seq 100); do
	if lftp -c "set net:max-retries 1; open $BASE; cls ftp${SIZES%% *}/00000" >/dev/null 2>&1; then break; fi
	sleep 0.1
done
lftp -c "set net:max-retries 1; open $BASE; cls ftp${SIZES%% *}/00000" >/dev/null

# peer_cmd N PEER: the command line of PEER for the N-file case.
peer_cmd() {
	local n=$1 p=$2 L=$WORK/lists O=$WORK/out
	case $p in
	fetch) echo "$WORK/bin/ftpbench -base $BASE -manifest $L/ftp$n.manifest -o $O -j $J" ;;
	fetch-cmd) echo "$FETCH -q -j $J -per-host $J -i $L/ftp$n.list -o $O" ;;
	lftp) echo "lftp -c 'open $BASE; mirror --parallel=$J ftp$n $O/ftp$n'" ;;
	lftp+sha256sum) echo "sh -c \"lftp -c 'open $BASE; mirror --parallel=$J ftp$n $O/ftp$n' && cd $O && sha256sum --quiet --strict -c $L/ftp$n.sha256\"" ;;
	esac
}

PEERS=(fetch lftp lftp+sha256sum)
if [ -n "$FETCH" ] && "$FETCH" -h 2>&1 | grep -q -- -per-host; then PEERS=(fetch fetch-cmd lftp lftp+sha256sum); fi

RESULTS=$WORK/results.tsv # files peer round seconds cpu_seconds
: >"$RESULTS"
measure() { # N PEER ROUND
	local n=$1 p=$2 r=$3 cmd t0 t1 got
	rm -rf "$WORK/out" && mkdir -p "$WORK/out"
	sync
	cmd=$(peer_cmd "$n" "$p")
	t0=$(date +%s.%N)
	if ! /usr/bin/time -f '%U %S' -o "$WORK/cpu" sh -c "$cmd" >"$WORK/peer.log" 2>&1; then
		log "FAILED: ftp $n $p: $cmd"
		cat "$WORK/peer.log" >&2
		exit 1
	fi
	t1=$(date +%s.%N)
	got=$(find "$WORK/out" -type f | wc -l)
	[ "$got" = "$n" ] || { log "FAILED: ftp $n $p: $got files, want $n"; exit 1; }
	printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$p" "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
		"$(tail -n1 "$WORK/cpu" | awk '{ printf "%.2f", $1 + $2 }')" >>"$RESULTS"
	log "ftp $n $p round $r: $(tail -n1 "$RESULTS" | cut -f4) s, $(tail -n1 "$RESULTS" | cut -f5) s CPU"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
	for n in $SIZES; do
		for p in "${PEERS[@]}"; do measure "$n" "$p" "$r"; done
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

col() { awk -F'\t' -v n="$1" -v p="$2" -v k="${3:-4}" '$1 == n && $2 == p { print $k }' "$RESULTS"; }

echo "## FTP: small files from vsftpd, $J at once"
echo
echo "- $(nproc) CPUs; load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo "- $(go version | cut -d' ' -f3-), vsftpd $("$VSFTPD" -v 0>&1 2>&1 | sed -n "s/.*version //p"), $(lftp --version | head -n1 | sed 's/ *|.*Version \([^ ]*\).*/ \1/')"
echo "- command: \`$( [ "$QUICK" = 1 ] && printf 'QUICK=1 ')ROUNDS=$ROUNDS J=$J bench/ftp.sh\`; rounds interleave the peers"
echo
echo "| files | peer | median s | min–max s | files/s | time vs fetch | client CPU s |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
for n in $SIZES; do
	ref=$(col "$n" fetch | median)
	for p in "${PEERS[@]}"; do
		med=$(col "$n" "$p" | median)
		lo=$(col "$n" "$p" | sort -g | head -n1) hi=$(col "$n" "$p" | sort -g | tail -n1)
		printf '| %s × 4 KiB | %s | %.3f | %.3f–%.3f | %.0f | %.2f× | %.2f |\n' "$n" "$p" "$med" "$lo" "$hi" \
			"$(awk -v n="$n" -v t="$med" 'BEGIN { print n / t }')" "$(awk -v a="$med" -v b="$ref" 'BEGIN { print a / b }')" \
			"$(col "$n" "$p" 5 | median)"
	done
done
