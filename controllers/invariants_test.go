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

// Regression tests of the invariant breaches found on main (issue: hold the invariants under
// faults). Each says what broke and how it was seen; each drives the controller through a real
// API server.

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// offerCPU is the CPU an Offer offers on node, in millicores (0 when the node is not in it).
func offerCPU(o *agorav1alpha1.Offer, node string) int64 {
	for _, n := range o.Spec.Nodes {
		if n.NodeName == node {
			return n.Resources.Cpu().MilliValue()
		}
	}
	return 0
}

// offeredOn sums what the open offers of the test's namespace offer on node, in millicores,
// minus what their admitted tasks took (status.remaining when written, else spec).
func (e *testEnv) offeredOn(node string) int64 {
	var sum int64
	for _, o := range e.offers("") {
		found := false
		for _, r := range o.Status.Remaining {
			if r.NodeName == node {
				sum += r.Resources.Cpu().MilliValue()
				found = true
			}
		}
		if !found && o.Status.AdmittedTasks == 0 {
			sum += offerCPU(&o, node)
		}
	}
	return sum
}

// laggingCache is the manager's cache as it is after a delete and a create under one name,
// before the watch delivers the create: it does not have the Task named hide.
type laggingCache struct {
	client.Reader
	hide types.NamespacedName
}

func (l laggingCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*agorav1alpha1.Task); ok && key == l.hide {
		return apierrors.NewNotFound(schema.GroupResource{Group: agorav1alpha1.GroupName, Resource: "tasks"}, key.Name)
	}
	return l.Reader.Get(ctx, key, obj, opts...)
}

// Breach 1: a charge was freed by Task name. Task t ends and is deleted; the framework creates a
// new t, which is admitted and charged; a reconcile of t that (from a lagging cache) does not see
// the new t freed "ns/t" — the new task's charge — so its pod ran uncharged and its resources
// were offered again. Charges are keyed by UID now, and only evidence about an incarnation frees
// it.
func TestChargeIsFreedByUIDNotName(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	first := e.createTask("t", o.Name, node, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	if err := k8s.Delete(e.ctx, first); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "the first t's charge freed", func() (bool, string) {
		return !e.ctrl.m.charged(first.UID), ""
	})
	second := e.createTask("t", o.Name, node, "1", "1Gi")
	e.waitPhase("t", agorav1alpha1.TaskStaging)
	if !e.ctrl.m.charged(second.UID) {
		t.Fatal("the second t is not charged")
	}
	r := &taskReconciler{c: e.ctrl, cache: laggingCache{Reader: e.ctrl.cache, hide: client.ObjectKeyFromObject(second)}}
	if _, err := r.Reconcile(e.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(second)}); err != nil {
		t.Fatal(err)
	}
	if !e.ctrl.m.charged(second.UID) {
		t.Fatal("a reconcile that did not see the second t freed its charge")
	}
	e.ctrl.m.mu.Lock()
	share, _ := e.ctrl.m.alloc.FrameworkShare(frameworkID(e.ns, "f"))
	e.ctrl.m.mu.Unlock()
	if share.Allocated[allocator.CPU] != 1000 {
		t.Fatalf("framework f holds %d mCPU in tasks, want the second t's 1000", share.Allocated[allocator.CPU])
	}
	// Its end frees it: the same reconcile, once the task is really gone.
	if err := k8s.Delete(e.ctx, second); err != nil {
		t.Fatal(err)
	}
	e.eventually(20*time.Second, "the second t's charge freed", func() (bool, string) {
		return !e.ctrl.m.charged(second.UID), ""
	})
}

