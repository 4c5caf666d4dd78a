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

// Command failover benchmarks how soon offers flow again after agora-controller goes away.
//
//	go run ./hack/bench/failover -kills 5 -restart-sizes 5000/50000
//
// It starts a private control plane (test/testcluster: etcd, kube-apiserver, kwok nodes, all on
// loopback and free ports), builds ./cmd/agora-controller and measures two things:
//
//  1. Leader SIGKILL -> first Offer of the new leader, at -failover-nodes nodes. Two controllers
//     run under leader election, each as its own kubeconfig user. The benchmark finds the leader
//     by its leader_election_master_status gauge, SIGKILLs it, and times, on its own clock, the
//     watch events that follow: the Lease agora-system/agora-controller changing holder, then
//     the first Offer ADDED. The new leader's log adds when it had rebuilt its model and ran its
//     first cycle. The killed controller is started again (and given time to sync its caches)
//     before the next kill, so that there are always two.
//  2. Controller restart -> first Offer, at each size of -restart-sizes (nodes/tasks; the
//     cluster grows from one size to the next). The Tasks are created directly as admitted
//     (status Running, charged to a framework) on nodes whose executor Leases the benchmark
//     keeps fresh, so no executor runs. One controller (--leader-elect=false) is started,
//     stopped with SIGTERM, or killed with SIGKILL, and started again; reported: start -> first
//     Offer ADDED, the controller's own log times (workers started, model rebuilt, first cycle)
//     and its RSS.
//
// The frameworks are plain client-go code: -frameworks Frameworks without a Lease (always
// active) and with refuseDuration 0, whose every Offer the benchmark deletes (releases) as soon
// as it sees it, so the controller offers the same resources again in its next cycle: offers keep
// flowing, and one is always due after a failover.
//
// Everything it starts is stopped when it returns, on Ctrl-C and on -timeout.
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

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	scenarios      = flag.String("scenarios", "failover,restart", "what to measure, comma separated: failover (leader SIGKILL), restart (one controller stopped and started)")
	failoverNodes  = flag.Int("failover-nodes", 1000, "kwok nodes for the failover measurement")
	kills          = flag.Int("kills", 5, "leader SIGKILLs to time")
	restartSizes   = flag.String("restart-sizes", "5000/50000", "nodes/tasks of each restart measurement, comma separated and growing (e.g. 1000/10000,2500/25000,5000/50000)")
	restarts       = flag.Int("restarts", 3, "restarts to time per size and stop signal")
	signals        = flag.String("restart-signals", "TERM,KILL", "how the controller is stopped before each restart: TERM, KILL or both")
	frameworks     = flag.Int("frameworks", 10, "frameworks, one namespace each")
	nodeCPU        = flag.String("node-cpu", "8", "cpu of each node")
	nodeMemory     = flag.String("node-memory", "32Gi", "memory of each node")
	taskCPU        = flag.String("task-cpu", "500m", "cpu of each admitted task (10 a node leave 3 cpu free on an 8-cpu node: an offer is due)")
	taskMemory     = flag.String("task-memory", "1Gi", "memory of each admitted task")
	executorLease  = flag.Duration("executor-lease", 5*time.Minute, "leaseDurationSeconds of the executor Leases the benchmark keeps (renewed every fifth of it)")
	leaseDuration  = flag.Duration("leader-elect-lease-duration", 4*time.Second, "passed to agora-controller")
	renewDeadline  = flag.Duration("leader-elect-renew-deadline", 3*time.Second, "passed to agora-controller")
	retryPeriod    = flag.Duration("leader-elect-retry-period", 500*time.Millisecond, "passed to agora-controller")
	standbyWarmup  = flag.Duration("standby-warmup", 10*time.Second, "how long a restarted standby runs before the next kill (its caches sync meanwhile)")
	controllerArgs = flag.String("controller-args", "", "extra agora-controller flags, space separated")
	controllerBin  = flag.String("controller-bin", "", "run this agora-controller binary instead of building ./cmd/agora-controller")
	timeout        = flag.Duration("timeout", 45*time.Minute, "stop everything after this long")
	keepLogs       = flag.Bool("keep-logs", false, "keep the work directory (controller logs) and print its path")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// size is one restart measurement's scale.
type size struct{ nodes, tasks int }

func parseSizes(s string) ([]size, error) {
	var out []size
	for _, f := range strings.Split(s, ",") {
		n, t, ok := strings.Cut(strings.TrimSpace(f), "/")
		nodes, err1 := strconv.Atoi(n)
		tasks, err2 := strconv.Atoi(t)
		if !ok || err1 != nil || err2 != nil || nodes <= 0 || tasks < 0 {
			return nil, fmt.Errorf("-restart-sizes: %q is not nodes/tasks", f)
		}
		if len(out) > 0 && (nodes < out[len(out)-1].nodes || tasks < out[len(out)-1].tasks) {
			return nil, errors.New("-restart-sizes must grow: the cluster is not shrunk between sizes")
		}
		out = append(out, size{nodes, tasks})
	}
	return out, nil
}

func run() error {
	want := map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}
	sizes, err := parseSizes(*restartSizes)
	if err != nil {
		return err
	}
	stops, err := parseSignals(*signals)
	if err != nil {
		return err
	}

	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, *timeout)
	defer cancel()

	work, removeWork, err := benchproc.WorkDir("agora-bench-failover-", *keepLogs)
	if err != nil {
		return err
	}
	defer removeWork()

	first := *failoverNodes
	if !want["failover"] {
		first = sizes[0].nodes
	}
	log.Printf("starting a control plane with %d kwok nodes; %s", first, loadavg())
	c, err := testcluster.Start(ctx, testcluster.Options{
		Nodes: first, CPU: *nodeCPU, Memory: *nodeMemory, Pods: 1000,
		// The benchmark measures the controller, not the API server's admission throttling.
		APIServerFlags: map[string]string{"max-requests-inflight": "2000", "max-mutating-requests-inflight": "1000"},
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

	bin := *controllerBin
	if bin == "" {
		log.Print("building agora-controller")
		bin = filepath.Join(work, "agora-controller")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/agora-controller")
		build.Dir = c.Root
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}

	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0 // the benchmark's own clients are not the subject: no client-side limit
	b := &bench{c: c, bin: bin, work: work, start: time.Now(), load: []string{loadavg()}}
	if b.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if b.agora, err = versioned.NewForConfig(cfg); err != nil {
		return err
	}
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches() // before the controllers and the cluster stop (defers run last first)
	if err := b.setup(watchCtx); err != nil {
		return err
	}
	defer b.stopAll()

	if want["failover"] {
		if err := b.failover(ctx); err != nil {
			return b.partial(err)
		}
	}
	if want["restart"] {
		for _, s := range sizes {
			if err := b.restart(ctx, s, stops); err != nil {
				return b.partial(err)
			}
		}
	}
	b.report(os.Stdout)
	return nil
}

// partial reports what was measured before err, then returns err.
func (b *bench) partial(err error) error {
	b.report(os.Stdout)
	return err
}

func parseSignals(s string) ([]syscall.Signal, error) {
	var out []syscall.Signal
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(strings.ToUpper(f)) {
		case "TERM", "SIGTERM":
			out = append(out, syscall.SIGTERM)
		case "KILL", "SIGKILL":
			out = append(out, syscall.SIGKILL)
		default:
			return nil, fmt.Errorf("-restart-signals: %q is neither TERM nor KILL", f)
		}
	}
	return out, nil
}

// loadavg is the load average line, e.g. "load average 1.20 0.90 0.70".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return "load average " + strings.Join(f[:3], " ")
	}
	return "load average unknown"
}
