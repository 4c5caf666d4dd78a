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
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

func ctrlConfigUniqueNames() config.Controller {
	return config.Controller{SkipNameValidation: ptrTo(true)}
}

// simpleFramework plays a framework: for every new offer it creates one task of the given
// size on the first node of the offer where it fits, then releases the offer.
func (e *testEnv) simpleFramework(ctx context.Context, wg *sync.WaitGroup, fw, cpu, mem string) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		want, _ := toResources(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)})
		seen := map[string]bool{}
		n := 0
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
						have, _ := toResources(node.Resources)
						if want.Fits(have) {
							n++
							_ = k8s.Create(ctx, e.newTask(fmt.Sprintf("%s-%d", fw, n), o.Name, node.NodeName, cpu, mem))
							break
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

func (e *testEnv) admittedTasks(fw string) []agorav1alpha1.Task {
	e.t.Helper()
	var l agorav1alpha1.TaskList
	if err := k8s.List(e.ctx, &l, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []agorav1alpha1.Task
	for _, t := range l.Items {
		if t.Status.Framework == fw && t.Status.Phase != "" && t.Status.Phase != agorav1alpha1.TaskError {
			out = append(out, t)
		}
	}
	return out
}

// TestDRFPaperExample is the example of the DRF paper through the API: a 9 CPU / 18Gi pool,
// A runs <1 CPU, 4Gi> tasks, B <3 CPU, 1Gi>; each takes one task per offer and releases the
// rest. DRF equalises their dominant shares at 2/3: A gets 3 tasks, B 2.
func TestDRFPaperExample(t *testing.T) {
	e := newTestEnv(t, Options{})
	// Three nodes fit one A task each, two nodes one B task each: 9 CPU, 18Gi.
	for i := range 3 {
		e.addNode(fmt.Sprintf("%s-a%d", e.label, i), "1", "4Gi")
	}
	for i := range 2 {
		e.addNode(fmt.Sprintf("%s-b%d", e.label, i), "3", "3Gi")
	}
	e.addFramework("a", nil)
	e.addFramework("b", nil)
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	e.simpleFramework(ctx, &wg, "a", "1", "4Gi")
	e.simpleFramework(ctx, &wg, "b", "3", "1Gi")
	defer func() { cancel(); wg.Wait() }()
	e.eventually(60*time.Second, "A with 3 tasks and B with 2", func() (bool, string) {
		a, b := len(e.admittedTasks("a")), len(e.admittedTasks("b"))
		return a == 3 && b == 2, fmt.Sprintf("A %d, B %d", a, b)
	})
	cancel()
	wg.Wait()
	e.eventually(20*time.Second, "shares 0.6667", func() (bool, string) {
		a, b := e.framework("a"), e.framework("b")
		return a.Status.DominantShare == "0.6667" && b.Status.DominantShare == "0.6667" &&
				a.Status.Tasks.Staging == 3 && b.Status.Tasks.Staging == 2,
			fmt.Sprintf("A %s %v, B %s %v", a.Status.DominantShare, a.Status.Tasks, b.Status.DominantShare, b.Status.Tasks)
	})
	a := e.framework("a")
	if a.Status.DominantResource != corev1.ResourceMemory {
		t.Errorf("A's dominant resource = %q, want memory", a.Status.DominantResource)
	}
	if b := e.framework("b"); b.Status.DominantResource != corev1.ResourceCPU {
		t.Errorf("B's dominant resource = %q, want cpu", b.Status.DominantResource)
	}
	e.checkInvariants()
}

// TestAdmissionErrors covers each reason a task is rejected with.
func TestAdmissionErrors(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RefuseDuration = &metav1.Duration{Duration: time.Hour} })
	o := e.waitOffer("f")

	other := e.ns + "-other"
	if err := k8s.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}); err != nil {
		t.Fatal(err)
	}
	foreign := e.newTask("foreign", o.Name, node, "1", "1Gi")
	foreign.Namespace = other
	if err := k8s.Create(e.ctx, foreign); err != nil {
		t.Fatal(err)
	}
	e.createTask("missing", "no-such-offer", node, "1", "1Gi")
	e.createTask("wrong-node", o.Name, "elsewhere", "1", "1Gi")
	e.createTask("too-big", o.Name, node, "100", "1Gi")
	bad := e.newTask("bad-template", o.Name, node, "1", "1Gi")
	bad.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	if err := k8s.Create(e.ctx, bad); err != nil {
		t.Fatal(err)
	}
	e.createTask("no-cpu", o.Name, node, "0", "1Gi")
	// Two tasks racing for the last 3 of 4 CPUs: exactly one wins.
	e.createTask("race-1", o.Name, node, "3", "1Gi")
	e.createTask("race-2", o.Name, node, "3", "1Gi")

	for name, reason := range map[string]string{
		"missing":      agorav1alpha1.ReasonOfferNotFound,
		"wrong-node":   agorav1alpha1.ReasonNodeNotInOffer,
		"too-big":      agorav1alpha1.ReasonInsufficientResources,
		"bad-template": agorav1alpha1.ReasonInvalidTemplate,
		"no-cpu":       agorav1alpha1.ReasonInvalidTemplate,
	} {
		tk := e.waitPhase(name, agorav1alpha1.TaskError)
		if tk.Status.Reason != reason {
			t.Errorf("task %s: reason %q, want %q (%s)", name, tk.Status.Reason, reason, tk.Status.Message)
		}
		if tk.Status.Message == "" {
			t.Errorf("task %s: no message", name)
		}
	}
	e.eventually(20*time.Second, "foreign task rejected", func() (bool, string) {
		tk := &agorav1alpha1.Task{}
		if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(foreign), tk); err != nil {
			return false, err.Error()
		}
		return tk.Status.Phase == agorav1alpha1.TaskError && tk.Status.Reason == agorav1alpha1.ReasonOfferNotFound, string(tk.Status.Phase) + " " + tk.Status.Reason
	})
	e.eventually(20*time.Second, "race decided", func() (bool, string) {
		a, b := e.task("race-1"), e.task("race-2")
		return a.Status.Phase != "" && b.Status.Phase != "", ""
	})
	a, b := e.task("race-1"), e.task("race-2")
	staging := 0
	for _, tk := range []*agorav1alpha1.Task{a, b} {
		switch tk.Status.Phase {
		case agorav1alpha1.TaskStaging:
			staging++
		case agorav1alpha1.TaskError:
			if tk.Status.Reason != agorav1alpha1.ReasonInsufficientResources {
				t.Errorf("race loser %s: reason %s", tk.Name, tk.Status.Reason)
			}
		}
	}
	if staging != 1 {
		t.Fatalf("race: %d winners (%s %s, %s %s), want 1", staging, a.Status.Phase, a.Status.Message, b.Status.Phase, b.Status.Message)
	}
	// The winner was first by creation time, then name.
	if a.Status.Phase != agorav1alpha1.TaskStaging && a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		t.Errorf("race-2 won over race-1 created at the same second")
	}
	e.eventually(20*time.Second, "offer status follows", func() (bool, string) {
		var cur agorav1alpha1.Offer
		if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), &cur); err != nil {
			return false, err.Error()
		}
		if cur.Status.AdmittedTasks != 1 || len(cur.Status.Remaining) != 1 {
			return false, fmt.Sprintf("%+v", cur.Status)
		}
		cpu := cur.Status.Remaining[0].Resources[corev1.ResourceCPU]
		return cpu.MilliValue() == 1000, cpu.String()
	})
	if fw := e.framework("f"); fw.Status.Tasks.Error != 5 {
		e.eventually(10*time.Second, "error count", func() (bool, string) {
			fw := e.framework("f")
			return fw.Status.Tasks.Error == 5, fmt.Sprintf("%+v", fw.Status.Tasks)
		})
	}
}

