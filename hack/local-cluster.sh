#!/usr/bin/env bash
# hack/local-cluster.sh up|down|status
#
# A real Kubernetes control plane on this machine, without Docker or a cloud: etcd and
# kube-apiserver from bin/ (built by hack/tools.sh), kwok as the kubelet of N simulated Nodes, and,
# once they exist, Agora's controller and executor as local processes.
#
#   up [--nodes N] [--node-cpu C] [--node-memory M] [--node-gpu G] [--no-crds] [--no-agora]
#        defaults: 4 nodes, 8 CPU, 32Gi, 0 GPU (GPU = extended resource nvidia.com/gpu);
#        --no-crds skips config/crd (CRDs and their policies) and config/policy, --no-agora skips building/starting Agora's binaries
#   down     stop everything `up` started (by recorded pid only) and delete the cluster state
#   status   what runs (pid, port) and the node count; exits 1 when the cluster is not up
#
# Everything lives under .local/ (gitignored): kubeconfig, state/ (pids, ports, keys, etcd data),
# logs/. Use the cluster with `export KUBECONFIG=$PWD/.local/kubeconfig`.
#
# Several users (or checkouts) on one machine do not disturb each other: ports are picked free on
# 127.0.0.1 at every `up`, nothing listens on another interface, and `down` signals only the pids
# it recorded, after checking that each still is the process it started.
set -euo pipefail

# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# AGORA_LOCAL_DIR moves the whole cluster elsewhere, e.g. for a test that must not touch a
# developer's own .local/.
LOCAL="${AGORA_LOCAL_DIR:-${ROOT}/.local}"
STATE="${LOCAL}/state"
LOGDIR="${LOCAL}/logs"
KUBECONFIG_FILE="${LOCAL}/kubeconfig"
KWOK_STAGES="${ROOT}/hack/kwok"
CRD_DIR="${ROOT}/config/crd/bases"
CRD_POLICY_DIR="${ROOT}/config/crd/policy"
SECURITY_POLICY_DIR="${ROOT}/config/policy"

# Stop order for `down`: the clients of the apiserver first, then the apiserver, then its store.
# (Stopping kube-apiserver and etcd at once has left a port held for minutes.)
COMPONENTS=(agora-executor agora-controller kwok kube-controller-manager kube-apiserver etcd)

# Seconds a component gets after SIGTERM before SIGKILL.
grace_for() {
  case "$1" in
    kube-apiserver) echo 20 ;; # it drains watches and requests before exiting
    etcd) echo 15 ;;
    *) echo 10 ;;
  esac
}

NODE_ANNOTATION_KEY="kwok.x-k8s.io/node"
NODE_ANNOTATION_VALUE="fake"
NOT_READY_TAINT="node.kubernetes.io/not-ready"
ZONES=(zone-a zone-b zone-c)

kc() { "${BIN}/kubectl" --kubeconfig "${KUBECONFIG_FILE}" "$@"; }

# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

pidfile() { echo "${STATE}/$1.pid"; }

# alive PID: the process exists and is not a zombie (a child of this very script that already
# exited stays a zombie until reaped, and kill -0 still succeeds on it).
alive() {
  local pid=$1 st
  kill -0 "${pid}" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/${pid}/stat" 2>/dev/null) || return 1
  [[ "${st}" != "Z" ]]
}

