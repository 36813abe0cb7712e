# strata: make help lists the targets.
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED := 1
export GOFLAGS := -buildvcs=false -tags=containers_image_openpgp,exclude_graphdriver_btrfs
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/strata
E2E := bin/e2e.test
# The unprivileged user the rootless tests run as (created by make deps).
TEST_USER ?= strata-test
# Cached test inputs that take minutes to make (a Debian root with dnf).
CACHE ?= $(HOME)/.cache/strata-test
DNF_IMAGE := $(CACHE)/debian-dnf.tar
DEBIAN_MIRROR ?= http://deb.debian.org/debian

DEB_PACKAGES := runc uidmap dnf rpm createrepo-c busybox-static skopeo buildah podman \
	docker-registry debootstrap apache2-utils openssl git
RPM_PACKAGES := runc shadow-utils dnf rpm-build createrepo_c busybox skopeo buildah podman \
	distribution debootstrap httpd-tools openssl git

.PHONY: help deps build demo test test-unit test-root test-rootless lint docs bench fresh-check clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## install the system packages and the rootless test user (idempotent; needs root)
	@hack/deps.sh "$(TEST_USER)" "$(DEB_PACKAGES)" "$(RPM_PACKAGES)"

build: ## build bin/strata
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/strata

.demo/repo/repodata/repomd.xml: internal/fixtures/rpmrepo.go internal/fixtures/git.go hack/mkrepo/main.go
	$(GO) run ./hack/mkrepo .demo

demo: deps build .demo/repo/repodata/repomd.xml ## build the offline demo image from scratch and run it
	$(BIN) build recipes/examples/demo.yaml
	@echo "--- running localhost/demo:stg with buildah and runc:"
	@ctr=$$(buildah from --pull-never localhost/demo:stg) && buildah run --runtime runc --network none $$ctr sh -c 'hello && hello-app'; rc=$$?; buildah rm $$ctr >/dev/null; exit $$rc
	@echo "--- the same build again: nothing changed, nothing rebuilt:"
	$(BIN) build recipes/examples/demo.yaml

$(DNF_IMAGE):
	hack/debian-dnf-image.sh "$(DNF_IMAGE)" "$(DEBIAN_MIRROR)"

$(E2E): build
	$(GO) test -c -o $(E2E) ./tests/e2e

test: deps build $(E2E) $(DNF_IMAGE) ## run every test: unit, lint, integration as root and rootless
	$(MAKE) --no-print-directory lint test-unit test-root test-rootless

test-unit: ## unit tests (as root, also the package pipelines: real vfs stores in temp dirs, dnf --installroot, an in-process registry)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /tests/)

test-root: $(E2E) $(DNF_IMAGE) ## integration tests as root: real storage, runc, dnf, local RPM repos
	hack/e2e.sh "" $(CURDIR)/$(E2E) $(CURDIR)/$(BIN) $(DNF_IMAGE)

test-rootless: $(E2E) $(DNF_IMAGE) ## integration tests as the unprivileged $(TEST_USER) (user namespaces)
	hack/e2e.sh $(TEST_USER) $(CURDIR)/$(E2E) $(CURDIR)/$(BIN) $(DNF_IMAGE)

# The linter, pinned; installed into bin/ on first use.
GOLANGCI_VERSION := v2.15.0
GOLANGCI := bin/golangci-lint-$(GOLANGCI_VERSION)

$(GOLANGCI):
	@mkdir -p bin
	GOFLAGS= GOBIN=$(CURDIR)/bin/.golangci $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv bin/.golangci/golangci-lint $@ && rmdir bin/.golangci

lint: $(GOLANGCI) ## go vet, golangci-lint, gofmt, go mod tidy must be clean (docs/cli.md: test-unit)
	$(GO) vet ./...
	$(GOLANGCI) run ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@cp go.mod /tmp/strata-go.mod.bak; cp go.sum /tmp/strata-go.sum.bak; $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/strata-go.mod.bak || ! cmp -s go.sum /tmp/strata-go.sum.bak; then \
	  echo "go mod tidy changed go.mod/go.sum: commit the result"; exit 1; fi

docs: ## regenerate docs/cli.md, the man page docs/man/strata.1 and docs/completion/ from the app
	$(GO) test ./cmd/strata -run TestCLIReference -update

bench: build $(DNF_IMAGE) ## strata against buildah bud on generated fixtures: writes docs/benchmarks.md and .svg (root; BENCH_REPS, default 5)
	@set -o pipefail; gobench=$$(mktemp) && trap 'rm -f "$$gobench"' EXIT && \
	$(GO) test -run '^$$' -bench . -benchmem ./recipes/... | tee "$$gobench" && \
	$(GO) run ./hack/bench -strata $(BIN) -dnf-image $(DNF_IMAGE) -go-bench "$$gobench" -report docs/benchmarks.md

fresh-check: ## make demo and make test on a fresh Debian 12 root (debootstrap; root; about 10 minutes)
	hack/fresh-check.sh "$(DEBIAN_MIRROR)"

clean: ## remove build outputs
	rm -rf bin .demo
