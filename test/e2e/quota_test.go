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

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

// allocationInterval is the controller's allocation period on the local cluster (its
// --allocation-interval default, which hack/local-cluster.sh keeps).
const allocationInterval = time.Second

// guaranteed is an SDK framework whose role has a RoleQuota guarantee. It wants nothing
// (suppressed) until ask(n), then launches n long-running tasks of its shape on whatever it is
// offered and suppresses again; idle kills them and suppresses.
type guaranteed struct {
	sdk.NoopScheduler
	shape corev1.ResourceList

	mu         sync.Mutex
	want       int
	n          int
	live       map[string]agorav1alpha1.TaskPhase // launched, not ended
	asked      time.Time                          // when the current wave asked
	full       time.Time                          // when want tasks first all ran in it
	suppressed bool
	errs       []error
}

func (g *guaranteed) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range offers {
		free := sdk.Remaining(o)
		var launch []sdk.TaskInfo
		for _, n := range o.Spec.Nodes {
			for len(g.live)+len(launch) < g.want && sdk.Fits(free[n.NodeName], g.shape) {
				free[n.NodeName] = sdk.Subtract(free[n.NodeName], g.shape)
				launch = append(launch, sdk.TaskInfo{Name: fmt.Sprintf("%s-%d", d.Name(), g.n), NodeName: n.NodeName,
					Resources: g.shape, Template: sdk.SleepTemplate(0)})
				g.n++
			}
		}
		if err := d.Launch(context.Background(), []*agorav1alpha1.Offer{o}, launch...); err != nil {
			g.errs = append(g.errs, err)
			continue
		}
		for _, t := range launch {
			g.live[t.Name] = ""
		}
	}
	if len(g.live) >= g.want && !g.suppressed {
		if err := d.Suppress(context.Background()); err != nil {
			g.errs = append(g.errs, err)
		} else {
			g.suppressed = true
		}
	}
}

func (g *guaranteed) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.live[t.Name]; !ok {
		return
	}
	if sdk.Terminal(t.Status.Phase) {
		delete(g.live, t.Name)
		if g.want > 0 {
			// Nothing should end a task of a role within its guarantee; launch another.
			g.errs = append(g.errs, fmt.Errorf("task %s ended %s (%s) during a wave: %s", t.Name, t.Status.Phase, t.Status.Reason, t.Status.Message))
			if err := d.Revive(context.Background()); err == nil {
				g.suppressed = false
			}
		}
		return
	}
	g.live[t.Name] = t.Status.Phase
	running := 0
	for _, ph := range g.live {
		if ph == agorav1alpha1.TaskRunning {
			running++
		}
	}
	if g.want > 0 && running >= g.want && g.full.IsZero() {
		g.full = time.Now()
	}
}

// ask starts a wave: the framework wants n tasks. It returns when it asked (REVIVE), or the
// zero time if the driver's callbacks did not get to it within 10s.
func (g *guaranteed) ask(d *sdk.Driver, n int) time.Time {
	asked := make(chan time.Time, 1)
	d.AfterFunc(0, func(d *sdk.Driver) {
		g.mu.Lock()
		g.want, g.full, g.asked, g.suppressed = n, time.Time{}, time.Now(), false
		at := g.asked
		g.mu.Unlock()
		if err := d.Revive(context.Background()); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
		}
		asked <- at
	})
	select {
	case at := <-asked:
		return at
	case <-time.After(10 * time.Second):
		return time.Time{}
	}
}

// idle ends a wave: the framework kills its tasks and suppresses offers.
func (g *guaranteed) idle(d *sdk.Driver) {
	d.AfterFunc(0, func(d *sdk.Driver) {
		g.mu.Lock()
		g.want = 0
		var names []string
		for n := range g.live {
			names = append(names, n)
		}
		g.mu.Unlock()
		err := errors.Join(d.Kill(context.Background(), names...), d.Suppress(context.Background()))
		g.mu.Lock()
		g.suppressed = true
		if err != nil {
			g.errs = append(g.errs, err)
		}
		g.mu.Unlock()
	})
}

