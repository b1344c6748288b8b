package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func TestExampleIsValid(t *testing.T) {
	bundle := t.TempDir()
	os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755)
	data, _ := json.Marshal(Example())
	if _, err := ParseSpec(data, bundle); err != nil {
		t.Fatal(err)
	}
}

func TestFeaturesDecode(t *testing.T) {
	data, err := json.Marshal(Features())
	if err != nil {
		t.Fatal(err)
	}
	var f features.Features
	if err := json.Unmarshal(data, &f); err != nil || f.OCIVersionMax == "" || len(f.MountOptions) == 0 || f.Linux == nil {
		t.Fatalf("features: %v %+v", err, f)
	}
}
