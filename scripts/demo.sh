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

# The same through docker: dockerd with the runtime `make install` registered (started here
# if it is not running), an image imported from the demo rootfs (no registry is reachable).
if ! docker info >/dev/null 2>&1; then
	echo "--- starting dockerd (log: /var/log/runuml-demo-dockerd.log)"
	nohup dockerd >/var/log/runuml-demo-dockerd.log 2>&1 &
	for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
fi
tar -C "$bundle/rootfs" -c . | docker import - runuml-demo:busybox >/dev/null
echo "--- docker run --runtime=uml --rm runuml-demo:busybox uname -a"
docker run --runtime=uml --rm runuml-demo:busybox uname -a
