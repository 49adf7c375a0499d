# Functions shared by the bench scripts, which source this file.

log() { printf '%s\n' "$*" >&2; }

# install_missing PACKAGE... installs the Debian packages named, if any.
install_missing() {
	[ $# -gt 0 ] || return 0
	log "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "$@" >/dev/null
}
