# runuml: an OCI runtime that runs each container in its own User Mode Linux guest.
# `make demo` installs everything on a fresh Debian 12 and runs a container; `make test`
# runs the whole test suite (both as root).

GO        ?= go
PREFIX    ?= /usr/local
LIBDIR    ?= $(PREFIX)/lib/runuml
BIN       := bin
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
export GOFLAGS ?= -mod=mod
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build kernel deps install uninstall demo test unit fuzz integration load bench lint clean

all: build

# Debian packages the build, the tests and the benchmarks use.
deps:
	./scripts/deps.sh

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/runuml ./cmd/runuml
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/runuml-init ./cmd/runuml-init

# The guest kernel, cached by source version and config hash (guest/kernel/README.md).
kernel:
	guest/kernel/build.sh

# Installs the binaries, then registers runtime `uml` with docker (/etc/docker/daemon.json,
# merged) and containerd (/etc/containerd/config.toml) and reloads a running dockerd.
install: build kernel
	install -D -m 0755 $(BIN)/runuml $(PREFIX)/bin/runuml
	install -D -m 0755 $(BIN)/runuml-init $(LIBDIR)/runuml-init
	$(PREFIX)/bin/runuml install

# Removes exactly what install registered, then the binaries.
uninstall:
	if [ -x $(PREFIX)/bin/runuml ]; then $(PREFIX)/bin/runuml uninstall; fi
	rm -f $(PREFIX)/bin/runuml $(LIBDIR)/runuml-init

# Installs what is needed and runs a container in a UML guest.
demo: deps install
	./scripts/demo.sh

# The unit tests run every fuzz test's seeds (testdata/fuzz holds the crashers found) as
# normal tests, then fuzz each target briefly; `make fuzz` fuzzes each for longer.
unit:
	$(GO) test ./oci/... ./guest/... ./hostfs/... ./container/... ./install/... ./seccomp/... ./netplug/...
	$(MAKE) fuzz FUZZTIME=$(UNIT_FUZZTIME)

# Each fuzz target: package and test name. Found inputs that fail go to PKG/testdata/fuzz.
FUZZ_TARGETS  := ./oci:FuzzParseSpec ./guest:FuzzSpecToGuest ./guest/proto:FuzzReader
FUZZTIME      ?= 60s
# A count, not a duration: a duration's deadline can end a worker mid-input, which Go's fuzzer
# reports as a failure ("context deadline exceeded") though nothing failed.
UNIT_FUZZTIME ?= 50000x

fuzz:
	set -e; for t in $(FUZZ_TARGETS); do \
		$(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME); \
	done

integration: build kernel
	$(GO) test -count=1 -timeout 30m -v ./integration/...

# The issue's load figures: 50 containers at once, then 500 sequential runs that must leave
# nothing behind (~75 s on 2 busy cores; `make integration` runs 100 of them).
load: build kernel
	RUNUML_LOAD_RUNS=500 $(GO) test -count=1 -timeout 30m -v -run 'TestFiftyAtOnce|TestSequentialRunsLeaveNothing' ./integration/

test: deps kernel build lint unit integration

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

bench: deps build kernel
	$(GO) run ./bench/boot
	$(GO) run ./bench/lifecycle
	$(GO) run ./bench/net
	$(GO) run ./bench/docker
	$(GO) run ./bench/rootfs

clean:
	rm -rf $(BIN)