// TestOfferExpiry: an offer nobody answers is rescinded at expireTime, with an Event; a task
// naming it afterwards is told it expired.
func TestOfferExpiry(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) {
		fw.Spec.OfferTimeout = &metav1.Duration{Duration: time.Second}
		fw.Spec.SuppressOffers = false
	})
	o := e.waitOffer("f")
	e.eventually(20*time.Second, "offer expired and gone", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), &agorav1alpha1.Offer{})
		return isNotFound(err), fmt.Sprint(err)
	})
	e.createTask("late", o.Name, node, "1", "1Gi")
	tk := e.waitPhase("late", agorav1alpha1.TaskError)
	if tk.Status.Reason != agorav1alpha1.ReasonOfferExpired {
		t.Errorf("reason %s, want %s", tk.Status.Reason, agorav1alpha1.ReasonOfferExpired)
	}
	e.waitEvent(o.Name, agorav1alpha1.ReasonExpired)
	// The resources come back in a new offer.
	e.eventually(20*time.Second, "a new offer", func() (bool, string) {
		for _, n := range e.offers("f") {
			if n.Name != o.Name {
				return true, ""
			}
		}
		return false, ""
	})
}

func (e *testEnv) waitEvent(regarding, reason string) {
	e.t.Helper()
	e.eventually(20*time.Second, "event "+reason+" on "+regarding, func() (bool, string) {
		var l eventsv1.EventList
		if err := k8s.List(e.ctx, &l, client.InNamespace(e.ns)); err != nil {
			return false, err.Error()
		}
		for _, ev := range l.Items {
			if ev.Regarding.Name == regarding && ev.Reason == reason {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(l.Items))
	})
}

// TestRelease: tasks created before the offer's deletion are admitted, later ones are not,
// the decline filter holds the node back, and REVIVE clears it.
func TestReleaseAndRevive(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RefuseDuration = &metav1.Duration{Duration: time.Hour} })
	o := e.waitOffer("f")
	// Create and delete at once: the controller may not have seen the task yet.
	e.createTask("before", o.Name, node, "1", "1Gi")
	if err := k8s.Delete(e.ctx, &o); err != nil {
		t.Fatal(err)
	}
	e.waitPhase("before", agorav1alpha1.TaskStaging)
	// The release is told by an Event, the Offer being gone right after.
	e.waitEvent(o.Name, agorav1alpha1.ReasonReleased)
	e.eventually(20*time.Second, "released offer gone", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), &agorav1alpha1.Offer{})
		return isNotFound(err), fmt.Sprint(err)
	})
	e.createTask("after", o.Name, node, "1", "1Gi")
	if tk := e.waitPhase("after", agorav1alpha1.TaskError); tk.Status.Reason != agorav1alpha1.ReasonOfferNotFound {
		t.Errorf("after: reason %s", tk.Status.Reason)
	}
	// The decline filter (1h) keeps the node from f: several cycles pass without an offer.
	deadline := time.Now().Add(10 * e.opts.AllocationInterval)
	for time.Now().Before(deadline) {
		if os := e.offers("f"); len(os) > 0 {
			t.Fatalf("offer %s made inside the decline filter", os[0].Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.updateFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RevivedAt = &metav1.Time{Time: time.Now()} })
	o2 := e.waitOffer("f")
	cpu := o2.Spec.Nodes[0].Resources[corev1.ResourceCPU]
	if cpu.MilliValue() != 3000 {
		t.Errorf("revived offer has cpu %s, want 3 (4 minus the admitted task)", cpu.String())
	}
	e.eventually(20*time.Second, "observedRevivedAt", func() (bool, string) {
		fw := e.framework("f")
		return fw.Status.ObservedRevivedAt != nil, ""
	})
}

