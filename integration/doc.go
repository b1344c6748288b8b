// Package integration holds runuml's end-to-end tests. They build runuml and runuml-init,
// drive them as containerd's shim does (through github.com/containerd/go-runc) against the
// real guest kernel, and assert what a user would check: output bytes, exit statuses, error
// words, files, and that nothing is left behind on the host.
//
// Run them as root with the guest kernel installed (`make kernel`):
//
//	go test -count=1 -v ./integration/
//
// Without root or a kernel every test skips and says why.
package integration
