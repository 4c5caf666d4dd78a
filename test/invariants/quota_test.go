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

package invariants

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// sim drives a quotaJudge the way the Checker does, on a clock of its own: Framework "prod"
// (role prod, guaranteed) and "borrow" (role borrow, takes revocable resources) in namespace ns,
// nodes n1-n4 Ready in every snapshot.
type sim struct {
	t       *testing.T
	j       *quotaJudge
	start   time.Time
	now     time.Time
	tasks   map[string]*agorav1alpha1.Task
	bad     map[string]bool // nodes the next snapshots show not Ready
	tainted map[string]bool // nodes the next snapshots show tainted
	silent  map[string]bool // nodes whose executor Lease the next snapshots show not renewed
	renewed map[string]time.Time
	found   []finding
}

func newSim(t *testing.T) *sim {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := &sim{t: t, j: newQuotaJudge(), start: start, now: start, tasks: map[string]*agorav1alpha1.Task{}, bad: map[string]bool{},
		tainted: map[string]bool{}, silent: map[string]bool{}, renewed: map[string]time.Time{}}
	for _, fw := range []struct{ name, role string }{{"prod", "prod"}, {"borrow", "borrow"}} {
		s.j.onFramework(&agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fw.name}, Spec: agorav1alpha1.FrameworkSpec{Role: fw.role}})
	}
	s.snapshot()
	return s
}

// at moves the clock to start+d, taking a snapshot every 500 ms on the way (as Run does).
func (s *sim) at(d time.Duration) {
	for to := s.start.Add(d); s.now.Before(to); {
		s.now = minTime(s.now.Add(500*time.Millisecond), to)
		s.snapshot()
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *sim) snapshot() {
	var nodes []corev1.Node
	var leases []coordinationv1.Lease
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		st := corev1.ConditionTrue
		if s.bad[n] {
			st = corev1.ConditionFalse
		}
		node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
			Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: agorav1alpha1.TaintPool, Effect: corev1.TaintEffectNoSchedule}}}}
		if s.tainted[n] {
			node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "chaos", Value: "true", Effect: corev1.TaintEffectNoSchedule})
		}
		nodes = append(nodes, node)
		if !s.silent[n] && s.now.Sub(s.renewed[n]) >= 5*time.Second {
			s.renewed[n] = s.now // renewed every 5 s
		}
		renew := metav1.NewMicroTime(s.renewed[n])
		leases = append(leases, coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: agorav1alpha1.ExecutorLeaseName(n)},
			Spec: coordinationv1.LeaseSpec{RenewTime: &renew}})
	}
	s.j.onNodes(s.now, nodes, leases)
	s.found = append(s.found, s.j.settle(s.now)...)
}

// quota sets RoleQuota prod's guarantee (cpu, and memory if given), or deletes it ("").
func (s *sim) quota(cpu string, memory ...string) {
	q := &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "prod"}}
	if cpu != "" {
		q.Spec.Guarantee = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		for _, m := range memory {
			q.Spec.Guarantee[corev1.ResourceMemory] = resource.MustParse(m)
		}
	}
	s.j.onQuota(s.now, q, cpu == "")
}

// offer makes an Offer of framework fw of cpu CPU on node, expiring at start+expire.
func (s *sim) offer(name, fw, node, cpu string, expire time.Duration) *agorav1alpha1.Offer {
	o := &agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name)},
		Spec: agorav1alpha1.OfferSpec{Framework: fw, ExpireTime: metav1.NewTime(s.start.Add(expire)),
			Nodes: []agorav1alpha1.OfferNode{{NodeName: node, Resources: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(cpu + "Gi")}}}}}
	s.j.onOffer(s.now, o, false)
	return o
}

// run admits task name of framework fw on node with 1 CPU and 1Gi, Running.
func (s *sim) run(name, fw, node string, revocable bool) { s.runOn(name, fw, node, "o", revocable) }

// runOn is run on a given offer.
func (s *sim) runOn(name, fw, node, offer string, revocable bool) {
	t := &agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name)},
		Spec: agorav1alpha1.TaskSpec{NodeName: node, OfferName: offer, Resources: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}},
		Status: agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskRunning, Framework: fw, Revocable: revocable}}
	s.tasks[name] = t
	s.event(t, false)
}