// TestDeclineFilterExpires: after refuseDuration the released node is offered again.
func TestDeclineFilterExpires(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.addNode(e.label+"-n", "4", "8Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RefuseDuration = &metav1.Duration{Duration: time.Second} })
	o := e.waitOffer("f")
	if err := k8s.Delete(e.ctx, &o); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "a new offer after the filter", func() (bool, string) {
		for _, n := range e.offers("f") {
			if n.Name != o.Name {
				if n.CreationTimestamp.Sub(o.CreationTimestamp.Time) < time.Second {
					return false, "re-offered inside the filter"
				}
				return true, ""
			}
		}
		return false, ""
	})
}

// TestRescindOnNodeChanges: cordon and NotReady take the node's offers back.
func TestRescindOnNodeChanges(t *testing.T) {
	e := newTestEnv(t, Options{})
	n1, n2 := e.label+"-n1", e.label+"-n2"
	e.addNode(n1, "2", "4Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.updateNode(n1, false, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	e.eventually(20*time.Second, "offer rescinded on cordon", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), &agorav1alpha1.Offer{})
		return isNotFound(err), fmt.Sprint(err)
	})
	e.waitEvent(o.Name, agorav1alpha1.ReasonNodeChanged)

	e.addNode(n2, "2", "4Gi")
	o2 := e.waitOffer("f")
	if o2.Spec.Nodes[0].NodeName != n2 {
		t.Fatalf("offer on %s, want only %s (n1 is cordoned)", o2.Spec.Nodes[0].NodeName, n2)
	}
	e.updateNode(n2, true, func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionFalse
	})
	e.eventually(20*time.Second, "offer rescinded on NotReady", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o2), &agorav1alpha1.Offer{})
		return isNotFound(err), fmt.Sprint(err)
	})
}

// TestDedicatedPoolTaint: the dedicated pool's taint keeps foreign pods off a node, not the
// frameworks: a node tainted only with it is offered to a framework without tolerations, and a
// task is admitted there; another taint on the same node still counts.
func TestDedicatedPoolTaint(t *testing.T) {
	e := newTestEnv(t, Options{})
	n := e.label + "-pool"
	e.addNode(n, "2", "4Gi")
	e.updateNode(n, false, func(node *corev1.Node) {
		node.Spec.Taints = append(node.Spec.Taints,
			corev1.Taint{Key: agorav1alpha1.TaintPool, Effect: corev1.TaintEffectNoSchedule},
			corev1.Taint{Key: agorav1alpha1.TaintPool, Value: "batch", Effect: corev1.TaintEffectNoExecute})
	})
	e.addFramework("f", nil)
	o := e.waitOfferWhere("f", "f offered the pool node", func(x *agorav1alpha1.Offer) bool { return offerCPU(x, n) > 0 })
	e.createTask("t", o.Name, n, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)

	e.updateNode(n, false, func(node *corev1.Node) {
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "other", Effect: corev1.TaintEffectNoSchedule})
	})
	e.eventually(20*time.Second, "the offer's part on the node rescinded for the other taint", func() (bool, string) {
		cur := &agorav1alpha1.Offer{}
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), cur)
		return isNotFound(err) || offerCPU(cur, n) == 0, ""
	})
}