// Breach 2: a restart restored offers with resources already given away. The rebuild subtracted
// from an offer only what its still-existing, non-Error tasks took: a task admitted from it that
// finished and was deleted was not subtracted, so the restored offer could be spent again, and a
// valid offer could be rescinded because another one was restored first. The offer's status now
// records what was admitted from it before the admission is written, and offers are restored
// oldest first.
func TestRestartRestoresExactlyWhatRemains(t *testing.T) {
	e := newTestEnv(t, Options{OfferTimeout: 10 * time.Minute})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) {
		fw.Spec.OfferTimeout = &metav1.Duration{Duration: 10 * time.Minute}
	})
	o := e.waitOffer("f")
	if got := offerCPU(&o, node); got != 2000 {
		t.Fatalf("offer has %dm CPU, want 2000m", got)
	}
	e.createTask("t1", o.Name, node, "1", "1Gi")
	e.waitPhase("t1", agorav1alpha1.TaskStaging)
	// The task finishes (as the executor would write) and is deleted: its CPU goes back to the
	// pool and is offered again, in a second offer.
	task := e.task("t1")
	task.Status.Phase, task.Status.Reason = agorav1alpha1.TaskFinished, agorav1alpha1.ReasonCompleted
	if err := k8s.Status().Update(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	second := e.waitOfferWhere("f", "a second offer of the freed CPU", func(x *agorav1alpha1.Offer) bool { return x.Name != o.Name })
	e.eventually(20*time.Second, "offer status written", func() (bool, string) {
		cur := &agorav1alpha1.Offer{}
		_ = k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), cur)
		return len(cur.Status.Admitted) == 1, fmt.Sprint(cur.Status.Admitted)
	})
	for range 3 {
		e.stopController()
		e.startController()
		time.Sleep(10 * e.opts.AllocationInterval)
		for _, key := range []types.NamespacedName{client.ObjectKeyFromObject(&o), client.ObjectKeyFromObject(&second)} {
			cur := &agorav1alpha1.Offer{}
			if err := k8s.Get(e.ctx, key, cur); err != nil || !cur.DeletionTimestamp.IsZero() {
				t.Fatalf("offer %s did not survive the restart: %v", key.Name, err)
			}
		}
		e.ctrl.m.mu.Lock()
		st := e.ctrl.m.offers[client.ObjectKeyFromObject(&o)]
		var left allocator.Resources
		if st != nil {
			if ao, ok := e.ctrl.m.alloc.Offer(st.id); ok {
				for _, n := range ao.Nodes {
					left = left.Add(n.Resources)
				}
			}
		}
		e.ctrl.m.mu.Unlock()
		if left[allocator.CPU] != 1000 {
			t.Fatalf("restored offer %s holds %dm CPU, want the 1000m no task took", o.Name, left[allocator.CPU])
		}
		e.checkInvariants()
	}
}

