/*
Copyright 2026 The Agora Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command vs-kube-scheduler compares, side by side on one private control plane in one process
// run, how fast kube-scheduler places plain Pods with how fast Agora launches the same work as
// Tasks, and what each costs the API server (issue 12).
//
//	go run ./hack/bench/vs-kube-scheduler -workload long  -nodes 1000 -items 10000
//	go run ./hack/bench/vs-kube-scheduler -workload short -nodes 1000 -items 20000 -duration 10s
//	make bench-vs-kube-scheduler BENCH_VS_ARGS="-workload short -pprof /tmp/vs-pprof"
//
// It starts one control plane (test/testcluster: etcd, kube-apiserver with an audit log of every
// write, kwok, N kwok nodes; loopback, free ports), builds agora-controller and agora-executor
// once, and then alternates runs, -rounds times: kube, agora-<F>fw for each F of -frameworks,
// with a cleanup between runs that waits until nothing of the run is left and kube-apiserver is
// quiet again.
//
//   - kube: kube-scheduler (bin/kube-scheduler, a separate process, its own user, leader election
//     off, clientConnection QPS/burst from -sched-qps/-sched-burst: 1000/2000 as a tuned
//     deployment; -sched-qps 50 -sched-burst 100 is its default) places P plain Pods (no
//     nodeName, restartPolicy Never, requests = limits) that -clients (32) unthrottled clients of
//     this process create in a fresh namespace. kube-scheduler runs only during its run.
//   - agora-<F>fw: agora-executor (simulation mode: one process serves every kwok node and renews
//     each node's own Lease, as the DaemonSet's pods would; its client limits and workers scaled
//     to what N pods would have together, capped: -executor-args) and agora-controller (chart
//     defaults, --node-selector=type=kwok, leader election on) run as separate processes, each
//     as its own user, during the run only; once the controller's pool holds every node, F
//     frameworks written with the SDK (pkg/sdk), one namespace each, launch the same P items
//     (split evenly) as Tasks: each fills every offered node with as many of its remaining items
//     as fit, Launch releases the rest, and it suppresses offers once nothing is left to launch
//     (and revives when a rejected task must be launched again). The invariants checker
//     (test/invariants) watches the whole run: a run with violations is reported as such. Should
//     the controller or the executor exit during the run (the controller does when it loses its
//     leader Lease on a loaded machine), it is started again, as its Deployment or DaemonSet
//     would, and the report says so.
//
// Workloads: long (items run until the end of the run; default P 10,000) and short (each
// completes -duration after it runs, through kwok's agora.dev/complete-after stage; default P
// 20,000).
//
// Reported per run: throughput to Running (items / (last Running - first create)), create ->
// Running p50/p99 (create = when the create call returned to the client: this process for Pods,
// the SDK's Launch for Tasks; Running = first seen by a watch), for short items the makespan
// (first create -> last finished) and completed items/s; kube-apiserver CPU-seconds per item;
// API writes per item by user, resource and verb (audit log, over the run's window); CPU seconds
// and peak RSS of agora-controller, agora-executor and kube-scheduler; the load average. Then
// the median of each side and the ratio Agora / kube-scheduler. With -pprof DIR, a 20 s CPU
// profile of kube-apiserver is taken in every run once a fifth of the items are created.
//
// Everything it starts is stopped (by pid) when it returns, on Ctrl-C and on -timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	workload       = flag.String("workload", "long", "long: items run until the end of the run; short: each item completes -duration after it runs")
	items          = flag.Int("items", 0, "items per run (default 10000 for long, 20000 for short)")
	nodes          = flag.Int("nodes", 1000, "kwok nodes")
	nodeCPU        = flag.String("node-cpu", "8", "cpu of each node")
	nodeMemory     = flag.String("node-memory", "32Gi", "memory of each node")
	nodePods       = flag.Int("node-pods", 110, "pods capacity of each node")
	itemCPU        = flag.String("item-cpu", "100m", "cpu of each item (requests = limits)")
	itemMemory     = flag.String("item-memory", "64Mi", "memory of each item (requests = limits)")
	duration       = flag.Duration("duration", 10*time.Second, "short workload: each item completes this long after it runs")
	rounds         = flag.Int("rounds", 2, "rounds of kube, agora-<F>fw for each F")
	frameworksFlag = flag.String("frameworks", "1,10", "Agora runs per round: the number of frameworks of each, comma separated")
	clients        = flag.Int("clients", 32, "kube run: concurrent pod creators")
	schedQPS       = flag.Float64("sched-qps", 1000, "kube-scheduler clientConnection.qps (its default is 50)")
	schedBurst     = flag.Int("sched-burst", 2000, "kube-scheduler clientConnection.burst (its default is 100)")
	controllerBin  = flag.String("controller-bin", "", "run this agora-controller binary instead of building ./cmd/agora-controller (to compare two builds)")
	executorBin    = flag.String("executor-bin", "", "run this agora-executor binary instead of building ./cmd/agora-executor")
	controllerArgs = flag.String("controller-args", "", "extra agora-controller flags, space separated")
	executorArgs   = flag.String("executor-args", "--shared-watches --workers=32 --kube-api-qps=2000 --kube-api-burst=4000",
		"agora-executor flags besides kubeconfig and metrics address: one simulated executor stands for N DaemonSet pods (chart: qps 50, burst 100, 8 workers each), so its limits and workers are scaled up, capped")
	runTimeout = flag.Duration("run-timeout", 0, "bound of one run from its first create (default 10m + 30ms per item)")
	quietCPU   = flag.Float64("quiet-cpu", 0, "kube-apiserver is quiet between runs when its CPU over 5 s is below this many cores (default 1.5x its idle use at setup + 0.1)")
	pprofDir   = flag.String("pprof", "", "save a 20 s CPU profile of kube-apiserver per run as DIR/<run>.pprof, taken once a fifth of the items are created")
	out        = flag.String("out", "", "also write the Markdown report to this file")
	timeout    = flag.Duration("timeout", 3*time.Hour, "stop everything after this long and report what was measured")
	keepLogs   = flag.Bool("keep-logs", false, "keep the work directory (process logs, audit log) and print its path")
)

// Users, one per process, so that the audit log tells their writes apart.
const (
	userScheduler  = "kube-scheduler-bench"
	userController = "agora-controller"
	userExecutor   = "agora-executor"
	userFramework  = "agora-framework"
	userPods       = "bench-pod-creator"
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	sides, err := parseSides(*frameworksFlag)
	if err != nil {
		return err
	}
	switch *workload {
	case "long":
		if *items == 0 {
			*items = 10000
		}
	case "short":
		if *items == 0 {
			*items = 20000
		}
	default:
		return fmt.Errorf("-workload %q is neither long nor short", *workload)
	}
	shape, err := itemShape()
	if err != nil {
		return err
	}
	if *runTimeout == 0 {
		*runTimeout = 10*time.Minute + time.Duration(*items)*30*time.Millisecond
	}
	if *pprofDir != "" {
		if err := os.MkdirAll(*pprofDir, 0o755); err != nil {
			return err
		}
	}

	// Ctrl-C or the timeout still stops everything this started (the defers below).
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, *timeout)
	defer cancel()

	work, removeWork, err := benchproc.WorkDir("agora-bench-vs-kube-scheduler-", *keepLogs)
	if err != nil {
		return err
	}
	defer removeWork()
	apiFlags, auditLog, err := benchproc.AuditFlags(work, auditPolicy)
	if err != nil {
		return err
	}
	// As in the controller benchmark: the API server's own admission throttling is not what is
	// compared.
	apiFlags["max-requests-inflight"], apiFlags["max-mutating-requests-inflight"] = "2000", "1000"

	log.Printf("starting a control plane with %d kwok nodes (%s cpu, %s memory, %d pods each); %s", *nodes, *nodeCPU, *nodeMemory, *nodePods, procstat.LoadAvg())
	c, err := testcluster.Start(ctx, testcluster.Options{
		Nodes: *nodes, CPU: *nodeCPU, Memory: *nodeMemory, Pods: *nodePods,
		APIServerFlags: apiFlags,
		Logf:           log.Printf,
	})
	if err != nil {
		return err
	}
	defer func() {
		log.Print("stopping the control plane")
		if err := c.Stop(); err != nil {
			log.Print(err)
		}
	}()
	schedBin := filepath.Join(c.BinDir, "kube-scheduler")
	if _, err := os.Stat(schedBin); err != nil {
		return fmt.Errorf("%s is missing: run hack/tools.sh kube-scheduler", schedBin)
	}

	ctrlBin, exBin := *controllerBin, *executorBin
	if ctrlBin == "" || exBin == "" {
		log.Print("building agora-controller and agora-executor")
		build := exec.CommandContext(ctx, "go", "build", "-o", work+"/", "./cmd/agora-controller", "./cmd/agora-executor")
		build.Dir = c.Root
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
		if ctrlBin == "" {
			ctrlBin = filepath.Join(work, "agora-controller")
		}
		if exBin == "" {
			exBin = filepath.Join(work, "agora-executor")
		}
	}

	b := &bench{c: c, work: work, auditLog: auditLog, shape: shape, ctrlBin: ctrlBin, exBin: exBin, schedBin: schedBin,
		procs: procstat.Children(c.BinDir, "kube-apiserver", "etcd", "kwok"), kubeconfigs: map[string]string{}}
	if b.procs["kube-apiserver"] == 0 {
		return errors.New("kube-apiserver's pid not found among this process's children")
	}
	// The bench's own clients (watches, cleanup) are not the subject: no client-side limit.
	b.admin = rest.CopyConfig(c.Config)
	b.admin.QPS, b.admin.Burst = -1, 0
	if b.kube, err = kubernetes.NewForConfig(b.admin); err != nil {
		return err
	}
	if b.agora, err = versioned.NewForConfig(b.admin); err != nil {
		return err
	}
	for _, u := range []string{userScheduler, userController, userExecutor, userFramework, userPods} {
		cfg, kc, err := c.User(u, "system:masters")
		if err != nil {
			return err
		}
		b.kubeconfigs[u] = kc
		switch u {
		case userFramework:
			b.frameworkCfg = cfg
		case userPods:
			b.podsCfg = cfg
		}
	}
	// kwok and the bench's admin clients share the cluster's admin user; only kwok writes as it
	// within a run's window.
	if r, err := b.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{}); err == nil {
		b.adminUser = r.Status.UserInfo.Username
	}
	if err := b.measureIdle(ctx); err != nil {
		return err
	}

	var results []*result
	defer func() {
		if len(results) > 0 {
			b.report(results)
		}
	}()
	for r := 1; r <= *rounds; r++ {
		for _, s := range sides {
			label := fmt.Sprintf("r%d-%s", r, s.label())
			res, err := b.runOne(ctx, label, s)
			if res != nil {
				results = append(results, res)
			}
			if err != nil {
				log.Printf("%s: %v", label, err)
			}
			// Also when stopping: it stops what the run started.
			if cerr := b.cleanup(ctx, res); cerr != nil || ctx.Err() != nil {
				return fmt.Errorf("after run %s: %w", label, errors.Join(err, cerr, context.Cause(ctx)))
			}
		}
	}
	return nil
}

// side is one kind of run: kube-scheduler (frameworks 0) or Agora with that many frameworks.
type side struct{ frameworks int }

func (s side) label() string {
	if s.frameworks == 0 {
		return "kube"
	}
	return fmt.Sprintf("agora-%dfw", s.frameworks)
}

func parseSides(s string) ([]side, error) {
	out := []side{{}}
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-frameworks: %q is not a positive number", f)
		}
		out = append(out, side{frameworks: n})
	}
	return out, nil
}

// auditPolicy records every write of every user, once each, when the response is complete.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// kubeSchedulerConfig is kube-scheduler's configuration: its kubeconfig, client limits, no
// leader election.
func kubeSchedulerConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: %g
  burst: %d
leaderElection:
  leaderElect: false
`, kubeconfig, *schedQPS, *schedBurst)
}

func itemShape() (corev1.ResourceList, error) {
	cpu, err := resource.ParseQuantity(*itemCPU)
	if err != nil {
		return nil, fmt.Errorf("-item-cpu: %w", err)
	}
	mem, err := resource.ParseQuantity(*itemMemory)
	if err != nil {
		return nil, fmt.Errorf("-item-memory: %w", err)
	}
	return corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem}, nil
}
