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

package sdk

// Tests of what crosses the API server (Lease takeover with resourceVersions, watches with
// field selectors, CRD validation of phases and annotations), against a real kube-apiserver and
// etcd from bin/. No agora-controller runs: the tests write Offers and task statuses as it would.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	controlPlaneOnce sync.Once
	controlPlane     *testcluster.Cluster
	controlPlaneErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if controlPlane != nil {
		if err := controlPlane.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// apiServer starts etcd and kube-apiserver on first use (the fake-clientset tests need neither)
// and returns a fresh namespace in them.
func apiServer(t *testing.T) (*testcluster.Cluster, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs kube-apiserver and etcd from bin/ (run without -short)")
	}
	controlPlaneOnce.Do(func() {
		controlPlane, controlPlaneErr = testcluster.Start(context.Background(), testcluster.Options{NoKwok: true, Logf: t.Logf})
	})
	if controlPlaneErr != nil {
		t.Fatalf("control plane: %v", controlPlaneErr)
	}
	ns, err := controlPlane.CreateNamespace(context.Background(), "sdk-", nil)
	if err != nil {
		t.Fatal(err)
	}
	return controlPlane, ns
}

// running is a Driver whose Run goes on in the background.
type running struct {
	*Driver
	rec    *recorder
	done   chan struct{} // closed when Run returned runErr
	runErr error
}

// start runs a Driver for framework fw in ns and waits for Registered. The Driver stops at the
// end of the test at the latest.
func start(t *testing.T, c *testcluster.Cluster, ns string, cfg Config) *running {
	t.Helper()
	return startAs(t, c.Agora, c.Kube, ns, cfg)
}