# ours NAME PID: PID still runs the binary this checkout started for NAME. Guards against pid
# reuse: we never signal a process that merely inherited a recorded number.
ours() {
  local name=$1 pid=$2 exe want
  alive "${pid}" || return 1
  exe=$(readlink "/proc/${pid}/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)} # a binary replaced while running (hack/tools.sh rebuild) shows so
  want=$(readlink -f "${BIN}/${name}" 2>/dev/null || echo "${BIN}/${name}") # /proc shows real paths
  [[ "${exe}" == "${want}" ]]
}

# recorded_pid NAME: prints the recorded pid if that process is still ours.
recorded_pid() {
  local name=$1 f pid
  f=$(pidfile "${name}")
  [[ -f "${f}" ]] || return 1
  pid=$(<"${f}")
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  ours "${name}" "${pid}" || return 1
  echo "${pid}"
}

# start NAME ARGS...: starts bin/NAME in its own session (so that it outlives this script and a
# Ctrl-C in the terminal that ran `up` does not reach it), output to .local/logs/NAME.log.
start() {
  local name=$1
  shift
  local logf="${LOGDIR}/${name}.log"
  printf '# %s started %s\n# %s %s\n' "${name}" "$(date -u +%FT%TZ)" "${BIN}/${name}" "$*" >"${logf}"
  # setsid is not a process-group leader here (no job control in a script), so it execs in
  # place and $! is the pid of the component itself.
  # 8>&-: the daemon must not inherit the lock of this script (see take_lock), or it would hold
  # it for its whole life and the next `down` would wait forever.
  setsid "${BIN}/${name}" "$@" </dev/null >>"${logf}" 2>&1 8>&- &
  local pid=$!
  echo "${pid}" >"$(pidfile "${name}")"
  sleep 0.3
  if ! alive "${pid}"; then
    wait "${pid}" 2>/dev/null || true
    show_log "${name}"
    die "${name} exited right after start (log: ${logf})"
  fi
}

show_log() {
  local logf="${LOGDIR}/$1.log"
  [[ -f "${logf}" ]] || return 0
  printf -- '----- last 25 lines of %s -----\n' "${logf}" >&2
  tail -n 25 "${logf}" >&2
  printf -- '-----\n' >&2
}

# stop NAME: SIGTERM the recorded pid, wait, escalate to SIGKILL after the grace period, wait
# until it is gone. Only ever signals a pid this checkout recorded and that still runs bin/NAME.
stop() {
  local name=$1 f pid
  f=$(pidfile "${name}")
  [[ -f "${f}" ]] || return 0
  pid=$(<"${f}")
  if ! [[ "${pid}" =~ ^[0-9]+$ ]] || ! ours "${name}" "${pid}"; then
    rm -f "${f}"
    return 0
  fi
  local grace deadline
  grace=$(grace_for "${name}")
  log "stopping ${name} (pid ${pid})"
  kill -TERM "${pid}" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while alive "${pid}" && (( SECONDS < deadline )); do sleep 0.1; done
  if alive "${pid}"; then
    warn "${name} (pid ${pid}) still running ${grace}s after SIGTERM; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "${pid}" && (( SECONDS < deadline )); do sleep 0.1; done
    alive "${pid}" && die "${name} (pid ${pid}) survives SIGKILL; giving up"
  fi
  wait "${pid}" 2>/dev/null || true # reap it if it is our own child (a failed `up`)
  rm -f "${f}"
}

# ---------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------

# free_port: a TCP port on 127.0.0.1 that no socket on this machine uses now. Picked below the
# kernel's ephemeral range, so that outgoing connections cannot grab it between the check and the
# bind. `ss` lists every socket (listening or connected) on every address.
TAKEN_PORTS=" "
free_port() {
  local lo
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  (( lo > 20000 )) || lo=32768
  local used port i
  used=" $(ss -Htan 2>/dev/null | awk '{n=split($4, a, ":"); print a[n]}' | sort -un | tr '\n' ' ')"
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % (lo - 20000)))
    [[ "${used}" == *" ${port} "* || "${TAKEN_PORTS}" == *" ${port} "* ]] && continue
    TAKEN_PORTS+="${port} "
    echo "${port}"
    return 0
  done
  die "found no free TCP port between 20000 and ${lo}"
}

# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------

NODES=4
NODE_CPU=8
NODE_MEMORY=32Gi
NODE_GPU=0
WITH_AGORA=1
WITH_CRDS=1

