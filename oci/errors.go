// Package oci holds runuml's pure data and files: loading and validating an OCI bundle's
// config.json, the per-container state store, the OCI state JSON, signal names and the
// runc-worded errors that containerd and docker match on.
package oci

import "errors"

// Sentinel errors. Their wording is runc's and is API: containerd's shim matches
// "container not running" and "does not exist" in the runtime's log to decide what happened.
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container with given ID already exists")
	ErrNotRunning = errors.New("container not running")
	ErrNotPaused  = errors.New("container not paused")
	ErrInvalidID  = errors.New("invalid container id format")
	ErrBadConfig  = errors.New("invalid configuration")
	// ErrNoCgroups: pause, update and events need the guest's host cgroups, which a rootless
	// container does not get (the host's hierarchies are root's).
	ErrNoCgroups = errors.New("a rootless container has no host cgroups")
)