// startAs is start with the given clients (another user's rights).
func startAs(t *testing.T, agora versioned.Interface, kube kubernetes.Interface, ns string, cfg Config) *running {
	t.Helper()
	cfg.Namespace, cfg.Name = ns, "fw"
	r := &recorder{}
	d, err := New(agora, kube, cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{Driver: d, rec: r, done: make(chan struct{})}
	go func() {
		run.runErr = d.Run(ctx)
		close(run.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-run.done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	r.waitFor(t, "registered fw")
	return run
}

func createOffer(t *testing.T, c *testcluster.Cluster, ns, name, instance string, nodes ...string) *agorav1alpha1.Offer {
	t.Helper()
	o := offer(name, nodes...)
	o.Namespace = ns
	o.Spec.FrameworkInstance = instance
	o, err := c.Agora.SchedulingV1alpha1().Offers(ns).Create(context.Background(), o, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func taskExists(t *testing.T, c *testcluster.Cluster, ns, name string) *agorav1alpha1.Task {
	t.Helper()
	tk, err := c.Agora.SchedulingV1alpha1().Tasks(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (r *recorder) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// A second instance of a framework takes it over: the first one's Run ends with ErrSuperseded
// (Error first), its verbs write nothing from then on, and the new one launches, its tasks
// marked with its identity, on the offers made to it only.
func TestFailoverHandsTheFrameworkToTheNewestInstance(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	// An hour-long Lease is renewed every 20 minutes: within this test only the Lease watch
	// can notice the takeover.
	a := start(t, c, ns, Config{LeaseDuration: time.Hour})
	b := start(t, c, ns, Config{LeaseDuration: time.Hour})
	if a.Identity() == b.Identity() || !strings.Contains(a.Identity(), fmt.Sprintf("_%d_", os.Getpid())) {
		t.Fatalf("default identities %q and %q: want host_pid_random, unique per Driver", a.Identity(), b.Identity())
	}

	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the superseded instance's Run did not return")
	}
	err := a.runErr
	var sup *SupersededError
	if !errors.Is(err, ErrSuperseded) || !errors.As(err, &sup) || sup.Holder != b.Identity() || sup.Instance != a.Identity() {
		t.Fatalf("A's Run returned %v, want ErrSuperseded naming B (%s)", err, b.Identity())
	}
	if !a.rec.has("error " + err.Error()) {
		t.Errorf("A's Error callback did not hear of it before Run returned: %q", a.rec.events)
	}
	lease, err := c.Kube.CoordinationV1().Leases(ns).Get(ctx, "fw", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *lease.Spec.HolderIdentity != b.Identity() || *lease.Spec.LeaseTransitions != 1 {
		t.Errorf("Lease holder %s (transitions %d), want %s after one takeover", *lease.Spec.HolderIdentity, *lease.Spec.LeaseTransitions, b.Identity())
	}

	// B gets the offer made to it; A can no longer launch on it, decline it or kill anything.
	shape := Resources("cpu", "1", "memory", "1Gi")
	o1 := createOffer(t, c, ns, "o1", b.Identity(), "n1", "n2")
	b.rec.waitFor(t, "offer o1")
	for verb, err := range map[string]error{
		"Launch":    a.Launch(ctx, []*agorav1alpha1.Offer{o1}, TaskInfo{Name: "from-a", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)}),
		"Decline":   a.Decline(ctx, o1),
		"Kill":      a.Kill(ctx, "from-b"),
		"Suppress":  a.Suppress(ctx),
		"Reconcile": a.Reconcile(ctx),
		"Teardown":  a.Teardown(ctx),
	} {
		if !errors.Is(err, ErrSuperseded) {
			t.Errorf("A's %s after the takeover: %v, want ErrSuperseded", verb, err)
		}
	}
	if taskExists(t, c, ns, "from-a") != nil {
		t.Error("the superseded instance created a task")
	}
	if fw, err := c.Agora.SchedulingV1alpha1().Frameworks(ns).Get(ctx, "fw", metav1.GetOptions{}); err != nil || fw.Spec.SuppressOffers {
		t.Errorf("the superseded instance changed the Framework (or deleted it): %v", err)
	}

	if err := b.Launch(ctx, []*agorav1alpha1.Offer{o1}, TaskInfo{Name: "from-b", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)}); err != nil {
		t.Fatalf("B's Launch: %v", err)
	}
	tk := taskExists(t, c, ns, "from-b")
	if tk == nil || tk.Annotations[agorav1alpha1.AnnotationInstance] != b.Identity() || tk.Spec.OfferName != "o1" {
		t.Fatalf("B's task: %+v", tk)
	}
	if _, err := c.Agora.SchedulingV1alpha1().Offers(ns).Get(ctx, "o1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("B's Launch did not release o1: %v", err)
	}

	// An offer made to A (before the controller rescinded it) is not B's: never delivered,
	// not listed, and B's Launch refuses it. o3, made after it, shows B's watch got past it.
	o2 := createOffer(t, c, ns, "o2", a.Identity(), "n3")
	createOffer(t, c, ns, "o3", "", "n4")
	b.rec.waitFor(t, "offer o3")
	if b.rec.has("offer o2") {
		t.Error("B was offered an offer made to A")
	}
	for _, o := range b.Offers() {
		if o.Name == "o2" {
			t.Error("B's Offers lists an offer made to A")
		}
	}
	err = b.Launch(ctx, []*agorav1alpha1.Offer{o2}, TaskInfo{Name: "on-o2", NodeName: "n3", Resources: shape, Template: SleepTemplate(time.Second)})
	if err == nil || !strings.Contains(err.Error(), "another instance") || taskExists(t, c, ns, "on-o2") != nil {
		t.Errorf("B's Launch on A's offer: %v", err)
	}

	select {
	case <-b.done:
		t.Fatalf("B's Run returned: %v", b.runErr)
	default:
	}
}

// A restarted instance whose predecessor still renews: the predecessor's renewal finds the
// Lease held by the newer one and stops without writing it (the watch is not needed).
func TestRenewalNoticesTheTakeover(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	r := &recorder{}
	d, err := New(c.Agora, c.Kube, Config{Namespace: ns, Name: "fw", Identity: "old"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.writeLease(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := d.writeLease(ctx, false); err != nil {
		t.Fatalf("renewing its own Lease: %v", err)
	}
	newer, err := New(c.Agora, c.Kube, Config{Namespace: ns, Name: "fw", Identity: "new"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := newer.writeLease(ctx, true); err != nil {
		t.Fatalf("the newer instance could not take a fresh Lease over: %v", err)
	}
	before, err := c.Kube.CoordinationV1().Leases(ns).Get(ctx, "fw", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = d.writeLease(ctx, false)
	var sup *SupersededError
	if !errors.As(err, &sup) || sup.Holder != "new" || !errors.Is(d.Launch(ctx, nil), ErrSuperseded) {
		t.Fatalf("renewal after the takeover: %v", err)
	}
	after, err := c.Kube.CoordinationV1().Leases(ns).Get(ctx, "fw", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the superseded instance wrote the Lease: holder %s", *after.Spec.HolderIdentity)
	}
}

// A framework allowed only the Lease verbs the renewals need (no list, no watch) says once that
// it cannot watch its Lease, keeps working, and notices a takeover at its next renewal.
func TestWithoutLeaseWatchRightsARenewalNoticesTheTakeover(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{agorav1alpha1.GroupVersion.Group}, Resources: []string{"frameworks"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{agorav1alpha1.GroupVersion.Group}, Resources: []string{"offers"}, Verbs: []string{"get", "list", "watch", "delete"}},
		{APIGroups: []string{agorav1alpha1.GroupVersion.Group}, Resources: []string{"tasks"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	}
	if _, err := c.Kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "fw"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user := "framework-" + ns
	if _, err := c.Kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "fw"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "fw"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.User(user)
	if err != nil {
		t.Fatal(err)
	}
	agora, kube := versioned.NewForConfigOrDie(rc), kubernetes.NewForConfigOrDie(rc)

	a := startAs(t, agora, kube, ns, Config{LeaseDuration: 3 * time.Second})
	for deadline := time.Now().Add(10 * time.Second); !a.rec.has("error sdk: watching framework Lease " + ns + "/fw"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no Error about the Lease watch")
		}
	}
	b := start(t, c, ns, Config{})
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the superseded instance's Run did not return")
	}
	var sup *SupersededError
	if !errors.As(a.runErr, &sup) || sup.Holder != b.Identity() {
		t.Errorf("A's Run returned %v, want ErrSuperseded naming B", a.runErr)
	}
	a.rec.mu.Lock()
	defer a.rec.mu.Unlock()
	if n := strings.Count(strings.Join(a.rec.events, "\n"), "watching framework Lease"); n != 1 {
		t.Errorf("%d Errors about the Lease watch, want one: %q", n, a.rec.events)
	}
}

// The controller takes a node out of an offer: the scheduler hears of it, and a Launch on that
// node from the copy it holds creates nothing.
func TestPartialRescindReachesTheScheduler(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	d := start(t, c, ns, Config{})
	held := createOffer(t, c, ns, "p1", d.Identity(), "n1", "n2", "n3")
	d.rec.waitFor(t, "offer p1")

	// What the controller does: shrink spec.nodes, then say why in the Rescinded condition.
	api := c.Agora.SchedulingV1alpha1().Offers(ns)
	cur, err := api.Get(ctx, "p1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Nodes = []agorav1alpha1.OfferNode{cur.Spec.Nodes[0], cur.Spec.Nodes[2]}
	if cur, err = api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: agorav1alpha1.OfferConditionRescinded, Status: metav1.ConditionTrue,
		Reason: agorav1alpha1.ReasonNodeLost, Message: "node n2 lost"})
	if _, err := api.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.rec.waitFor(t, "offer p1", "nodes-rescinded p1 [n2]")

	shape := Resources("cpu", "1", "memory", "1Gi")
	err = d.Launch(ctx, []*agorav1alpha1.Offer{held},
		TaskInfo{Name: "on-n1", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)},
		TaskInfo{Name: "on-n2", NodeName: "n2", Resources: shape, Template: SleepTemplate(time.Second)})
	if !errors.Is(err, ErrNodeRescinded) || !strings.Contains(err.Error(), "n2") {
		t.Errorf("Launch on a rescinded node: %v, want ErrNodeRescinded naming n2", err)
	}
	if taskExists(t, c, ns, "on-n1") != nil || taskExists(t, c, ns, "on-n2") != nil {
		t.Error("a Launch refused for a rescinded node created tasks")
	}
	if _, err := api.Get(ctx, "p1", metav1.GetOptions{}); err != nil {
		t.Errorf("a Launch refused for a rescinded node released the offer: %v", err)
	}
	if offers := d.Offers(); len(offers) != 1 || len(offers[0].Spec.Nodes) != 2 {
		t.Errorf("Offers after the partial rescind: %+v", offers)
	}

	if err := d.Launch(ctx, []*agorav1alpha1.Offer{held}, TaskInfo{Name: "on-n1", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)}); err != nil {
		t.Fatalf("Launch on a node still offered: %v", err)
	}
	if tk := taskExists(t, c, ns, "on-n1"); tk == nil || tk.Spec.OfferName != "p1" {
		t.Errorf("task on n1: %+v", tk)
	}
	if d.rec.has("rescinded p1") {
		t.Errorf("a partial rescind was reported as the whole offer's: %q", d.rec.events)
	}
}

// Unreachable comes and goes like any phase: delivered, and not taken for an end.
func TestUnreachableIsDeliveredAndNotTerminal(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	d := start(t, c, ns, Config{})
	if Terminal(agorav1alpha1.TaskUnreachable) {
		t.Error("Terminal(Unreachable)")
	}
	api := c.Agora.SchedulingV1alpha1().Tasks(ns)
	tk := task("u", "", d.Framework().UID)
	tk.Namespace = ns
	tk.Spec = agorav1alpha1.TaskSpec{OfferName: "o", NodeName: "n1", Resources: Resources("cpu", "1"), Template: SleepTemplate(time.Second)}
	tk, err := api.Create(ctx, tk, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []agorav1alpha1.TaskPhase{agorav1alpha1.TaskRunning, agorav1alpha1.TaskUnreachable, agorav1alpha1.TaskRunning, agorav1alpha1.TaskUnreachable} {
		tk.Status.Phase = p
		if tk, err = api.UpdateStatus(ctx, tk, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		d.rec.waitFor(t, "status u "+string(p))
	}
	d.rec.waitFor(t, "status u Running", "status u Unreachable", "status u Running", "status u Unreachable")
	// Deleted while Unreachable: its end was never reported, so the framework hears Killed.
	if err := api.Delete(ctx, "u", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	d.rec.waitFor(t, "status u Unreachable", "status u Killed")
}

// A launch whose offer has expired before its creates go out creates nothing that the
// controller could only reject, says which tasks it left out (in its error, and to the scheduler
// as Error updates), and still releases the offer.
func TestLaunchOnExpiredOfferCreatesNothing(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	d := start(t, c, ns, Config{})
	o := offerExpiringAt(t, c, ns, "expired", d.Identity(), time.Now().Add(-time.Second))
	d.rec.waitFor(t, "offer expired")

	shape := Resources("cpu", "1", "memory", "1Gi")
	err := d.Launch(ctx, []*agorav1alpha1.Offer{o},
		TaskInfo{Name: "late-1", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)},
		TaskInfo{Name: "late-2", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)})
	if !errors.Is(err, ErrOfferExpired) {
		t.Fatalf("Launch on an expired offer: %v, want ErrOfferExpired", err)
	}
	got := NotCreated(err)
	slices.Sort(got)
	if !slices.Equal(got, []string{"late-1", "late-2"}) {
		t.Errorf("NotCreated = %v, want [late-1 late-2] (error: %v)", got, err)
	}
	if strings.Count(err.Error(), "not created") != 1 {
		t.Errorf("want one error for the offer, got: %v", err)
	}
	if taskExists(t, c, ns, "late-1") != nil || taskExists(t, c, ns, "late-2") != nil {
		t.Error("tasks were created on an expired offer")
	}
	// The scheduler hears of them as of the controller's rejection.
	d.rec.waitFor(t, "status late-1 Error", "status late-2 Error")
	if cur, err := c.Agora.SchedulingV1alpha1().Offers(ns).Get(ctx, o.Name, metav1.GetOptions{}); err == nil && cur.DeletionTimestamp.IsZero() {
		t.Error("the expired offer was not released")
	}
	if NotCreated(nil) != nil || NotCreated(errors.New("other")) != nil {
		t.Error("NotCreated of an error without NotCreatedError returned names")
	}
}

// A task dropped on an expired offer and launched again at once on a current one, in the same
// callback: the scheduler must not hear the drop's Error, which would speak for the new task.
func TestDroppedTaskRelaunchedAtOnceGetsNoError(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	d := start(t, c, ns, Config{})
	old := offerExpiringAt(t, c, ns, "old", d.Identity(), time.Now().Add(-time.Second))
	cur := createOffer(t, c, ns, "current", d.Identity(), "n1")
	d.rec.waitFor(t, "offer old", "offer current")

	shape := Resources("cpu", "1", "memory", "1Gi")
	ti := TaskInfo{Name: "again", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)}
	done := make(chan [2]error, 1)
	d.AfterFunc(0, func(d *Driver) {
		first := d.Launch(ctx, []*agorav1alpha1.Offer{old}, ti)
		done <- [2]error{first, d.Launch(ctx, []*agorav1alpha1.Offer{cur}, ti)}
	})
	errs := <-done
	if !errors.Is(errs[0], ErrOfferExpired) || errs[1] != nil {
		t.Fatalf("launches: %v, %v; want ErrOfferExpired, then nil", errs[0], errs[1])
	}
	if tk := taskExists(t, c, ns, "again"); tk == nil || tk.Spec.OfferName != "current" {
		t.Fatalf("task again: %+v", tk)
	}
	// A later callback runs after the drop's; by then it must have been held back.
	flushed := make(chan struct{})
	d.AfterFunc(0, func(*Driver) { close(flushed) })
	<-flushed
	if d.rec.has("status again Error") {
		t.Errorf("the dropped launch's Error reached the scheduler after the task was launched again: %q", d.rec.events)
	}
}

// A task name still held by a Task of an earlier Framework of the same name (deleted and
// registered again; its tasks are still being deleted) is not a launch of this framework: Launch
// must not count it as launched (the scheduler would wait for that task for ever), but say it was
// not created (ErrNameInUse) and tell the scheduler an Error, so that it launches again under
// another name.
func TestLaunchOnANameAnEarlierFrameworkHoldsIsNotCreated(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	d := start(t, c, ns, Config{})
	leftover := task("reused", agorav1alpha1.TaskFinished, "uid-of-an-earlier-framework")
	leftover.Namespace = ns
	leftover.Labels[agorav1alpha1.LabelFramework] = d.Framework().Name
	leftover.Spec = agorav1alpha1.TaskSpec{OfferName: "gone", NodeName: "n1", Resources: Resources("cpu", "1"), Template: SleepTemplate(time.Second)}
	if _, err := c.Agora.SchedulingV1alpha1().Tasks(ns).Create(ctx, leftover, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	o := createOffer(t, c, ns, "current", d.Identity(), "n1")
	d.rec.waitFor(t, "offer current")

	shape := Resources("cpu", "1", "memory", "1Gi")
	err := d.Launch(ctx, []*agorav1alpha1.Offer{o},
		TaskInfo{Name: "reused", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)},
		TaskInfo{Name: "fresh", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)})
	if !errors.Is(err, ErrNameInUse) {
		t.Fatalf("Launch over an earlier framework's task: %v, want ErrNameInUse", err)
	}
	if got := NotCreated(err); !slices.Equal(got, []string{"reused"}) {
		t.Errorf("NotCreated = %v, want [reused] (error: %v)", got, err)
	}
	if !strings.Contains(err.Error(), "earlier Framework") {
		t.Errorf("the error does not say what holds the name: %v", err)
	}
	if tk := taskExists(t, c, ns, "fresh"); tk == nil || tk.Spec.OfferName != "current" {
		t.Errorf("the other task was not created on the offer: %+v", tk)
	}
	if tk := taskExists(t, c, ns, "reused"); tk == nil || tk.Spec.OfferName != "gone" {
		t.Errorf("the earlier framework's task changed: %+v", tk)
	}
	d.rec.waitFor(t, "status reused Error")
}

// offerExpiringAt creates an offer of node n1 to instance whose expireTime is at.
func offerExpiringAt(t *testing.T, c *testcluster.Cluster, ns, name, instance string, at time.Time) *agorav1alpha1.Offer {
	t.Helper()
	o := offer(name, "n1")
	o.Namespace = ns
	o.Spec.FrameworkInstance = instance
	o.Spec.ExpireTime = metav1.NewTime(at)
	o, err := c.Agora.SchedulingV1alpha1().Offers(ns).Create(context.Background(), o, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// An offer's lifetime counts from when the watch brought it, not from when a scheduler busy
// with an earlier launch got it: an offer that expired while the callback goroutine was busy is
// not launched on.
func TestOfferLifetimeCountsFromTheWatch(t *testing.T) {
	c, ns := apiServer(t)
	ctx := context.Background()
	d := start(t, c, ns, Config{})
	busy := make(chan struct{})
	d.AfterFunc(0, func(*Driver) { <-busy }) // a long Launch, say
	o := offerExpiringAt(t, c, ns, "short-lived", d.Identity(), time.Now().Add(3*time.Second))
	time.Sleep(5 * time.Second) // its lifetime (2-3 s) passes while the scheduler is busy
	close(busy)
	d.rec.waitFor(t, "offer short-lived")
	err := d.Launch(ctx, []*agorav1alpha1.Offer{o},
		TaskInfo{Name: "too-late", NodeName: "n1", Resources: Resources("cpu", "1", "memory", "1Gi"), Template: SleepTemplate(time.Second)})
	if !errors.Is(err, ErrOfferExpired) || taskExists(t, c, ns, "too-late") != nil {
		t.Errorf("Launch on an offer that expired while the scheduler was busy: %v; want ErrOfferExpired and no task", err)
	}
}