// TestNodeLost: a Node NotReady past --node-lost-timeout loses its tasks.
func TestNodeLost(t *testing.T) {
	e := newTestEnv(t, Options{NodeLostTimeout: time.Second})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	// NotReady past --node-lost-timeout (a silent executor alone makes tasks Unreachable; see
	// TestSilentExecutorMakesTasksUnreachable).
	e.updateNode(node, true, func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse })
	tk := e.waitPhase("t", agorav1alpha1.TaskLost)
	if tk.Status.Reason != agorav1alpha1.ReasonNodeLostTask {
		t.Errorf("reason %s", tk.Status.Reason)
	}
	e.eventually(20*time.Second, "framework counts the lost task", func() (bool, string) {
		fw := e.framework("f")
		return fw.Status.Tasks.Lost == 1 && fw.Status.Tasks.Active == 0, fmt.Sprintf("%+v", fw.Status.Tasks)
	})
}

// TestNodeDeleted: deleting the Node loses its tasks too.
func TestNodeDeleted(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	n := e.addNode(node, "2", "4Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	if err := k8s.Delete(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	e.waitPhase("t", agorav1alpha1.TaskLost)
}

// TestSuppress: SUPPRESS stops new offers only, as in Mesos: the outstanding offer stays, a
// launch on it after the suppress is admitted, no new offer comes while suppressed, and
// unsuppressing brings offers back. (On main before this, SUPPRESS rescinded the offer and the
// launch ended Error.)
func TestSuppress(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.updateFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.SuppressOffers = true })
	e.eventually(20*time.Second, "Ready=False Suppressed", func() (bool, string) {
		fw := e.framework("f")
		for _, c := range fw.Status.Conditions {
			if c.Type == agorav1alpha1.FrameworkConditionReady {
				return c.Reason == agorav1alpha1.ReasonSuppressed, c.Reason
			}
		}
		return false, "no Ready"
	})
	if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), &agorav1alpha1.Offer{}); err != nil {
		t.Fatalf("outstanding offer gone after SUPPRESS: %v", err)
	}
	e.createTask("after-suppress", o.Name, node, "1", "1Gi")
	if tk := e.waitPhase("after-suppress", agorav1alpha1.TaskStaging); tk.Status.Reason != agorav1alpha1.ReasonAdmitted {
		t.Errorf("reason %s", tk.Status.Reason)
	}
	if err := k8s.Delete(e.ctx, &o); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * e.opts.AllocationInterval)
	for time.Now().Before(deadline) {
		for _, x := range e.offers("f") {
			if x.Name != o.Name {
				t.Fatalf("offer %s made while suppressed", x.Name)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.updateFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.SuppressOffers = false })
	e.waitOffer("f")
}

// TestFrameworkLeaseAndFailover: a stale framework Lease rescinds its offers, then after
// failoverTimeout its tasks are killed (deleted).
func TestFrameworkLeaseAndFailover(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) {
		fw.Spec.FailoverTimeout = &metav1.Duration{Duration: 2 * time.Second}
	})
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	// The lease expires 1s from now.
	dur := int32(1)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "f"}}
	l.Spec.LeaseDurationSeconds = &dur
	l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	if err := k8s.Create(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "offer rescinded (FrameworkInactive)", func() (bool, string) {
		return len(e.offers("f")) == 0, ""
	})
	e.eventually(20*time.Second, "Active=False", func() (bool, string) {
		fw := e.framework("f")
		for _, c := range fw.Status.Conditions {
			if c.Type == agorav1alpha1.FrameworkConditionActive {
				return c.Status == metav1.ConditionFalse, c.Reason
			}
		}
		return false, ""
	})
	e.eventually(20*time.Second, "task killed after failoverTimeout", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(e.newTask("t", "", "", "1", "1")), &agorav1alpha1.Task{})
		return isNotFound(err), fmt.Sprint(err)
	})
}