func (g *guaranteed) fullAt() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.full
}

// borrower is an SDK framework with the RevocableResources capability and endless work: it
// fills every offer with tasks of its shape, regular slices first, then revocable ones, as
// examples/batch --revocable does, and keeps track of how its tasks end.
type borrower struct {
	sdk.NoopScheduler
	shape    corev1.ResourceList
	duration time.Duration
	grace    int64 // the tasks' terminationGracePeriodSeconds

	mu          sync.Mutex
	n           int
	onRevocable map[string]bool // launched on a revocable slice
	preempted   []preemptedTask
	// violations are what must never happen: a task on a regular slice (or admitted as
	// non-revocable) ending other than Finished, admission disagreeing with the slice, a
	// preempted task that was not revocable.
	violations []string
	rejected   int // ended Error at admission (an offer rescinded under a launch): never ran
	errs       []error
}

type preemptedTask struct {
	name string
	at   time.Time
}

func (b *borrower) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	for _, o := range offers {
		b.mu.Lock()
		var launch []sdk.TaskInfo
		for _, revocable := range []bool{false, true} {
			for _, n := range o.Spec.Nodes {
				if n.Revocable != revocable {
					continue
				}
				free := sdk.Remaining(o)[n.NodeName]
				for sdk.Fits(free, b.shape) {
					free = sdk.Subtract(free, b.shape)
					tmpl := sdk.SleepTemplate(b.duration)
					tmpl.Spec.TerminationGracePeriodSeconds = &b.grace
					launch = append(launch, sdk.TaskInfo{Name: fmt.Sprintf("%s-%d", d.Name(), b.n), NodeName: n.NodeName, Resources: b.shape, Template: tmpl})
					b.n++
				}
			}
		}
		b.mu.Unlock()
		err := d.Launch(context.Background(), []*agorav1alpha1.Offer{o}, launch...)
		b.mu.Lock()
		switch {
		case errors.Is(err, sdk.ErrNodeRescinded):
			// Nothing was created and the offer is still out: plan again with what it holds now.
			name := o.Name
			d.AfterFunc(0, func(d *sdk.Driver) {
				if o := d.Offer(name); o != nil {
					b.ResourceOffers(d, []*agorav1alpha1.Offer{o})
				}
			})
		case err != nil:
			b.errs = append(b.errs, err)
		default:
			for _, t := range launch {
				b.onRevocable[t.Name] = sdk.Revocable(o, t.NodeName)
			}
		}
		b.mu.Unlock()
	}
}

func (b *borrower) StatusUpdate(_ *sdk.Driver, t *agorav1alpha1.Task) {
	b.mu.Lock()
	defer b.mu.Unlock()
	onRevocable, ours := b.onRevocable[t.Name]
	if !ours {
		return
	}
	switch ph := t.Status.Phase; {
	case ph == agorav1alpha1.TaskRunning && t.Status.Revocable != onRevocable:
		b.violations = append(b.violations, fmt.Sprintf("task %s launched on a slice with revocable=%v was admitted with status.revocable=%v", t.Name, onRevocable, t.Status.Revocable))
	case sdk.Preempted(t):
		b.preempted = append(b.preempted, preemptedTask{name: t.Name, at: time.Now()})
		if !onRevocable || !t.Status.Revocable {
			b.violations = append(b.violations, fmt.Sprintf("task %s was preempted but ran on regular resources (slice revocable=%v, status.revocable=%v)", t.Name, onRevocable, t.Status.Revocable))
		}
	case ph == agorav1alpha1.TaskError:
		b.rejected++
	case sdk.Terminal(ph) && ph != agorav1alpha1.TaskFinished:
		b.violations = append(b.violations, fmt.Sprintf("task %s (revocable=%v) ended %s (%s): %s", t.Name, onRevocable, ph, t.Status.Reason, t.Status.Message))
	}
}

