#!/usr/bin/env bash
# Mirrors one generated, signed Debian archive (N packages of 4 KiB, served
# by nginx on port 80 of an address of 127.0.0.0/8) with fetch sync -dist and its peers, side by side:
# apt-mirror (20 threads), debmirror, aptly mirror update. Prints a
# Markdown table of medians over ROUNDS rounds: wall time, CPU (user+sys),
# peak RSS, and what each checks.
#
#   bench/deb.sh                      10,000 packages, 3 rounds
#   N=200000 PEERS=fetch bench/deb.sh fetch's peak RSS on a larger archive
#
# Environment: N (default 10000), ROUNDS (default 3), PEERS (default
# "fetch apt-mirror debmirror aptly"), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
ROUNDS=${ROUNDS:-3}
PEERS=${PEERS:-fetch apt-mirror debmirror aptly}

. bench/lib.sh

need nginx=nginx-light gpg=gnupg /usr/bin/time=time curl=curl
for p in $PEERS; do
	case $p in
	apt-mirror) need apt-mirror=apt-mirror ;;
	debmirror) need debmirror=debmirror ;;
	aptly) need aptly=aptly ;;
	esac
done

make_work deb-bench
mkdir -p "$WORK"/{bin,archive,out,gnupg}
chmod 700 "$WORK/gnupg"
export GNUPGHOME=$WORK/gnupg
stop_agent() { gpgconf --kill all 2>/dev/null || true; cleanup_work; }
trap stop_agent EXIT

log "building"
go build -o "$WORK/bin/" ./cmd/fetch ./bench/debgen

log "generating $N packages"
"$WORK/bin/debgen" -dir "$WORK/archive" -dist bench -arch amd64 -n "$N" -size 4096
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-generate-key 'Bench <bench@example.com>' ed25519 sign never
gpg --batch --quiet --export >"$WORK/key.gpg"
release=$WORK/archive/dists/bench/Release
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --digest-algo SHA512 --clearsign -o "${release%Release}InRelease" "$release"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --digest-algo SHA512 --armor --detach-sign -o "$release.gpg" "$release"
# debmirror and aptly check with gpgv against a keyring of trusted keys.
cp "$WORK/key.gpg" "$GNUPGHOME/trustedkeys.gpg"

# Port 80, on an address of the loopback range that nothing else uses:
# apt-mirror drops a URL's port from the paths it reads back, not from
# those wget writes.
for _ in $(seq 20); do
	HOST=127.0.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
	curl -so /dev/null "http://$HOST/" || break
done
PORT=80
BASE=http://$HOST
start_nginx "$BASE/dists/bench/Release" 4096 'user root;' "
	access_log off;
	keepalive_requests 1000000;
	server {
		listen $HOST:$PORT;
		root $WORK/archive;
	}"

# command PEER OUT prints the command line that mirrors the archive into OUT.
command_of() {
	local out=$2
	case $1 in
	fetch) echo "$WORK/bin/fetch sync -q -dist bench -arch amd64 -keyring $WORK/key.gpg $BASE/ $out" ;;
	apt-mirror)
		mkdir -p "$out"
		cat >"$WORK/mirror.list" <<EOF
set base_path $out
set nthreads 20
set _tilde 0
deb-amd64 $BASE/ bench main
EOF
		echo "apt-mirror $WORK/mirror.list"
		;;
	debmirror) echo "debmirror --method=http --host=$HOST --root=/ --dist=bench --section=main --arch=amd64 --nosource --i18n --diff=none --rsync-extra=none --keyring=$GNUPGHOME/trustedkeys.gpg --progress $out" ;;
	aptly)
		cat >"$WORK/aptly.conf" <<EOF
{"rootDir": "$out", "architectures": ["amd64"], "gpgProvider": "gpg"}
EOF
		echo "sh -c 'aptly -config=$WORK/aptly.conf mirror create -keyring=$GNUPGHOME/trustedkeys.gpg bench $BASE/ bench main && aptly -config=$WORK/aptly.conf mirror update -keyring=$GNUPGHOME/trustedkeys.gpg bench'"
		;;
	esac
}

# checks PEER says what the peer verifies of each package.
checks() {
	case $1 in
	fetch) echo "size and sha256 of every file; InRelease, Release.gpg" ;;
	apt-mirror) echo "nothing (wget)" ;;
	debmirror) echo "size only (no --checksums); Release.gpg" ;;
	aptly) echo "size and checksums; InRelease" ;;
	esac
}

declare -A WALL CPU RSS
for round in $(seq 0 "$ROUNDS"); do
	for p in $PEERS; do
		# A new folder each round, none removed before the end: making
		# files right after removing 20,000 is slower on ext4 (it passes
		# over recently freed inodes), a cost of the benchmark, not of
		# the peer that runs next.
		out=$WORK/out/$p.$round
		cmd=$(command_of "$p" "$out")
		if ! /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" sh -c "$cmd" >"$WORK/$p.log" 2>&1; then
			log "$p failed in round $round:"
			tail -5 "$WORK/$p.log" >&2
			continue
		fi
		read -r e u s m <"$WORK/time"
		n=$(find "$out" -name '*.deb' -type f | wc -l)
		[ "$n" -ge "$N" ] || log "$p: $n packages of $N in round $round"
		log "round $round $p: ${e}s wall, $(echo "$u + $s" | bc)s CPU, $((m / 1024)) MB"
		# Round 0 warms the page cache and is not counted.
		[ "$round" = 0 ] && continue
		WALL[$p]+="$e"$'\n'
		CPU[$p]+="$(echo "$u + $s" | bc)"$'\n'
		RSS[$p]+="$((m / 1024))"$'\n'
	done
done

echo "Debian archive of $N packages of 4 KiB (medians of $ROUNDS rounds):"
echo
echo "| tool | wall s | CPU s | peak RSS MB | checks |"
echo "| --- | --- | --- | --- | --- |"
for p in $PEERS; do
	[ -n "${WALL[$p]:-}" ] || { echo "| $p | failed | | | |"; continue; }
	echo "| $p | $(printf '%s' "${WALL[$p]}" | median) | $(printf '%s' "${CPU[$p]}" | median) | $(printf '%s' "${RSS[$p]}" | median) | $(checks "$p") |"
done