// TestTeardown: deleting a Framework rescinds its offers, kills its tasks, then it goes.
func TestTeardown(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RefuseDuration = &metav1.Duration{} })
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	// An ended task made as with kubectl: no owner reference, so only TEARDOWN removes it.
	e.createTask("rejected", o.Name, node, "100", "1Gi")
	e.waitPhase("rejected", agorav1alpha1.TaskError)
	e.eventually(20*time.Second, "finalizer", func() (bool, string) {
		return len(e.framework("f").Finalizers) > 0, ""
	})
	if err := k8s.Delete(e.ctx, e.framework("f")); err != nil {
		t.Fatal(err)
	}
	e.eventually(30*time.Second, "framework, offers and tasks gone", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(e.newTask("t", "", "", "1", "1")), &agorav1alpha1.Task{})
		if rerr := k8s.Get(e.ctx, client.ObjectKeyFromObject(e.newTask("rejected", "", "", "1", "1")), &agorav1alpha1.Task{}); !isNotFound(rerr) {
			return false, "the ended task is still there"
		}
		ferr := k8s.Get(e.ctx, client.ObjectKeyFromObject(&agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "f"}}), &agorav1alpha1.Framework{})
		var l agorav1alpha1.OfferList
		_ = k8s.List(e.ctx, &l, client.InNamespace(e.ns))
		return isNotFound(err) && isNotFound(ferr) && len(l.Items) == 0, fmt.Sprintf("task %v, fw %v, offers %d", err, ferr, len(l.Items))
	})
}

// TestRestart: the controller is stopped mid-run and a new one takes over; nothing is
// double-booked and no task is lost.
func TestRestart(t *testing.T) {
	e := newTestEnv(t, Options{})
	for i := range 4 {
		e.addNode(fmt.Sprintf("%s-n%d", e.label, i), "2", "4Gi")
	}
	e.addFramework("a", nil)
	e.addFramework("b", nil)
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	e.simpleFramework(ctx, &wg, "a", "500m", "1Gi")
	e.simpleFramework(ctx, &wg, "b", "1", "512Mi")
	e.eventually(30*time.Second, "some tasks", func() (bool, string) {
		n := len(e.admittedTasks("a")) + len(e.admittedTasks("b"))
		return n >= 4, fmt.Sprint(n)
	})
	e.stopController()
	admittedBefore := append(e.admittedTasks("a"), e.admittedTasks("b")...)
	before := len(admittedBefore)
	e.checkInvariants()
	e.startController()
	e.eventually(60*time.Second, "more tasks after the restart", func() (bool, string) {
		n := len(e.admittedTasks("a")) + len(e.admittedTasks("b"))
		return n >= before+2, fmt.Sprintf("%d, was %d", n, before)
	})
	cancel()
	wg.Wait()
	e.checkInvariants()
	for _, old := range admittedBefore {
		if cur := e.task(old.Name); cur.Status.Phase != agorav1alpha1.TaskStaging {
			t.Errorf("task %s admitted before the restart is now %s (%s)", old.Name, cur.Status.Phase, cur.Status.Message)
		}
	}
	// A second restart with offers outstanding: they are restored, not re-offered.
	e.stopController()
	e.checkInvariants()
	e.startController()
	time.Sleep(5 * e.opts.AllocationInterval) // let a few cycles run, then check
	e.checkInvariants()
}

