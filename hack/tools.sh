#!/usr/bin/env bash
# hack/tools.sh [all | list | TOOL...]
#
# Builds the development tools into bin/ from the Go module proxy only (this project's machines
# reach no GitHub release page and no dl.k8s.io). Versions come from hack/versions.env.
#
#   all      controller-gen etcd kube-apiserver kubectl kube-controller-manager kwok helm golangci-lint
#   extra    kube-scheduler (built on request only; not in `all`)
#   list     print every tool with its pinned version and whether bin/ has it
#
# A tool is skipped when bin/.stamps/<tool>-<version> exists and bin/<tool> is there, so bumping
# a version in hack/versions.env rebuilds exactly the tools whose version changed. Each binary is
# checked for its version string after the build and then renamed into bin/ atomically, so a
# concurrent user of bin/kubectl never runs a half-written file. Concurrent runs of this script
# (two engineers, `make test` and `make lint` at once) take turns on a lock instead of compiling
# the same thing twice on the same two cores.
set -euo pipefail

# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STAMPS="${BIN}/.stamps"
BUILD="${BIN}/.build"        # throwaway modules and build logs
LOGS="${BUILD}/logs"

# Order: the quick ones others are waiting for (controller-gen for `make manifests`, the control
# plane for `make test`) first.
ALL_TOOLS=(controller-gen etcd kube-apiserver kubectl kube-controller-manager kwok helm golangci-lint)
EXTRA_TOOLS=(kube-scheduler)

# The throwaway modules must never be folded into a go.work somewhere above the repo, nor inherit
# flags meant for the repo's own module (e.g. -mod=vendor).
export GOWORK=off
export GOFLAGS=-buildvcs=false

# ---------------------------------------------------------------------------------------------
# Per-tool facts
# ---------------------------------------------------------------------------------------------

tool_version() {
  case "$1" in
    etcd) echo "${ETCD_VERSION}" ;;
    kube-apiserver | kubectl | kube-scheduler | kube-controller-manager) echo "${KUBERNETES_VERSION}" ;;
    kwok) echo "${KWOK_VERSION}" ;;
    controller-gen) echo "${CONTROLLER_TOOLS_VERSION}" ;;
    helm) echo "${HELM_VERSION}" ;;
    golangci-lint) echo "${GOLANGCI_LINT_VERSION}" ;;
    *) return 1 ;;
  esac
}

# Rough cold build times measured on a 2-core machine with empty Go caches (see DEVELOPERS.md);
# printed so that nobody kills a build that is merely slow.
tool_cold_hint() {
  case "$1" in
    etcd) echo "~1 min" ;;
    kube-apiserver) echo "~5 min" ;;
    kubectl | kube-scheduler | kube-controller-manager) echo "~0.5-1.5 min after kube-apiserver, ~4 min alone" ;;
    kwok) echo "~1.5 min" ;;
    controller-gen) echo "~20 s" ;;
    helm) echo "~1.5 min" ;;
    golangci-lint) echo "~2 min" ;;
  esac
}

# The arguments that make the tool print its version; the output must contain the pinned
# version (without the leading v), which proves the ldflags stamp took.
tool_version_args() {
  case "$1" in
    etcd | kube-apiserver | kube-scheduler | kube-controller-manager | controller-gen | kwok) echo "--version" ;;
    kubectl) echo "version --client" ;;
    helm) echo "version --short" ;;
    golangci-lint) echo "version" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

