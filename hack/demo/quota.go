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

// The quota scene (docs/quotas.md): RoleQuota prod guarantees a part of the pool that the
// batch job borrows revocably while prod is idle; then a service of role prod asks for all of
// it and the controller preempts revocable batch tasks to give it.

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/informers/externalversions"
)

const (
	roleProd  = "prod"
	roleBatch = "batch"
	// prodFramework is the service of role prod.
	prodFramework = "prod"
	// prodCPU and prodMemory are the shape of a prod instance; prod is guaranteed exactly its
	// instances, so that asking for them is asking for the whole guarantee.
	prodCPU    = "4"
	prodMemory = "8Gi"
	// guaranteeWait is how long the demo waits for prod to reach its guarantee before it says
	// that it did not.
	guaranteeWait = 90 * time.Second
	// borrowWait is how long the demo waits for analytics to borrow before starting prod anyway.
	borrowWait = 30 * time.Second
	// labelDemo marks the RoleQuotas the demo wrote: it changes and deletes only those.
	labelDemo = "agora.dev/demo"
)

type sceneStage int

const (
	waitingToBorrow sceneStage = iota // prod idle, analytics borrowing its guarantee
	waitingForProd                    // prod asked; waiting for it to hold its guarantee
	sceneOver                         // prod reached its guarantee (or the wait ran out)
)

// quotaScene is the state of the quota scene.
type quotaScene struct {
	instances int                 // prod's instances
	guarantee corev1.ResourceList // prod's guarantee: its instances' CPU
	stage     sceneStage
	askedAt   time.Time     // when prod was started
	took      time.Duration // from asking to the last instance running, once reached
	reached   bool

	mu sync.Mutex
	// preempted are the tasks the controller preempted, by name, as the Task watch saw them.
	preempted map[string]preemption
	// running is when the watch first saw each of prod's tasks Running.
	running map[string]time.Time
}

type preemption struct {
	framework string
	role      string // the role it was preempted for
	revocable bool   // it ran on revocable resources (status.revocable)
	// killed: it ended Killed, reason Preempted. A task chosen just as it finished by itself
	// ends Finished (or Failed) instead.
	killed bool
}

func (q *quotaScene) done() bool { return q.stage == sceneOver }

// setupQuotas writes RoleQuota prod (a guarantee of 3/4 of the pool's nodes' worth of prod
// instances, 3/8 of its CPU) and RoleQuota batch (no guarantee; half the weight of the other
// roles, so that analytics and etl share as their weights 1 and 2 say, as when they were
// in one role; and kubectl get rolequotas shows what batch borrows).
func (d *demo) setupQuotas(ctx context.Context, nodes int) error {
	d.q.instances = max(1, nodes*3/4)
	cpu := resource.MustParse(prodCPU)
	cpu.Mul(int64(d.q.instances))
	// CPU only, the resource the pool runs out of. A guarantee of memory too makes the
	// guarantee stage cut each offer to what the role lacks with all resources scaled by the
	// same factor (allocator capToHeadroom): with one 4 CPU / 8Gi instance missing, a node with
	// 4 CPU / 24Gi free is offered as 1.3 CPU / 8Gi, which fits no instance, and prod would
	// wait below its guarantee for as long as free nodes are richer in memory than it.
	d.q.guarantee = corev1.ResourceList{corev1.ResourceCPU: cpu}
	one, half := resource.MustParse("1"), resource.MustParse("0.5")
	mine := map[string]string{labelDemo: "true"}
	for _, q := range []*agorav1alpha1.RoleQuota{
		{ObjectMeta: metav1.ObjectMeta{Name: roleProd, Labels: mine}, Spec: agorav1alpha1.RoleQuotaSpec{Role: roleProd, Guarantee: d.q.guarantee, Weight: &one}},
		{ObjectMeta: metav1.ObjectMeta{Name: roleBatch, Labels: mine}, Spec: agorav1alpha1.RoleQuotaSpec{Role: roleBatch, Weight: &half}},
	} {
		api := d.agora.SchedulingV1alpha1().RoleQuotas()
		old, err := api.Get(ctx, q.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, q, metav1.CreateOptions{})
		case err == nil && old.Labels[labelDemo] != "true":
			return fmt.Errorf("RoleQuota %s exists and is not the demo's: delete it, or run the demo on a cluster of its own", q.Name)
		case err == nil:
			old.Spec = q.Spec
			_, err = api.Update(ctx, old, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("RoleQuota %s: %w", q.Name, err)
		}
	}
	d.say("RoleQuota %s guarantees role %s %s (%d instances of %s CPU / %s); until prod asks, it is lent only to frameworks that take revocable resources: analytics (role %s, --revocable; RoleQuota %s gives the role weight 0.5)",
		roleProd, roleProd, amounts(d.q.guarantee), d.q.instances, prodCPU, prodMemory, roleBatch, roleBatch)
	return nil
}