// Breach 3: other schedulers' pods were under-counted. A native sidecar (restartable init
// container) is summed by kube-scheduler, not maxed; pod-level resources and overhead count; a
// pod merely labelled as a task's counts too. On main, a pod with a 2-CPU native sidecar and a
// 1-CPU main container left its 8-CPU node offered at 6 CPU where 5 were free.
func TestForeignPodsCountedAsKubeSchedulerCounts(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "8", "32Gi")
	always := corev1.ContainerRestartPolicyAlways
	req := func(cpu string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}
	}
	sidecar := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "sidecar"},
		Spec: corev1.PodSpec{
			NodeName:       node,
			InitContainers: []corev1.Container{{Name: "proxy", Image: "x", RestartPolicy: &always, Resources: req("2")}},
			Containers:     []corev1.Container{{Name: "main", Image: "x", Resources: req("1")}},
		},
	}
	// Labelled as an Agora task's pod, but no Task controls it: it counts like any pod.
	impostor := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "impostor", Labels: map[string]string{agorav1alpha1.LabelTask: "x", agorav1alpha1.LabelFramework: "f"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "x", Resources: req("1")}}},
	}
	for _, p := range []*corev1.Pod{sidecar, impostor} {
		if err := k8s.Create(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	if got := offerCPU(&o, node); got != 4000 {
		t.Fatalf("node offered %dm CPU; 8 minus the sidecar pod's 3 (2 sidecar + 1 main, as kube-scheduler sums them) minus the labelled pod's 1 leaves 4000m", got)
	}
}

// Breach 4: a lost node that came back was offered at full capacity while its Lost tasks' pods
// still ran (their grace period): a pod labelled as a task's was never counted. A task's pod is
// left out of the count only while its task is charged.
func TestLostNodeComesBackWithItsPodsCounted(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	n := e.addNode(node, "4", "8Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "3", "1Gi")
	task := e.waitPhase("t", agorav1alpha1.TaskStaging)
	// The pod agora-executor would make: named like the task, controlled by it.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: task.Name, Labels: map[string]string{agorav1alpha1.LabelTask: task.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Task", Name: task.Name, UID: task.UID, Controller: ptrTo(true)}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "x", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}},
	}
	if err := k8s.Create(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(e.ctx, o.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	// The node goes; its task is Lost and its charge freed. Its pod is still there (no
	// kubelet stops it here, as none would while a partitioned node comes back).
	if err := k8s.Delete(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	e.waitPhase("t", agorav1alpha1.TaskLost)
	e.addNode(node, "4", "8Gi")
	got := e.waitOfferWhere("f", "an offer on the returned node", func(x *agorav1alpha1.Offer) bool { return offerCPU(x, node) > 0 })
	if cpu := offerCPU(&got, node); cpu != 1000 {
		t.Fatalf("returned node offered %dm CPU while the lost task's 3-CPU pod still runs; want 1000m", cpu)
	}
}

// Breach 5: liveness compared a remote Lease's renewTime with the controller's clock: an
// executor whose clock ran 40 s behind never joined the pool; a framework host 15 s behind was
// never Active. Freshness is judged by when this controller observed the renewal change.
func TestLeaseFreshnessIgnoresRemoteClock(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	renew := func(ns, name string, skew time.Duration, seconds int32) {
		_ = writeLease(ctx, types.NamespacedName{Namespace: ns, Name: name}, "skewed-host", time.Now().Add(skew), seconds)
	}
	// The executor's host runs 5 minutes behind, the framework's 30 s behind; both renew every
	// second with 10 s Leases.
	renew(SystemNamespace, ExecutorLeasePrefix+node, -5*time.Minute, 10)
	renew(e.ns, "f", -30*time.Second, 10)
	go func() {
		for ctx.Err() == nil {
			renew(SystemNamespace, ExecutorLeasePrefix+node, -5*time.Minute, 10)
			renew(e.ns, "f", -30*time.Second, 10)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	if offerCPU(&o, node) == 0 {
		t.Fatalf("offer %s does not hold the skewed node", o.Name)
	}
	e.eventually(20*time.Second, "framework Active", func() (bool, string) {
		for _, c := range e.framework("f").Status.Conditions {
			if c.Type == agorav1alpha1.FrameworkConditionActive {
				return c.Status == metav1.ConditionTrue, c.Reason
			}
		}
		return false, "no Active condition"
	})
	// Once the renewals stop, the framework goes stale one duration later, by our clock.
	cancel()
	e.eventually(30*time.Second, "framework inactive after its renewals stop", func() (bool, string) {
		for _, c := range e.framework("f").Status.Conditions {
			if c.Type == agorav1alpha1.FrameworkConditionActive {
				return c.Status == metav1.ConditionFalse, c.Reason
			}
		}
		return false, ""
	})
}

// Breach 6: changing what a framework may hold did not take back outstanding offers. Limits
// lowered from 8 to 2 CPU while an offer was held: 6 one-CPU tasks were admitted. A NoSchedule
// taint added to an offered node: a task of a framework without a toleration was admitted.
func TestRuleChangesTakeBackOffers(t *testing.T) {
	e := newTestEnv(t, Options{})
	a, b := e.label+"-a", e.label+"-b"
	e.addNode(a, "8", "32Gi")
	e.addNode(b, "8", "32Gi")
	e.addFramework("f", nil)
	e.waitOffer("f")
	e.eventually(20*time.Second, "f offered both nodes", func() (bool, string) {
		total := int64(0)
		for _, x := range e.offers("f") {
			total += offerCPU(&x, a) + offerCPU(&x, b)
		}
		return total == 16000, fmt.Sprint(total)
	})
	o := e.offers("f")[0]
	e.updateFramework("f", func(fw *agorav1alpha1.Framework) {
		fw.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	})
	e.eventually(20*time.Second, "offers within the new limit", func() (bool, string) {
		return e.offeredOn(a)+e.offeredOn(b) <= 2000, fmt.Sprint(e.offeredOn(a) + e.offeredOn(b))
	})
	for _, x := range e.offers("f") {
		for _, n := range x.Spec.Nodes {
			for i := range 6 {
				_ = k8s.Create(e.ctx, e.newTask(fmt.Sprintf("lim-%s-%s-%d", x.Name[len(x.Name)-4:], n.NodeName[len(n.NodeName)-1:], i), x.Name, n.NodeName, "1", "1Gi"))
			}
		}
	}
	// A task on the offer taken back: rejected, nothing charged.
	_ = k8s.Create(e.ctx, e.newTask("old-offer", o.Name, a, "1", "1Gi"))
	time.Sleep(20 * e.opts.AllocationInterval)
	admitted := 0
	for _, tk := range e.admittedTasks("f") {
		if tk.Status.Phase != "" && tk.Status.Phase != agorav1alpha1.TaskError {
			admitted++
		}
	}
	if admitted > 2 {
		t.Fatalf("%d one-CPU tasks admitted under a 2-CPU limit", admitted)
	}
	var evs corev1.EventList
	_ = k8s.List(e.ctx, &evs, client.InNamespace(e.ns))
	sawChanged := false
	for _, ev := range evs.Items {
		sawChanged = sawChanged || ev.Reason == agorav1alpha1.ReasonFrameworkChanged
	}
	if !sawChanged {
		t.Error("no Rescind event with reason FrameworkChanged")
	}

	// Taints: g holds an offer on a clean node; the node is tainted NoSchedule.
	c := e.label + "-c"
	e.addNode(c, "4", "8Gi")
	e.addFramework("g", nil)
	og := e.waitOfferWhere("g", "g offered node c", func(x *agorav1alpha1.Offer) bool { return offerCPU(x, c) > 0 })
	e.updateNode(c, false, func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "other", Effect: corev1.TaintEffectNoSchedule})
	})
	e.eventually(20*time.Second, "g's part on the tainted node rescinded", func() (bool, string) {
		cur := &agorav1alpha1.Offer{}
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&og), cur)
		return isNotFound(err) || offerCPU(cur, c) == 0, ""
	})
	e.createTask("tainted", og.Name, c, "1", "1Gi")
	if tk := e.waitPhase("tainted", agorav1alpha1.TaskError); tk.Status.Reason == agorav1alpha1.ReasonAdmitted {
		t.Fatal("admitted onto a node tainted against the framework")
	}
	e.waitEvent(og.Name, agorav1alpha1.ReasonNodeChanged)
}

// Breach 7: REVIVE could lose to a release. A decline (Offer delete) and a revive (Framework
// patch) go through different reconcilers; when the revive was processed first, the decline's
// filter came after it and starved the revived framework for refuseDuration. Both are pending
// when the controller starts here, so either order may happen; the revive, asked after the
// release, must win either way.
func TestReviveBeatsEarlierRelease(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newTestEnv(t, Options{})
			node := e.label + "-n"
			e.addNode(node, "2", "4Gi")
			e.addFramework("f", func(fw *agorav1alpha1.Framework) {
				fw.Spec.RefuseDuration = &metav1.Duration{Duration: time.Hour}
			})
			o := e.waitOffer("f")
			e.stopController()
			if err := k8s.Delete(e.ctx, &o); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // revivedAt has one-second resolution
			now := metav1.Now()
			e.updateFramework("f", func(fw *agorav1alpha1.Framework) { fw.Spec.RevivedAt = &now })
			e.startController()
			e.eventually(15*time.Second, "an offer after the revive", func() (bool, string) {
				for _, x := range e.offers("f") {
					if x.Name != o.Name {
						return true, ""
					}
				}
				return false, ""
			})
		})
	}
}

