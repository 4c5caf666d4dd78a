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
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// The Ready condition for each thing the allocator can find, with the words a person needs.
func TestReadyFromWhy(t *testing.T) {
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	nodes := func(kv ...int) [allocator.NumNodeCauses]int {
		var n [allocator.NumNodeCauses]int
		for i := 0; i+1 < len(kv); i += 2 {
			n[kv[i]] = kv[i+1]
		}
		return n
	}
	ml := &agorav1alpha1.Framework{Spec: agorav1alpha1.FrameworkSpec{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ml"}}}}
	plain := &agorav1alpha1.Framework{}
	for name, tc := range map[string]struct {
		fw          *agorav1alpha1.Framework
		e           allocator.Explanation
		outstanding int32
		reason      string
		contains    []string
		whyNodes    []agorav1alpha1.WhyNodeCount
	}{
		"offered":      {fw: plain, e: allocator.Explanation{Why: allocator.WhyOffered}, reason: agorav1alpha1.ReasonReceivingOffers},
		"no cycle yet": {fw: plain, e: allocator.Explanation{}, reason: agorav1alpha1.ReasonReceivingOffers},
		"holds offers, got none this cycle": {fw: plain, outstanding: 2,
			e: allocator.Explanation{Why: allocator.WhyWaitingForShare}, reason: agorav1alpha1.ReasonReceivingOffers},
		"selector matches nothing, some cordoned": {fw: ml,
			e:      allocator.Explanation{Why: allocator.WhyNoNodes, At: at, PoolNodes: 40, Nodes: nodes(int(allocator.NodeSelectorMismatch), 38, int(allocator.NodeUntolerated), 2), OutOfPool: 12},
			reason: agorav1alpha1.ReasonNoMatchingNodes,
			contains: []string{"0 of 40 pool nodes match", "38 fail nodeSelector team=ml", "2 have NoSchedule/NoExecute taints",
				"12 node(s) outside the pool would match (cordoned"},
			whyNodes: []agorav1alpha1.WhyNodeCount{{Cause: agorav1alpha1.WhyNodeSelector, Count: 38}, {Cause: agorav1alpha1.WhyNodeTaints, Count: 2}}},
		"empty pool": {fw: plain, e: allocator.Explanation{Why: allocator.WhyNoNodes},
			reason: agorav1alpha1.ReasonNoMatchingNodes, contains: []string{"the pool has no nodes"}},
		"declined everything": {fw: plain,
			e:      allocator.Explanation{Why: allocator.WhyNoNodes, PoolNodes: 3, Nodes: nodes(int(allocator.NodeDeclined), 3), DeclinedUntil: at.Add(5 * time.Second)},
			reason: agorav1alpha1.ReasonDeclined, contains: []string{"all 3 pool nodes", "until 2026-12-01T18:00:05Z", "spec.revivedAt"}},
		"full": {fw: plain,
			e: allocator.Explanation{Why: allocator.WhyNoNodes, PoolNodes: 4, Nodes: nodes(int(allocator.NodeFull), 3, int(allocator.NodePodsFull), 1),
				Holders: []allocator.FrameworkShare{{ID: "ns/a", Share: 0.5}, {ID: "ns/b", Share: 0.25}}, Foreign: allocator.Resources{allocator.CPU: 1000, allocator.Memory: 2 << 30}},
			reason: agorav1alpha1.ReasonPoolFull, contains: []string{"the 4 pool nodes it may use are taken", "3 with their CPU or their memory used up", "1 with no pod slot left",
				"the tasks holding most there: ns/a 0.50, ns/b 0.25 (their shares)", "other schedulers' pods hold cpu 1, memory 2Gi there"}},
		"below the minimum": {fw: plain,
			e: allocator.Explanation{Why: allocator.WhyNoNodes, PoolNodes: 2, Nodes: nodes(int(allocator.NodeBelowMin), 2),
				Min: allocator.Resources{allocator.CPU: 10, allocator.Memory: 32 << 20}, LargestFree: allocator.Resources{allocator.CPU: 5, allocator.Memory: 1 << 30}},
			reason: agorav1alpha1.ReasonBelowMinAllocatable, contains: []string{"--min-allocatable (cpu 10m, memory 32Mi)", "the largest is cpu 5m, memory 1Gi"}},
		"room appeared since": {fw: plain, e: allocator.Explanation{Why: allocator.WhyNoNodes, PoolNodes: 1, Nodes: nodes(int(allocator.NodeAvailable), 1)},
			reason: agorav1alpha1.ReasonReceivingOffers},
		"room appeared beside others' offers": {fw: plain, e: allocator.Explanation{Why: allocator.WhyWaitingForShare, PoolNodes: 2,
			Nodes: nodes(int(allocator.NodeAvailable), 1, int(allocator.NodeOffered), 1)}, reason: agorav1alpha1.ReasonReceivingOffers},
		"waiting": {fw: plain,
			e: allocator.Explanation{Why: allocator.WhyWaitingForShare, Share: 0.5, PoolNodes: 3, Nodes: nodes(int(allocator.NodeOffered), 2, int(allocator.NodeFull), 1),
				Ahead: []allocator.FrameworkShare{{ID: "ns/small", Share: 0.125}}},
			reason: agorav1alpha1.ReasonWaitingForShare, contains: []string{"what is free on 2 of the 3 pool nodes it may use is in offers weighted DRF made first to ns/small 0.12", "its share is 0.50"}},
		"at its limit": {fw: plain,
			e: allocator.Explanation{Why: allocator.WhyAtLimit, Min: allocator.Resources{allocator.CPU: 10, allocator.Memory: 32 << 20},
				Held: allocator.Resources{allocator.CPU: 2000, allocator.Memory: 4 << 30}, Headroom: allocator.Resources{allocator.CPU: 0, allocator.Memory: 1 << 62}},
			reason: agorav1alpha1.ReasonAtLimit, contains: []string{"it holds cpu 2 (limit 2) under spec.limits"}},
	} {
		t.Run(name, func(t *testing.T) {
			cond, why := readyFromWhy(tc.fw, tc.e, tc.outstanding)
			if cond.Reason != tc.reason {
				t.Fatalf("reason = %s, want %s (message %q)", cond.Reason, tc.reason, cond.Message)
			}
			wantTrue := tc.reason == agorav1alpha1.ReasonReceivingOffers
			if (cond.Status == metav1.ConditionTrue) != wantTrue || (why == nil) != wantTrue {
				t.Fatalf("status = %s, why = %+v for reason %s", cond.Status, why, cond.Reason)
			}
			for _, s := range tc.contains {
				if !strings.Contains(cond.Message, s) {
					t.Errorf("message %q lacks %q", cond.Message, s)
				}
			}
			if why != nil {
				if why.Reason != cond.Reason {
					t.Errorf("why.reason = %s, condition %s", why.Reason, cond.Reason)
				}
				if tc.whyNodes != nil && len(why.Nodes) != len(tc.whyNodes) {
					t.Errorf("why.nodes = %+v, want %+v", why.Nodes, tc.whyNodes)
				}
				for i := range min(len(why.Nodes), len(tc.whyNodes)) {
					if why.Nodes[i] != tc.whyNodes[i] {
						t.Errorf("why.nodes = %+v, want %+v", why.Nodes, tc.whyNodes)
					}
				}
			}
		})
	}
}

// Ready reasons from the cycle ride with usage (rate-limited); reasons from the spec or
// liveness are written at once.
func TestUsageOnlyReady(t *testing.T) {
	with := func(reason string) *agorav1alpha1.FrameworkStatus {
		s := &agorav1alpha1.FrameworkStatus{Conditions: []metav1.Condition{{Type: agorav1alpha1.FrameworkConditionReady, Reason: reason}}}
		if reason != agorav1alpha1.ReasonReceivingOffers {
			s.Why = &agorav1alpha1.FrameworkWhy{Reason: reason}
		}
		return s
	}
	for _, tc := range []struct {
		from, to string
		usage    bool
	}{
		{agorav1alpha1.ReasonReceivingOffers, agorav1alpha1.ReasonWaitingForShare, true},
		{agorav1alpha1.ReasonPoolFull, agorav1alpha1.ReasonNoMatchingNodes, true},
		{agorav1alpha1.ReasonReceivingOffers, agorav1alpha1.ReasonSuppressed, false},
		{agorav1alpha1.ReasonInactive, agorav1alpha1.ReasonReceivingOffers, false},
	} {
		if got := usageOnly(with(tc.from), with(tc.to)); got != tc.usage {
			t.Errorf("%s -> %s: usageOnly = %v, want %v", tc.from, tc.to, got, tc.usage)
		}
	}
}

// TestWhyNoOffers: a framework's Ready condition and status.why say why it gets nothing, and
// clear once it is offered something.
func TestWhyNoOffers(t *testing.T) {
	e := newTestEnv(t, Options{})
	n1, n2 := e.label+"-n1", e.label+"-n2"
	e.addNode(n1, "4", "8Gi")
	e.addNode(n2, "4", "8Gi")
	e.updateNode(n2, false, func(n *corev1.Node) {
		n.Labels["team"] = "ml"
		n.Spec.Unschedulable = true
	})
	ready := func(name string) (*agorav1alpha1.Framework, *metav1.Condition) {
		fw := e.framework(name)
		return fw, meta.FindStatusCondition(fw.Status.Conditions, agorav1alpha1.FrameworkConditionReady)
	}
	waitReason := func(name, reason string, contains ...string) *agorav1alpha1.Framework {
		t.Helper()
		var fw *agorav1alpha1.Framework
		e.eventually(20*time.Second, name+" Ready reason "+reason, func() (bool, string) {
			var c *metav1.Condition
			fw, c = ready(name)
			if c == nil || c.Reason != reason {
				return false, fmt.Sprintf("%+v", c)
			}
			for _, s := range contains {
				if !strings.Contains(c.Message, s) {
					return false, c.Message
				}
			}
			return true, ""
		})
		return fw
	}

	// The only team=ml node is cordoned.
	e.addFramework("ml", func(fw *agorav1alpha1.Framework) { fw.Spec.NodeSelector.MatchLabels["team"] = "ml" })
	fw := waitReason("ml", agorav1alpha1.ReasonNoMatchingNodes, "0 of 1 pool nodes match", "fail nodeSelector", "team=ml",
		"1 node(s) outside the pool would match")
	if w := fw.Status.Why; w == nil || w.PoolNodes != 1 || w.OutOfPoolNodes != 1 || len(w.Nodes) != 1 || w.Nodes[0].Cause != agorav1alpha1.WhyNodeSelector {
		t.Errorf("status.why = %+v", w)
	}

	// A spec change explains again at once, though the cycle's outcome (eligible, nothing
	// offered) stays the same; the refresh would take 30 s, more than waitReason waits.
	e.updateFramework("ml", func(fw *agorav1alpha1.Framework) { fw.Spec.NodeSelector.MatchLabels["team"] = "ml2" })
	e.eventually(20*time.Second, "ml explained again for team=ml2 (no node outside the pool matches it)", func() (bool, string) {
		fw, c := ready("ml")
		if c == nil || fw.Status.Why == nil || !strings.Contains(c.Message, "team=ml2") {
			return false, fmt.Sprintf("%+v", c)
		}
		return fw.Status.Why.OutOfPoolNodes == 0 && !strings.Contains(c.Message, "outside the pool"), c.Message
	})
	e.updateFramework("ml", func(fw *agorav1alpha1.Framework) { fw.Spec.NodeSelector.MatchLabels["team"] = "ml" })
	waitReason("ml", agorav1alpha1.ReasonNoMatchingNodes, "team=ml;", "1 node(s) outside the pool would match")

	// hog holds the only pool node's offer: late waits for its share and names hog.
	e.addFramework("hog", func(fw *agorav1alpha1.Framework) { fw.Spec.RefuseDuration = &metav1.Duration{Duration: time.Hour} })
	o := e.waitOffer("hog")
	if _, c := ready("hog"); c != nil && c.Status != metav1.ConditionTrue {
		t.Errorf("hog holds an offer, Ready = %+v", c)
	}
	e.addFramework("late", nil)
	waitReason("late", agorav1alpha1.ReasonWaitingForShare, "what is free on 1 of the 1 pool nodes it may use is in offers weighted DRF made first to "+e.ns+"/hog")

	// hog declines for an hour: late gets the node, hog is told its filters are why.
	if err := k8s.Delete(e.ctx, &o); err != nil {
		t.Fatal(err)
	}
	e.waitOffer("late")
	if fw := waitReason("late", agorav1alpha1.ReasonReceivingOffers); fw.Status.Why != nil {
		t.Errorf("late is Ready, status.why = %+v", fw.Status.Why)
	}
	waitReason("hog", agorav1alpha1.ReasonDeclined, "all 1 pool nodes it may use are under its decline filters", "spec.revivedAt")

	// Uncordoning the team=ml node gives ml an offer.
	e.updateNode(n2, false, func(n *corev1.Node) { n.Spec.Unschedulable = false })
	e.waitOffer("ml")
	waitReason("ml", agorav1alpha1.ReasonReceivingOffers)
}
