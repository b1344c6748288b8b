#!/usr/bin/env bash
# Installs the Debian packages runuml's build, tests and benchmarks use; a no-op when all are
# present. Runs as root on Debian 12 with no stdin.
set -euo pipefail
# busybox-static makes the test and demo images; flex
# to xz-utils build the guest kernel; runc and crun are what the benchmarks compare against;
# containerd, docker.io, the network tools and debootstrap (a Debian test image) serve the
# integration tests; e2fsprogs makes the images of the ubd rootfs mode (mkfs.ext4 -d).
pkgs=(
	busybox-static
	flex bison bc libelf-dev libssl-dev xz-utils
	runc crun containerd docker.io iproute2 iptables debootstrap
	e2fsprogs
	git ca-certificates
)
# Go comes from the machine (/usr/local/go here): Debian 12's golang-go is too old for go.mod.
command -v go >/dev/null || { echo "deps: Go >= 1.26 is needed on PATH (e.g. /usr/local/go/bin)" >&2; exit 1; }
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