// deleteQuotas removes the demo's RoleQuotas, so that a cluster the demo leaves up holds
// nothing back for a role nobody runs any more.
func (d *demo) deleteQuotas() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = d.agora.SchedulingV1alpha1().RoleQuotas().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: labelDemo + "=true"})
}

// watchPreemptions records every preempted Task of the demo's namespace. A preempted Task is
// deleted as soon as its pod stopped, mostly between two refreshes of the live view, so a
// watch is what sees them all: the controller writes the condition Preempted (and
// status.preemptedFor) before it deletes the Task.
func (d *demo) watchPreemptions() {
	d.q.preempted = map[string]preemption{}
	d.q.running = map[string]time.Time{}
	f := externalversions.NewSharedInformerFactoryWithOptions(d.agora, 0, externalversions.WithNamespace(namespace))
	inf := f.Scheduling().V1alpha1().Tasks().Informer()
	record := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		t, ok := obj.(*agorav1alpha1.Task)
		if !ok {
			return
		}
		if t.Labels[agorav1alpha1.LabelFramework] == prodFramework && t.Status.Phase == agorav1alpha1.TaskRunning {
			d.q.mu.Lock()
			if _, seen := d.q.running[t.Name]; !seen {
				d.q.running[t.Name] = time.Now()
			}
			d.q.mu.Unlock()
		}
		role := t.Status.PreemptedFor
		if c := meta.FindStatusCondition(t.Status.Conditions, agorav1alpha1.TaskConditionPreempted); role == "" && c != nil && c.Status == metav1.ConditionTrue {
			role = "?"
		}
		killed := t.Status.Phase == agorav1alpha1.TaskKilled && t.Status.Reason == agorav1alpha1.ReasonPreempted
		if role == "" && !killed {
			return
		}
		d.q.mu.Lock()
		defer d.q.mu.Unlock()
		p := d.q.preempted[t.Name]
		p.framework, p.revocable = t.Labels[agorav1alpha1.LabelFramework], t.Status.Revocable
		if p.role == "" || p.role == "?" {
			p.role = role
		}
		p.killed = p.killed || killed
		d.q.preempted[t.Name] = p
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
		DeleteFunc: record,
	})
	ctx, cancel := context.WithCancel(context.Background())
	d.stopWatch = cancel
	f.Start(ctx.Done())
}

// preemptedBy counts the preempted tasks by framework.
func (q *quotaScene) preemptedBy() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]int{}
	for _, p := range q.preempted {
		out[p.framework]++
	}
	return out
}

// preemptionCounts are the tasks preempted for a role as the watch saw them.
type preemptionCounts struct {
	all          int // chosen for preemption
	killed       int // of them, ended Killed (reason Preempted); the others finished first
	nonRevocable int // of them, not on revocable resources: must never happen
}

func (c preemptionCounts) String() string {
	s := fmt.Sprintf("%s preempted for it", plural(c.all, "task"))
	if c.killed != c.all {
		s += fmt.Sprintf(" (%d killed, %d finished by themselves first)", c.killed, c.all-c.killed)
	}
	return s + fmt.Sprintf(", %d of them not revocable", c.nonRevocable)
}