// preemptedBetween counts the preemptions the borrower was told of in [from, to).
func (b *borrower) preemptedBetween(from, to time.Time) (n int, first time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.preempted {
		if !p.at.Before(from) && p.at.Before(to) {
			n++
			if first.IsZero() || p.at.Before(first) {
				first = p.at
			}
		}
	}
	return n, first
}

// heldCPU sums the CPU (in millicores) of fw's admitted, not yet ended tasks, and of those the
// revocable ones.
func (e *env) heldCPU(fw string) (all, revocable int64) {
	for _, t := range e.tasks(fw) {
		if t.Status.Phase == "" || t.Status.Phase.IsTerminal() || !t.DeletionTimestamp.IsZero() {
			continue
		}
		all += t.Spec.Resources.Cpu().MilliValue()
		if t.Status.Revocable {
			revocable += t.Spec.Resources.Cpu().MilliValue()
		}
	}
	return all, revocable
}

// borrowedFraction samples the fraction of the pool's CPU the borrower holds (and holds revocably)
// every 250ms for d, and returns the means over the whole phase and over its part from settle on
// (once the allocator had time to lend what was freed: an ordinary offer, then a revocable one).
func (e *env) borrowedFraction(fw string, poolMilli int64, d, settle time.Duration) (mean, steady, steadyRevocable float64) {
	start := time.Now()
	var n, ns int
	for time.Since(start) < d {
		all, rev := e.heldCPU(fw)
		f := float64(all) / float64(poolMilli)
		mean += f
		n++
		if time.Since(start) >= settle {
			steady += f
			steadyRevocable += float64(rev) / float64(poolMilli)
			ns++
		}
		time.Sleep(250 * time.Millisecond)
	}
	return mean / float64(n), steady / float64(max(ns, 1)), steadyRevocable / float64(max(ns, 1))
}

