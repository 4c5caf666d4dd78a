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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

func cpu(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
}

func pod(name, req string, owner *agorav1alpha1.Task, deletedAgo time.Duration, now time.Time) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: cpu(req)}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "Task", Name: owner.Name, UID: owner.UID}}
	}
	if deletedAgo > 0 {
		p.DeletionTimestamp = &metav1.Time{Time: now.Add(-deletedAgo)}
	}
	return p
}

func task(name, req string, phase agorav1alpha1.TaskPhase) agorav1alpha1.Task {
	return agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec:   agorav1alpha1.TaskSpec{OfferName: "o1", NodeName: "n1", Resources: cpu(req)},
		Status: agorav1alpha1.TaskStatus{Phase: phase}}
}

func offer(name, amount string) agorav1alpha1.Offer {
	return agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: agorav1alpha1.OfferSpec{Framework: "fw", Nodes: []agorav1alpha1.OfferNode{{NodeName: "n1", Resources: cpu(amount)}}}}
}

// TestCheckSnapshot sums a 4-cpu node's foreign pods, charged tasks and remaining offers and
// tells invariant 1 from 2, and a transient from a breach.
func TestCheckSnapshot(t *testing.T) {
	now := time.Now()
	running, finished := task("t1", "1", agorav1alpha1.TaskRunning), task("t2", "2", agorav1alpha1.TaskFinished)
	finished.Spec.OfferName = "gone" // took nothing from the offers below
	cases := []struct {
		name                string
		pods                []corev1.Pod
		offers              []agorav1alpha1.Offer
		violated, tolerated []string
	}{
		// o1 offered 2, t1 took 1 of it: 1 remains; the charged task's own pod is not counted again.
		{name: "fits", pods: []corev1.Pod{pod("foreign", "1", nil, 0, now), pod("p1", "1", &running, 0, now)},
			offers: []agorav1alpha1.Offer{offer("o1", "2"), offer("o2", "1")}},
		{name: "one offer too many", pods: []corev1.Pod{pod("foreign", "2", nil, 0, now)},
			offers: []agorav1alpha1.Offer{offer("o1", "3")}, violated: []string{"1"}},
		{name: "two offers overlap", pods: []corev1.Pod{pod("foreign", "1", nil, 0, now)},
			offers: []agorav1alpha1.Offer{offer("o1", "2"), offer("o2", "2")}, violated: []string{"2"}},
		{name: "terminating pod within grace", pods: []corev1.Pod{pod("foreign", "2", nil, 0, now), pod("p2", "2", &finished, time.Second, now)},
			offers: []agorav1alpha1.Offer{offer("o9", "1")}, tolerated: []string{"1"}},
		{name: "terminating pod past grace", pods: []corev1.Pod{pod("foreign", "2", nil, 0, now), pod("p2", "2", &finished, 2*terminatingGrace, now)},
			offers: []agorav1alpha1.Offer{offer("o9", "1")}, violated: []string{"1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var violated, tolerated []string
			nodes := []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Allocatable: cpu("4")}}}
			checkSnapshot(now, nodes, tc.pods, []agorav1alpha1.Task{running, finished}, tc.offers,
				func(inv, format string, args ...any) {
					violated = append(violated, inv)
					t.Logf("invariant %s: %s", inv, fmt.Sprintf(format, args...))
				},
				func(inv string) { tolerated = append(tolerated, inv) })
			if fmt.Sprint(violated) != fmt.Sprint(tc.violated) || fmt.Sprint(tolerated) != fmt.Sprint(tc.tolerated) {
				t.Errorf("violated %v, tolerated %v; want violated %v, tolerated %v", violated, tolerated, tc.violated, tc.tolerated)
			}
		})
	}
}
