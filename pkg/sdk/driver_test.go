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

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
)

// recorder is a Scheduler that writes down every callback.
type recorder struct {
	mu       sync.Mutex
	events   []string
	onOffer  func(d *Driver, o *agorav1alpha1.Offer)
	onStatus func(d *Driver, t *agorav1alpha1.Task)
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) Registered(_ *Driver, fw *agorav1alpha1.Framework) { r.add("registered " + fw.Name) }
func (r *recorder) ResourceOffers(d *Driver, offers []*agorav1alpha1.Offer) {
	for _, o := range offers {
		r.add("offer " + o.Name)
		if r.onOffer != nil {
			r.onOffer(d, o)
		}
	}
}
func (r *recorder) OfferRescinded(_ *Driver, o *agorav1alpha1.Offer, reason string) {
	r.add("rescinded " + o.Name + " " + reason)
}
func (r *recorder) OfferNodesRescinded(_ *Driver, o *agorav1alpha1.Offer, nodes []string) {
	r.add(fmt.Sprintf("nodes-rescinded %s %v", o.Name, nodes))
}
func (r *recorder) StatusUpdate(d *Driver, t *agorav1alpha1.Task) {
	r.add("status " + t.Name + " " + string(t.Status.Phase))
	if r.onStatus != nil {
		r.onStatus(d, t)
	}
}
func (r *recorder) Error(_ *Driver, err error) { r.add("error " + err.Error()) }

func (r *recorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]string(nil), r.events...)
		r.mu.Unlock()
		if containsInOrder(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks %q do not contain %q in order", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func offer(name string, nodes ...string) *agorav1alpha1.Offer {
	o := &agorav1alpha1.Offer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{agorav1alpha1.LabelFramework: "fw"}},
		Spec:       agorav1alpha1.OfferSpec{Framework: "fw", ExpireTime: metav1.NewTime(time.Now().Add(time.Minute))},
	}
	for _, n := range nodes {
		o.Spec.Nodes = append(o.Spec.Nodes, agorav1alpha1.OfferNode{NodeName: n, Resources: Resources("cpu", "4", "memory", "8Gi")})
	}
	return o
}

