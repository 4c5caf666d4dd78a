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

package controllers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// addQuota creates a RoleQuota for role (cpu amounts; "" leaves it out) and deletes it when
// the test ends: quotas are cluster-scoped, and every test's controller reads them all.
func (e *testEnv) addQuota(role, guarantee, limit string, weight int64) *agorav1alpha1.RoleQuota {
	e.t.Helper()
	q := &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: quotaName(role)}, Spec: agorav1alpha1.RoleQuotaSpec{Role: role}}
	if guarantee != "" {
		q.Spec.Guarantee = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(guarantee)}
	}
	if limit != "" {
		q.Spec.Limit = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}
	}
	if weight > 0 {
		q.Spec.Weight = resource.NewQuantity(weight, resource.DecimalSI)
	}
	if err := k8s.Create(e.ctx, q); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = k8s.Delete(context.Background(), q) })
	// Applied once its status speaks of it: a framework added before could be offered the
	// headroom in the cycles between.
	e.eventually(20*time.Second, "quota "+q.Name+" applied", func() (bool, string) {
		c := meta.FindStatusCondition(e.quota(role).Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
		return c != nil && c.Status != metav1.ConditionUnknown, fmt.Sprintf("%+v", c)
	})
	return q
}

// greedySeq numbers the tasks of every greedyFramework, so that a framework played again
// does not reuse a name.
var greedySeq atomic.Int64

func (e *testEnv) quota(role string) *agorav1alpha1.RoleQuota {
	e.t.Helper()
	q := &agorav1alpha1.RoleQuota{}
	if err := k8s.Get(e.ctx, types.NamespacedName{Name: quotaName(role)}, q); err != nil {
		e.t.Fatal(err)
	}
	return q
}

// greedyFramework plays a framework: on every new offer it launches as many tasks of the
// given size as fit on each node slice (revocable slices only if revocable), then releases
// the offer. It counts the tasks it launched on revocable slices in *onRevocable.
func (e *testEnv) greedyFramework(ctx context.Context, wg *sync.WaitGroup, fw, cpu, mem string, revocable bool, onRevocable *atomic.Int32) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		want, _ := toResources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)})
		seen := map[string]bool{}
		for ctx.Err() == nil {
			var l agorav1alpha1.OfferList
			if err := k8s.List(ctx, &l, client.InNamespace(e.ns)); err == nil {
				for i := range l.Items {
					o := &l.Items[i]
					if o.Spec.Framework != fw || seen[o.Name] || !o.DeletionTimestamp.IsZero() {
						continue
					}
					seen[o.Name] = true
					for _, node := range o.Spec.Nodes {
						if node.Revocable && !revocable {
							continue
						}
						have, _ := toResources(node.Resources)
						for want.Fits(have) {
							name := fmt.Sprintf("%s-%d", fw, greedySeq.Add(1))
							if k8s.Create(ctx, e.newTask(name, o.Name, node.NodeName, cpu, mem)) == nil && node.Revocable && onRevocable != nil {
								onRevocable.Add(1)
							}
							have = have.Sub(want)
						}
					}
					_ = k8s.Delete(ctx, o)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(30 * time.Millisecond):
			}
		}
	}()
}

// liveTasks returns fw's admitted tasks that are not being deleted.
func (e *testEnv) liveTasks(fw string) (ordinary, revocable []agorav1alpha1.Task) {
	for _, t := range e.admittedTasks(fw) {
		if !t.DeletionTimestamp.IsZero() || t.Status.Phase.IsTerminal() {
			continue
		}
		if t.Status.Revocable {
			revocable = append(revocable, t)
		} else {
			ordinary = append(ordinary, t)
		}
	}
	return ordinary, revocable
}

// explain says what the controller's allocator makes of fw, for a failure message.
func (e *testEnv) explain(fw string) string {
	e.ctrl.m.mu.Lock()
	defer e.ctrl.m.mu.Unlock()
	ex, err := e.ctrl.m.alloc.Explain(frameworkID(e.ns, fw))
	return fmt.Sprintf("%+v %v; quotas %+v; %+v", ex, err, e.ctrl.m.alloc.Quotas(), e.ctrl.m.alloc.Stats())
}

func cpuOf(ts []agorav1alpha1.Task) int64 {
	var sum int64
	for _, t := range ts {
		sum += t.Spec.Resources.Cpu().MilliValue()
	}
	return sum
}