CHILD_PID=""
cleanup() {
  # A background `go build` ignores SIGINT in a non-interactive shell; stop it ourselves.
  if [[ -n "${CHILD_PID}" ]] && kill -0 "${CHILD_PID}" 2>/dev/null; then
    kill "${CHILD_PID}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_logged DIR LOGFILE LABEL CMD... : runs CMD in DIR with its output appended to LOGFILE,
# printing a heartbeat every 30 s; on failure prints the tail of the log and exits.
run_logged() {
  local dir=$1 logf=$2 label=$3
  shift 3
  printf '\n[%s]$ %s\n' "${dir}" "$*" >>"${logf}"
  (cd "${dir}" && exec "$@") >>"${logf}" 2>&1 &
  CHILD_PID=$!
  local start=${SECONDS} next=30
  while kill -0 "${CHILD_PID}" 2>/dev/null; do
    sleep 1
    if (( SECONDS - start >= next )); then
      log "    ... ${label}: $(fmt_duration $((SECONDS - start))) so far (log: ${logf#"${ROOT}/"})"
      next=$((next + 30))
    fi
  done
  local rc=0
  wait "${CHILD_PID}" || rc=$?
  CHILD_PID=""
  if (( rc != 0 )); then
    printf '\n----- last 40 lines of %s -----\n' "${logf}" >&2
    tail -n 40 "${logf}" >&2
    printf -- '-----\n' >&2
    die "${label} failed (exit ${rc}) after $(fmt_duration $((SECONDS - start))); full log: ${logf}"
  fi
}

# k8s.io/kubernetes v1.37.2 -> v0.37.2, the version its staging modules are published at.
staging_version() {
  local v=${KUBERNETES_VERSION}
  [[ ${v} == v1.* ]] || die "KUBERNETES_VERSION=${v} does not look like v1.X.Y"
  echo "v0.${v#v1.}"
}

# ---------------------------------------------------------------------------------------------
# Builders. Each one writes the binary into the directory $1 (a fresh temp dir) and appends its
# output to the log $2.
# ---------------------------------------------------------------------------------------------

# k8s.io/kubernetes cannot be `go install`ed: its go.mod requires its ~30 staging modules
# (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and points them at ./staging/src with replace
# directives, which only work inside its own repository. A throwaway module that requires
# k8s.io/kubernetes and replaces every staging module with its published v0.X.Y builds fine.
# The staging list is read from the replace block of the pinned version's go.mod, which
# `go list -m -f {{.GoMod}} k8s.io/kubernetes@V` fetches alone (12 KB; the source, a 22 MB zip
# that unpacks to 124 MB, only
# comes down once, during `go mod tidy`).
K8S_TOOLS_BLOCK=(kube-apiserver kubectl kube-scheduler kube-controller-manager)

K8S_DIR=""
k8s_module() {
  local logf=$1
  local dir="${BUILD}/kubernetes-${KUBERNETES_VERSION}"
  K8S_DIR=${dir}
  [[ -f "${dir}/.ready" ]] && return
  rm -rf "${dir}"
  mkdir -p "${dir}"

  # A bare go.mod so that `go list -m` runs in module mode without touching the repo's go.mod.
  printf 'module agora.local/hack-tools/kubernetes\n' >"${dir}/go.mod"
  local upstream_mod
  upstream_mod=$(cd "${dir}" && go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@${KUBERNETES_VERSION}" 2>>"${logf}") ||
    die "cannot fetch the go.mod of k8s.io/kubernetes@${KUBERNETES_VERSION} from the module proxy (see ${logf})"
  [[ -s "${upstream_mod}" ]] || die "go list gave no go.mod file for k8s.io/kubernetes@${KUBERNETES_VERSION}"

  # Staging replaces look like `k8s.io/api => ./staging/src/k8s.io/api`, inside a `replace (...)`
  # block or as one-line `replace` directives. Replaces to a published version (none in 1.37) are
  # copied verbatim: they are pins that a dependency's own replaces would otherwise lose.
  local staging others
  staging=$(awk '
    $1 == "replace" { $1 = "" ; $0 = $0 }
    $2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "${upstream_mod}" | sort -u)
  others=$(awk '
    $1 == "replace" && $2 != "(" { $1 = "" ; $0 = $0 }
    $2 == "=>" && $3 !~ /^\.\.?\// && NF == 4 { print $1, "=>", $3, $4 }' "${upstream_mod}")
  [[ -n "${staging}" ]] ||
    die "found no ./staging/ replace directives in ${upstream_mod}; k8s.io/kubernetes changed its layout, fix k8s_module in hack/tools.sh"
  local go_directive
  go_directive=$(awk '$1 == "go" { print $2; exit }' "${upstream_mod}")

  local sv m t
  sv=$(staging_version)
  {
    echo "// Throwaway module written by hack/tools.sh to build Kubernetes commands; do not edit."
    echo "module agora.local/hack-tools/kubernetes"
    echo
    echo "go ${go_directive:-1.26}"
    echo
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
    echo
    echo "replace ("
    for m in ${staging}; do echo "	${m} => ${m} ${sv}"; done
    [[ -z "${others}" ]] || printf '\t%s\n' "${others}"
    echo ")"
    echo
    # The tool block must be there before `go mod tidy`, or tidy drops everything as unused.
    echo "tool ("
    for t in "${K8S_TOOLS_BLOCK[@]}"; do echo "	k8s.io/kubernetes/cmd/${t}"; done
    echo ")"
  } >"${dir}/go.mod"
  log "    k8s.io/kubernetes ${KUBERNETES_VERSION}: $(wc -w <<<"${staging}") staging modules replaced with ${sv}; resolving dependencies (downloads the 22 MB source zip once)"
  echo "(if this fails: a staging module may have no published ${sv}, or the list above is wrong)" >>"${logf}"
  run_logged "${dir}" "${logf}" "go mod tidy for k8s.io/kubernetes ${KUBERNETES_VERSION}" go mod tidy
  touch "${dir}/.ready"
}

build_k8s_cmd() {
  local tool=$1 out=$2 logf=$3
  k8s_module "${logf}"
  local dir=${K8S_DIR} v=${KUBERNETES_VERSION} minor
  minor=$(cut -d. -f2 <<<"${v}")
  # Without the stamp the binaries report v0.0.0-master and version checks (helm, kwok, kubectl
  # skew warnings) misfire.
  local ld="" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${p}.gitVersion=${v} -X ${p}.gitMajor=1 -X ${p}.gitMinor=${minor} -X ${p}.gitTreeState=clean"
  done
  run_logged "${dir}" "${logf}" "go build ${tool}" \
    go build -ldflags "${ld# }" -o "${out}/${tool}" "k8s.io/kubernetes/cmd/${tool}"
}

# etcd: the `etcd` binary is the main package at the root of go.etcd.io/etcd/server/v3. A
# throwaway module keeps its requirements out of the repo's go.mod.
build_etcd() {
  local out=$1 logf=$2
  local dir="${BUILD}/etcd-${ETCD_VERSION}"
  if [[ ! -f "${dir}/.ready" ]]; then
    rm -rf "${dir}"
    mkdir -p "${dir}"
    printf 'module agora.local/hack-tools/etcd\n\ngo 1.26\n' >"${dir}/go.mod"
    run_logged "${dir}" "${logf}" "go get etcd ${ETCD_VERSION}" \
      go get -tool "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    touch "${dir}/.ready"
  fi
  run_logged "${dir}" "${logf}" "go build etcd" \
    go build -o "${out}/etcd" go.etcd.io/etcd/server/v3
}

# go install PKG@VERSION for modules that build as published (no local replaces).
go_install() {
  local out=$1 logf=$2 pkg=$3
  shift 3
  run_logged "${BUILD}" "${logf}" "go install ${pkg}" env GOBIN="${out}" go install "$@" "${pkg}"
}

# helm stamps two things in its release build that `go install` alone leaves at defaults: its own
# version (unstamped: "v3.22", no patch) and the Kubernetes version that `helm template` and
# `helm lint` assume offline (unstamped: v1.20, so a chart's `kubeVersion: ">=1.30.0-0"` fails).
# Like helm's Makefile, take the latter from the k8s.io/client-go that helm's go.mod requires.
build_helm() {
  local out=$1 logf=$2
  local helm_mod k8s_minor
  helm_mod=$(cd "${BUILD}" && go list -m -f '{{.GoMod}}' "helm.sh/helm/v3@${HELM_VERSION}" 2>>"${logf}") ||
    die "cannot fetch the go.mod of helm.sh/helm/v3@${HELM_VERSION} (see ${logf})"
  k8s_minor=$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "${helm_mod}")
  [[ "${k8s_minor}" =~ ^[0-9]+$ ]] || die "cannot read the k8s.io/client-go version from ${helm_mod}"
  local ld="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local p
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=" -X ${p}.k8sVersionMajor=1 -X ${p}.k8sVersionMinor=${k8s_minor}"
  done
  go_install "${out}" "${logf}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" -ldflags "${ld}"
}

build_tool() {
  local tool=$1 out=$2 logf=$3
  case "${tool}" in
    etcd) build_etcd "${out}" "${logf}" ;;
    kube-apiserver | kubectl | kube-scheduler | kube-controller-manager) build_k8s_cmd "${tool}" "${out}" "${logf}" ;;
    kwok)
      # kwok reads its version from the main module's build info, which `go install @V` sets.
      go_install "${out}" "${logf}" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" ;;
    controller-gen)
      go_install "${out}" "${logf}" "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_TOOLS_VERSION}" ;;
    helm) build_helm "${out}" "${logf}" ;;
    golangci-lint)
      # Its main package has a version variable for goreleaser (else it falls back to build info).
      go_install "${out}" "${logf}" "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}" \
        -ldflags "-X main.version=${GOLANGCI_LINT_VERSION#v}" ;;
    *) die "unknown tool ${tool}" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# ensure TOOL: build it unless bin/ already has it at the pinned version
