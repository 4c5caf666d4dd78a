# Agora — build, generate, test. Targets follow kubebuilder's vocabulary.
include hack/versions.env

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

ROOT := $(shell pwd)
BIN := $(ROOT)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
HELM := $(BIN)/helm
GOLANGCI_LINT := $(BIN)/golangci-lint
export KUBEBUILDER_ASSETS := $(BIN)

# Test timeout is generous: the first compile of an envtest suite is ~2 min cold on 2 cores.
GO_TEST_FLAGS ?= -count=1 -timeout=20m

.PHONY: all
all: build ## The default: build.

##@ Tools (built from the Go module proxy into bin/, skipped when already at the pinned version)

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kubectl, kube-controller-manager, kwok, controller-gen, helm, golangci-lint into bin/.
	hack/tools.sh all

# Always ask tools.sh (0.02 s when current): a file target alone would never rebuild after a
# version bump in hack/versions.env.
$(CONTROLLER_GEN): FORCE
	@hack/tools.sh controller-gen

$(GOLANGCI_LINT): FORCE
	@hack/tools.sh golangci-lint

.PHONY: FORCE
FORCE:

.PHONY: control-plane
control-plane: ## Build what the integration and e2e tests run: etcd, kube-apiserver, kubectl, kube-controller-manager.
	hack/tools.sh etcd kube-apiserver kubectl kube-controller-manager