func (s *sim) event(t *agorav1alpha1.Task, deleted bool) {
	s.found = append(s.found, s.j.onTask(s.now, t.DeepCopy(), deleted)...)
}

// preempt writes what the controller writes: preemptedFor and condition Preempted.
func (s *sim) preempt(name, role string) {
	t := s.tasks[name]
	t.Status.PreemptedFor = role
	meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: agorav1alpha1.TaskConditionPreempted, Status: metav1.ConditionTrue,
		Reason: agorav1alpha1.ReasonPreempted, LastTransitionTime: metav1.NewTime(s.now)})
	s.event(t, false)
}

// end has the task end: Killed (reason Preempted if it was preempted), then gone.
func (s *sim) end(name string) {
	t := s.tasks[name]
	t.Status.Phase = agorav1alpha1.TaskKilled
	if t.Status.PreemptedFor != "" {
		t.Status.Reason = agorav1alpha1.ReasonPreempted
	}
	s.event(t, false)
	s.event(t, true)
}

// violated returns the invariants violated so far (each finding's detail is logged), and
// "tolerated:<inv>" for the checks that could not be made.
func (s *sim) violated() []string {
	var out []string
	for _, f := range s.found {
		if f.tolerated {
			out = append(out, "tolerated:"+f.inv)
			continue
		}
		s.t.Logf("%s: %s", f.inv, f.detail)
		out = append(out, f.inv)
	}
	return out
}

// borrowing starts prod's quota at 4 CPU and four revocable borrow tasks b1-b4 on n1-n4.
func borrowing(s *sim) {
	s.quota("4")
	for i := 1; i <= 4; i++ {
		s.run(fmt.Sprintf("b%d", i), "borrow", fmt.Sprintf("n%d", i), true)
	}
	s.at(20 * time.Second)
}

