package integration

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/runuml/runuml/integration/dockerd"
)

// testImage is the busybox image the suite imports into dockerd (and, saved, into containerd).
const testImage = "runuml-busybox:test"

// daemons are a containerd and a dockerd of the suite's own (integration/dockerd), started
// on first use and stopped by TestMain after every test.
type daemons struct {
	*dockerd.Daemons
	imageTar string // testImage as `docker save` writes it
}

var (
	daemonsOnce sync.Once
	theDaemons  *daemons
	daemonsErr  error // why docker tests fail; set once
	daemonsSkip string
)

// needDaemons returns the suite's running daemons, starting them on first use, or skips or
// fails the test when they cannot run.
func needDaemons(t *testing.T) *daemons {
	t.Helper()
	requireGuests(t)
	daemonsOnce.Do(func() {
		d, err := dockerd.Start(dockerd.Options{Runuml: runumlBin, Data: filepath.Join(suiteDir, "daemons"), Timeout: callTimeout})
		switch {
		case errors.Is(err, dockerd.ErrMissing):
			daemonsSkip = err.Error()
			return
		case err != nil:
			daemonsErr = err
			return
		}
		theDaemons = &daemons{Daemons: d}
		if theDaemons.imageTar, err = d.ImportBusybox(testImage); err != nil {
			daemonsErr = err
		}
	})
	if daemonsSkip != "" {
		t.Skip(daemonsSkip)
	}
	if daemonsErr != nil {
		t.Fatal(daemonsErr)
	}
	return theDaemons
}

// docker runs the docker CLI against the suite's dockerd with stdin (nil: empty).
func (d *daemons) docker(stdin any, args ...string) (stdout, stderr string, err error) {
	return d.Docker(stdin, args...)
}

// stopDaemons stops the suite's daemons if a test started them.
func stopDaemons() {
	if theDaemons != nil {
		theDaemons.Stop()
	}
}
