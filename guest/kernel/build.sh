#!/usr/bin/env bash
# Builds runuml's guest kernel: User Mode Linux (ARCH=um) 7.x from Debian's
# linux-source-7.x package, with our Kconfig fragment (runuml.config) and
# patches (patches/*.patch), and installs it as
#   $RUNUML_KERNEL_DIR/linux       (default /usr/local/lib/runuml/kernel)
#   $RUNUML_KERNEL_DIR/linux.json  {"version","source","configHash","seccomp","smp","rawfds"}
#
# Results are cached under $RUNUML_CACHE/kernel/<debian version>-<hash12>/
# (default /var/cache/runuml), keyed by the source package version and the
# sha256 of the fragment and patches: a second run does no work.
#
# The source comes through a private apt source list (never added to the
# system's sources). If no 7.x source can be had or the build fails, an
# already installed (or cached) 7.x kernel is kept, with a warning; failing
# that, bookworm's user-mode-linux 6.1 is installed, with a loud warning:
# that kernel only has the slow ptrace mode.
#
# Runs as root, needs no stdin. Env: RUNUML_KERNEL_DIR, RUNUML_CACHE,
# RUNUML_JOBS (make -j), RUNUML_KERNEL_NO_FALLBACK=1 (fail instead of 6.1).
set -euo pipefail

# Pinned source: the series and exact Debian version we test with. If that
# version is gone from the archive, the newest of the same series is used,
# then the newest linux-source-7.x of any series.
KERNEL_SERIES=7.2
KERNEL_DEB_VERSION=7.2.13-1
APT_SUITES=("trixie-backports" "sid")
APT_MIRROR=http://deb.debian.org/debian
APT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Bump to invalidate cached builds when this script's build steps change.
BUILD_REV=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INSTALL_DIR=${RUNUML_KERNEL_DIR:-/usr/local/lib/runuml/kernel}
CACHE=${RUNUML_CACHE:-/var/cache/runuml}
JOBS=${RUNUML_JOBS:-$(($(nproc) + 1))}
FRAGMENT=$HERE/runuml.config
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