// checkInvariants reads the API: per node, admitted non-terminal tasks plus what open offers
// (not being deleted) hold no task took fit in allocatable (invariants 1 and 2).
func (e *testEnv) checkInvariants() {
	e.t.Helper()
	var nodes corev1.NodeList
	if err := k8s.List(e.ctx, &nodes, client.MatchingLabels{"agora-test": e.label}); err != nil {
		e.t.Fatal(err)
	}
	var tasks agorav1alpha1.TaskList
	if err := k8s.List(e.ctx, &tasks, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	var offers agorav1alpha1.OfferList
	if err := k8s.List(e.ctx, &offers, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	used := map[string]allocator.Resources{}
	fromOffer := map[string]allocator.Resources{} // offer/node -> taken by tasks
	for _, t := range tasks.Items {
		if t.Status.Phase == "" || t.Status.Phase == agorav1alpha1.TaskError {
			continue
		}
		r, _ := toResources(t.Spec.Resources)
		fromOffer[t.Spec.OfferName+"/"+t.Spec.NodeName] = fromOffer[t.Spec.OfferName+"/"+t.Spec.NodeName].Add(r)
		if !t.Status.Phase.IsTerminal() {
			used[t.Spec.NodeName] = used[t.Spec.NodeName].Add(r)
		}
	}
	for _, o := range offers.Items {
		if !o.DeletionTimestamp.IsZero() {
			// Released by its framework: nothing more is admitted from it after the release,
			// which is when the controller may offer the rest again (the finalizer only
			// keeps the object until then).
			continue
		}
		took := map[string]allocator.Resources{}
		for _, a := range o.Status.Admitted {
			took[a.NodeName], _ = toResources(a.Resources)
		}
		for _, n := range o.Spec.Nodes {
			r, _ := toResources(n.Resources)
			// What the offer gave is in its status (tasks that took it may be gone); what tasks
			// that still exist took of it bounds it from below.
			given := took[n.NodeName]
			if t := fromOffer[o.Name+"/"+n.NodeName]; !t.Fits(given) {
				given = t
			}
			used[n.NodeName] = used[n.NodeName].Add(r.Sub(given).ClampZero())
		}
	}
	for _, n := range nodes.Items {
		alloc, _ := toResources(n.Status.Allocatable)
		if !used[n.Name].Fits(alloc) {
			e.t.Errorf("node %s overcommitted: tasks + offers %v > allocatable %v", n.Name, used[n.Name], alloc)
		}
	}
}

// TestMetrics: the controller's metrics are registered in controller-runtime's registry
// (served on --metrics-bind-address).
func TestMetrics(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.addNode(e.label+"-n", "2", "4Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.createTask("t", o.Name, e.label+"-n", "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	e.eventually(20*time.Second, "metrics", func() (bool, string) {
		mfs, err := metrics.Registry.Gather()
		if err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, mf := range mfs {
			have[mf.GetName()] = true
		}
		for _, want := range []string{
			"agora_allocation_cycle_duration_seconds", "agora_offers_made_total", "agora_tasks_admitted_total",
			"agora_framework_dominant_share", "agora_framework_allocated", "agora_framework_offered",
			"agora_outstanding_offers", "agora_pool_capacity", "agora_framework_tasks", "agora_framework_ready",
		} {
			if !have[want] {
				return false, "missing " + want
			}
		}
		// One agora_framework_ready series for f, its Ready reason as a label.
		reasons := readyMetricReasons(mfs, e.ns, "f")
		return len(reasons) == 1 && reasons[0] == agorav1alpha1.ReasonReceivingOffers, fmt.Sprintf("agora_framework_ready of f: %v", reasons)
	})
	// Suppressed: the series moves to the new reason, the old one goes.
	e.updateFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.SuppressOffers = true })
	e.eventually(20*time.Second, "agora_framework_ready follows Ready", func() (bool, string) {
		mfs, err := metrics.Registry.Gather()
		if err != nil {
			return false, err.Error()
		}
		reasons := readyMetricReasons(mfs, e.ns, "f")
		return len(reasons) == 1 && reasons[0] == agorav1alpha1.ReasonSuppressed, fmt.Sprintf("%v", reasons)
	})
}

// readyMetricReasons returns the reason label of every agora_framework_ready series of one framework
// whose value is 1.
func readyMetricReasons(mfs []*dto.MetricFamily, namespace, name string) []string {
	var reasons []string
	for _, mf := range mfs {
		if mf.GetName() != "agora_framework_ready" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["namespace"] == namespace && l["framework"] == name && m.GetGauge().GetValue() == 1 {
				reasons = append(reasons, l["reason"])
			}
		}
	}
	return reasons
}

// TestLostTaskFinalizerReleased: a task on a node that never comes back keeps agora-executor's
// finalizer, since its executor is gone; the controller removes it once the task is Lost, so a
// user's delete of the Task completes. Once for a deleted Node, once for a Node NotReady past
// --node-lost-timeout.
func TestLostTaskFinalizerReleased(t *testing.T) {
	e := newTestEnv(t, Options{NodeLostTimeout: time.Second})
	deleted, stale := e.label+"-deleted", e.label+"-stale"
	n := e.addNode(deleted, "2", "4Gi")
	e.addNode(stale, "2", "4Gi")
	e.addFramework("f", nil)
	offered := map[string]string{}
	e.eventually(20*time.Second, "both nodes offered", func() (bool, string) {
		for _, o := range e.offers("f") {
			for _, node := range o.Spec.Nodes {
				offered[node.NodeName] = o.Name
			}
		}
		return offered[deleted] != "" && offered[stale] != "", fmt.Sprint(offered)
	})
	for _, node := range []string{deleted, stale} {
		e.createTask("on-"+node, offered[node], node, "1", "1Gi")
		tk := e.waitPhase("on-"+node, agorav1alpha1.TaskStaging)
		// Play the executor: it holds the finalizer from the moment it acts on the task.
		patch := client.MergeFrom(tk.DeepCopy())
		tk.Finalizers = append(tk.Finalizers, agorav1alpha1.TaskFinalizer)
		if err := k8s.Patch(e.ctx, tk, patch); err != nil {
			t.Fatal(err)
		}
	}

	if err := k8s.Delete(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	e.updateNode(stale, true, func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse })
	for _, node := range []string{deleted, stale} {
		name := "on-" + node
		e.eventually(20*time.Second, name+" Lost without the executor's finalizer", func() (bool, string) {
			tk := e.task(name)
			return tk.Status.Phase == agorav1alpha1.TaskLost && len(tk.Finalizers) == 0, fmt.Sprintf("%s %v", tk.Status.Phase, tk.Finalizers)
		})
		if err := k8s.Delete(e.ctx, e.task(name)); err != nil {
			t.Fatal(err)
		}
		e.eventually(20*time.Second, name+" deleted", func() (bool, string) {
			err := k8s.Get(e.ctx, client.ObjectKeyFromObject(e.newTask(name, "", "", "1", "1")), &agorav1alpha1.Task{})
			return isNotFound(err), fmt.Sprint(err)
		})
	}
}