##@ Generate

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Deepcopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## CRDs and RBAC into config/.
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	@# Drop core/v1's docs under the Task's pod template, keep Agora's; bound quantity strings so
	@# the API server accepts the cost of the non-negative CEL rules (see hack/crdpatch).
	go run ./hack/crdpatch -unwrap -quantity-max-length 64 config/crd/bases/*.yaml
	go run ./hack/crdpatch -strip properties.spec.properties.template config/crd/bases/scheduling.agora.dev_tasks.yaml
	$(CONTROLLER_GEN) rbac:roleName=agora-controller paths=./controllers/... output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=agora-executor,fileName=executor_role.yaml paths=./pkg/executor/... output:rbac:artifacts:config=config/rbac

.PHONY: codegen
codegen: ## Typed clientset, informers and listers under pkg/client.
	hack/update-codegen.sh

.PHONY: fmt
fmt: ## go fmt ./... (make verify fails on unformatted Go files).
	go fmt ./...

.PHONY: vet
vet: ## go vet ./...
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint, including the depguard rule that keeps pkg/allocator pure.
	$(GOLANGCI_LINT) run ./...

.PHONY: linkcheck
linkcheck: ## Check the relative links and #anchors of every Markdown file (offline; verify runs it too).
	go run ./hack/linkcheck

.PHONY: verify
verify: generate manifests codegen helm ## Regenerate everything; fail if the tree changed, a Markdown link broke or versions drifted.
	hack/verify.sh

##@ Test

.PHONY: test
test: control-plane manifests helm generate vet ## Unit, integration (real kube-apiserver + etcd) and e2e (local cluster) tests.
	hack/tools.sh kwok helm kube-scheduler
	go test $(GO_TEST_FLAGS) ./...

.PHONY: test-e2e
test-e2e: control-plane ## End-to-end tests on the local cluster (hack/local-cluster.sh, kwok).
	hack/tools.sh kwok
	go test $(GO_TEST_FLAGS) -v ./test/e2e/...

.PHONY: chaos
chaos: control-plane ## Long chaos run: random faults, invariants checked from the API (CHAOS_DURATION=30m, CHAOS_SEED=, CHAOS_NODES=; RELIABILITY.md). make test runs a 2-minute one.
	hack/tools.sh kwok kube-scheduler
	CHAOS_DURATION=$${CHAOS_DURATION:-30m} go test -count=1 -timeout=$$(( $${CHAOS_TIMEOUT_MIN:-90} ))m -v -run '^TestChaos$$' ./test/chaos/ 2>&1 | tee $${CHAOS_OUT:-/tmp/agora-chaos.log}

.PHONY: test-unit
test-unit: ## Unit tests only: go test -short skips everything that needs an API server or a cluster.
	go test $(GO_TEST_FLAGS) -short ./...

.PHONY: bench
bench: ## The allocator's benchmarks (pkg/allocator; BENCHMARKS.md, Allocator).
	go test -run '^$$' -bench . -benchmem ./pkg/allocator/...

.PHONY: bench-controller
bench-controller: ## agora-controller on 1,000 kwok nodes x 10 frameworks (BENCHMARKS.md, Controller; ~10 min).
	hack/tools.sh etcd kube-apiserver kubectl kwok
	go run ./hack/bench/controller $(BENCH_CONTROLLER_ARGS)

.PHONY: bench-failover
bench-failover: ## leader SIGKILL -> first offer at 1,000 kwok nodes; restart -> first offer at 5,000 nodes / 50,000 tasks (BENCHMARKS.md, Controller failover; ~20 min).
	hack/tools.sh etcd kube-apiserver kubectl kwok
	go run ./hack/bench/failover $(BENCH_FAILOVER_ARGS)

.PHONY: bench-vs-kube-scheduler
bench-vs-kube-scheduler: ## kube-scheduler placing Pods vs Agora launching Tasks, side by side on 1,000 kwok nodes (BENCHMARKS.md; flags in BENCH_VS_ARGS, e.g. -workload short).
	hack/tools.sh etcd kube-apiserver kubectl kwok kube-scheduler
	go run ./hack/bench/vs-kube-scheduler $(BENCH_VS_ARGS)

.PHONY: bench-dashboard
bench-dashboard: ## The live dashboard's pages drawn in headless Chromium for 1,000 nodes x 100 frameworks (BENCHMARKS.md; needs chromium; BENCH_DASHBOARD_ARGS).
	go run ./hack/bench/dashboard $(BENCH_DASHBOARD_ARGS)

.PHONY: bench-apiwrites
bench-apiwrites: ## kube-apiserver CPU per write: Pod create/status vs Task create/status/finalizer, for Task CRD schema variants (BENCHMARKS.md; ~10 min).
	hack/tools.sh etcd kube-apiserver kubectl
	go run ./hack/bench/apiwrites $(BENCH_APIWRITES_ARGS)

##@ Helm chart and image (charts/agora, Dockerfile; docs/install.md)

.PHONY: helm
helm: manifests ## Sync the chart's CRDs and RBAC from config/ (make manifests output), then helm lint.
	go run ./hack/helmsync
	@hack/tools.sh helm
	$(HELM) lint charts/agora --namespace agora-system

.PHONY: test-helm
test-helm: control-plane ## Chart tests only: lint, template, kustomize, install/upgrade/uninstall on a local cluster with the chart's RBAC.
	hack/tools.sh kwok helm
	go test $(GO_TEST_FLAGS) -v ./test/helm/...

# The image holds both binaries; the chart's default is $(IMAGE_REPO):<chart appVersion>.
VERSION ?= $(shell awk -F'"' '/^appVersion:/ {print $$2}' charts/agora/Chart.yaml)
IMAGE_REPO ?= ghcr.io/agora-sched/agora
IMG ?= $(IMAGE_REPO):$(VERSION)

.PHONY: docker-build docker-push
docker-build: ## Build the image IMG (default ghcr.io/agora-sched/agora:<appVersion>); needs a Docker engine.
	docker build -t $(IMG) .
docker-push: ## Push IMG.
	docker push $(IMG)

##@ Demo

.PHONY: demo
demo: ## The local cluster running three example frameworks with a live view (KEEP=1 leaves it up).
	go run ./hack/demo $(if $(KEEP),--keep)

##@ Experiment

.PHONY: experiment
experiment: control-plane ## The Mesos paper's evaluation on 96 kwok nodes: shared vs static, report and plots into _output/experiment/mesos (~15 min; EXPERIMENT_ARGS, e.g. --preset small --seed 2; docs/experiment.md).
	hack/tools.sh kwok
	go run ./hack/experiment/mesos $(EXPERIMENT_ARGS)

##@ Local cluster (etcd + kube-apiserver + kwok nodes + Agora, see DEVELOPERS.md)

.PHONY: cluster-up cluster-down cluster-status
cluster-up: ## hack/local-cluster.sh up (NODES=N to change the node count).
	hack/local-cluster.sh up $(if $(NODES),--nodes $(NODES))
cluster-down: ## Stop everything cluster-up started.
	hack/local-cluster.sh down
cluster-status: ## What runs (pids, URLs) and how many nodes are Ready; exit 1 when down or degraded.
	hack/local-cluster.sh status

##@ Deploy (against the current kubeconfig: KUBECONFIG or ~/.kube/config, its current context)

# bin/kubectl and bin/helm when hack/tools.sh has built them, else the ones on the PATH.
KUBECTL ?= $(or $(wildcard $(BIN)/kubectl),kubectl)
HELM_CLI ?= $(or $(wildcard $(HELM)),helm)
# The chart takes the image as image.repository plus image.tag or image.digest: IMG split at
# the digest's @ (repo@sha256:...), else at the tag's colon (a registry's port is not a tag).
# Without either, the chart's default tag (its appVersion) stays.
IMG_DIGEST = $(if $(findstring @,$(IMG)),$(lastword $(subst @, ,$(IMG))))
IMG_NODIGEST = $(firstword $(subst @, ,$(IMG)))
IMG_NAME = $(lastword $(subst /, ,$(IMG_NODIGEST)))
IMG_TAG = $(if $(IMG_DIGEST),,$(if $(findstring :,$(IMG_NAME)),$(lastword $(subst :, ,$(IMG_NAME)))))
IMG_REPOSITORY = $(if $(IMG_TAG),$(patsubst %:$(IMG_TAG),%,$(IMG_NODIGEST)),$(if $(IMG_DIGEST),$(patsubst %:$(lastword $(subst :, ,$(IMG_NAME))),%,$(IMG_NODIGEST)),$(IMG_NODIGEST)))

.PHONY: run
run: ## agora-controller from source (after make install; leader-elected: stands by while a deployed one leads; RUN_ARGS, e.g. --leader-elect=false).
	go run ./cmd/agora-controller $(RUN_ARGS)

.PHONY: install
install: ## Apply the CRDs and their admission policies (config/crd) and create the namespace agora-system.
	$(KUBECTL) apply --server-side -k config/crd
	$(KUBECTL) wait --for condition=Established --timeout=60s -f config/crd/bases
	$(KUBECTL) create namespace agora-system --dry-run=client -o yaml | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: ## Delete the CRDs and their policies (config/crd), so every Framework, Offer and Task; delete Frameworks first, while a controller runs.
	$(KUBECTL) delete --ignore-not-found -k config/crd

# --take-ownership: the chart carries the CRDs and their policies too, so after make install
# (or kubectl apply -k config/default) Helm adopts those objects instead of refusing to install.
.PHONY: deploy
deploy: ## helm upgrade --install the chart (release agora, namespace agora-system) with the image IMG; DEPLOY_ARGS, e.g. --set controller.replicas=1.
	$(HELM_CLI) upgrade --install agora charts/agora --namespace agora-system --create-namespace --take-ownership \
		--set image.repository=$(IMG_REPOSITORY) $(if $(IMG_TAG),--set image.tag=$(IMG_TAG)) $(if $(IMG_DIGEST),--set image.digest=$(IMG_DIGEST)) $(DEPLOY_ARGS)

.PHONY: undeploy
undeploy: ## helm uninstall the release agora; the CRDs stay (crds.keep), make uninstall removes them.
	$(HELM_CLI) uninstall agora --namespace agora-system --ignore-not-found

##@ Build

.PHONY: build
build: ## agora-controller, agora-executor and kubectl-agora into bin/.
	go build -o $(BIN)/ ./cmd/...

.PHONY: help
help: ## This list.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make [target ...] [VAR=value ...]   (no target: build)\n"} /^[a-zA-Z0-9_-]+:.*##/ { printf "  %-24s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