// A guaranteed role takes its guarantee back from a borrower, wave after wave: role gold has a
// RoleQuota guarantee of half the pool; the borrower (another role, RevocableResources, endless
// work) fills the pool while gold is idle, half of it on revocable resources; gold then asks for
// its whole guarantee (idle → asks → idle → asks again).
//
// Asserted, per wave: gold runs its guarantee within the bound below; at least one and at most
// guarantee / task size (the revocable tasks that cover the need) tasks are preempted; the
// RoleQuota says Satisfied=True (GuaranteeMet). Over the test: the borrower never loses a task
// that was not revocable (and admission marks exactly the tasks launched on revocable slices
// revocable); the RoleQuota's status.preemptions equals the Killed/Preempted tasks the borrower
// was told of; while gold is idle the borrower holds at least 80% of the pool once the allocator
// has had two cycles to lend what gold freed.
//
// The bound on the time from asking (REVIVE) to every task of the guarantee Running is two
// allocation cycles, plus the borrower's grace period, plus a fixed allowance for the API
// round trips in between: the first cycle after the REVIVE reaches the controller offers gold
// what is free and chooses the revocable tasks to preempt; their pods stop within their grace
// period (kwok removes a deleted pod at once, so here only the executor's and the controller's
// writes count); the first cycle after the last of them ended offers gold the freed node;
// then gold's Launch, admission, the executor's pod and kwok's Running. The allowance covers
// those writes and watch deliveries on a shared 2-core machine. The borrower's tasks run far
// longer than the bound, so meeting it means the guarantee came from preemption, not from the
// borrower's tasks ending by themselves. It is a liveness bound, not a speed figure (those are
// benchmarks, docs/style.md): a wave takes a fraction of it here.
func TestQuotaGuaranteeReclaimedInWaves(t *testing.T) {
	const (
		waves         = 2
		nodes         = 4
		nodeCPU       = 4
		guaranteeCPU  = 8 // half the pool
		taskCPU       = 1 // both frameworks' task size
		borrowerTasks = 40 * time.Second
		borrowerGrace = 1 // second
		idlePhase     = 10 * time.Second
		hold          = 3 * time.Second
		allowance     = 6 * time.Second
	)
	bound := 2*allocationInterval + borrowerGrace*time.Second + allowance
	e := sharedCluster(t)
	start := time.Now() // the shared cluster's start (first test only) not counted
	e.addNodes(nodes, fmt.Sprint(nodeCPU), "8Gi", nil)
	poolMilli := int64(nodes * nodeCPU * 1000)
	ctx := context.Background()

	// The guarantee names CPU only: with memory too, the guarantee stage scales an offer down
	// to what the role lacks across all resources at once, and gold's last task may never fit.
	goldRole, borrowRole := e.ns+"-gold", e.ns+"-borrow"
	quotas := e.agora.SchedulingV1alpha1().RoleQuotas()
	t.Cleanup(func() { _ = quotas.Delete(context.Background(), goldRole, metav1.DeleteOptions{}) })
	if _, err := quotas.Create(ctx, &agorav1alpha1.RoleQuota{
		ObjectMeta: metav1.ObjectMeta{Name: goldRole},
		Spec:       agorav1alpha1.RoleQuotaSpec{Role: goldRole, Guarantee: corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(guaranteeCPU, resource.DecimalSI)}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	satisfied := func() *metav1.Condition {
		q, err := quotas.Get(ctx, goldRole, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(q.Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
	}
	// The controller holds the guarantee back before the borrower is offered anything: what it
	// got as ordinary resources would never be preempted.
	eventually(t, 15*time.Second, "the RoleQuota applied (Satisfied=False, Idle)", func() (bool, string) {
		c := satisfied()
		return c != nil && c.Reason == agorav1alpha1.ReasonIdle, fmt.Sprint(c)
	})

	shape := sdk.Resources("cpu", fmt.Sprint(taskCPU), "memory", "1Gi")
	zero := &metav1.Duration{}
	gold := &guaranteed{shape: shape, live: map[string]agorav1alpha1.TaskPhase{}}
	gd := e.runSDK("gold", agorav1alpha1.FrameworkSpec{Role: goldRole, SuppressOffers: true, RefuseDuration: zero}, gold)
	bor := &borrower{shape: shape, duration: borrowerTasks, grace: borrowerGrace, onRevocable: map[string]bool{}}
	e.runSDK("borrower", agorav1alpha1.FrameworkSpec{Role: borrowRole, RefuseDuration: zero,
		Capabilities: []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}}, bor)

	need := guaranteeCPU / taskCPU // revocable tasks that cover a wave's need
	var report []string
	totalPreempted := 0
	for w := 1; w <= waves; w++ {
		mean, steady, rev := e.borrowedFraction("borrower", poolMilli, idlePhase, 2*allocationInterval+time.Second)
		report = append(report, fmt.Sprintf("idle phase %d: borrower held %.0f%% of the pool on average, %.0f%% once lent (%.0f%% revocable)", w, 100*mean, 100*steady, 100*rev))
		if steady < 0.8 {
			t.Errorf("idle phase %d: the borrower held %.0f%% of the pool once the allocator had lent it, want ≥ 80%%", w, 100*steady)
		}

		asked := gold.ask(gd, need)
		if asked.IsZero() {
			t.Fatalf("wave %d: gold's driver did not run the ask", w)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("wave %d: gold's %d tasks Running", w, need), func() (bool, string) {
			return !gold.fullAt().IsZero(), fmt.Sprint(countPhases(e.tasks("gold")))
		})
		took := gold.fullAt().Sub(asked)
		eventually(t, 12*time.Second, fmt.Sprintf("wave %d: RoleQuota Satisfied=True (GuaranteeMet)", w), func() (bool, string) {
			c := satisfied()
			return c != nil && c.Status == metav1.ConditionTrue && c.Reason == agorav1alpha1.ReasonGuaranteeMet, fmt.Sprint(c)
		})
		statusAfter := time.Since(asked)
		time.Sleep(hold) // late preemptions would show now
		n, first := bor.preemptedBetween(asked, time.Now())
		totalPreempted += n
		firstKill := "none"
		if !first.IsZero() {
			firstKill = first.Sub(asked).Round(10 * time.Millisecond).String()
		}
		report = append(report, fmt.Sprintf("wave %d: gold ran its guarantee (%d tasks, %d CPU) %s after asking (bound %s); first preemption reported after %s; %d tasks preempted (at most %d); RoleQuota Satisfied=True seen after %s",
			w, need, guaranteeCPU, took.Round(10*time.Millisecond), bound, firstKill, n, need, statusAfter.Round(100*time.Millisecond)))
		if took > bound {
			t.Errorf("wave %d: gold ran its guarantee %s after asking, want within %s (two allocation cycles + the grace period + %s for API round trips)", w, took, bound, allowance)
		}
		if n < 1 || n > need {
			t.Errorf("wave %d: %d tasks preempted, want 1..%d (the borrower fills the pool, so the need cannot be met without preempting; %d revocable tasks cover it)", w, n, need, need)
		}

		gold.idle(gd)
		eventually(t, 10*time.Second, fmt.Sprintf("wave %d: gold's tasks gone", w), func() (bool, string) {
			return len(e.tasks("gold")) == 0, fmt.Sprint(countPhases(e.tasks("gold")))
		})
	}
	// One more idle phase: the guarantee is lent again after the last wave too.
	mean, steady, rev := e.borrowedFraction("borrower", poolMilli, idlePhase, 2*allocationInterval+time.Second)
	report = append(report, fmt.Sprintf("idle phase %d: borrower held %.0f%% of the pool on average, %.0f%% once lent (%.0f%% revocable)", waves+1, 100*mean, 100*steady, 100*rev))
	if steady < 0.8 {
		t.Errorf("idle phase %d: the borrower held %.0f%% of the pool once the allocator had lent it, want ≥ 80%%", waves+1, 100*steady)
	}

	if totalPreempted > waves*need {
		t.Errorf("%d tasks preempted over %d waves, want at most %d", totalPreempted, waves, waves*need)
	}
	// The RoleQuota counts the same preemptions (its status is refreshed every few seconds).
	eventually(t, 15*time.Second, "RoleQuota status.preemptions = the borrower's Killed/Preempted tasks", func() (bool, string) {
		q, err := quotas.Get(ctx, goldRole, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		bor.mu.Lock()
		seen := len(bor.preempted)
		bor.mu.Unlock()
		return q.Status.Preemptions == int64(seen), fmt.Sprintf("status.preemptions %d, Killed/Preempted tasks %d", q.Status.Preemptions, seen)
	})

	bor.mu.Lock()
	if len(bor.violations) > 0 {
		t.Errorf("the borrower saw what must not happen:\n%s", strings.Join(bor.violations, "\n"))
	}
	if len(bor.errs) > 0 {
		t.Errorf("borrower errors: %v", bor.errs)
	}
	report = append(report, fmt.Sprintf("borrower: %d tasks launched, %d preempted, %d rejected at admission (offer rescinded under the launch)", bor.n, len(bor.preempted), bor.rejected))
	bor.mu.Unlock()
	gold.mu.Lock()
	if len(gold.errs) > 0 {
		t.Errorf("gold errors: %v", gold.errs)
	}
	gold.mu.Unlock()
	t.Logf("quota waves (%d nodes x %d CPU, guarantee %d CPU, tasks of %d CPU, borrower's tasks %s, allocation interval %s):\n  %s",
		nodes, nodeCPU, guaranteeCPU, taskCPU, borrowerTasks, allocationInterval, strings.Join(report, "\n  "))
	if d := time.Since(start); d > 3*time.Minute {
		t.Errorf("the test took %s, want < 3m", d.Round(time.Second))
	}
}