func task(name string, phase agorav1alpha1.TaskPhase, owner types.UID) *agorav1alpha1.Task {
	t := &agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{agorav1alpha1.LabelFramework: "fw"}}}
	if owner != "" {
		t.OwnerReferences = []metav1.OwnerReference{{APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Framework", Name: "fw", UID: owner}}
	}
	t.Status.Phase = phase
	return t
}

// run starts a Driver on fake clientsets holding objs and returns it with its recorder.
func run(t *testing.T, r *recorder, objs ...*agorav1alpha1.Task) (*Driver, *agorafake.Clientset, *kubefake.Clientset) {
	t.Helper()
	agora := agorafake.NewSimpleClientset(&agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fw", UID: "uid-1"}})
	for _, o := range objs {
		if err := agora.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	kube := kubefake.NewSimpleClientset()
	d, err := New(agora, kube, Config{Namespace: "ns", Name: "fw", Identity: "test"}, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	r.waitFor(t, "registered fw")
	return d, agora, kube
}

func TestDriverRestartRedeliversTasksAndSkipsOtherIncarnations(t *testing.T) {
	r := &recorder{}
	d, _, kube := run(t, r,
		task("done", agorav1alpha1.TaskFinished, "uid-1"),
		task("running", agorav1alpha1.TaskRunning, "uid-1"),
		task("unadmitted", "", "uid-1"),
		task("old", agorav1alpha1.TaskRunning, "uid-0"), // an earlier Framework of the same name
		task("kubectl", agorav1alpha1.TaskStaging, ""),  // made by hand with the label
	)
	r.waitFor(t, "status done Finished")
	r.waitFor(t, "status running Running")
	r.waitFor(t, "status kubectl Staging")
	names := []string{}
	for _, tk := range d.Tasks() {
		names = append(names, tk.Name)
	}
	if diff := cmp.Diff([]string{"done", "kubectl", "running", "unadmitted"}, names); diff != "" {
		t.Errorf("Tasks() (-want +got):\n%s", diff)
	}
	time.Sleep(100 * time.Millisecond)
	r.mu.Lock()
	for _, e := range r.events {
		if e == "status old Running" || e == "status unadmitted " {
			t.Errorf("unexpected callback %q", e)
		}
	}
	r.mu.Unlock()
	lease, err := kube.CoordinationV1().Leases("ns").Get(context.Background(), "fw", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the driver made no Lease: %v", err)
	}
	if *lease.Spec.HolderIdentity != "test" || *lease.Spec.LeaseDurationSeconds != 15 || len(lease.OwnerReferences) != 1 {
		t.Errorf("lease %+v", lease.Spec)
	}
}

func TestDriverPhaseChangesOnce(t *testing.T) {
	r := &recorder{}
	_, agora, _ := run(t, r)
	api := agora.SchedulingV1alpha1().Tasks("ns")
	tk := task("t", "", "uid-1")
	if _, err := api.Create(context.Background(), tk, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []agorav1alpha1.TaskPhase{agorav1alpha1.TaskStaging, agorav1alpha1.TaskStaging, agorav1alpha1.TaskRunning, agorav1alpha1.TaskRunning} {
		tk.Status.Phase = p
		tk.Status.Message = "changed " + time.Now().String() // an update that is not a phase change
		if _, err := api.UpdateStatus(context.Background(), tk, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := api.Delete(context.Background(), "t", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleted while Running: the framework hears it was killed.
	r.waitFor(t, "status t Staging", "status t Running", "status t Killed")
	r.mu.Lock()
	n := 0
	for _, e := range r.events {
		if e == "status t Staging" || e == "status t Running" {
			n++
		}
	}
	r.mu.Unlock()
	if n != 2 {
		t.Errorf("%d Staging/Running callbacks, want one each: %v", n, r.events)
	}
}

func TestDriverLaunchReleasesAndRescindsAreReported(t *testing.T) {
	r := &recorder{}
	shape := Resources("cpu", "1", "memory", "1Gi")
	r.onOffer = func(d *Driver, o *agorav1alpha1.Offer) {
		if o.Name == "o1" {
			if err := d.Launch(context.Background(), []*agorav1alpha1.Offer{o},
				TaskInfo{Name: "a", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)},
				TaskInfo{Name: "b", NodeName: "nope", Resources: shape}); err == nil {
				r.add("launch error missing")
			}
			r.add("launched on o1")
		}
	}
	d, agora, _ := run(t, r)
	ctx := context.Background()
	offers := agora.SchedulingV1alpha1().Offers("ns")
	if _, err := offers.Create(ctx, offer("o1", "n1", "n2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// "offer o1" is recorded before the callback launches: wait for the Launch to return (CI
	// once read the tasks in between and found none).
	r.waitFor(t, "offer o1", "launched on o1")
	// Launch created task a (not b: its node is in no offer) and deleted the offer.
	got, err := agora.SchedulingV1alpha1().Tasks("ns").Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("task a: %v", err)
	}
	want := agorav1alpha1.TaskSpec{OfferName: "o1", NodeName: "n1", Resources: shape, Template: SleepTemplate(time.Second)}
	if diff := cmp.Diff(want, got.Spec); diff != "" {
		t.Errorf("task spec (-want +got):\n%s", diff)
	}
	if got.Labels[agorav1alpha1.LabelFramework] != "fw" || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != "uid-1" {
		t.Errorf("task meta: labels %v, owners %v", got.Labels, got.OwnerReferences)
	}
	if _, err := agora.SchedulingV1alpha1().Tasks("ns").Get(ctx, "b", metav1.GetOptions{}); err == nil {
		t.Error("task b on a node outside the offer was created")
	}
	if _, err := offers.Get(ctx, "o1", metav1.GetOptions{}); err == nil {
		t.Error("Launch did not release the offer")
	}

	// The controller rescinds o2: condition first, then the delete.
	o2 := offer("o2", "n3")
	if _, err := offers.Create(ctx, o2, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "offer o2")
	meta.SetStatusCondition(&o2.Status.Conditions, metav1.Condition{Type: agorav1alpha1.OfferConditionRescinded, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonExpired, Message: "x"})
	if _, err := offers.UpdateStatus(ctx, o2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := offers.Delete(ctx, "o2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "offer o1", "offer o2", "rescinded o2 Expired")
	r.mu.Lock()
	for _, e := range r.events {
		if e == "rescinded o1 Unknown" || e == "launch error missing" {
			t.Errorf("callback %q", e)
		}
	}
	r.mu.Unlock()

	// Suppress and Revive write the spec; revivedAt only moves forward.
	if err := d.Suppress(ctx); err != nil || !d.Framework().Spec.SuppressOffers {
		t.Errorf("Suppress: %v, spec %+v", err, d.Framework().Spec)
	}
	if err := d.Revive(ctx); err != nil || d.Framework().Spec.SuppressOffers || d.Framework().Spec.RevivedAt == nil {
		t.Errorf("Revive: %v, spec %+v", err, d.Framework().Spec)
	}
	first := d.Framework().Spec.RevivedAt.Time
	if err := d.Revive(ctx); err != nil || !d.Framework().Spec.RevivedAt.After(first) {
		t.Errorf("second Revive: %v, revivedAt %v then %v", err, first, d.Framework().Spec.RevivedAt)
	}

	// Explicit reconciliation of a task that does not exist: Lost, TaskNotFound.
	if err := d.Reconcile(ctx, "a", "ghost"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "status ghost Lost")

	// AfterFunc runs on the callback goroutine.
	fired := make(chan struct{})
	d.AfterFunc(10*time.Millisecond, func(*Driver) { close(fired) })
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Error("AfterFunc did not fire")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no namespace":      {Name: "fw"},
		"no name":           {Namespace: "ns"},
		"name too long":     {Namespace: "ns", Name: "a-framework-name-that-is-much-longer-than-sixty-three-characters-x"},
		"identity too long": {Namespace: "ns", Name: "fw", Identity: strings.Repeat("x", MaxIdentityLength+1)},
	} {
		if _, err := New(agorafake.NewSimpleClientset(), kubefake.NewSimpleClientset(), cfg, &recorder{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestResources(t *testing.T) {
	avail := Resources("cpu", "4", "memory", "8Gi")
	for name, tc := range map[string]struct {
		req   corev1.ResourceList
		fits  bool
		slots int
	}{
		"half":          {Resources("cpu", "2", "memory", "1Gi"), true, 2},
		"memory bound":  {Resources("cpu", "500m", "memory", "3Gi"), true, 2},
		"too much":      {Resources("cpu", "5"), false, 0},
		"unknown name":  {Resources("nvidia.com/gpu", "1"), false, 0},
		"zero quantity": {Resources("cpu", "0", "memory", "8Gi"), true, 1},
	} {
		if got := Fits(avail, tc.req); got != tc.fits {
			t.Errorf("%s: Fits = %v", name, got)
		}
		if got := Slots(avail, tc.req); got != tc.slots {
			t.Errorf("%s: Slots = %d, want %d", name, got, tc.slots)
		}
	}
	left := Subtract(avail, Resources("cpu", "1500m"))
	if left.Cpu().MilliValue() != 2500 || !left.Memory().Equal(avail[corev1.ResourceMemory]) {
		t.Errorf("Subtract: %v", left)
	}
	if sum := Add(left, Resources("cpu", "1500m", "nvidia.com/gpu", "1")); sum.Cpu().MilliValue() != 4000 || sum.Name("nvidia.com/gpu", "").Value() != 1 {
		t.Errorf("Add: %v", sum)
	}

	o := offer("o", "n1", "n2")
	if got := Remaining(o); len(got) != 2 || !cpuOf(got["n1"]).Equal(o.Spec.Nodes[0].Resources[corev1.ResourceCPU]) {
		t.Errorf("Remaining before status: %v", got)
	}
	o.Status.AdmittedTasks = 1
	o.Status.Remaining = []agorav1alpha1.OfferNodeRemaining{{NodeName: "n2", Resources: Resources("cpu", "1")}, {NodeName: "gone", Resources: Resources("cpu", "1")}}
	if got := Remaining(o); len(got) != 1 || cpuOf(got["n2"]).Value() != 1 {
		t.Errorf("Remaining from status (n1 used up, gone no longer in the spec): %v", got)
	}
}

func cpuOf(l corev1.ResourceList) *resource.Quantity { return l.Cpu() }

// A framework restarted with a config that drops a field gets the API's default back, not the
// old value; revivedAt and suppressOffers are kept.
func TestRegisterPutsDefaultsBack(t *testing.T) {
	three := resource.MustParse("3")
	old := &agorav1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fw", UID: "uid-1"},
		Spec: agorav1alpha1.FrameworkSpec{Role: "x/y", Weight: &three, SuppressOffers: true,
			RefuseDuration: &metav1.Duration{Duration: 30 * time.Second}},
	}
	agora := agorafake.NewSimpleClientset(old)
	d, err := New(agora, kubefake.NewSimpleClientset(), Config{Namespace: "ns", Name: "fw", LeaseDuration: -1}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	fw, err := d.register(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fw.Spec.Role != agorav1alpha1.DefaultRole || fw.Spec.Weight.String() != "1" || fw.Spec.RefuseDuration.Duration != 5*time.Second || !fw.Spec.SuppressOffers {
		t.Errorf("spec after registering with an empty config: %+v", fw.Spec)
	}
}

func TestLaunchOnAReleasedOffer(t *testing.T) {
	r := &recorder{}
	d, agora, _ := run(t, r)
	ctx := context.Background()
	o := offer("o9", "n1")
	if _, err := agora.SchedulingV1alpha1().Offers("ns").Create(ctx, o, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Decline(ctx, o); err != nil {
		t.Fatal(err)
	}
	err := d.Launch(ctx, []*agorav1alpha1.Offer{o}, TaskInfo{Name: "late", NodeName: "n1", Resources: Resources("cpu", "1")})
	if err == nil || !strings.Contains(err.Error(), "already released") {
		t.Errorf("Launch on a declined offer: %v", err)
	}
	if _, err := agora.SchedulingV1alpha1().Tasks("ns").Get(ctx, "late", metav1.GetOptions{}); err == nil {
		t.Error("the task was created")
	}
}

// Two Drivers of one process never share a default identity: each start can be fenced.
func TestDefaultIdentityIsUniquePerDriver(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		d, err := New(agorafake.NewSimpleClientset(), kubefake.NewSimpleClientset(), Config{Namespace: "ns", Name: "fw"}, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		if seen[d.Identity()] || len(d.Identity()) > MaxIdentityLength {
			t.Fatalf("identity %q repeated or too long", d.Identity())
		}
		seen[d.Identity()] = true
	}
}

// A Driver without a Lease has no instance to fence: its tasks carry no instance annotation
// (the controller stamps no instance on its offers either); with a Lease they carry its identity,
// and the caller's annotations are kept, not modified.
func TestTaskInstanceAnnotation(t *testing.T) {
	given := map[string]string{"a": "b"}
	for name, tc := range map[string]struct {
		lease time.Duration
		want  map[string]string
	}{
		"lease":    {0, map[string]string{"a": "b", agorav1alpha1.AnnotationInstance: "me"}},
		"no lease": {-1, map[string]string{"a": "b"}},
	} {
		d, err := New(agorafake.NewSimpleClientset(), kubefake.NewSimpleClientset(), Config{Namespace: "ns", Name: "fw", Identity: "me", LeaseDuration: tc.lease}, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		got := d.buildTask(TaskInfo{Name: "t", NodeName: "n", Annotations: given}, "o")
		if diff := cmp.Diff(tc.want, got.Annotations); diff != "" {
			t.Errorf("%s: annotations (-want +got):\n%s", name, diff)
		}
	}
	if len(given) != 1 {
		t.Errorf("the caller's annotations were modified: %v", given)
	}
}

// An offer's deadline runs from when the Driver received it, for as long as the controller gave
// it (expireTime - creationTimestamp), whatever the two clocks say: a framework whose clock is an
// hour off still launches on a fresh offer.
func TestOfferDeadlineIgnoresClockSkew(t *testing.T) {
	received := time.Now()
	made := received.Add(-time.Hour).Truncate(time.Second) // the API server's clock, an hour behind
	o := offer("skewed", "n1")
	o.CreationTimestamp = metav1.NewTime(made)
	o.Spec.ExpireTime = metav1.NewTime(made.Add(60 * time.Second))
	d := &Driver{received: map[string]time.Time{"skewed": received}}
	dl, ok := d.offerDeadline(o)
	if !ok || !dl.Equal(received.Add(60*time.Second)) {
		t.Errorf("deadline %v (%v), want %v", dl, ok, received.Add(60*time.Second))
	}
	if _, ok := d.offerDeadline(offer("not-delivered", "n1")); ok {
		t.Error("a deadline for an offer the Driver never received")
	}
}