func (q *quotaScene) preemptions(role string) preemptionCounts {
	q.mu.Lock()
	defer q.mu.Unlock()
	var c preemptionCounts
	for _, p := range q.preempted {
		if p.role != role && p.role != "?" {
			continue
		}
		c.all++
		if p.killed {
			c.killed++
		}
		if !p.revocable {
			c.nonRevocable++
		}
	}
	return c
}

// quotaStep moves the scene on, once per refresh of the live view.
func (d *demo) quotaStep(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch d.q.stage {
	case waitingToBorrow:
		batch, err := d.agora.SchedulingV1alpha1().RoleQuotas().Get(ctx, roleBatch, metav1.GetOptions{})
		if err != nil {
			return nil // the next refresh tries again
		}
		// Half of prod's guarantee borrowed is enough to show; the RoleQuota's status is what
		// the kubectl output below prints.
		borrowed := batch.Status.Revocable.Cpu()
		if 2*borrowed.MilliValue() < d.q.guarantee.Cpu().MilliValue() && time.Since(d.start) < borrowWait {
			return nil
		}
		d.note("%s: analytics (role %s) borrows %s CPU of the %s CPU that role %s is guaranteed but does not use (RoleQuota %s: Satisfied %s):",
			d.elapsed(), roleBatch, borrowed, d.q.guarantee.Cpu(), roleProd, roleProd, d.satisfiedReason(ctx, roleProd))
		d.noteCommand("get", "rolequotas")
		for _, p := range d.procs {
			if p.later {
				d.q.askedAt = time.Now()
				if err := d.startProc(p); err != nil {
					return err
				}
				d.note("%s: %s (examples/service, role %s) starts and asks for its whole guarantee, %d instances of %s CPU / %s: the controller offers it what is free first and preempts revocable tasks of analytics for the rest",
					d.elapsed(), p.name, roleProd, d.q.instances, prodCPU, prodMemory)
			}
		}
		d.q.stage = waitingForProd
	case waitingForProd:
		if since := time.Since(d.q.askedAt); since > guaranteeWait {
			d.note("%s: prod does not hold its guarantee %s after asking (RoleQuota %s: %s); see %s",
				d.elapsed(), since.Round(time.Second), roleProd, d.satisfiedReason(ctx, roleProd), filepath.Join(d.local, "logs"))
			d.noteCommand("get", "rolequotas")
			d.q.stage = sceneOver
			return nil
		}
		tasks, err := d.agora.SchedulingV1alpha1().Tasks(namespace).List(ctx, metav1.ListOptions{LabelSelector: agorav1alpha1.LabelFramework + "=" + prodFramework})
		if err != nil {
			return nil
		}
		running, last := 0, d.q.askedAt
		d.q.mu.Lock()
		for _, t := range tasks.Items {
			if t.Status.Phase == agorav1alpha1.TaskRunning && t.DeletionTimestamp.IsZero() {
				running++
				if at, ok := d.q.running[t.Name]; ok && at.After(last) {
					last = at
				}
			}
		}
		d.q.mu.Unlock()
		// The RoleQuota's status is refreshed every few seconds: wait for it too, so that the
		// kubectl output below shows what the tasks do.
		if running < d.q.instances || d.satisfiedReason(ctx, roleProd) != "True, "+agorav1alpha1.ReasonGuaranteeMet {
			return nil
		}
		d.q.took, d.q.reached, d.q.stage = last.Sub(d.q.askedAt), true, sceneOver
		d.note("%s: prod holds its guarantee %.1fs after asking: %d/%d instances running; %s, and analytics runs them again:",
			d.elapsed(), d.q.took.Seconds(), running, d.q.instances, d.q.preemptions(roleProd))
		d.noteCommand("get", "rolequotas")
		d.noteCommand("get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=Task,reason="+agorav1alpha1.ReasonPreempted,
			"--sort-by=.metadata.creationTimestamp", "-o", "custom-columns=TASK:.involvedObject.name,MESSAGE:.message")
	}
	return nil
}