parse_up_flags() {
  while (( $# > 0 )); do
    case "$1" in
      --nodes) NODES=${2:?--nodes needs a value}; shift 2 ;;
      --nodes=*) NODES=${1#*=}; shift ;;
      --node-cpu) NODE_CPU=${2:?--node-cpu needs a value}; shift 2 ;;
      --node-cpu=*) NODE_CPU=${1#*=}; shift ;;
      --node-memory) NODE_MEMORY=${2:?--node-memory needs a value}; shift 2 ;;
      --node-memory=*) NODE_MEMORY=${1#*=}; shift ;;
      --node-gpu) NODE_GPU=${2:?--node-gpu needs a value}; shift 2 ;;
      --node-gpu=*) NODE_GPU=${1#*=}; shift ;;
      --no-agora) WITH_AGORA=0; shift ;;
      --no-crds) WITH_CRDS=0; shift ;;
      *) die "unknown flag for up: $1 (see hack/local-cluster.sh --help)" ;;
    esac
  done
  [[ "${NODES}" =~ ^[0-9]+$ ]] || die "--nodes must be a number, got '${NODES}'"
  [[ "${NODE_GPU}" =~ ^[0-9]+$ ]] || die "--node-gpu must be a number, got '${NODE_GPU}'"
  # Kubernetes quantities: 8, 500m, 32Gi, 1.5, 64G ...
  [[ "${NODE_CPU}" =~ ^[0-9]+(\.[0-9]+)?m?$ ]] || die "--node-cpu must be a CPU quantity (8, 500m), got '${NODE_CPU}'"
  [[ "${NODE_MEMORY}" =~ ^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[kmu]|e[0-9]+)?$ ]] ||
    die "--node-memory must be a memory quantity (32Gi, 64G), got '${NODE_MEMORY}'"
}

# Any trace of an earlier cluster in this checkout?
have_state() { [[ -d "${STATE}" ]] && compgen -G "${STATE}/*" >/dev/null; }

all_core_running() {
  local c
  for c in etcd kube-apiserver kube-controller-manager kwok; do
    recorded_pid "${c}" >/dev/null || return 1
  done
}

gen_sa_key() {
  # The apiserver signs service-account tokens with this key; nothing else uses it here.
  if command -v openssl >/dev/null; then
    openssl genrsa -out "${STATE}/sa.key" 2048 2>/dev/null
    openssl rsa -in "${STATE}/sa.key" -pubout -out "${STATE}/sa.pub" 2>/dev/null
  else
    # No openssl: the Go toolchain is always here.
    local d="${STATE}/genkey"
    mkdir -p "${d}"
    cat >"${d}/main.go" <<'EOF'
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
)

