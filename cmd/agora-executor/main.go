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

// Command agora-executor is Agora's node agent: it runs the Tasks admitted onto its node as Pods
// and reports their state (see pkg/executor and docs/executor.md).
//
// Two modes:
//
//   - DaemonSet: --node-name (default $NODE_NAME, from the downward API) names the one node served.
//   - Simulation: without a node name, every Node matching --node-selector (default type=kwok,
//     the kwok nodes of hack/local-cluster.sh) is served by this one process, each with its own
//     Lease and watches. This is what `hack/local-cluster.sh up` runs, with no extra flags.
//
// It is built on client-go informers rather than a controller-runtime manager: its caches are
// per node (field-selected watches) over a node set that changes at run time, and it has
// nothing to leader-elect. The package documentation of pkg/executor says more.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/executor"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "agora-executor:", err)
		os.Exit(1)
	}
}

type flags struct {
	kubeconfig     string
	nodeName       string
	nodeSelector   string
	leaseNamespace string
	leaseDuration  time.Duration
	renewInterval  time.Duration
	identity       string
	workers        int
	startingDelay  time.Duration
	resync         time.Duration
	qps            float64
	burst          int
	metricsAddr    string
	sharedWatches  bool
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("agora-executor", flag.ContinueOnError)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Path to a kubeconfig file. Empty: $KUBECONFIG, else the in-cluster config.")
	fs.StringVar(&f.nodeName, "node-name", os.Getenv("NODE_NAME"), "The node to serve (DaemonSet mode). Default $NODE_NAME. Empty: simulation mode (see --node-selector).")
	fs.StringVar(&f.nodeSelector, "node-selector", executor.DefaultNodeSelector, "Simulation mode (no --node-name): serve every Node whose labels match this selector, each with its own Lease.")
	fs.BoolVar(&f.sharedWatches, "shared-watches", false, "Simulation mode: one Task watch and one Pod watch for all nodes, instead of one pair per node (for many simulated nodes: the API server has no spec.nodeName index for Tasks, so per-node Task watches cost it O(nodes) per Task event).")
	fs.StringVar(&f.leaseNamespace, "lease-namespace", agorav1alpha1.SystemNamespace, "Namespace of the node Leases executor-<node>. Only "+agorav1alpha1.SystemNamespace+", where agora-controller reads them, is accepted; the flag stays so that a deployment that names it keeps working, and one that names another fails at start instead of registering nodes where the controller never looks.")
	fs.DurationVar(&f.leaseDuration, "lease-duration", executor.DefaultLeaseDuration, "leaseDurationSeconds written into each node Lease.")
	fs.DurationVar(&f.renewInterval, "lease-renew-interval", executor.DefaultRenewInterval, "How often each node Lease is renewed (plus up to 20% jitter).")
	fs.StringVar(&f.identity, "identity", "", "holderIdentity of the Leases. Default <hostname>_<pid>.")
	fs.DurationVar(&f.startingDelay, "starting-delay", executor.DefaultStartingDelay, "How long a task's new pod may take to run before the task is reported Starting; a pod that runs sooner goes from Staging straight to Running (one Task write fewer). 0: report Starting as soon as the pod is created.")
	fs.IntVar(&f.workers, "workers", executor.DefaultWorkers, "Tasks worked on concurrently (shared by all nodes served).")
	fs.DurationVar(&f.resync, "resync-period", 10*time.Minute, "Re-examine every cached Task and Pod this often (0: never). A safety net; everything is event-driven.")
	fs.Float64Var(&f.qps, "kube-api-qps", 50, "Client-side rate limit of API requests per second (raise it in simulation mode with many nodes).")
	fs.IntVar(&f.burst, "kube-api-burst", 100, "Client-side burst of API requests.")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", "0", "Address for /metrics, /healthz and /readyz, e.g. :8080 or 127.0.0.1:0. \"0\" disables it.")
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for _, name := range []string{"v", "vmodule"} { // klog's other flags are about log files
		kf := klogFlags.Lookup(name)
		fs.Var(kf.Value, kf.Name, kf.Usage)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if f.leaseNamespace != agorav1alpha1.SystemNamespace {
		return nil, fmt.Errorf("--lease-namespace=%s: agora-controller reads the executor Leases in %s only, so nodes registered in %s would never be offered; install Agora in %s, or drop the flag",
			f.leaseNamespace, agorav1alpha1.SystemNamespace, f.leaseNamespace, agorav1alpha1.SystemNamespace)
	}
	return f, nil
}

// startingDelay maps the flag to Options.StartingDelay, where 0 means the default and a negative
// value "at once".
func startingDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func run(args []string) error {
	f, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst

	metrics := executor.NewMetrics()
	opts := executor.Options{
		NodeName:      f.nodeName,
		LeaseDuration: f.leaseDuration,
		RenewInterval: f.renewInterval,
		Identity:      f.identity,
		Workers:       f.workers,
		StartingDelay: startingDelay(f.startingDelay),
		ResyncPeriod:  f.resync,
		Metrics:       metrics,
	}
	if f.nodeName == "" {
		sel, err := labels.Parse(f.nodeSelector)
		if err != nil {
			return fmt.Errorf("--node-selector: %w", err)
		}
		opts.NodeSelector = sel
		opts.SharedWatches = f.sharedWatches
	} else if f.sharedWatches {
		return errors.New("--shared-watches is for simulation mode (no --node-name)")
	}
	ex, err := executor.New(cfg, opts)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())

	if f.metricsAddr != "0" && f.metricsAddr != "" {
		srv, addr, err := serveMetrics(f.metricsAddr, metrics, ex)
		if err != nil {
			return err
		}
		klog.Background().Info("Serving metrics and health checks", "address", addr)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	return ex.Run(ctx)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules() // $KUBECONFIG, ~/.kube/config
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if inCluster, ierr := rest.InClusterConfig(); ierr == nil {
		return inCluster, nil
	}
	return nil, fmt.Errorf("no kubeconfig (--kubeconfig, $KUBECONFIG) and not in a cluster: %w", err)
}

// serveMetrics serves /metrics, /healthz (the process is up) and /readyz (every node served has
// synced caches). It prints the bound address, useful with port 0.
func serveMetrics(addr string, m *executor.Metrics, ex *executor.Executor) (*http.Server, string, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ex.Ready() {
			http.Error(w, "caches not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--metrics-bind-address: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}