# ---------------------------------------------------------------------------------------------

is_current() {
  local tool=$1 version=$2
  [[ -x "${BIN}/${tool}" && -f "${STAMPS}/${tool}-${version}" ]]
}

ensure() {
  local tool=$1 version
  version=$(tool_version "${tool}") || die "unknown tool '${tool}' (known: ${ALL_TOOLS[*]} ${EXTRA_TOOLS[*]})"
  [[ -n "${version}" ]] || die "no version pinned for ${tool} in hack/versions.env"
  if is_current "${tool}" "${version}"; then
    log "${tool} ${version}: up to date"
    return
  fi

  # One build at a time per machine checkout; re-check after the wait, someone else may have
  # just built it.
  exec 9>"${STAMPS}/.lock"
  if ! flock -n 9; then
    log "${tool}: waiting for another hack/tools.sh in this checkout to finish..."
    flock 9
  fi
  if is_current "${tool}" "${version}"; then
    log "${tool} ${version}: up to date (built by a concurrent run)"
    exec 9>&-
    return
  fi

  local logf="${LOGS}/${tool}-${version}.log"
  : >"${logf}"
  log "building ${tool} ${version} (first time $(tool_cold_hint "${tool}"); warm a few seconds)..."
  local start=${SECONDS}
  local out
  out=$(mktemp -d "${BUILD}/out.XXXXXX")
  build_tool "${tool}" "${out}" "${logf}"
  [[ -x "${out}/${tool}" ]] || die "the build of ${tool} produced no ${out}/${tool} (see ${logf})"

  # Prove the version stamp took before the binary goes into bin/.
  local got
  # shellcheck disable=SC2046 # the version arguments are deliberately word-split
  got=$("${out}/${tool}" $(tool_version_args "${tool}") 2>&1 | head -n 5) ||
    die "${tool} built but '${tool} $(tool_version_args "${tool}")' failed: ${got}"
  grep -qF -- "${version#v}" <<<"${got}" ||
    die "${tool} built but reports '${got}', not ${version}: the version stamp in hack/tools.sh is wrong"

  mv -f "${out}/${tool}" "${BIN}/${tool}"
  rm -rf "${out}"
  rm -f "${STAMPS}/${tool}"-v*
  printf 'version=%s\nbuilt=%s\ngo=%s\nseconds=%s\n' "${version}" "$(date -u +%FT%TZ)" \
    "$(go env GOVERSION)" "$((SECONDS - start))" >"${STAMPS}/${tool}-${version}"
  log "built ${tool} ${version} in $(fmt_duration $((SECONDS - start))): $(head -n1 <<<"${got}")"
  exec 9>&-
}