// satisfiedReason is "True, GuaranteeMet" and the like for the RoleQuota of role.
func (d *demo) satisfiedReason(ctx context.Context, role string) string {
	q, err := d.agora.SchedulingV1alpha1().RoleQuotas().Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	c := meta.FindStatusCondition(q.Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
	if c == nil {
		return "no status yet"
	}
	return fmt.Sprintf("%s, %s", c.Status, c.Reason)
}

func (d *demo) elapsed() string { return time.Since(d.start).Round(time.Second).String() }

// note adds a line of narration: printed at once, and kept under the live view when it redraws
// the terminal.
func (d *demo) note(format string, args ...any) {
	n := "==> " + fmt.Sprintf(format, args...) + "\n"
	d.notes = append(d.notes, n)
	d.transcript = append(d.transcript, n)
	if !d.tty {
		fmt.Fprint(d.out, n)
	}
}

// noteCommand runs bin/kubectl as a user would and adds the command and its output to the
// transcript.
func (d *demo) noteCommand(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(d.root, "bin", "kubectl"), args...)
	cmd.Env = append(cmd.Environ(), "KUBECONFIG="+d.kubeconfig)
	out, err := cmd.CombinedOutput()
	var b strings.Builder
	fmt.Fprintf(&b, "    $ kubectl %s\n", strings.Join(args, " "))
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	if err != nil {
		fmt.Fprintf(&b, "    (%v)\n", err)
	}
	d.transcript = append(d.transcript, b.String())
	if !d.tty {
		fmt.Fprint(d.out, b.String())
	}
}

// writeQuotas is the live view's table of RoleQuotas.
func writeQuotas(w io.Writer, quotas []agorav1alpha1.RoleQuota) {
	if len(quotas) == 0 {
		return
	}
	sort.Slice(quotas, func(i, j int) bool { return quotas[i].Name < quotas[j].Name })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE QUOTA\tGUARANTEE\tHELD (TASKS + OFFERS)\tBORROWED (REVOCABLE)\tSATISFIED\tPREEMPTIONS\t")
	for _, q := range quotas {
		sat := "-"
		if c := meta.FindStatusCondition(q.Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied); c != nil {
			sat = fmt.Sprintf("%s (%s)", c.Status, c.Reason)
		}
		held := corev1.ResourceList{}
		for _, l := range []corev1.ResourceList{q.Status.Allocated, q.Status.Offered} {
			for k, v := range l {
				sum := held[k]
				sum.Add(v)
				held[k] = sum
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", q.Name, amounts(q.Spec.Guarantee), amounts(held), amounts(q.Status.Revocable), sat, q.Status.Preemptions)
	}
	_ = tw.Flush()
}

// amounts is "24 CPU / 48Gi", "24 CPU" or "-": CPU and memory, what the demo's frameworks ask
// for.
func amounts(l corev1.ResourceList) string {
	var parts []string
	if cpu := l.Cpu(); !cpu.IsZero() {
		parts = append(parts, strconv.FormatFloat(cpu.AsApproximateFloat64(), 'f', -1, 64)+" CPU")
	}
	if mem := l.Memory(); !mem.IsZero() {
		parts = append(parts, mem.String())
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " / ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// quotaSummary is the summary's line on the quota scene.
func (d *demo) quotaSummary() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var counted int64
	if q, err := d.agora.SchedulingV1alpha1().RoleQuotas().Get(ctx, roleProd, metav1.GetOptions{}); err == nil {
		counted = q.Status.Preemptions
	}
	line := fmt.Sprintf("  %-10s role %s, guaranteed %s: ", "quota", roleProd, amounts(d.q.guarantee))
	switch {
	case d.q.reached:
		line += fmt.Sprintf("held it %.1fs after prod asked", d.q.took.Seconds())
	case d.q.stage == waitingToBorrow:
		line += "prod never started"
	default:
		line += "NOT reached"
	}
	line += fmt.Sprintf(" (RoleQuota %s: Satisfied %s; %d preemptions); %s",
		roleProd, d.satisfiedReason(ctx, roleProd), counted, d.q.preemptions(roleProd))
	fmt.Fprintln(d.out, line)
}