// Breach 8: expiry was judged at reconcile time: a task created before the offer's expireTime
// was rejected OfferExpired when its reconcile ran after the expiry (here: the controller was
// down). It is judged by the task's creation now.
func TestExpiryJudgedByTaskCreation(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "2", "4Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) {
		fw.Spec.OfferTimeout = &metav1.Duration{Duration: 4 * time.Second}
	})
	o := e.waitOffer("f")
	e.stopController()
	if time.Until(o.Spec.ExpireTime.Time) < time.Second {
		t.Skip("the offer is about to expire already; the machine is too slow for this test")
	}
	e.createTask("before-expiry", o.Name, node, "1", "1Gi")
	time.Sleep(time.Until(o.Spec.ExpireTime.Time) + time.Second)
	e.startController()
	if tk := e.waitPhase("before-expiry", agorav1alpha1.TaskStaging); tk.Status.Reason != agorav1alpha1.ReasonAdmitted {
		t.Fatalf("reason %s", tk.Status.Reason)
	}
	// The rest expires as before, and a task created after that is rejected.
	e.eventually(20*time.Second, "offer expired", func() (bool, string) {
		err := k8s.Get(e.ctx, client.ObjectKeyFromObject(&o), &agorav1alpha1.Offer{})
		return isNotFound(err), ""
	})
	e.createTask("after-expiry", o.Name, node, "1", "1Gi")
	if tk := e.waitPhase("after-expiry", agorav1alpha1.TaskError); tk.Status.Reason != agorav1alpha1.ReasonOfferExpired {
		t.Fatalf("reason %s", tk.Status.Reason)
	}
}

