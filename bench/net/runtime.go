package main

import "github.com/runuml/runuml/bench/benchrt"

// ociRuntime is one runtime the benchmark compares; a runuml variant is runuml with
// annotations in every container's config.json.
type ociRuntime struct {
	*benchrt.Runtime
	annotations map[string]string
}
