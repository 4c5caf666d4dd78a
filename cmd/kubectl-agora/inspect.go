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

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	resourcehelper "k8s.io/component-helpers/resource"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/pkg/sdk"
)

// causeWords says what each node cause of status.why means, for `why`.
var causeWords = map[agorav1alpha1.WhyNodeCause]string{
	agorav1alpha1.WhyNodeSelector:            "labels do not match spec.nodeSelector",
	agorav1alpha1.WhyNodeTaints:              "NoSchedule/NoExecute taints not in spec.tolerations",
	agorav1alpha1.WhyNodeGPU:                 "has GPUs; spec.capabilities lacks GPUResources",
	agorav1alpha1.WhyNodeDeclined:            "under the framework's decline filter",
	agorav1alpha1.WhyNodePodsFull:            "no pod slot left",
	agorav1alpha1.WhyNodeOffered:             "what is free is in other frameworks' offers",
	agorav1alpha1.WhyNodeFull:                "no CPU or memory free (tasks, other pods)",
	agorav1alpha1.WhyNodeBelowMinAllocatable: "free, but below --min-allocatable",
	agorav1alpha1.WhyNodeAvailable:           "has room for it (the next cycle may offer it)",
}

// why prints why a framework gets no offers: its Ready condition, status.why's node counts,
// who went first or holds the pool, and, when the user may read Nodes, the nodes its
// selector matches that are outside the pool, each with what keeps it out.
func why(ctx context.Context, agora versioned.Interface, kube kubernetes.Interface, o options, name string, out io.Writer) error {
	fw, err := agora.SchedulingV1alpha1().Frameworks(o.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("framework %q not found in namespace %q (kubectl get frameworks -A lists them)", name, o.namespace)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(out, "Framework %s/%s (role %s, weight %s, share %s)\n", fw.Namespace, fw.Name, orDefault(fw.Spec.Role, "default"),
		weightOf(fw), orDefault(fw.Status.DominantShare, "0"))
	for _, t := range []string{agorav1alpha1.FrameworkConditionActive, agorav1alpha1.FrameworkConditionReady} {
		c := meta.FindStatusCondition(fw.Status.Conditions, t)
		if c == nil {
			fmt.Fprintf(out, "%s: not reported yet (is agora-controller running?)\n", t)
			continue
		}
		fmt.Fprintf(out, "%s: %s %s, for %s\n  %s\n", t, c.Status, c.Reason, age(now, c.LastTransitionTime.Time), c.Message)
	}
	s := fw.Status
	fmt.Fprintf(out, "Holds: allocated %s, offered %s in %d outstanding offer(s); tasks %d staging, %d starting, %d running\n",
		resources(s.Allocated), resources(s.Offered), s.OutstandingOffers, s.Tasks.Staging, s.Tasks.Starting, s.Tasks.Running)

	w := s.Why
	if w == nil {
		fmt.Fprintln(out, "\nNothing keeps offers from it.")
		return nil
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "POOL NODES\tCAUSE\tMEANING\n")
	for _, n := range w.Nodes {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", n.Count, n.Cause, causeWords[n.Cause])
	}
	fmt.Fprintf(tw, "%d\t(total)\tnodes in the pool\n", w.PoolNodes)
	if err := tw.Flush(); err != nil {
		return err
	}
	if w.OutOfPoolNodes > 0 {
		fmt.Fprintf(out, "%d node(s) outside the pool would match it.\n", w.OutOfPoolNodes)
	}
	if w.DeclinedUntil != nil {
		fmt.Fprintf(out, "Its first decline filter expires at %s (in %s); spec.revivedAt clears them all.\n",
			w.DeclinedUntil.UTC().Format(time.RFC3339), w.DeclinedUntil.Sub(now).Round(time.Second))
	}
	if len(w.Ahead) > 0 {
		fmt.Fprintf(out, "Offers holding what is free on nodes it may use (lowest share first): %s\n", shareRefs(w.Ahead))
	}
	if len(w.Holders) > 0 {
		fmt.Fprintf(out, "Tasks holding the most of its full nodes (with their shares): %s\n", shareRefs(w.Holders))
	}
	if len(w.ForeignPods) > 0 {
		fmt.Fprintf(out, "Other schedulers' pods hold %s on its full nodes.\n", resources(w.ForeignPods))
	}
	return outOfPool(ctx, kube, fw, out)
}

// outOfPool lists the nodes the framework's selector matches that are outside the pool, and
// what keeps each out. It needs rights to list Nodes; without them it says so.
func outOfPool(ctx context.Context, kube kubernetes.Interface, fw *agorav1alpha1.Framework, out io.Writer) error {
	sel := labels.Everything()
	if fw.Spec.NodeSelector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(fw.Spec.NodeSelector); err != nil {
			return nil // the controller reports an invalid selector in Ready
		}
	}
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if apierrors.IsForbidden(err) {
		fmt.Fprintln(out, "(Your credentials may not list Nodes: the per-node detail is left out.)")
		return nil
	}
	if err != nil {
		return err
	}
	leases := executorLeases(ctx, kube)
	var rows []string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if reasons := outReasons(n, leases, time.Now()); len(reasons) > 0 {
			rows = append(rows, fmt.Sprintf("%s\t%s", n.Name, strings.Join(reasons, ", ")))
		}
	}
	if len(rows) == 0 {
		return nil
	}
	sort.Strings(rows)
	fmt.Fprintf(out, "\nNodes its nodeSelector matches that are outside the pool (%d):\n", len(rows))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKEPT OUT BY")
	for i, r := range rows {
		if i == 20 {
			fmt.Fprintf(tw, "...\t%d more\n", len(rows)-20)
			break
		}
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

// executorLeases returns the executor Leases by node name, or nil when they cannot be read.
func executorLeases(ctx context.Context, kube kubernetes.Interface) map[string]*leaseState {
	list, err := kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	out := map[string]*leaseState{}
	for _, l := range list.Items {
		node, ok := strings.CutPrefix(l.Name, agorav1alpha1.ExecutorLeasePrefix)
		if !ok || l.Spec.RenewTime == nil {
			continue
		}
		d := time.Duration(0)
		if l.Spec.LeaseDurationSeconds != nil {
			d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		out[node] = &leaseState{renewed: l.Spec.RenewTime.Time, duration: d}
	}
	return out
}

type leaseState struct {
	renewed  time.Time
	duration time.Duration
}

// executorState says whether the node's executor renews its Lease, judged by this machine's
// clock (the controller judges by when it saw renewals; this is a person's view).
func executorState(leases map[string]*leaseState, node string, now time.Time) string {
	if leases == nil {
		return "?"
	}
	l := leases[node]
	if l == nil {
		return "none"
	}
	if now.Sub(l.renewed) > l.duration {
		return "stale " + age(now, l.renewed)
	}
	return "live"
}

// outReasons is what keeps a node out of the pool, as far as a person's credentials show:
// NotReady, cordoned, no live executor.
func outReasons(n *corev1.Node, leases map[string]*leaseState, now time.Time) []string {
	var out []string
	if c := findNodeCondition(n.Status.Conditions, corev1.NodeReady); c == nil || c.Status != corev1.ConditionTrue {
		out = append(out, "NotReady")
	}
	if n.Spec.Unschedulable {
		out = append(out, "cordoned")
	}
	if st := executorState(leases, n.Name, now); st != "live" && st != "?" {
		out = append(out, "executor "+st)
	}
	return out
}

// tasks lists tasks, live ones first, with framework, phase, node, resources, age and reason,
// after a count by phase.
func tasks(ctx context.Context, agora versioned.Interface, o options, out io.Writer) error {
	opts := metav1.ListOptions{}
	if o.framework != "" {
		opts.LabelSelector = labels.Set{agorav1alpha1.LabelFramework: o.framework}.String()
	}
	list, err := agora.SchedulingV1alpha1().Tasks(o.namespace).List(ctx, opts)
	if err != nil {
		return err
	}
	items := list.Items[:0]
	for _, t := range list.Items {
		if o.phase == "" || strings.EqualFold(string(phaseOf(&t)), o.phase) {
			items = append(items, t)
		}
	}
	if len(items) == 0 {
		fmt.Fprintln(out, "No tasks.")
		return nil
	}
	byPhase := map[agorav1alpha1.TaskPhase]int{}
	preempted, revocable := 0, 0
	for i := range items {
		t := &items[i]
		byPhase[phaseOf(t)]++
		if sdk.Preempted(t) {
			preempted++
		}
		if t.Status.Revocable {
			revocable++
		}
	}
	var counts []string
	for _, p := range []agorav1alpha1.TaskPhase{"Pending", agorav1alpha1.TaskStaging, agorav1alpha1.TaskStarting, agorav1alpha1.TaskRunning,
		agorav1alpha1.TaskUnreachable, agorav1alpha1.TaskFinished, agorav1alpha1.TaskFailed, agorav1alpha1.TaskKilled, agorav1alpha1.TaskLost, agorav1alpha1.TaskError} {
		if byPhase[p] > 0 {
			c := fmt.Sprintf("%d %s", byPhase[p], p)
			if p == agorav1alpha1.TaskKilled && preempted > 0 {
				c += fmt.Sprintf(" (%d preempted)", preempted)
			}
			counts = append(counts, c)
		}
	}
	summary := fmt.Sprintf("%d tasks: %s", len(items), strings.Join(counts, ", "))
	if revocable > 0 {
		summary += fmt.Sprintf("; %d on revocable resources", revocable)
	}
	fmt.Fprintf(out, "%s\n\n", summary)
	// Live tasks first (what holds resources now), then the ended ones; within each, by
	// namespace, framework and name.
	sort.Slice(items, func(i, j int) bool {
		a, b := &items[i], &items[j]
		if ea, eb := phaseOf(a).IsTerminal(), phaseOf(b).IsTerminal(); ea != eb {
			return !ea
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if fa, fb := a.Labels[agorav1alpha1.LabelFramework], b.Labels[agorav1alpha1.LabelFramework]; fa != fb {
			return fa < fb
		}
		return a.Name < b.Name
	})
	now := time.Now()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	// The REVOCABLE column only when a listed task is revocable: without quotas it would be a
	// column of dashes.
	revCol := func(t *agorav1alpha1.Task) string {
		switch {
		case revocable == 0:
			return ""
		case t.Status.Revocable:
			return "yes\t"
		}
		return "-\t"
	}
	header := "REVOCABLE\t"
	if revocable == 0 {
		header = ""
	}
	fmt.Fprintf(tw, "NAMESPACE\tTASK\tFRAMEWORK\tPHASE\tNODE\tRESOURCES\t%sAGE\tREASON\tMESSAGE\n", header)
	for i := range items {
		t := &items[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s\t%s\t%s\n", t.Namespace, t.Name, orDash(t.Labels[agorav1alpha1.LabelFramework]),
			phaseOf(t), orDash(t.Spec.NodeName), resources(t.Spec.Resources), revCol(t), age(now, t.CreationTimestamp.Time),
			orDash(t.Status.Reason), orDash(truncate(t.Status.Message, 60)))
	}
	return tw.Flush()
}

func phaseOf(t *agorav1alpha1.Task) agorav1alpha1.TaskPhase {
	if t.Status.Phase == "" {
		return "Pending" // not yet admitted
	}
	return t.Status.Phase
}

// nodes lists, per node, what Agora sees of it: allocatable, other schedulers' pods, Agora's
// tasks, outstanding offers, what is free, and its executor.
func nodes(ctx context.Context, agora versioned.Interface, kube kubernetes.Interface, out io.Writer) error {
	nodeList, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("listing Nodes is forbidden to these credentials: `kubectl agora nodes` needs a cluster-wide view (list nodes, pods, tasks and offers in every namespace): %w", err)
	}
	if err != nil {
		return err
	}
	pods, err := kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	taskList, err := agora.SchedulingV1alpha1().Tasks(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	offerList, err := agora.SchedulingV1alpha1().Offers(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	type row struct {
		foreign, tasks, offered corev1.ResourceList
		foreignPods, taskCount  int
	}
	rows := map[string]*row{}
	get := func(n string) *row {
		r := rows[n]
		if r == nil {
			r = &row{foreign: corev1.ResourceList{}, tasks: corev1.ResourceList{}, offered: corev1.ResourceList{}}
			rows[n] = r
		}
		return r
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "Task" && ref.APIVersion == agorav1alpha1.GroupVersion.String() {
			continue // counted through its task
		}
		r := get(p.Spec.NodeName)
		r.foreignPods++
		addTo(r.foreign, resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}))
	}
	for i := range taskList.Items {
		t := &taskList.Items[i]
		if t.Spec.NodeName == "" || phaseOf(t).IsTerminal() || t.Status.Phase == "" {
			continue
		}
		r := get(t.Spec.NodeName)
		r.taskCount++
		addTo(r.tasks, t.Spec.Resources)
	}
	for i := range offerList.Items {
		of := &offerList.Items[i]
		remaining := map[string]corev1.ResourceList{}
		for _, rem := range of.Status.Remaining {
			remaining[rem.NodeName] = rem.Resources
		}
		written := len(of.Status.Remaining) > 0 || of.Status.AdmittedTasks > 0
		for _, n := range of.Spec.Nodes {
			res, ok := remaining[n.NodeName]
			if !ok && !written {
				res = n.Resources
			}
			addTo(get(n.NodeName).offered, res)
		}
	}
	leases := executorLeases(ctx, kube)
	items := nodeList.Items
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	now := time.Now()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tEXECUTOR\tALLOCATABLE\tFOREIGN PODS\tTASKS\tOFFERED\tFREE")
	for i := range items {
		n := &items[i]
		r := get(n.Name)
		free := corev1.ResourceList{}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q := n.Status.Allocatable[name].DeepCopy()
			for _, used := range []corev1.ResourceList{r.foreign, r.tasks, r.offered} {
				if u, ok := used[name]; ok {
					q.Sub(u)
				}
			}
			if q.Sign() < 0 {
				q = resource.Quantity{}
			}
			free[name] = q
		}
		state := "Ready"
		if reasons := outReasons(n, nil, now); len(reasons) > 0 {
			state = strings.Join(reasons, ",")
		}
		alloc := corev1.ResourceList{corev1.ResourceCPU: n.Status.Allocatable[corev1.ResourceCPU], corev1.ResourceMemory: n.Status.Allocatable[corev1.ResourceMemory]}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d %s\t%d %s\t%s\t%s\n", n.Name, state, executorState(leases, n.Name, now), resources(alloc),
			r.foreignPods, resources(r.foreign), r.taskCount, resources(r.tasks), resources(r.offered), resources(free))
	}
	return tw.Flush()
}

func addTo(sum, add corev1.ResourceList) {
	for name, q := range add {
		cur := sum[name]
		cur.Add(q)
		sum[name] = cur
	}
}

func shareRefs(s []agorav1alpha1.FrameworkShareRef) string {
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = r.Name + " " + r.DominantShare
	}
	return strings.Join(parts, ", ")
}

func weightOf(fw *agorav1alpha1.Framework) string {
	if fw.Spec.Weight != nil {
		return fw.Spec.Weight.String()
	}
	return "1"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// age prints how long ago t was, as kubectl does: 5s, 3m, 2h, 4d.
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "-"
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// truncate cuts s to at most n characters (runes, so a cut never splits one).
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