// Breach 11: rescind reasons misled: a foreign pod landing was reported NodeLost. It is
// CapacityChanged now.
func TestRescindReasonSaysWhatHappened(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	foreign := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "foreign"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}},
	}
	if err := k8s.Create(e.ctx, foreign); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(o.Name, agorav1alpha1.ReasonCapacityChanged)
	e.checkInvariants()
}

// Executor death is not node loss: with the executor's Lease stale (or deleted) and the Node
// Ready, the tasks' pods keep running under the kubelet, so the tasks are Unreachable and keep
// their charges; on main they were Lost after --node-lost-timeout and a framework ran them
// again. Only a deleted Node (or one NotReady past the timeout) loses them.
func TestSilentExecutorMakesTasksUnreachable(t *testing.T) {
	e := newTestEnv(t, Options{NodeLostTimeout: 2 * time.Second})
	node := e.label + "-n"
	n := e.addNode(node, "4", "8Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	e.createTask("t", o.Name, node, "1", "1Gi")
	tk := e.waitPhase("t", agorav1alpha1.TaskStaging)
	tk.Status.Phase, tk.Status.Reason = agorav1alpha1.TaskRunning, "Running"
	if err := k8s.Status().Update(e.ctx, tk); err != nil {
		t.Fatal(err)
	}
	// The executor stops renewing: a 1-second Lease, never renewed again.
	e.renewLease(node, time.Now(), 1)
	tk = e.waitPhase("t", agorav1alpha1.TaskUnreachable)
	if tk.Status.Reason != agorav1alpha1.ReasonExecutorUnreachable {
		t.Fatalf("reason %s", tk.Status.Reason)
	}
	time.Sleep(3 * time.Second) // past --node-lost-timeout: still not Lost
	if cur := e.task("t"); cur.Status.Phase != agorav1alpha1.TaskUnreachable || !e.ctrl.m.charged(cur.UID) {
		t.Fatalf("task %s (charged %v) with a silent executor on a Ready node", cur.Status.Phase, e.ctrl.m.charged(cur.UID))
	}
	// The executor is back and restores the task before this controller sees its Lease
	// renewed (chaos: SIGCONT): the node is synced again while the Lease still looks stale, and
	// the task must stay Running — marking it again would undo the executor's write each time.
	tk = e.task("t")
	tk.Status.Phase, tk.Status.Reason = agorav1alpha1.TaskRunning, "Running"
	if err := k8s.Status().Update(e.ctx, tk); err != nil {
		t.Fatal(err)
	}
	e.updateNode(n.Name, false, func(n *corev1.Node) { n.Labels["touched"] = "1" })
	time.Sleep(5 * e.opts.AllocationInterval)
	if cur := e.task("t"); cur.Status.Phase != agorav1alpha1.TaskRunning {
		t.Fatalf("task %s (%s) after the executor restored it: marked again in the same silence", cur.Status.Phase, cur.Status.Reason)
	}
	// A deleted Lease is stale, not forgotten.
	// (Waited for, not slept on: a loaded machine delays the Lease informer's delete event, and CI
	// once saw the task still Running five allocation intervals after the delete.)
	_ = k8s.Delete(e.ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: SystemNamespace, Name: ExecutorLeasePrefix + node}})
	e.waitPhase("t", agorav1alpha1.TaskUnreachable)
	// NotReady past the timeout: Lost.
	e.updateNode(n.Name, true, func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletStopped", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	})
	e.waitPhase("t", agorav1alpha1.TaskLost)
}