func main() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	must(os.WriteFile(os.Args[1], pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600))
	must(os.WriteFile(os.Args[2], pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
EOF
    (cd "${d}" && GOWORK=off GOFLAGS='' go run ./main.go "${STATE}/sa.key" "${STATE}/sa.pub")
    rm -rf "${d}"
  fi
  chmod 600 "${STATE}/sa.key"
}

write_kubeconfig() {
  local port=$1 token=$2
  # It holds a system:masters token: readable by the owner only.
  (umask 077 && : >"${KUBECONFIG_FILE}.tmp")
  cat >"${KUBECONFIG_FILE}.tmp" <<EOF
# Written by hack/local-cluster.sh up; removed by down.
apiVersion: v1
kind: Config
clusters:
- name: agora-local
  cluster:
    server: https://127.0.0.1:${port}
    certificate-authority: ${STATE}/apiserver-certs/apiserver.crt
users:
- name: agora-admin
  user:
    token: ${token}
contexts:
- name: agora-local
  context:
    cluster: agora-local
    user: agora-admin
current-context: agora-local
EOF
  mv -f "${KUBECONFIG_FILE}.tmp" "${KUBECONFIG_FILE}"
}

# wait_for SECONDS WHAT COMPONENT CMD...: polls CMD every 0.2 s until it succeeds; gives up at
# once if COMPONENT (whose log is then shown) has exited meanwhile.
wait_for() {
  local timeout=$1 what=$2 component=$3
  shift 3
  local deadline=$((SECONDS + timeout)) pid
  pid=$(<"$(pidfile "${component}")")
  # No redirection around "$@": it runs in this shell, and a signal trap firing inside it would
  # inherit the redirection (the clean-up messages of a Ctrl-C would vanish). The checks are quiet.
  until "$@"; do
    if ! alive "${pid}"; then
      show_log "${component}"
      die "${component} exited while waiting for: ${what}"
    fi
    if (( SECONDS >= deadline )); then
      show_log "${component}"
      die "timed out after ${timeout}s waiting for: ${what}"
    fi
    sleep 0.2
  done
  log "${what}"
}

apiserver_ready() { [[ "$(kc get --raw /readyz 2>/dev/null)" == "ok" ]]; }

start_etcd() {
  local client_port=$1 peer_port=$2
  mkdir -p "${STATE}/etcd"
  # --unsafe-no-fsync: a throwaway dev store; durability is worth nothing here and fsync costs
  # a lot on shared disks.
  start etcd \
    --name agora-local \
    --data-dir "${STATE}/etcd" \
    --listen-client-urls "http://127.0.0.1:${client_port}" \
    --advertise-client-urls "http://127.0.0.1:${client_port}" \
    --listen-peer-urls "http://127.0.0.1:${peer_port}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${peer_port}" \
    --initial-cluster "agora-local=http://127.0.0.1:${peer_port}" \
    --initial-cluster-state new \
    --unsafe-no-fsync \
    --log-level warn
  etcd_healthy() { curl -fs "http://127.0.0.1:${client_port}/health" 2>/dev/null | grep -q '"health":"true"'; }
  if command -v curl >/dev/null; then
    wait_for 30 "etcd is healthy on 127.0.0.1:${client_port}" etcd etcd_healthy
  fi
}

start_apiserver() {
  local port=$1 etcd_port=$2
  mkdir -p "${STATE}/apiserver-certs"
  # --endpoint-reconciler-type=none: the `kubernetes` Service's endpoints would have to be a
  # non-loopback address, and the apiserver refuses to start with 127.0.0.1 otherwise.
  # Admission: ServiceAccount is off because without kube-controller-manager no namespace ever
  # gets its `default` ServiceAccount, and that plugin refuses every pod that lacks it.
  # TaintNodesByCondition stays on (it is what real clusters do); kwok lifts the taint, see
  # hack/kwok/node-untaint.yaml.
  start kube-apiserver \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="${port}" \
    --cert-dir="${STATE}/apiserver-certs" \
    --etcd-servers="http://127.0.0.1:${etcd_port}" \
    --token-auth-file="${STATE}/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${STATE}/sa.pub" \
    --service-account-signing-key-file="${STATE}/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --endpoint-reconciler-type=none \
    --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true \
    --profiling=false
  wait_for 90 "kube-apiserver is ready on https://127.0.0.1:${port}" kube-apiserver apiserver_ready
}

# Only the garbage collector, the namespace controller, the admission policies' type checker and
# the ClusterRole aggregator: owner references (a deleted Framework's Tasks, a Task's Pod),
# namespace deletion, a policy's status.typeChecking and the built-in admin/edit/view roles (with
# agora-framework aggregated into admin) behave as on a real cluster. Nothing here needs the others (no
# kube-scheduler: the executor binds pods itself).
start_controller_manager() {
  start kube-controller-manager \
    --kubeconfig="${KUBECONFIG_FILE}" \
    --controllers=garbagecollector,namespace,validatingadmissionpolicy-status-controller,clusterrole-aggregation-controller \
    --leader-elect=false \
    --secure-port=0 \
    --use-service-account-credentials=false \
    --profiling=false
  log "kube-controller-manager started (garbage collector, namespace controller, admission policy type checker, ClusterRole aggregation)"
}

install_crds() {
  if ! compgen -G "${CRD_DIR}/*.yaml" >/dev/null; then
    log "no CRDs in config/crd/bases yet (run 'make manifests'); skipping"
    return
  fi
  # Server-side: the Task CRD embeds a PodTemplateSpec and is too large for the
  # last-applied-configuration annotation of a client-side apply.
  local names
  names=$(kc apply --server-side --force-conflicts -f "${CRD_DIR}" -o name) ||
    die "installing the CRDs from ${CRD_DIR} failed (fix them, or bring the cluster up with --no-crds)"
  # shellcheck disable=SC2086 # one argument per CRD
  kc wait --for=condition=Established --timeout=60s ${names} >/dev/null ||
    die "the CRDs were not Established within 60s"
  log "CRDs installed and Established: $(tr '\n' ' ' <<<"${names}" | sed 's#customresourcedefinition.apiextensions.k8s.io/##g')"
  # The admission policies that go with them (the whole Task spec immutable).
  kc apply --server-side --force-conflicts -f "${CRD_POLICY_DIR}" >/dev/null ||
    die "installing the CRDs' admission policies from ${CRD_POLICY_DIR} failed"
  # The security policies, as config/default and the chart install them (docs/install.md,
  # "Security model"). The executor here runs with the admin kubeconfig, which the executor
  # policy does not restrict.
  kc apply --server-side --force-conflicts -k "${SECURITY_POLICY_DIR}" >/dev/null ||
    die "installing the security policies of ${SECURITY_POLICY_DIR} failed"
}

node_manifests() {
  local i zone gpu=""
  if (( NODE_GPU > 0 )); then gpu="    nvidia.com/gpu: \"${NODE_GPU}\""; fi
  for ((i = 0; i < NODES; i++)); do
    zone=${ZONES[i % ${#ZONES[@]}]}
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    ${NODE_ANNOTATION_KEY}: ${NODE_ANNOTATION_VALUE}
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: ${zone}
status:
  capacity:
    cpu: "${NODE_CPU}"
    memory: "${NODE_MEMORY}"
    pods: "110"
${gpu}
  allocatable:
    cpu: "${NODE_CPU}"
    memory: "${NODE_MEMORY}"
    pods: "110"
${gpu}
EOF
  done
}

# Prints "<ready and untainted> <total>" for the kwok nodes.
node_counts() {
  kc --request-timeout=10s get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{.spec.taints[*].key}{"\n"}{end}' |
    awk -v taint="${NOT_READY_TAINT}" '
      NF > 0 { total++; if ($1 == "True" && index($0, taint) == 0) ok++ }
      END { printf "%d %d\n", ok, total }'
}

nodes_ready() {
  local ok total
  read -r ok total < <(node_counts 2>/dev/null) || return 1
  (( total == NODES && ok == NODES ))
}

start_kwok() {
  local args=() f
  for f in "${KWOK_STAGES}"/*.yaml; do args+=(--config "${f}"); done
  # KWOK_WORKDIR keeps a personal ~/.kwok/kwok.yaml (which kwok would load first) out of it.
  mkdir -p "${STATE}/kwok"
  KWOK_WORKDIR="${STATE}/kwok" start kwok \
    --kubeconfig "${KUBECONFIG_FILE}" \
    "${args[@]}" \
    --manage-nodes-with-annotation-selector="${NODE_ANNOTATION_KEY}=${NODE_ANNOTATION_VALUE}"
}

# ---- Agora's own processes -------------------------------------------------------------------
# HOOK: once cmd/agora-controller and cmd/agora-executor are real programs, `up` builds them into
# bin/ and runs them against this cluster. Extra flags: AGORA_CONTROLLER_ARGS / AGORA_EXECUTOR_ARGS
# (word-split). `up --no-agora` skips them, e.g. to run the controller from an IDE instead.
has_main() { grep -qs '^package main' "${ROOT}/cmd/$1/"*.go; }

start_agora() {
  local cmds=() c
  for c in agora-controller agora-executor; do
    if has_main "${c}"; then cmds+=("./cmd/${c}"); else log "${c}: cmd/${c} has no main package yet; not started"; fi
  done
  (( ${#cmds[@]} > 0 )) || return 0
  log "building ${cmds[*]} into bin/"
  (cd "${ROOT}" && go build -o "${BIN}/" "${cmds[@]}") || die "go build ${cmds[*]} failed"
  local extra ports
  for c in "${cmds[@]}"; do
    c=${c#./cmd/}
    ports=()
    if [[ "${c}" == agora-controller ]]; then
      # One replica: no leader election (a leader that misses its 3 s renew deadline on a busy
      # machine exits, and nothing here would start it again). AGORA_CONTROLLER_ARGS come later
      # and win.
      extra="--leader-elect=false ${AGORA_CONTROLLER_ARGS:-}"
      # Its defaults (127.0.0.1:9482/9483) are fixed ports; a second cluster on this machine would
      # collide, so give it free ones (shown by `status`).
      local mport pport
      mport=$(free_port)
      pport=$(free_port)
      printf 'CONTROLLER_METRICS_PORT=%s\nCONTROLLER_PROBE_PORT=%s\n' "${mport}" "${pport}" >>"${STATE}/ports.env"
      ports=(--metrics-bind-address="127.0.0.1:${mport}" --health-probe-bind-address="127.0.0.1:${pport}")
    else
      extra=${AGORA_EXECUTOR_ARGS:-}
    fi
    # shellcheck disable=SC2086 # extra flags are word-split on purpose; later flags win
    KUBECONFIG="${KUBECONFIG_FILE}" start "${c}" --kubeconfig "${KUBECONFIG_FILE}" "${ports[@]}" ${extra}
    log "${c} started (pid $(<"$(pidfile "${c}")"), log ${LOGDIR}/${c}.log)"
  done
  if [[ -f "$(pidfile agora-controller)" ]] && command -v curl >/dev/null; then
    # shellcheck disable=SC2317 # called through wait_for
    controller_ready() { curl -fs "http://127.0.0.1:${pport}/readyz" >/dev/null 2>&1; }
    wait_for 60 "agora-controller is ready (/readyz)" agora-controller controller_ready
  fi
}

cmd_up() {
  parse_up_flags "$@"
  mkdir -p "${LOCAL}"
  take_lock

  if have_state; then
    if all_core_running; then
      log "the local cluster is already up (hack/local-cluster.sh status; down to stop it)"
      return 0
    fi
    warn "found state of a cluster that is no longer (fully) running; cleaning it up first"
    do_down
  fi

  "${ROOT}/hack/tools.sh" etcd kube-apiserver kubectl kube-controller-manager kwok
  [[ -d "${KWOK_STAGES}" ]] || die "kwok stages missing: ${KWOK_STAGES}"

  mkdir -p "${STATE}" "${LOGDIR}"
  # From here on a failure (or Ctrl-C) tears down what was started; the logs stay for the
  # post-mortem.
  UP_DONE=0
  trap on_up_exit EXIT
  trap 'exit 130' INT TERM
  UP_START=${SECONDS}

  local etcd_port etcd_peer_port api_port token
  etcd_port=$(free_port)
  etcd_peer_port=$(free_port)
  api_port=$(free_port)
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "${etcd_port}" "${etcd_peer_port}" "${api_port}" >"${STATE}/ports.env"

  token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  (umask 077 && printf '%s,agora-admin,agora-admin,"system:masters"\n' "${token}" >"${STATE}/tokens.csv")
  gen_sa_key
  write_kubeconfig "${api_port}" "${token}"

  start_etcd "${etcd_port}" "${etcd_peer_port}"
  start_apiserver "${api_port}" "${etcd_port}"
  start_controller_manager
  if (( WITH_CRDS )); then install_crds; else log "--no-crds: not installing config/crd/bases"; fi
  kc create namespace agora-system >/dev/null
  log "namespace agora-system created"

  start_kwok
  log "kwok started; creating ${NODES} nodes (${NODE_CPU} CPU, ${NODE_MEMORY}, ${NODE_GPU} GPU each)"
  if (( NODES > 0 )); then
    node_manifests | kc create -f - >/dev/null
  fi
  # kwok marks the nodes Ready and lifts the not-ready taint (hack/kwok/node-untaint.yaml).
  local timeout=$((60 + NODES / 20))
  wait_for "${timeout}" "${NODES} nodes Ready and untainted" kwok nodes_ready

  if (( WITH_AGORA )); then start_agora; fi

  UP_DONE=1
  log "local cluster up in $(fmt_duration $((SECONDS - UP_START))):  export KUBECONFIG=${KUBECONFIG_FILE}"
}

on_up_exit() {
  (( UP_DONE )) && return 0
  warn "up failed; stopping what it started (logs kept in ${LOGDIR})"
  do_down
}

# ---------------------------------------------------------------------------------------------
# down / status
# ---------------------------------------------------------------------------------------------

do_down() {
  local c
  for c in "${COMPONENTS[@]}"; do stop "${c}"; done
  rm -rf "${STATE}" "${KUBECONFIG_FILE}"
}

cmd_down() {
  mkdir -p "${LOCAL}"
  take_lock
  if ! have_state; then
    log "the local cluster is not up"
    rm -f "${KUBECONFIG_FILE}"
    return 0
  fi
  do_down
  log "local cluster down (logs kept in ${LOGDIR#"${ROOT}/"})"
}

cmd_status() {
  if ! have_state; then
    echo "local cluster: down"
    return 1
  fi
  local ETCD_PORT="" ETCD_PEER_PORT="" APISERVER_PORT="" CONTROLLER_METRICS_PORT="" CONTROLLER_PROBE_PORT=""
  # shellcheck disable=SC1091
  [[ -f "${STATE}/ports.env" ]] && source "${STATE}/ports.env"
  local c pid where rc=0
  for c in etcd kube-apiserver kube-controller-manager kwok agora-controller agora-executor; do
    case "${c}" in
      etcd) where="http://127.0.0.1:${ETCD_PORT} (peer ${ETCD_PEER_PORT})" ;;
      kube-apiserver) where="https://127.0.0.1:${APISERVER_PORT}" ;;
      agora-controller) where="${CONTROLLER_METRICS_PORT:+metrics http://127.0.0.1:${CONTROLLER_METRICS_PORT}/metrics, probes :${CONTROLLER_PROBE_PORT}}" ;;
      *) where="" ;;
    esac
    if pid=$(recorded_pid "${c}"); then
      printf '%-24s running  pid %-8s %s\n' "${c}" "${pid}" "${where}"
    elif [[ -f "$(pidfile "${c}")" ]]; then
      printf '%-24s DEAD     (was pid %s; see %s/%s.log)\n' "${c}" "$(<"$(pidfile "${c}")")" "${LOGDIR}" "${c}"
      rc=1
    elif [[ "${c}" == agora-* ]]; then
      printf '%-24s not started\n' "${c}"
    else
      printf '%-24s MISSING\n' "${c}"
      rc=1
    fi
  done
  local ok total
  if read -r ok total < <(node_counts 2>/dev/null) && [[ -n "${total}" ]]; then
    printf '%-24s %s kwok nodes, %s Ready and untainted\n' nodes "${total}" "${ok}"
  else
    printf '%-24s (apiserver not reachable)\n' nodes
    rc=1
  fi
  printf 'KUBECONFIG=%s\n' "${KUBECONFIG_FILE}"
  if (( rc == 0 )); then echo "local cluster: up"; else echo "local cluster: degraded (hack/local-cluster.sh down, then up)"; fi
  return "${rc}"
}

# One up/down at a time per checkout.
take_lock() {
  exec 8>"${LOCAL}/.lock"
  if ! flock -n 8; then
    log "waiting for another hack/local-cluster.sh in this checkout..."
    flock -w 300 8 || die "${LOCAL}/.lock still held after 5 min (holders: $(fuser "${LOCAL}/.lock" 2>/dev/null || echo unknown))"
  fi
}

usage() {
  # The header comment of this file, up to `set -euo pipefail`.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

main() {
  local cmd=${1:-}
  (( $# > 0 )) && shift
  case "${cmd}" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
