package guest

import (
	"os"
	"time"
)

// BootTimeoutEnv names the environment variable that sets how long the monitor waits from
// the kernel's exec to the agent's Ready (a Go duration such as "5s"; default 30s). `create`
// passes its environment to the monitor. The fault tests shorten it for guests that never
// boot.
const BootTimeoutEnv = "RUNUML_BOOT_TIMEOUT"

// bootTimeout is the time a guest has to boot and set the container up.
var bootTimeout = durationEnv(BootTimeoutEnv, 30*time.Second)

// durationEnv returns the positive duration in the environment variable name, else def.
func durationEnv(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}