func TestQuotaInvariants(t *testing.T) {
	cases := []struct {
		name string
		run  func(s *sim)
		want []string
	}{
		{name: "preemptions that cover the guarantee once", run: func(s *sim) {
			borrowing(s)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.preempt(b, "prod")
			}
			s.at(40 * time.Second)
		}},
		{name: "6c: one more while they still stop", run: func(s *sim) {
			borrowing(s)
			s.run("b5", "borrow", "n1", true)
			for _, b := range []string{"b1", "b2", "b3", "b4", "b5"} {
				s.preempt(b, "prod")
			}
			s.at(40 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "6c: a new leader preempts again for the same need", run: func(s *sim) {
			borrowing(s)
			s.run("b5", "borrow", "n1", true)
			s.run("b6", "borrow", "n2", true)
			s.preempt("b1", "prod")
			s.preempt("b2", "prod")
			s.preempt("b3", "prod")
			s.preempt("b4", "prod")
			s.at(25 * time.Second) // failover; b1-b4 still stop
			s.preempt("b5", "prod")
			s.preempt("b6", "prod")
			s.at(40 * time.Second)
		}, want: []string{invSameNeed, invSameNeed}},
		{name: "the need comes back once the preempted tasks ended", run: func(s *sim) {
			borrowing(s)
			s.run("b5", "borrow", "n1", true)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.preempt(b, "prod")
			}
			s.at(22 * time.Second)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.end(b)
			}
			s.at(25 * time.Second)
			s.preempt("b5", "prod") // prod still holds nothing: its frameworks let the freed CPU go
			s.at(40 * time.Second)
		}},
		{name: "6c: preempted past the guarantee: prod holds it in tasks", run: func(s *sim) {
			borrowing(s)
			for i := 1; i <= 4; i++ {
				s.run(fmt.Sprintf("p%d", i), "prod", fmt.Sprintf("n%d", i), false)
			}
			s.at(40 * time.Second)
			s.preempt("b1", "prod")
			s.at(50 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "held counts its least in the window: a prod task ended just before", run: func(s *sim) {
			borrowing(s)
			for i := 1; i <= 4; i++ {
				s.run(fmt.Sprintf("p%d", i), "prod", fmt.Sprintf("n%d", i), false)
			}
			s.at(40 * time.Second)
			s.end("p1")
			s.at(42 * time.Second)
			s.run("p5", "prod", "n1", false) // admitted on an offer made before the decision
			s.at(44 * time.Second)
			s.preempt("b1", "prod")
			s.at(60 * time.Second)
		}},
		{name: "6c: a prod task that ended long before does not excuse it", run: func(s *sim) {
			borrowing(s)
			for i := 1; i <= 4; i++ {
				s.run(fmt.Sprintf("p%d", i), "prod", fmt.Sprintf("n%d", i), false)
			}
			s.at(40 * time.Second)
			s.end("p1")
			s.at(41 * time.Second)
			s.run("p5", "prod", "n1", false)
			s.at(41*time.Second + decisionWindow + time.Second)
			s.preempt("b1", "prod")
			s.at(80 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "the guarantee counts at its highest in the window", run: func(s *sim) {
			borrowing(s)
			s.preempt("b1", "prod")
			s.preempt("b2", "prod")
			s.at(22 * time.Second)
			s.quota("2") // lowered after the controller decided on b3 with 4
			s.at(23 * time.Second)
			s.preempt("b3", "prod")
			s.at(40 * time.Second)
		}},
		{name: "6c: a guarantee lowered long before", run: func(s *sim) {
			borrowing(s)
			s.quota("2")
			s.at(22 * time.Second)
			s.preempt("b1", "prod")
			s.preempt("b2", "prod")
			s.at(22*time.Second + decisionWindow + time.Second)
			s.preempt("b3", "prod")
			s.at(60 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "6c: no RoleQuota", run: func(s *sim) {
			borrowing(s)
			s.quota("")
			s.at(20*time.Second + decisionWindow + time.Second)
			s.preempt("b1", "prod")
			s.at(60 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "a preempted task on a lost node no longer counts as on its way back", run: func(s *sim) {
			borrowing(s)
			s.run("b5", "borrow", "n2", true)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.preempt(b, "prod")
			}
			s.bad["n1"] = true // b1's node went; the controller dropped b1 at once
			s.at(25 * time.Second)
			s.preempt("b5", "prod")
			s.at(40 * time.Second)
		}},
		{name: "6c: prod's outstanding offer counts as held", run: func(s *sim) {
			s.offer("po", "prod", "n1", "3", time.Hour) // long before: held all through the window
			borrowing(s)
			s.at(21 * time.Second)
			s.preempt("b1", "prod") // 1 CPU short of 4
			s.preempt("b2", "prod")
			s.at(40 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "a task admitted on prod's offer is not counted twice", run: func(s *sim) {
			s.offer("po", "prod", "n1", "3", time.Hour)
			s.runOn("p1", "prod", "n1", "po", false) // 1 of the 3 as a task, 2 still offered
			borrowing(s)
			s.at(21 * time.Second)
			s.preempt("b1", "prod")
			s.at(40 * time.Second)
		}},
		{name: "an offer counts until its expireTime, even while it still shows", run: func(s *sim) {
			s.offer("po", "prod", "n1", "4", 22*time.Second)
			borrowing(s)
			s.at(25 * time.Second)
			s.preempt("b1", "prod") // the controller freed po at 22 s; its rescind is not written yet
			s.preempt("b2", "prod")
			s.at(40 * time.Second)
		}},
		{name: "an offer counts until seen released", run: func(s *sim) {
			o := s.offer("po", "prod", "n1", "4", time.Hour)
			borrowing(s)
			s.at(22 * time.Second)
			s.j.onOffer(s.now, o, true)
			s.at(25 * time.Second)
			s.preempt("b1", "prod")
			s.at(40 * time.Second)
		}},
		{name: "a preempted task on a node whose executor is silent no longer counts", run: func(s *sim) {
			borrowing(s)
			s.run("b5", "borrow", "n2", true)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.preempt(b, "prod")
			}
			s.silent["n1"] = true
			s.at(35 * time.Second)
			s.preempt("b5", "prod")
			s.at(50 * time.Second)
		}},
		{name: "6c: the same, the executor silent only long before", run: func(s *sim) {
			s.silent["n1"] = true
			s.at(12 * time.Second)
			s.silent["n1"] = false
			borrowing(s)
			s.run("b5", "borrow", "n2", true)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.preempt(b, "prod")
			}
			s.at(35 * time.Second)
			s.preempt("b5", "prod")
			s.at(50 * time.Second)
		}, want: []string{invSameNeed}},
		{name: "prod's offer on a node being tainted no longer counts", run: func(s *sim) {
			s.offer("po", "prod", "n1", "3", time.Hour)
			borrowing(s)
			s.tainted["n1"] = true // the controller rescinds po before the API shows it
			s.at(21 * time.Second)
			s.preempt("b2", "prod")
			s.preempt("b3", "prod")
			s.at(40 * time.Second)
		}},
		{name: "a memory need: prod holds its CPU but not its memory", run: func(s *sim) {
			borrowing(s)
			s.quota("4", "8Gi")
			for i := 1; i <= 4; i++ {
				s.run(fmt.Sprintf("p%d", i), "prod", fmt.Sprintf("n%d", i), false)
			}
			s.at(40 * time.Second)
			s.preempt("b1", "prod")
			s.at(60 * time.Second)
		}},
		{name: "not judged while the Task watch was blind", run: func(s *sim) {
			borrowing(s)
			s.j.blind(s.now.Add(-2*time.Second), s.now)
			for _, b := range []string{"b1", "b2", "b3", "b4", "b1"} {
				s.preempt(b, "prod")
			}
			s.run("b5", "borrow", "n1", true)
			s.preempt("b5", "prod")
			s.at(40 * time.Second)
		}, want: []string{"tolerated:" + invSameNeed, "tolerated:" + invSameNeed, "tolerated:" + invSameNeed, "tolerated:" + invSameNeed, "tolerated:" + invSameNeed}},
		{name: "6a: a non-revocable task preempted", run: func(s *sim) {
			s.quota("4")
			s.run("o1", "borrow", "n1", false)
			s.at(20 * time.Second)
			s.preempt("o1", "prod")
			s.end("o1")
			s.at(40 * time.Second)
		}, want: []string{invRevocable}},
		{name: "6a: preempted for its own role", run: func(s *sim) {
			s.quota("4")
			s.run("p1", "prod", "n1", true)
			s.at(20 * time.Second)
			s.preempt("p1", "prod")
			s.at(40 * time.Second)
		}, want: []string{invRevocable}},
		{name: "6a: status.revocable changes after admission", run: func(s *sim) {
			s.run("b1", "borrow", "n1", true)
			s.tasks["b1"].Status.Revocable = false
			s.event(s.tasks["b1"], false)
			s.event(s.tasks["b1"], false)
		}, want: []string{invRevocable}},
		{name: "6b: preemptedFor rewritten to another role", run: func(s *sim) {
			borrowing(s)
			s.preempt("b1", "prod")
			s.tasks["b1"].Status.PreemptedFor = "other"
			s.event(s.tasks["b1"], false)
		}, want: []string{invOnce}},
		{name: "6b: preemptedFor cleared", run: func(s *sim) {
			borrowing(s)
			s.preempt("b1", "prod")
			s.tasks["b1"].Status.PreemptedFor = ""
			s.event(s.tasks["b1"], false)
		}, want: []string{invOnce}},
		{name: "6b: condition Preempted set again", run: func(s *sim) {
			borrowing(s)
			s.preempt("b1", "prod")
			s.at(21 * time.Second)
			meta.RemoveStatusCondition(&s.tasks["b1"].Status.Conditions, agorav1alpha1.TaskConditionPreempted)
			s.event(s.tasks["b1"], false)
			s.preempt("b1", "prod")
			s.at(40 * time.Second)
		}, want: []string{invOnce, invOnce}},
		{name: "6b: Killed as preempted without preemptedFor", run: func(s *sim) {
			borrowing(s)
			t := s.tasks["b1"]
			t.Status.Phase, t.Status.Reason = agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted
			s.event(t, false)
		}, want: []string{invOnce}},
		{name: "6b: status.preemptions counts more tasks than were preempted", run: func(s *sim) {
			borrowing(s)
			s.preempt("b1", "prod")
			s.preempt("b2", "prod")
			q := &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "prod",
				Guarantee: cpu("4")}, Status: agorav1alpha1.RoleQuotaStatus{Preemptions: 2}}
			s.j.onQuota(s.now, q, false)
			q.Status.Preemptions = 3
			s.j.onQuota(s.now, q, false)
			s.at(40 * time.Second)
		}, want: []string{invOnce}},
		{name: "a task gone while the watch was blind ends at the blind window's start", run: func(s *sim) {
			borrowing(s)
			s.run("b5", "borrow", "n1", true)
			for _, b := range []string{"b1", "b2", "b3", "b4"} {
				s.preempt(b, "prod")
			}
			gapFrom := s.now
			s.j.setDown("tasks", true) // nothing is judged until the watch is back
			s.at(30 * time.Second)
			s.j.blind(gapFrom, s.now)
			s.j.taskResync(gapFrom, map[types.UID]bool{"b5": true})
			s.j.setDown("tasks", false)
			s.at(30*time.Second + decisionWindow + time.Second)
			s.preempt("b5", "prod")
			s.at(60 * time.Second)
		}, want: []string{"tolerated:" + invSameNeed, "tolerated:" + invSameNeed, "tolerated:" + invSameNeed, "tolerated:" + invSameNeed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			tc.run(s)
			if diff := cmp.Diff(tc.want, s.violated()); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOfferRescindedForGuarantee: only an offer with a revocable slice may be rescinded with
// reason Preempted.
func TestOfferRescindedForGuarantee(t *testing.T) {
	rescinded := func(reason string) *agorav1alpha1.Offer {
		o := &agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "o"}}
		meta.SetStatusCondition(&o.Status.Conditions, metav1.Condition{Type: agorav1alpha1.OfferConditionRescinded, Status: metav1.ConditionTrue, Reason: reason})
		return o
	}
	cases := []struct {
		name      string
		offer     *agorav1alpha1.Offer
		revocable bool
		want      int
	}{
		{name: "revocable slice taken back", offer: rescinded(agorav1alpha1.ReasonPreempted), revocable: true},
		{name: "ordinary offer taken back for a guarantee", offer: rescinded(agorav1alpha1.ReasonPreempted), want: 1},
		{name: "ordinary offer expired", offer: rescinded(agorav1alpha1.ReasonExpired)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := onOfferRescinded(tc.offer, tc.revocable); len(got) != tc.want {
				t.Errorf("findings %v, want %d", got, tc.want)
			}
		})
	}
}

// TestRevocableLabel: a task's pod carries scheduling.agora.dev/revocable=true exactly when the
// task is revocable.
func TestRevocableLabel(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name      string
		revocable bool
		label     string
		want      []string
	}{
		{name: "revocable, labelled", revocable: true, label: "true"},
		{name: "ordinary, unlabelled"},
		{name: "revocable, unlabelled", revocable: true, want: []string{invRevocable}},
		{name: "ordinary, labelled", label: "true", want: []string{invRevocable}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := task("t1", "1", agorav1alpha1.TaskRunning)
			tk.Status.Revocable = tc.revocable
			p := pod("p1", "1", &tk, 0, now)
			if tc.label != "" {
				p.Labels = map[string]string{agorav1alpha1.LabelRevocable: tc.label}
			}
			nodes := []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Allocatable: cpu("4")}}}
			var got []string
			checkSnapshot(now, nodes, []corev1.Pod{p}, []agorav1alpha1.Task{tk}, nil,
				func(inv, format string, args ...any) { got = append(got, inv) }, func(string) {})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSameNeedRoom: a wave that covers the guarantee exactly leaves the room of one task at
// its last preemption — one more for the same need would be a breach.
func TestSameNeedRoom(t *testing.T) {
	s := newSim(t)
	borrowing(s)
	for _, b := range []string{"b1", "b2", "b3", "b4"} {
		s.preempt(b, "prod")
	}
	s.at(40 * time.Second)
	if v := s.violated(); len(v) != 0 {
		t.Fatalf("violations %v", v)
	}
	if diff := cmp.Diff([]float64{4, 3, 2, 1}, s.j.slack); s.j.checked != 4 || diff != "" {
		t.Errorf("checked %d (want 4), room (-want +got):\n%s", s.j.checked, diff)
	}
}