// The example: on one 8-CPU node a borrower arrived first and holds all of it, two
// CPU as ordinary tasks and six (held back for gold's guarantee) as revocable ones. Gold asks
// for its 6 CPU and gets them by the preemption of revocable tasks only.
func TestQuotaGuaranteeReclaimed(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "8", "32Gi")
	gold, batch := e.label+"-gold", e.label+"-batch"
	e.addQuota(gold, "6", "", 0)
	e.addFramework("borrower", func(f *agorav1alpha1.Framework) {
		f.Spec.Role = batch
		f.Spec.Capabilities = []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}
	})
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var onRev atomic.Int32
	e.greedyFramework(ctx, &wg, "borrower", "1", "1Gi", true, &onRev)
	e.eventually(30*time.Second, "the borrower holding all 8 CPU, 6 of them revocable", func() (bool, string) {
		ord, rev := e.liveTasks("borrower")
		return cpuOf(ord) == 2000 && cpuOf(rev) == 6000, fmt.Sprintf("ordinary %d m, revocable %d m", cpuOf(ord), cpuOf(rev))
	})
	ordinaryBefore, _ := e.liveTasks("borrower")
	e.eventually(20*time.Second, "gold Idle below its guarantee", func() (bool, string) {
		c := meta.FindStatusCondition(e.quota(gold).Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
		return c != nil && c.Reason == agorav1alpha1.ReasonIdle, fmt.Sprintf("%+v", c)
	})

	e.addFramework("gold", func(f *agorav1alpha1.Framework) { f.Spec.Role = gold })
	e.greedyFramework(ctx, &wg, "gold", "3", "1Gi", false, nil)
	e.eventually(30*time.Second, "gold holding its 6 CPU", func() (bool, string) {
		ord, rev := e.liveTasks("gold")
		return cpuOf(ord) == 6000 && len(rev) == 0, fmt.Sprintf("gold ordinary %d m, revocable %d", cpuOf(ord), len(rev))
	})
	// Only revocable tasks were preempted, each marked and announced; the ordinary ones live.
	ordinaryAfter, _ := e.liveTasks("borrower")
	if len(ordinaryAfter) != len(ordinaryBefore) {
		t.Fatalf("the borrower's ordinary tasks went from %d to %d: a non-revocable task was preempted", len(ordinaryBefore), len(ordinaryAfter))
	}
	var l agorav1alpha1.TaskList
	if err := k8s.List(e.ctx, &l, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	preempted := 0
	for _, tk := range l.Items {
		if tk.Status.PreemptedFor == "" {
			continue
		}
		preempted++
		c := meta.FindStatusCondition(tk.Status.Conditions, agorav1alpha1.TaskConditionPreempted)
		if tk.Status.PreemptedFor != gold || !tk.Status.Revocable || c == nil || c.Status != metav1.ConditionTrue {
			t.Fatalf("preempted task %s: preemptedFor %q revocable %v condition %+v", tk.Name, tk.Status.PreemptedFor, tk.Status.Revocable, c)
		}
	}
	// Tasks without an executor or finalizer go at once; count from the quota instead.
	e.eventually(20*time.Second, "gold satisfied, its preemptions counted", func() (bool, string) {
		q := e.quota(gold)
		c := meta.FindStatusCondition(q.Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
		return c != nil && c.Status == metav1.ConditionTrue && q.Status.Preemptions >= 4 && q.Status.Preemptions <= 6,
			fmt.Sprintf("satisfied %+v, preemptions %d", c, q.Status.Preemptions)
	})
	t.Logf("preempted %d tasks still listed; quota counts %d; borrower launched %d on revocable slices", preempted, e.quota(gold).Status.Preemptions, onRev.Load())
	e.checkInvariants()
}

// The DRF paper's example (a 9 CPU / 18Gi pool, A runs <1 CPU, 4Gi> tasks, B <3 CPU, 1Gi>)
// with B guaranteed 6 CPU: A arrives first and holds the pool's memory (one ordinary task, the
// rest on revocable slices lent from B's guarantee); B then gets its 6 CPU — two tasks —
// through the reclaim of revocable tasks only, where plain DRF would stop at its 2/3 share.
func TestQuotaDRFPaperExampleWithGuarantee(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.addNode(e.label+"-n", "9", "18Gi")
	b := e.label + "-b"
	e.addQuota(b, "6", "", 0)
	e.addFramework("a", func(f *agorav1alpha1.Framework) {
		f.Spec.Role = e.label + "-a"
		f.Spec.Capabilities = []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}
	})
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	e.greedyFramework(ctx, &wg, "a", "1", "4Gi", true, nil)
	e.eventually(30*time.Second, "A holding 16Gi of the 18Gi, mostly revocably", func() (bool, string) {
		ord, rev := e.liveTasks("a")
		return len(ord)+len(rev) == 4 && len(rev) >= 1, fmt.Sprintf("ordinary %d, revocable %d", len(ord), len(rev))
	})
	ordinaryA, _ := e.liveTasks("a")
	e.addFramework("b", func(f *agorav1alpha1.Framework) { f.Spec.Role = b })
	e.greedyFramework(ctx, &wg, "b", "3", "1Gi", false, nil)
	e.eventually(30*time.Second, "B holding its 6 CPU", func() (bool, string) {
		ord, _ := e.liveTasks("b")
		return cpuOf(ord) == 6000, fmt.Sprintf("B %d m; %s", cpuOf(ord), e.explain("b"))
	})
	if now, _ := e.liveTasks("a"); len(now) != len(ordinaryA) {
		t.Fatalf("A's ordinary tasks went from %d to %d: only revocable tasks may be preempted", len(ordinaryA), len(now))
	}
	e.eventually(20*time.Second, "B's preemptions counted: at least one, at most A's revocable tasks", func() (bool, string) {
		n := e.quota(b).Status.Preemptions
		return n >= 1 && n <= 3, fmt.Sprintf("%d", n)
	})
	t.Logf("B reached its guarantee with %d preemption(s)", e.quota(b).Status.Preemptions)
	e.checkInvariants()
}

// Headroom for an idle guarantee is not offered as ordinary resources: a framework without
// the RevocableResources capability gets only what lies beyond it.
func TestQuotaHeadroomNotOrdinary(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.addNode(e.label+"-n1", "4", "16Gi")
	e.addNode(e.label+"-n2", "4", "16Gi")
	e.addQuota(e.label+"-gold", "6", "", 0)
	e.addFramework("plain", func(f *agorav1alpha1.Framework) { f.Spec.Role = e.label + "-x" })
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	e.greedyFramework(ctx, &wg, "plain", "500m", "512Mi", false, nil)
	e.eventually(20*time.Second, "plain holding the 2 CPU beyond the headroom", func() (bool, string) {
		ord, _ := e.liveTasks("plain")
		return cpuOf(ord) == 2000, fmt.Sprintf("%d m", cpuOf(ord))
	})
	time.Sleep(time.Second) // cycles run every 100 ms: nothing more may come
	if ord, _ := e.liveTasks("plain"); cpuOf(ord) != 2000 {
		t.Fatalf("plain holds %d m, want 2000 m: the headroom went out as ordinary resources", cpuOf(ord))
	}
	for _, o := range e.offers("plain") {
		for _, n := range o.Spec.Nodes {
			if n.Revocable {
				t.Fatalf("revocable slice offered to a framework without the capability: %+v", n)
			}
		}
	}
}

// Hierarchy and limits: a child's guarantee counts inside its parent's, the parent's limit caps
// the subtree, and deleting the quota lifts both.
func TestQuotaHierarchyLimitAndDelete(t *testing.T) {
	e := newTestEnv(t, Options{})
	for i := range 4 {
		e.addNode(fmt.Sprintf("%s-n%d", e.label, i), "4", "16Gi")
	}
	eng := e.label + "-eng"
	e.addQuota(eng, "8", "10", 0)
	e.addQuota(eng+"/ml", "4", "", 0)
	e.addFramework("ml", func(f *agorav1alpha1.Framework) { f.Spec.Role = eng + "/ml" })
	e.addFramework("web", func(f *agorav1alpha1.Framework) { f.Spec.Role = eng + "/web" })
	e.addFramework("other", func(f *agorav1alpha1.Framework) { f.Spec.Role = e.label + "-other" })
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, fw := range []string{"ml", "web", "other"} {
		e.greedyFramework(ctx, &wg, fw, "500m", "512Mi", false, nil)
	}
	e.eventually(30*time.Second, "the pool shared: ml ≥ 4 CPU, eng between 8 and 10 CPU, other the rest", func() (bool, string) {
		ml, _ := e.liveTasks("ml")
		web, _ := e.liveTasks("web")
		other, _ := e.liveTasks("other")
		m, w, o := cpuOf(ml), cpuOf(web), cpuOf(other)
		return m >= 4000 && m+w >= 8000 && m+w <= 10000 && m+w+o == 16000, fmt.Sprintf("ml %d web %d other %d", m, w, o)
	})
	e.eventually(20*time.Second, "both quotas satisfied in status", func() (bool, string) {
		a := meta.FindStatusCondition(e.quota(eng).Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
		b := meta.FindStatusCondition(e.quota(eng+"/ml").Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied)
		return a != nil && b != nil && a.Status == metav1.ConditionTrue && b.Status == metav1.ConditionTrue, fmt.Sprintf("%+v %+v", a, b)
	})
	cancel()
	wg.Wait()
	// Deleting eng's quota lifts its limit: web may now take what other frees.
	if err := k8s.Delete(e.ctx, e.quota(eng)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(e.ctx, e.framework("other")); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(e.ctx)
	var wg2 sync.WaitGroup
	defer func() { cancel2(); wg2.Wait() }()
	e.greedyFramework(ctx2, &wg2, "web", "500m", "512Mi", false, nil)
	e.eventually(30*time.Second, "eng past its old 10 CPU limit", func() (bool, string) {
		ml, _ := e.liveTasks("ml")
		web, _ := e.liveTasks("web")
		return cpuOf(ml)+cpuOf(web) > 10000, fmt.Sprintf("ml %d web %d; %s", cpuOf(ml), cpuOf(web), e.explain("web"))
	})
}

// A guarantee larger than the pool: the quota says so in a condition, the role gets the whole
// pool, and nothing loops.
func TestQuotaGuaranteeOverPool(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.addNode(e.label+"-n", "4", "16Gi")
	huge := e.label + "-huge"
	e.addQuota(huge, "100", "", 0)
	e.eventually(20*time.Second, "Fits=False GuaranteesExceedPool", func() (bool, string) {
		c := meta.FindStatusCondition(e.quota(huge).Status.Conditions, agorav1alpha1.RoleQuotaConditionFits)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == agorav1alpha1.ReasonGuaranteesExceedPool, fmt.Sprintf("%+v", c)
	})
	e.addFramework("borrower", func(f *agorav1alpha1.Framework) {
		f.Spec.Role = e.label + "-batch"
		f.Spec.Capabilities = []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}
	})
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	e.greedyFramework(ctx, &wg, "borrower", "1", "1Gi", true, nil)
	e.eventually(20*time.Second, "the borrower holding the pool, revocably", func() (bool, string) {
		ord, rev := e.liveTasks("borrower")
		return len(ord) == 0 && cpuOf(rev) == 4000, fmt.Sprintf("ordinary %d revocable %d m", len(ord), cpuOf(rev))
	})
	e.addFramework("huge", func(f *agorav1alpha1.Framework) { f.Spec.Role = huge })
	e.greedyFramework(ctx, &wg, "huge", "1", "1Gi", false, nil)
	e.eventually(30*time.Second, "huge holding the whole pool", func() (bool, string) {
		ord, _ := e.liveTasks("huge")
		return cpuOf(ord) == 4000, fmt.Sprintf("%d m", cpuOf(ord))
	})
	time.Sleep(2 * time.Second)
	if n := e.quota(huge).Status.Preemptions; n > 4 {
		t.Fatalf("%d preemptions for a 4-CPU pool, want at most the 4 revocable tasks", n)
	}
	e.checkInvariants()
}

// A revocable offer outstanding when the controller restarts stays revocable: tasks launched on
// it afterwards are revocable in the new leader's model as in the API, and reclaimed for the
// guarantee (a rebuild that dropped the flag turned them into ordinary tasks no one could take).
// A task preempted before the restart is not preempted twice.
func TestQuotaRevocableSurvivesRestart(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "8", "32Gi")
	gold := e.label + "-gold"
	e.addQuota(gold, "6", "", 0)
	e.addFramework("borrower", func(f *agorav1alpha1.Framework) {
		f.Spec.Role = e.label + "-batch"
		f.Spec.Capabilities = []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}
	})
	rev := e.waitOfferWhere("borrower", "a revocable offer", func(o *agorav1alpha1.Offer) bool {
		return len(o.Spec.Nodes) == 1 && o.Spec.Nodes[0].Revocable
	})
	e.stopController()
	e.startController()
	for i := range 6 {
		e.createTask(fmt.Sprintf("rev-%d", i), rev.Name, node, "1", "1Gi")
	}
	e.eventually(20*time.Second, "6 revocable tasks admitted after the restart", func() (bool, string) {
		_, r := e.liveTasks("borrower")
		return len(r) == 6, fmt.Sprintf("%d revocable", len(r))
	})
	e.addFramework("gold", func(f *agorav1alpha1.Framework) { f.Spec.Role = gold })
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	e.greedyFramework(ctx, &wg, "gold", "3", "1Gi", false, nil)
	e.eventually(30*time.Second, "gold holding its 6 CPU, taken from the revocable tasks", func() (bool, string) {
		ord, _ := e.liveTasks("gold")
		return cpuOf(ord) == 6000, fmt.Sprintf("gold %d m; %s", cpuOf(ord), e.explain("gold"))
	})
	e.eventually(20*time.Second, "6 preemptions counted, no more", func() (bool, string) {
		n := e.quota(gold).Status.Preemptions
		return n == 6, fmt.Sprint(n)
	})
	e.checkInvariants()
}
