package main

import "github.com/runuml/runuml/bench/benchrt"

// ociRuntime is one runtime the benchmark compares; a runuml variant is runuml with
// annotations in every container's config.json.
type ociRuntime struct {
	*benchrt.Runtime
	annotations map[string]string
}

func newRuntime(name, bin, work string, annotations map[string]string) (*ociRuntime, error) {
	r, err := benchrt.NewRuntime(name, bin, work)
	return &ociRuntime{r, annotations}, err
}