// TestLiveNodeKeepsTaskFinalizer: the controller leaves the executor's finalizer alone while the
// node is alive, even on a terminal task (the executor removes it once the pod is gone).
func TestLiveNodeKeepsTaskFinalizer(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "1", "1Gi")
	tk := e.waitPhase("t", agorav1alpha1.TaskStaging)
	patch := client.MergeFrom(tk.DeepCopy())
	tk.Finalizers = append(tk.Finalizers, agorav1alpha1.TaskFinalizer)
	if err := k8s.Patch(e.ctx, tk, patch); err != nil {
		t.Fatal(err)
	}
	tk.Status.Phase, tk.Status.Reason = agorav1alpha1.TaskFinished, agorav1alpha1.ReasonCompleted
	if err := k8s.Status().Update(e.ctx, tk); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "the framework counts it Finished", func() (bool, string) {
		fw := e.framework("f")
		return fw.Status.Tasks.Finished == 1, fmt.Sprintf("%+v", fw.Status.Tasks)
	})
	if got := e.task("t").Finalizers; len(got) != 1 || got[0] != agorav1alpha1.TaskFinalizer {
		t.Errorf("finalizers %v, want the executor's kept", got)
	}
	// Let the test's cleanup delete it.
	patch = client.MergeFrom(e.task("t"))
	cur := e.task("t")
	cur.Finalizers = nil
	if err := k8s.Patch(e.ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseThenSuppress: "launch, decline, suppress" — the last answer of a framework that has
// nothing more to run — admits the tasks created before the decline: SUPPRESS rescinds only the
// offers the framework has not released. The controller is down while the framework answers, so
// on its return the release and the suppress are both pending; which of the two the controller
// handles first is up to its queues, so the test also asks the stopped controller's model
// directly which offers a SUPPRESS would spare.
func TestReleaseThenSuppress(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", nil)
	// An offer the model still holds: one taken back a moment ago (the node's first updates)
	// can still be listed while its rescind is being written, and is nobody's to spare.
	o := e.waitOfferWhere("f", "an offer the controller holds", func(o *agorav1alpha1.Offer) bool {
		id, err := offerIDFromName(o.Name)
		if err != nil {
			return false
		}
		e.ctrl.m.mu.Lock()
		defer e.ctrl.m.mu.Unlock()
		st := e.ctrl.m.byID[id]
		return st != nil && st.key == client.ObjectKeyFromObject(o) && st.unwrittenSince.IsZero()
	})
	e.stopController()
	stopped := e.ctrl
	fwID := frameworkID(e.ns, "f")
	key := client.ObjectKeyFromObject(&o)
	if spared, err := stopped.releasingOffers(e.ctx, fwID); err != nil || len(spared) != 0 {
		t.Fatalf("before the release: spared %v, %v; want none", spared, err)
	}
	e.createTask("last", o.Name, node, "1", "1Gi")
	if err := k8s.Delete(e.ctx, &o); err != nil {
		t.Fatal(err)
	}
	spared, err := stopped.releasingOffers(e.ctx, fwID)
	if err != nil || !spared[key] {
		t.Fatalf("after the release: spared %v, %v; want %s", spared, err, key)
	}
	stopped.m.mu.Lock()
	follow := stopped.rescindFrameworkOffersExcept(fwID, agorav1alpha1.ReasonFrameworkInactive, spared)
	_, outstanding := stopped.m.byID[stopped.m.offers[key].id]
	stopped.m.mu.Unlock()
	if len(follow) != 0 || !outstanding {
		t.Fatalf("SUPPRESS rescinded %v (offer outstanding: %v); want the released offer spared", follow, outstanding)
	}

	e.updateFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.SuppressOffers = true })
	e.startController()
	if tk := e.waitPhase("last", agorav1alpha1.TaskStaging); tk.Status.Reason != agorav1alpha1.ReasonAdmitted {
		t.Errorf("reason %s", tk.Status.Reason)
	}
	e.waitEvent(o.Name, agorav1alpha1.ReasonReleased)
}