list_tools() {
  local t v state
  for t in "${ALL_TOOLS[@]}" "${EXTRA_TOOLS[@]}"; do
    v=$(tool_version "${t}")
    if is_current "${t}" "${v}"; then state="built"; elif [[ -x "${BIN}/${t}" ]]; then state="stale"; else state="missing"; fi
    printf '%-24s %-10s %s\n' "${t}" "${v}" "${state}"
  done
}

usage() {
  cat <<EOF
usage: hack/tools.sh [all | list | TOOL...]
  all   ${ALL_TOOLS[*]}
  also  ${EXTRA_TOOLS[*]}
Builds into bin/ from the Go module proxy at the versions in hack/versions.env.
EOF
}

main() {
  command -v go >/dev/null || die "go is not on PATH"
  (( $# > 0 )) || { usage >&2; exit 2; }
  mkdir -p "${BIN}" "${STAMPS}" "${LOGS}"
  local tools=() a
  for a in "$@"; do
    case "${a}" in
      all) tools+=("${ALL_TOOLS[@]}") ;;
      list) list_tools; return ;;
      -h | --help | help) usage; return ;;
      *) tools+=("${a}") ;;
    esac
  done
  local start=${SECONDS}
  for a in "${tools[@]}"; do ensure "${a}"; done
  if (( SECONDS - start > 5 )); then log "tools done in $(fmt_duration $((SECONDS - start)))"; fi
}

main "$@"