// A task is charged to its own framework: two frameworks in one namespace could use each
// other's offers, and the other framework's failover or TEARDOWN then killed the task.
func TestTaskOfAnotherFrameworkIsRejected(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", nil)
	o := e.waitOffer("f")
	tk := e.newTask("g-task", o.Name, node, "1", "1Gi")
	tk.Labels = map[string]string{agorav1alpha1.LabelFramework: "g"}
	if err := k8s.Create(e.ctx, tk); err != nil {
		t.Fatal(err)
	}
	if got := e.waitPhase("g-task", agorav1alpha1.TaskError); got.Status.Reason != agorav1alpha1.ReasonFrameworkMismatch {
		t.Fatalf("reason %s: %s", got.Status.Reason, got.Status.Message)
	}
}

// Framework failover with fencing: when another instance takes the framework's Lease over, the
// offers made to the earlier instance are taken back, new offers name the new instance, and a
// task the earlier instance creates is rejected.
func TestFrameworkFailoverFencesTheOldInstance(t *testing.T) {
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	lease := func(holder string) { e.frameworkLease("f", holder) }
	lease("old")
	e.addFramework("f", nil)
	o := e.waitOfferWhere("f", "an offer to instance old", func(x *agorav1alpha1.Offer) bool { return x.Spec.FrameworkInstance == "old" })
	lease("new")
	e.waitEvent(o.Name, agorav1alpha1.ReasonFrameworkFailedOver)
	o = e.waitOfferWhere("f", "an offer to instance new", func(x *agorav1alpha1.Offer) bool { return x.Spec.FrameworkInstance == "new" })
	tk := e.newTask("from-old", o.Name, node, "1", "1Gi")
	tk.Annotations = map[string]string{agorav1alpha1.AnnotationInstance: "old"}
	if err := k8s.Create(e.ctx, tk); err != nil {
		t.Fatal(err)
	}
	if got := e.waitPhase("from-old", agorav1alpha1.TaskError); got.Status.Reason != agorav1alpha1.ReasonInstanceFenced {
		t.Fatalf("reason %s: %s", got.Status.Reason, got.Status.Message)
	}
	tk = e.newTask("from-new", o.Name, node, "1", "1Gi")
	tk.Annotations = map[string]string{agorav1alpha1.AnnotationInstance: "new"}
	if err := k8s.Create(e.ctx, tk); err != nil {
		t.Fatal(err)
	}
	e.waitPhase("from-new", agorav1alpha1.TaskStaging)
}