// TestFinalizerSetAtCreate: a framework may create a Task with the executor's finalizer on (the
// SDK does, to save the executor a write). A task that never gets a pod must not hang on it:
// the controller removes it from a task it rejects and from one deleted before admission.
func TestFinalizerSetAtCreate(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RefuseDuration = &metav1.Duration{Duration: time.Hour} })
	o := e.waitOffer("f")
	create := func(name, offer string) {
		tk := e.newTask(name, offer, node, "1", "1Gi")
		tk.Finalizers = []string{agorav1alpha1.TaskFinalizer}
		if err := k8s.Create(e.ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(name string) func() (bool, string) {
		return func() (bool, string) {
			tk := &agorav1alpha1.Task{}
			err := k8s.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, tk)
			if err == nil {
				return false, fmt.Sprintf("%s %v", tk.Status.Phase, tk.Finalizers)
			}
			return isNotFound(err), err.Error()
		}
	}

	create("rejected", "no-such-offer")
	e.eventually(20*time.Second, "rejected task without the finalizer", func() (bool, string) {
		tk := e.task("rejected")
		return tk.Status.Phase == agorav1alpha1.TaskError && len(tk.Finalizers) == 0, fmt.Sprintf("%s %v", tk.Status.Phase, tk.Finalizers)
	})
	if err := k8s.Delete(e.ctx, e.task("rejected")); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "rejected task deleted", gone("rejected"))

	// Created and deleted while no controller runs: it is still undecided when one starts.
	e.stopController()
	create("deleted-pending", o.Name)
	if err := k8s.Delete(e.ctx, e.task("deleted-pending")); err != nil {
		t.Fatal(err)
	}
	if tk := e.task("deleted-pending"); tk.DeletionTimestamp == nil || tk.Status.Phase != "" {
		t.Fatalf("want it pending and held by the finalizer: %s %v", tk.Status.Phase, tk.DeletionTimestamp)
	}
	e.startController()
	e.eventually(20*time.Second, "task deleted before admission gone", gone("deleted-pending"))

	// An admitted one keeps it: it is the executor's to remove.
	create("admitted", o.Name)
	if tk := e.waitPhase("admitted", agorav1alpha1.TaskStaging); len(tk.Finalizers) != 1 {
		t.Errorf("admitted task's finalizers %v, want the executor's", tk.Finalizers)
	}
}

// TestLostNodeReleasesOrphanPod: a pod on a lost node whose Task is already gone (its release
// failed, say on a conflict, and the Task was deleted before the retry) still has the
// executor's finalizer released. Otherwise it stays terminating for ever on a node nobody
// serves, and holds its name: a new Task of that name never starts (the chaos suite's gang job
// hung this way for minutes).
func TestLostNodeReleasesOrphanPod(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-gone"
	n := e.addNode(node, "2", "4Gi")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "gang-0-0-2", Finalizers: []string{agorav1alpha1.PodFinalizer},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Task", Name: "gang-0-0-2",
				UID: "0b9d3c47-0000-4000-8000-000000000001", Controller: ptrTo(true)}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if err := k8s.Create(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	// A pod of a live task elsewhere keeps its finalizer: only the lost node's are released.
	other := e.label + "-stays"
	e.addNode(other, "2", "4Gi")
	kept := pod.DeepCopy()
	kept.ResourceVersion, kept.Name, kept.Spec.NodeName = "", "other", other
	kept.OwnerReferences[0].Name = "other"
	if err := k8s.Create(e.ctx, kept); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "the orphan pod on the lost node released", func() (bool, string) {
		cur := &corev1.Pod{}
		if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
			return false, err.Error()
		}
		return len(cur.Finalizers) == 0, fmt.Sprint(cur.Finalizers)
	})
	cur := &corev1.Pod{}
	if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(kept), cur); err != nil || len(cur.Finalizers) != 1 {
		t.Errorf("the pod on a node that is not lost: %v %v", cur.Finalizers, err)
	}
	for _, p := range []*corev1.Pod{pod, kept} {
		_ = k8s.Delete(e.ctx, p)
		cp := p.DeepCopy()
		if err := k8s.Get(e.ctx, client.ObjectKeyFromObject(p), cp); err == nil && len(cp.Finalizers) > 0 {
			patch := client.MergeFrom(cp.DeepCopy())
			cp.Finalizers = nil
			_ = k8s.Patch(e.ctx, cp, patch)
		}
	}
}
