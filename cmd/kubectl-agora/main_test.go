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

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
)

func rl(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

func TestTopAndOffers(t *testing.T) {
	two := resource.MustParse("2")
	fw := &agorav1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "etl"},
		Spec:       agorav1alpha1.FrameworkSpec{Role: "analytics", Weight: &two},
		Status: agorav1alpha1.FrameworkStatus{
			DominantShare: "0.2500", DominantResource: corev1.ResourceCPU,
			Allocated: rl("8", "16Gi"), Offered: rl("0", "0"), OutstandingOffers: 1,
			Tasks:      agorav1alpha1.TaskCounts{Running: 8, Finished: 3, Error: 1},
			Conditions: []metav1.Condition{{Type: agorav1alpha1.FrameworkConditionActive, Status: metav1.ConditionFalse, Reason: agorav1alpha1.ReasonLeaseExpired}},
		},
	}
	offer := &agorav1alpha1.Offer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "etl-1"},
		Spec: agorav1alpha1.OfferSpec{Framework: "etl", ExpireTime: metav1.NewTime(time.Now().Add(time.Minute)),
			Nodes: []agorav1alpha1.OfferNode{{NodeName: "n1", Resources: rl("4", "8Gi")}, {NodeName: "n2", Resources: rl("2", "1536Mi")}}},
		Status: agorav1alpha1.OfferStatus{AdmittedTasks: 1, Remaining: []agorav1alpha1.OfferNodeRemaining{{NodeName: "n1", Resources: rl("3", "6Gi")}}},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Allocatable: rl("16", "64Gi"), Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	cordoned := node.DeepCopy()
	cordoned.Name, cordoned.Spec.Unschedulable = "n2", true
	agora := agorafake.NewSimpleClientset(fw, offer)
	kube := kubefake.NewSimpleClientset(node, cordoned)
	ctx := context.Background()

	var b strings.Builder
	if err := top(ctx, agora, kube, options{namespace: "team-a"}, &b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`nodes: 1 Ready and schedulable of 2, 16 CPU, 64Gi memory`,
		`team-a +etl +analytics +2 +0\.2500 +cpu +cpu=8,memory=16Gi +- +0 +0 +8 +0 +3 +0 +0 +0 +1 +1 +Inactive \(LeaseExpired\)`,
	} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("top output does not match %q:\n%s", want, b.String())
		}
	}

	b.Reset()
	if err := offers(ctx, agora, options{namespace: "team-a"}, &b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`team-a +etl-1 +etl +n1 +cpu=4,memory=8Gi +cpu=3,memory=6Gi +(59s|1m0s)`,
		`team-a +etl-1 +etl +n2 +cpu=2,memory=1\.5Gi +none`,
	} {
		if !regexp.MustCompile(want).MatchString(b.String()) {
			t.Errorf("offers output does not match %q:\n%s", want, b.String())
		}
	}

	b.Reset()
	if err := top(ctx, agorafake.NewSimpleClientset(), kube, options{namespace: "empty"}, &b); err != nil || !strings.Contains(b.String(), "No frameworks in namespace empty.") {
		t.Errorf("empty namespace: %v\n%s", err, b.String())
	}
	if err := run([]string{"frobnicate", "--kubeconfig", "/nonexistent"}, &b); err == nil {
		t.Error("an unknown command or missing kubeconfig is no error")
	}
}
