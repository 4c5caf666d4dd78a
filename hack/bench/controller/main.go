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

// Command controller benchmarks agora-controller on a simulated cluster: N kwok nodes, F
// frameworks that accept every offer with one task per offered node and release the rest, until
// T tasks are admitted.
//
//	go run ./hack/bench/controller -nodes 1000 -frameworks 10 -tasks 3000
//
// It starts a private control plane (test/testcluster: etcd, kube-apiserver, kwok, N nodes, all
// on loopback and free ports), builds agora-executor and agora-controller and runs each as a
// separate process: the executor in simulation mode (one process renews every node's Lease and
// runs the admitted tasks as pods on kwok), the controller as its own user, so that kube-apiserver's
// audit log attributes every one of its requests to it. The frameworks are plain client-go code
// in this process: each watches the Offers of its namespace, creates one Task per offered node
// (while its share of T lasts), then deletes the Offer (release); once its share is launched it
// sets spec.suppressOffers (SUPPRESS), as a Mesos framework with nothing left to run does.
//
// Reported, over the window from the Frameworks' creation until every task is admitted and every
// Offer is gone (and again until every task is Running):
//   - the controller's API writes by verb and resource, from the audit log, per admitted task;
//   - every client's writes from kube-apiserver's apiserver_request_total (after - before);
//   - allocation cycles from the controller's debug log (one line per cycle that ran): Allocate
//     and whole-cycle (including the Offer creates) p50/p99/max, offers and offered nodes per
//     cycle, against F and N;
//   - CPU seconds and memory of each process from /proc, and the controller's reconcile counts
//     and time per controller from its controller-runtime metrics.
//
// Everything it starts is stopped when it returns, on Ctrl-C and on -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	nodes          = flag.Int("nodes", 1000, "kwok nodes")
	nodeCPU        = flag.String("node-cpu", "8", "cpu of each node")
	nodeMemory     = flag.String("node-memory", "32Gi", "memory of each node")
	frameworks     = flag.Int("frameworks", 10, "frameworks, one namespace each, equal weight")
	tasks          = flag.Int("tasks", 3000, "tasks to admit in all (each framework launches its share)")
	taskCPU        = flag.String("task-cpu", "500m", "cpu of each task")
	taskMemory     = flag.String("task-memory", "1Gi", "memory of each task")
	refuse         = flag.Duration("refuse-duration", 5*time.Second, "the frameworks' spec.refuseDuration (decline filter)")
	launchers      = flag.Int("launchers", 8, "concurrent task creates per framework")
	completeAfter  = flag.String("complete-after", "", "kwok finishes each pod this long after it runs (agora.dev/complete-after); empty: tasks run until the end")
	waitRunning    = flag.Bool("wait-running", true, "after admission, also wait until every task is Running")
	timeout        = flag.Duration("timeout", 15*time.Minute, "stop everything after this long and report what was reached")
	controllerArgs = flag.String("controller-args", "", "extra agora-controller flags, space separated")
	executorArgs   = flag.String("executor-args", "--shared-watches --workers=32 --kube-api-qps=2000 --kube-api-burst=4000", "agora-executor flags besides kubeconfig and addresses")
	controllerBin  = flag.String("controller-bin", "", "run this agora-controller binary instead of building ./cmd/agora-controller (e.g. to compare two builds)")
	keepLogs       = flag.Bool("keep-logs", false, "keep the work directory (controller and executor logs, audit log) and print its path")
)

const controllerUser = "agora-controller"

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// Ctrl-C or the timeout still stops everything this started (the defers below).
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, *timeout)
	defer cancel()

	work, removeWork, err := benchproc.WorkDir("agora-bench-controller-", *keepLogs)
	if err != nil {
		return err
	}
	defer removeWork()
	apiFlags, auditLog, err := benchproc.AuditFlags(work, auditPolicy)
	if err != nil {
		return err
	}
	// The benchmark measures the controller, not the API server's admission throttling.
	apiFlags["max-requests-inflight"], apiFlags["max-mutating-requests-inflight"] = "2000", "1000"

	m := newMachine()
	log.Printf("starting a control plane with %d kwok nodes (%s cpu, %s memory each); %s", *nodes, *nodeCPU, *nodeMemory, m.load())
	c, err := testcluster.Start(ctx, testcluster.Options{
		Nodes: *nodes, CPU: *nodeCPU, Memory: *nodeMemory, Pods: 1000,
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

	log.Print("building agora-controller and agora-executor")
	build := exec.CommandContext(ctx, "go", "build", "-o", work+"/", "./cmd/agora-controller", "./cmd/agora-executor")
	build.Dir = c.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	ctrlBin := filepath.Join(work, "agora-controller")
	if *controllerBin != "" {
		ctrlBin = *controllerBin
	}
	_, ctrlKubeconfig, err := c.User(controllerUser, "system:masters")
	if err != nil {
		return err
	}

	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0 // the bench's own clients are not the subject: no client-side limit
	agora, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}

	procs := procstat.Children(c.BinDir, "kube-apiserver", "etcd", "kwok")
	exPort, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	exAddr := fmt.Sprintf("127.0.0.1:%d", exPort)
	ex, err := benchproc.Start(ctx, "agora-executor", filepath.Join(work, "agora-executor"), work,
		append([]string{"--kubeconfig", c.Kubeconfig, "--metrics-bind-address=" + exAddr}, strings.Fields(*executorArgs)...),
		func() error { return benchproc.HTTPOK("http://" + exAddr + "/readyz") })
	if err != nil {
		return err
	}
	defer ex.Stop()
	procs["agora-executor"] = ex.Pid()
	log.Printf("agora-executor ready in %s, serving %d nodes", ex.ReadyAfter.Round(time.Millisecond), *nodes)

	ctrlPort, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	ctrlAddr := fmt.Sprintf("127.0.0.1:%d", ctrlPort)
	ctrlArgs := []string{"--kubeconfig", ctrlKubeconfig, "--metrics-bind-address=" + ctrlAddr, "--health-probe-bind-address=0",
		"--node-selector=type=kwok", "--zap-log-level=debug", "--zap-time-encoding=rfc3339nano"}
	ctrlArgs = append(ctrlArgs, strings.Fields(*controllerArgs)...)
	ctl, err := benchproc.Start(ctx, "agora-controller", ctrlBin, work, ctrlArgs,
		func() error {
			// Ready for the benchmark once its pool holds every node (Leases seen fresh).
			n, err := benchproc.Gauge("http://"+ctrlAddr+"/metrics", "agora_pool_nodes")
			if err != nil {
				return err
			}
			if int(n) != *nodes {
				return fmt.Errorf("pool has %v nodes", n)
			}
			return nil
		})
	if err != nil {
		return err
	}
	defer ctl.Stop()
	procs["agora-controller"] = ctl.Pid()
	log.Printf("agora-controller ready in %s (pool of %d nodes)", ctl.ReadyAfter.Round(time.Millisecond), *nodes)

	b := &bench{c: c, agora: agora, ctrlAddr: ctrlAddr, ctl: ctl, procs: procs, auditLog: auditLog, machine: m}
	return b.run(ctx, sigCtx)
}

// auditPolicy records every request of the controller's user (one line each, when the response
// is complete) and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["` + controllerUser + `"]
- level: None
`
