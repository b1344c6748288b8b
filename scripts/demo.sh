#!/usr/bin/env bash
# Makes a busybox bundle and runs a container in a UML guest with the installed runuml.
set -euo pipefail
bundle=/var/lib/runuml/demo
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/etc" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for cmd in $(/bin/busybox --list); do [ "$cmd" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$cmd"; done
cd "$bundle"
runc spec
# No terminal (the demo may run without one); the guest prints its kernel and hostname.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from $(uname -s) $(uname -r) in guest $(hostname); cat \/proc\/cpuinfo | grep -m1 model"/' config.json
runuml --version
echo "--- runuml run demo"
runuml run demo
