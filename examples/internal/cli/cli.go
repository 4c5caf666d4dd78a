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

// Package cli holds the flags and the main loop the example frameworks share: which Framework to
// be, where the cluster is, and running an sdk.Driver until a signal or the framework's own end.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

// Flags are the framework-level flags every example takes.
type Flags struct {
	Kubeconfig, Namespace, Name, Role, Weight, NodeSelector string
	FailoverTimeout, RefuseDuration                         time.Duration
	// Capabilities the example asks for (spec.capabilities); set by the example's own flags.
	Capabilities []agorav1alpha1.FrameworkCapability
}

// Register adds the flags to fs, with name as the default framework name.
func (f *Flags) Register(fs *flag.FlagSet, name string) {
	fs.StringVar(&f.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG, else in-cluster)")
	fs.StringVar(&f.Namespace, "namespace", "default", "namespace of the Framework, its Offers and Tasks")
	fs.StringVar(&f.Name, "name", name, "name of the Framework")
	fs.StringVar(&f.Role, "role", "", "DRF role (default: the API default, \"default\")")
	fs.StringVar(&f.Weight, "weight", "1", "DRF weight (> 0)")
	fs.StringVar(&f.NodeSelector, "node-selector", "", "only accept offers on nodes with these labels, k=v[,k=v] (the Framework's spec.nodeSelector)")
	fs.DurationVar(&f.FailoverTimeout, "failover-timeout", 5*time.Minute, "how long the controller keeps the tasks after this process stops renewing its Lease")
	fs.DurationVar(&f.RefuseDuration, "refuse-duration", 0, "decline filter (default: the API default, 5s)")
}

// Spec turns the flags into a FrameworkSpec.
func (f *Flags) Spec() (agorav1alpha1.FrameworkSpec, error) {
	w, err := resource.ParseQuantity(f.Weight)
	if err != nil || w.Sign() <= 0 {
		return agorav1alpha1.FrameworkSpec{}, fmt.Errorf("--weight %q: must be a positive number", f.Weight)
	}
	spec := agorav1alpha1.FrameworkSpec{Role: f.Role, Weight: &w, FailoverTimeout: &metav1.Duration{Duration: f.FailoverTimeout},
		Capabilities: f.Capabilities}
	if f.RefuseDuration > 0 {
		spec.RefuseDuration = &metav1.Duration{Duration: f.RefuseDuration}
	}
	if f.NodeSelector != "" {
		sel, err := metav1.ParseToLabelSelector(f.NodeSelector)
		if err != nil {
			return spec, fmt.Errorf("--node-selector %q: %w", f.NodeSelector, err)
		}
		spec.NodeSelector = sel
	}
	return spec, nil
}

// Run builds a Driver for sched and runs it until SIGINT/SIGTERM, ctx's end, or the framework
// tearing itself down (which is success).
func Run(ctx context.Context, f *Flags, sched sdk.Scheduler, build func(*sdk.Driver)) error {
	spec, err := f.Spec()
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", f.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100
	d, err := sdk.NewForConfig(rc, sdk.Config{Namespace: f.Namespace, Name: f.Name, Spec: spec}, sched)
	if err != nil {
		return err
	}
	if build != nil {
		build(d)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Run(ctx); err != nil && !errors.Is(err, sdk.ErrFrameworkDeleted) {
		return err
	}
	return nil
}

// Main is the body of an example's main: parse flags, run, exit 1 with the error.
func Main(name string, fs *flag.FlagSet, run func(ctx context.Context) error) {
	// klog's flags (-v and friends) stay off -h: they would bury the example's own.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Func("v", "log verbosity of the SDK and client-go (klog -v)", func(v string) error { return klogFlags.Set("v", v) })
	_ = fs.Parse(os.Args[1:])
	if err := run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Say prints a timestamped progress line on stdout, the way the examples report.
func Say(name, format string, args ...any) {
	fmt.Printf("%s %s: %s\n", time.Now().Format("15:04:05.000"), name, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Replan reports whether err says Driver.Launch created nothing because the controller took a
// node out of the offer meanwhile (sdk.ErrNodeRescinded; the offer is still outstanding). The
// caller then undoes what it recorded for that launch, and plan gets the offer again as it is
// now, on the callback goroutine, if it is still there.
func Replan(d *sdk.Driver, err error, offer string, plan func(*sdk.Driver, []*agorav1alpha1.Offer)) bool {
	if !errors.Is(err, sdk.ErrNodeRescinded) {
		return false
	}
	d.AfterFunc(0, func(d *sdk.Driver) {
		if o := d.Offer(offer); o != nil {
			plan(d, []*agorav1alpha1.Offer{o})
		}
	})
	return true
}