log() { printf '[kernel %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

shopt -s nullglob
PATCHES=("$HERE"/patches/*.patch)
shopt -u nullglob

# config_hash covers everything that shapes the binary besides the source:
# the fragment's CONFIG_ lines and the patches' diffs (not their comments).
config_hash() {
	{
		echo "rev $BUILD_REV"
		echo "== runuml.config"
		grep -E '^(CONFIG_|# CONFIG_[A-Za-z0-9_]+ is not set)' "$FRAGMENT"
		for p in "${PATCHES[@]}"; do
			echo "== $(basename "$p")"
			sed -n '/^diff /,$p' "$p"
		done
	} | sha256sum | cut -d' ' -f1
}

# install_from DIR: atomically install DIR/linux and DIR/linux.json.
install_from() {
	local src=$1
	mkdir -p "$INSTALL_DIR"
	if cmp -s "$src/linux" "$INSTALL_DIR/linux" && cmp -s "$src/linux.json" "$INSTALL_DIR/linux.json"; then
		return 0
	fi
	install -m 0755 "$src/linux" "$INSTALL_DIR/.linux.tmp"
	install -m 0644 "$src/linux.json" "$INSTALL_DIR/.linux.json.tmp"
	mv -f "$INSTALL_DIR/.linux.tmp" "$INSTALL_DIR/linux"
	mv -f "$INSTALL_DIR/.linux.json.tmp" "$INSTALL_DIR/linux.json"
}

# ensure_pkgs PKG...: install missing Debian packages.
ensure_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	fi
}

# apt and apt-cache see only our private source list, lists and cache.
APT_DIR=$CACHE/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
	-o APT::Sandbox::User=root -o Acquire::Retries=2 -o Acquire::http::Timeout=30)

# apt_private_update: refresh the private package lists (trixie-backports, sid).
apt_private_update() {
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	: >"$APT_DIR/sources.list"
	local s
	for s in "${APT_SUITES[@]}"; do
		echo "deb [signed-by=$APT_KEYRING] $APT_MIRROR $s main" >>"$APT_DIR/sources.list"
	done
	apt-get "${APT_OPTS[@]}" update -q >&2
}

# resolve_source: print "PACKAGE VERSION" of the source package to build.
resolve_source() {
	local pkg ver best_pkg="" best_ver=""
	if apt-cache "${APT_OPTS[@]}" madison "linux-source-$KERNEL_SERIES" 2>/dev/null |
		awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$KERNEL_DEB_VERSION"; then
		echo "linux-source-$KERNEL_SERIES $KERNEL_DEB_VERSION"
		return
	fi
	log "pinned linux-source-$KERNEL_SERIES $KERNEL_DEB_VERSION not found, looking for another 7.x"
	# Same series first (patches most likely apply), then any 7.x.
	for pkg in "linux-source-$KERNEL_SERIES" $(apt-cache "${APT_OPTS[@]}" pkgnames linux-source-7. 2>/dev/null | grep -E '^linux-source-7\.[0-9]+$' | sort -V -r); do
		while read -r ver; do
			[ -n "$ver" ] || continue
			if [ -z "$best_ver" ] || dpkg --compare-versions "$ver" gt "$best_ver"; then
				best_pkg=$pkg best_ver=$ver
			fi
		done < <(apt-cache "${APT_OPTS[@]}" madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}')
		if [ -n "$best_ver" ]; then
			echo "$best_pkg $best_ver"
			return
		fi
	done
	return 1
}

# verify_config: every line of the fragment must be in .config as written.
verify_config() {
	local line key want got bad=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) key=${line%%=*} want=$line ;;
		"# CONFIG_"*" is not set") key=${line#\# } key=${key%% *} want=$line ;;
		*) continue ;;
		esac
		got=$(grep -E "^(# )?${key}[= ]" .config || true)
		# An option whose dependencies are off is absent: same as "not set".
		if [ "$got" != "$want" ] && ! { [ -z "$got" ] && [[ $want == "# "* ]]; }; then
			bad+=("$want (got: ${got:-absent})")
		fi
	done <"$FRAGMENT"
	if [ ${#bad[@]} -gt 0 ]; then
		log "these options of runuml.config did not stick after olddefconfig:"
		printf '    %s\n' "${bad[@]}" >&2
		return 1
	fi
}

# build PKG VERSION HASH OUT: download, patch, configure, build, strip into OUT.
build() {
	local pkg=$1 ver=$2 hash=$3 out=$4
	local debs=$CACHE/debs work=$CACHE/build/$ver-${hash:0:12}
	ensure_pkgs make gcc libc6-dev flex bison bc libelf-dev xz-utils patch

	mkdir -p "$debs"
	local deb=$debs/${pkg}_${ver//:/%3a}_all.deb
	if [ ! -s "$deb" ]; then
		log "downloading $pkg $ver"
		(cd "$debs" && apt-get "${APT_OPTS[@]}" download -q "$pkg=$ver" >&2)
		[ -s "$deb" ] || die "download of $pkg $ver left no $deb"
		# Keep only the deb in use.
		find "$debs" -maxdepth 1 -name '*.deb' ! -path "$deb" -delete
	fi

	log "unpacking $(basename "$deb")"
	rm -rf "$work"
	mkdir -p "$work/pkg" "$work/src"
	dpkg -x "$deb" "$work/pkg"
	local tarball
	tarball=$(find "$work/pkg/usr/src" -maxdepth 1 -name 'linux-source-*.tar.xz' | head -n1)
	[ -n "$tarball" ] || die "no linux-source tarball in $deb"
	tar -xJf "$tarball" -C "$work/src" --strip-components=1
	rm -rf "$work/pkg"
	cd "$work/src"

	local p
	for p in "${PATCHES[@]}"; do
		log "applying $(basename "$p")"
		patch -p1 --forward --batch --quiet <"$p" >&2
	done

	log "configuring (defconfig + runuml.config)"
	make -s ARCH=um defconfig >&2
	scripts/kconfig/merge_config.sh -m -O . .config "$FRAGMENT" >"$work/merge.log" 2>&1 ||
		{ cat "$work/merge.log" >&2; die "merge_config.sh failed"; }
	make -s ARCH=um olddefconfig >&2
	verify_config || die "fix guest/kernel/runuml.config"

	log "building with make -j$JOBS (log: $work/build.log)"
	if ! make ARCH=um -j"$JOBS" linux >"$work/build.log" 2>&1; then
		tail -n 40 "$work/build.log" >&2
		die "kernel build failed"
	fi
	local kver seccomp=false smp=false rawfds=false
	kver=$(make -s ARCH=um kernelversion)
	# seccomp userspace mode has no Kconfig option: it is built in since 6.16.
	grep -q '__uml_setup("seccomp="' arch/um/os-Linux/start_up.c && seccomp=true
	grep -qx 'CONFIG_SMP=y' .config && smp=true
	# Patch 0009: the raw network transport takes sockets as fds (rxfd=,txfd=).
	grep -q '"rxfd"' arch/um/drivers/vector_user.c && rawfds=true

	mkdir -p "$out"
	strip -o "$out/linux" linux
	cp .config "$out/config"
	printf '{"version":"%s","source":"%s %s","configHash":"%s","seccomp":%s,"smp":%s,"rawfds":%s}\n' \
		"$kver" "$pkg" "$ver" "$hash" "$seccomp" "$smp" "$rawfds" >"$out/linux.json"
	cd /
	rm -rf "$work"
}

# fallback: bookworm's user-mode-linux 6.1 (ptrace mode only).
fallback() {
	ensure_pkgs user-mode-linux
	local ver up out=$CACHE/kernel/fallback-6.1
	ver=$(dpkg-query -W -f='${Version}' user-mode-linux)
	up=$(/usr/bin/linux.uml --version 2>/dev/null | head -n1 | tr -d '[:space:]')
	[ -n "$up" ] || up=${ver%%-*}
	mkdir -p "$out"
	cp /usr/bin/linux.uml "$out/linux"
	printf '{"version":"%s","source":"user-mode-linux %s","configHash":"","seccomp":false,"smp":false}\n' \
		"$up" "$ver" >"$out/linux.json"
	install_from "$out"
	cat >&2 <<EOF

################################################################################
## WARNING: could not build the 7.x guest kernel; installed Debian's
## user-mode-linux $up ($INSTALL_DIR/linux) instead.
## It has no seccomp mode and no SMP: guests run in the SLOW ptrace mode
## (boot ~1 s instead of ~25 ms, syscalls and fork ~2x slower).
################################################################################

EOF
}

# main: cached result, or build (in a child, so that set -e holds), or fallback.
main() {
	[ "$(id -u)" -eq 0 ] || die "run as root"
	local hash key cached
	hash=$(config_hash)
	# Fast path, no network: the pinned version, else any version built with
	# this fragment and these patches.
	cached=$CACHE/kernel/$KERNEL_DEB_VERSION-${hash:0:12}
	if [ ! -s "$cached/linux" ]; then
		cached=$(find "$CACHE/kernel" -mindepth 1 -maxdepth 1 -type d ! -name ".*" -name "*-${hash:0:12}" 2>/dev/null | sort -V | tail -n1 || true)
	fi
	if [ -n "$cached" ] && [ -s "$cached/linux" ] && [ -s "$cached/linux.json" ]; then
		install_from "$cached"
		echo "kernel cached: $cached -> $INSTALL_DIR/linux ($(cat "$cached/linux.json"))"
		return 0
	fi

	mkdir -p "$CACHE/kernel"
	exec 9>"$CACHE/kernel/.lock"
	flock 9
	local src="" start=$SECONDS
	ensure_pkgs debian-archive-keyring
	if apt_private_update && src=$(resolve_source); then
		key=${src#* }-${hash:0:12}
		if "$BASH" "${BASH_SOURCE[0]}" __build "${src% *}" "${src#* }" "$hash" "$CACHE/kernel/.tmp-$key"; then
			rm -rf "${CACHE:?}/kernel/$key"
			mv "$CACHE/kernel/.tmp-$key" "$CACHE/kernel/$key"
			install_from "$CACHE/kernel/$key"
			echo "kernel built in $((SECONDS - start)) s: $CACHE/kernel/$key -> $INSTALL_DIR/linux ($(cat "$INSTALL_DIR/linux.json"))"
			return 0
		fi
		rm -rf "$CACHE/kernel/.tmp-$key" "$CACHE/build/$key/src"
		log "7.x build failed; logs kept in $CACHE/build/$key/"
	else
		log "no linux-source-7.x package could be found"
	fi
	[ "${RUNUML_KERNEL_NO_FALLBACK:-0}" = 1 ] && die "7.x kernel build failed (fallback disabled)"
	# A 7.x kernel built from an older fragment or patches still beats 6.1's
	# ptrace mode: keep the installed one, or install the newest cached one.
	local old=""
	if grep -qs '"seccomp":true' "$INSTALL_DIR/linux.json"; then
		old=$INSTALL_DIR
	else
		old=$(find "$CACHE/kernel" -mindepth 1 -maxdepth 1 -type d -name '7.*' -exec test -s '{}/linux.json' ';' -print | sort -V | tail -n1)
		[ -n "$old" ] && install_from "$old"
	fi
	if [ -n "$old" ]; then
		log "WARNING: 7.x build failed; kept an older 7.x kernel: $(cat "$INSTALL_DIR/linux.json")"
		log "WARNING: it was not built from the current runuml.config/patches (configHash differs)"
		return 0
	fi
	fallback
}

if [ "${1:-}" = __build ]; then
	shift
	build "$@"
else
	main "$@"
fi
