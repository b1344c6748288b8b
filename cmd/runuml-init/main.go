// Command runuml-init is the guest agent: PID 1 inside every runuml guest. Build it static
// (CGO_ENABLED=0); runuml carries it into the guest.
package main

import "github.com/runuml/runuml/guest/agent"

func main() { agent.Main() }
