#!/usr/bin/env bash
# Installs the Debian packages runuml's build, tests and benchmarks use; a no-op when all are
# present. Runs as root on Debian 12 with no stdin.
set -euo pipefail
# golang-go only where no Go is on PATH; busybox-static makes the test and demo images; flex
# to xz-utils build the guest kernel; runc and crun are what the benchmarks compare against;
# containerd, docker.io and the network tools serve the integration tests.
pkgs=(
	golang-go busybox-static
	flex bison bc libelf-dev libssl-dev xz-utils
	runc crun containerd docker.io iproute2 iptables
	git ca-certificates
)
command -v go >/dev/null && pkgs=("${pkgs[@]:1}")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
