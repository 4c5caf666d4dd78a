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

// Command agora-controller is Agora's master: it offers the cluster's resources to
// Frameworks by weighted DRF, admits their Tasks, and rescinds what is not used. See
// docs/controller.md for its flags, metrics and behaviour.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/controllers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "agora-controller:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr       string
		leaderElect                  bool
		leaderNamespace, leaderID    string
		leaderTiming                 controllers.LeaderElection
		opts                         controllers.Options
		minAllocatable, nodeSelector string
		qps                          float64
		burst                        int
	)
	fs := flag.CommandLine // controller-runtime registers --kubeconfig here
	fs.StringVar(&metricsAddr, "metrics-bind-address", "127.0.0.1:9482", "Address of the Prometheus /metrics endpoint; \"0\" disables it. In a Pod, use :9482.")
	fs.StringVar(&probeAddr, "health-probe-bind-address", "127.0.0.1:9483", "Address of /healthz and /readyz; \"0\" disables them. In a Pod, use :9483.")
	fs.BoolVar(&leaderElect, "leader-elect", true, "Elect a leader with a Lease so that only one replica allocates; disable only when one replica runs.")
	fs.StringVar(&leaderNamespace, "leader-election-namespace", controllers.SystemNamespace, "Namespace of the leader-election Lease.")
	fs.StringVar(&leaderID, "leader-election-id", "agora-controller", "Name of the leader-election Lease.")
	fs.DurationVar(&leaderTiming.LeaseDuration, "leader-elect-lease-duration", 4*time.Second, "How long a standby waits after the leader's last renewal before it takes over (the failover time after a crash).")
	fs.DurationVar(&leaderTiming.RenewDeadline, "leader-elect-renew-deadline", 3*time.Second, "How long the leader keeps trying to renew before it stops leading; also how long after its last renewal it may still write (the fence). Must be less than the lease duration.")
	fs.DurationVar(&leaderTiming.RetryPeriod, "leader-elect-retry-period", 500*time.Millisecond, "Time between the leader's renewals and between a standby's attempts.")
	fs.DurationVar(&opts.AllocationInterval, "allocation-interval", time.Second, "Period of the allocation cycle (a cycle is skipped when nothing changed).")
	fs.DurationVar(&opts.OfferTimeout, "offer-timeout", 60*time.Second, "Lifetime of an offer for frameworks that set no spec.offerTimeout.")
	fs.StringVar(&minAllocatable, "min-allocatable", "cpu=10m,memory=32Mi", "Smallest free amount of a node worth offering, as name=quantity pairs (cpu, memory, ephemeral-storage, nvidia.com/gpu).")
	fs.StringVar(&nodeSelector, "node-selector", "", "Label selector of the nodes Agora may offer, e.g. type=kwok; empty means every node.")
	fs.DurationVar(&opts.NodeLostTimeout, "node-lost-timeout", 5*time.Minute, "How long an executor Lease may stay stale before its node is lost and its tasks become Lost.")
	fs.Float64Var(&qps, "kube-api-qps", 200, "Queries per second to the API server.")
	fs.IntVar(&burst, "kube-api-burst", 400, "Burst of queries to the API server.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(fs)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	minRes, err := parseResources(minAllocatable)
	if err != nil {
		return fmt.Errorf("--min-allocatable: %w", err)
	}
	var unknown []string
	if opts.MinAllocatable, unknown = controllers.ToResources(minRes); len(unknown) > 0 {
		return fmt.Errorf("--min-allocatable: unknown resources %v", unknown)
	}
	if opts.NodeSelector, err = labels.Parse(nodeSelector); err != nil {
		return fmt.Errorf("--node-selector: %w", err)
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := agorav1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgrOpts := ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controllers.CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionNamespace:       leaderNamespace,
		LeaderElectionID:              leaderID,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaderTiming.LeaseDuration,
		RenewDeadline:                 &leaderTiming.RenewDeadline,
		RetryPeriod:                   &leaderTiming.RetryPeriod,
	}
	if leaderElect {
		if err := leaderTiming.Validate(); err != nil {
			return err
		}
		leaderTiming.Namespace, leaderTiming.Name = leaderNamespace, leaderID
		// The lock writes with the unfenced config; every other write of this process goes
		// through the fence, so a leader paused past its Lease cannot write next to its successor.
		lock, fence, err := controllers.NewLeaderLock(rest.CopyConfig(cfg), leaderTiming)
		if err != nil {
			return err
		}
		mgrOpts.LeaderElectionResourceLockInterface = lock
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(fence.WrapTransport)
		ctrl.Log.Info("leader election", "identity", fence.Identity(), "lease", leaderTiming.LeaseDuration, "renewDeadline", leaderTiming.RenewDeadline)
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	if _, err := controllers.Setup(ctx, mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting agora-controller", "metrics", metricsAddr, "probes", probeAddr, "leaderElect", leaderElect)
	return mgr.Start(ctx)
}

// parseResources reads "cpu=10m,memory=32Mi".
func parseResources(s string) (corev1.ResourceList, error) {
	rl := corev1.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not name=quantity", kv)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		rl[corev1.ResourceName(k)] = q
	}
	return rl, nil
}
