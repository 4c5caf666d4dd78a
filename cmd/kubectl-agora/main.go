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

// Command kubectl-agora is Agora's kubectl plugin (on the PATH, `kubectl agora ...`).
//
//	kubectl agora top [-n NAMESPACE | -A] [-w] [--interval 2s]
//	    frameworks with their weight, dominant share, allocated and offered resources, tasks
//	    by phase and outstanding offers, the pool they share, and the role quotas (guarantee,
//	    held, limit, revocable, Satisfied, preemptions)
//	kubectl agora offers [-n NAMESPACE | -A]
//	    every outstanding offer, one line per offered node, with what remains of it
//	kubectl agora why FRAMEWORK [-n NAMESPACE]
//	    why a framework gets no offers: its Ready condition, the pool's nodes counted by
//	    what keeps each from it, who went first, and the matching nodes outside the pool
//	kubectl agora tasks [-n NAMESPACE | -A] [--framework NAME] [--phase PHASE]
//	    tasks counted by phase (preempted and revocable ones too), then one line each: phase,
//	    node, resources, age, reason, and whether it runs on revocable resources
//	kubectl agora nodes
//	    per node: state, executor, allocatable, other schedulers' pods, Agora's tasks,
//	    outstanding offers and what is free
//	kubectl agora dashboard [-n NAMESPACE | -A] [--address 127.0.0.1:8080]
//	    a live web UI on loopback, with the user's credentials
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
)

const usage = `kubectl agora: Agora's view of the cluster.

Usage:
  kubectl agora top [-n NAMESPACE | -A] [-w] [--interval 2s]
      frameworks, the pool, and the role quotas (cluster-wide)
  kubectl agora offers [-n NAMESPACE | -A]
  kubectl agora why FRAMEWORK [-n NAMESPACE]
      why the framework gets no offers, node by node
  kubectl agora tasks [-n NAMESPACE | -A] [--framework NAME] [--phase PHASE]
  kubectl agora nodes
      per node: state, executor, allocatable, foreign pods, tasks, offered, free
  kubectl agora dashboard [-n NAMESPACE | -A] [--address 127.0.0.1:8080]
      a live web UI on loopback, with your credentials (docs/dashboard.md)

Flags of every command: --kubeconfig FILE, --context NAME, -n/--namespace NS, -A/--all-namespaces.
`

type options struct {
	kubeconfig, context, namespace string
	all, watch                     bool
	interval                       time.Duration
	framework, phase               string // tasks
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, usage)
		return nil
	}
	cmd := args[0]
	var o options
	fs := flag.NewFlagSet("kubectl agora "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context")
	fs.StringVar(&o.namespace, "namespace", "", "namespace (default: the context's)")
	fs.StringVar(&o.namespace, "n", "", "namespace (short)")
	fs.BoolVar(&o.all, "all-namespaces", false, "every namespace")
	fs.BoolVar(&o.all, "A", false, "every namespace (short)")
	fs.BoolVar(&o.watch, "watch", false, "refresh until interrupted")
	fs.BoolVar(&o.watch, "w", false, "refresh until interrupted (short)")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "refresh period with --watch")
	fs.StringVar(&o.framework, "framework", "", "tasks: only this framework's")
	fs.StringVar(&o.phase, "phase", "", "tasks: only this phase (Pending, Staging, Running, Finished, ...)")
	addDashboardFlags(fs)
	// Flags may come before or after the arguments (kubectl agora why -n team fw, or why fw
	// -n team): parse, take the argument, parse the rest.
	var positional []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%v\n\n%s", err, usage)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	wantArgs := 0
	if cmd == "why" {
		wantArgs = 1
	}
	if len(positional) != wantArgs {
		if wantArgs == 1 {
			return fmt.Errorf("%s needs one FRAMEWORK name, got %q\n\n%s", cmd, positional, usage)
		}
		return fmt.Errorf("unexpected arguments %q\n\n%s", positional, usage)
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
		&clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return err
	}
	if o.namespace == "" && !o.all {
		if o.namespace, _, err = loader.Namespace(); err != nil {
			return err
		}
	}
	if o.all {
		o.namespace = metav1.NamespaceAll
	}
	agora, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "top":
		if !o.watch {
			return top(ctx, agora, kube, o, out)
		}
		for {
			var b strings.Builder
			err := top(ctx, agora, kube, o, &b)
			fmt.Fprint(out, "\033[H\033[2J"+b.String())
			if err != nil {
				fmt.Fprintln(out, "error:", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.interval):
			}
		}
	case "offers":
		return offers(ctx, agora, o, out)
	case "why":
		if o.all {
			return fmt.Errorf("why takes one framework: name its namespace with -n, not -A")
		}
		return why(ctx, agora, kube, o, positional[0], out)
	case "tasks":
		return tasks(ctx, agora, o, out)
	case "nodes":
		return nodes(ctx, agora, kube, out)
	case "dashboard":
		return runDashboard(ctx, cfg, o, out)
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
}