// A rescind is written before what it took back is offered again. The allocator frees an
// expired or rescinded offer at once, but its Offer object stays outstanding in the API until
// the controller deletes it; a cycle in between put the same node in two live Offers (chaos
// seed 1: a framework failover rescinded offer ...260 and offer ...261 was created on the same
// nodes 460 ms before ...260 was deleted). Offer deletes are slowed down here so that the window
// is wide, and offers expire every second.
func TestRescindWrittenBeforeReoffer(t *testing.T) {
	offerDeleteDelay.Store(int64(700 * time.Millisecond))
	t.Cleanup(func() { offerDeleteDelay.Store(0) })
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	e.addFramework("f", func(fw *agorav1alpha1.Framework) {
		fw.Spec.OfferTimeout = &metav1.Duration{Duration: time.Second}
	})
	first := e.waitOffer("f")
	seen, _ := e.watchNodeOfferedOnce(node, 6*time.Second)
	if len(seen) < 2 {
		t.Fatalf("saw offers %v after %s: expected expiry to re-offer the node", seen, first.Name)
	}
}

// An offer rescinded while its create is still in flight is not forgotten. The Offer reconciler
// found no object yet, took the offer for deleted by its framework and let the cycle offer the
// node again; then the create landed, and the node was in two live Offers (review of the
// rescind-before-reoffer change). Offer creates are slowed down here, and the framework fails
// over (another instance takes its Lease) while the first offer's create is in flight.
func TestRescindDuringCreate(t *testing.T) {
	offerCreateDelay.Store(int64(3 * time.Second))
	slowOfferCreates.Store(1)                             // the first offer's create only
	offerDeleteDelay.Store(int64(700 * time.Millisecond)) // and its removal takes a while
	t.Cleanup(func() { offerCreateDelay.Store(0); slowOfferCreates.Store(0); offerDeleteDelay.Store(0) })
	e := newTestEnv(t, Options{})
	node := e.label + "-n"
	e.addNode(node, "4", "8Gi")
	lease := func(holder string) { e.frameworkLease("f", holder) }
	lease("old")
	e.addFramework("f", nil)
	e.eventually(20*time.Second, "an offer made in memory whose object is not created yet", func() (bool, string) {
		var list agorav1alpha1.OfferList
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil || len(list.Items) > 0 {
			return false, fmt.Sprint("objects: ", len(list.Items), err)
		}
		e.ctrl.m.mu.Lock()
		defer e.ctrl.m.mu.Unlock()
		for _, st := range e.ctrl.m.offers {
			if st.key.Namespace == e.ns {
				return true, ""
			}
		}
		return false, "no offer in memory"
	})
	lease("new") // the offer in flight was made to "old": rescinded (FrameworkFailedOver)

	_, live := e.watchNodeOfferedOnce(node, 8*time.Second)
	sawNew := false
	for _, o := range live {
		sawNew = sawNew || o.Spec.FrameworkInstance == "new"
	}
	if !sawNew {
		t.Fatal("no offer to the new instance")
	}
}

// watchNodeOfferedOnce lists the test's Offers every 10 ms for d and fails the test the moment
// node is in two live Offers (no deletionTimestamp) at once. It returns the names of every Offer
// seen, and the Offers seen live on node.
func (e *testEnv) watchNodeOfferedOnce(node string, d time.Duration) (seen map[string]bool, live map[string]agorav1alpha1.Offer) {
	e.t.Helper()
	seen, live = map[string]bool{}, map[string]agorav1alpha1.Offer{}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var list agorav1alpha1.OfferList
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
			e.t.Fatal(err)
		}
		var now []string
		for _, o := range list.Items {
			seen[o.Name] = true
			if o.DeletionTimestamp.IsZero() && offerCPU(&o, node) > 0 {
				now = append(now, o.Name+"("+o.Spec.FrameworkInstance+")")
				live[o.Name] = o
			}
		}
		if len(now) > 1 {
			e.t.Fatalf("node %s in %d live offers at once: %v", node, len(now), now)
		}
	}
	return seen, live
}