func top(ctx context.Context, agora versioned.Interface, kube kubernetes.Interface, o options, out io.Writer) error {
	fws, err := agora.SchedulingV1alpha1().Frameworks(o.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	items := fws.Items
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
	// The pool: what the frameworks share (reading nodes needs cluster-wide rights; a framework's
	// own ServiceAccount has none, and then the line is left out).
	if nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		var cpu, mem resource.Quantity
		ready := 0
		for _, n := range nodes.Items {
			if c := findNodeCondition(n.Status.Conditions, corev1.NodeReady); c != nil && c.Status == corev1.ConditionTrue && !n.Spec.Unschedulable {
				ready++
				cpu.Add(*n.Status.Allocatable.Cpu())
				mem.Add(*n.Status.Allocatable.Memory())
			}
		}
		fmt.Fprintf(out, "nodes: %d Ready and schedulable of %d, %s CPU, %s memory\n\n", ready, len(nodes.Items), cpu.String(), humanBytes(mem))
	} else if !apierrors.IsForbidden(err) {
		return err
	}
	if len(items) == 0 {
		where := "in namespace " + o.namespace
		if o.namespace == "" {
			where = "in any namespace"
		}
		fmt.Fprintf(out, "No frameworks %s.\n", where)
		return quotas(ctx, agora, out)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tFRAMEWORK\tROLE\tWEIGHT\tSHARE\tDOMINANT\tALLOCATED\tOFFERED\tSTAGING\tSTARTING\tRUNNING\tUNREACHABLE\tFINISHED\tFAILED\tKILLED\tLOST\tERROR\tOFFERS\tSTATE")
	for _, fw := range items {
		s := fw.Status
		weight := "1"
		if fw.Spec.Weight != nil {
			weight = fw.Spec.Weight.String()
		}
		share := s.DominantShare
		if share == "" {
			share = "0"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n",
			fw.Namespace, fw.Name, orDash(fw.Spec.Role), weight, share, orDash(string(s.DominantResource)),
			resources(s.Allocated), resources(s.Offered),
			s.Tasks.Staging, s.Tasks.Starting, s.Tasks.Running, s.Tasks.Unreachable, s.Tasks.Finished, s.Tasks.Failed, s.Tasks.Killed, s.Tasks.Lost, s.Tasks.Error,
			s.OutstandingOffers, state(&fw))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return quotas(ctx, agora, out)
}

// state says in a word or two whether the framework gets offers, and why not.
func state(fw *agorav1alpha1.Framework) string {
	if !fw.DeletionTimestamp.IsZero() {
		return "TearingDown"
	}
	if c := meta.FindStatusCondition(fw.Status.Conditions, agorav1alpha1.FrameworkConditionActive); c != nil && c.Status != metav1.ConditionTrue {
		return "Inactive (" + c.Reason + ")"
	}
	if fw.Spec.SuppressOffers {
		return "Suppressed"
	}
	if c := meta.FindStatusCondition(fw.Status.Conditions, agorav1alpha1.FrameworkConditionReady); c != nil {
		return c.Reason
	}
	return "Pending"
}

func offers(ctx context.Context, agora versioned.Interface, o options, out io.Writer) error {
	list, err := agora.SchedulingV1alpha1().Offers(o.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(list.Items) == 0 {
		fmt.Fprintln(out, "No outstanding offers.")
		return nil
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tOFFER\tFRAMEWORK\tNODE\tOFFERED\tREMAINING\tEXPIRES IN")
	for _, of := range items {
		remaining := map[string]corev1.ResourceList{}
		for _, r := range of.Status.Remaining {
			remaining[r.NodeName] = r.Resources
		}
		expires := time.Until(of.Spec.ExpireTime.Time).Round(time.Second).String()
		if !of.DeletionTimestamp.IsZero() {
			expires = "releasing"
		}
		for _, n := range of.Spec.Nodes {
			rem := "(not yet written)"
			if r, ok := remaining[n.NodeName]; ok {
				rem = resources(r)
			} else if len(of.Status.Remaining) > 0 || of.Status.AdmittedTasks > 0 {
				rem = "none"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", of.Namespace, of.Name, of.Spec.Framework, n.NodeName, resources(n.Resources), rem, expires)
		}
	}
	return tw.Flush()
}

// resources prints cpu and memory first, then the rest, e.g. "cpu=4,memory=8Gi,nvidia.com/gpu=1".
func resources(l corev1.ResourceList) string {
	zero := true
	for _, q := range l {
		zero = zero && q.IsZero()
	}
	if zero {
		return "-"
	}
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, string(n))
	}
	rank := func(n string) int {
		switch n {
		case "cpu":
			return 0
		case "memory":
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if rank(names[i]) != rank(names[j]) {
			return rank(names[i]) < rank(names[j])
		}
		return names[i] < names[j]
	})
	parts := make([]string, 0, len(names))
	for _, n := range names {
		q := l[corev1.ResourceName(n)]
		v := q.String()
		if n == "memory" {
			v = humanBytes(q)
		}
		parts = append(parts, n+"="+v)
	}
	return strings.Join(parts, ",")
}

// humanBytes prints a byte quantity in the largest binary unit that keeps it readable.
func humanBytes(q resource.Quantity) string {
	v := q.Value()
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if v >= u.size {
			f := float64(v) / float64(u.size)
			if f == float64(int64(f)) {
				return fmt.Sprintf("%d%s", int64(f), u.suffix)
			}
			return fmt.Sprintf("%.1f%s", f, u.suffix)
		}
	}
	return q.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func findNodeCondition(cs []corev1.NodeCondition, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}
