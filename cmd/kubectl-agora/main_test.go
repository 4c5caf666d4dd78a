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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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

func TestTopQuotas(t *testing.T) {
	one, two := resource.MustParse("1"), resource.MustParse("2")
	quota := func(role string, weight *resource.Quantity, guarantee, limit corev1.ResourceList, status agorav1alpha1.RoleQuotaStatus) *agorav1alpha1.RoleQuota {
		return &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: strings.ReplaceAll(role, "/", ".")},
			Spec: agorav1alpha1.RoleQuotaSpec{Role: role, Weight: weight, Guarantee: guarantee, Limit: limit}, Status: status}
	}
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
	}
	fits := cond(agorav1alpha1.RoleQuotaConditionFits, metav1.ConditionTrue, agorav1alpha1.ReasonFits, "the guarantees fit")
	eng := quota("eng", &two, rl("16", "64Gi"), nil, agorav1alpha1.RoleQuotaStatus{
		Allocated: rl("12", "40Gi"), Offered: rl("4", "8Gi"),
		Conditions: []metav1.Condition{cond(agorav1alpha1.RoleQuotaConditionSatisfied, metav1.ConditionTrue, agorav1alpha1.ReasonGuaranteeMet, ""),
			cond(agorav1alpha1.RoleQuotaConditionFits, metav1.ConditionFalse, agorav1alpha1.ReasonGuaranteesExceedParent,
				"the guarantees of its child roles (eng/ml) add up to cpu=20, more than its own cpu=16")}})
	ml := quota("eng/ml", nil, rl("20", "32Gi"), rl("24", "96Gi"), agorav1alpha1.RoleQuotaStatus{
		Allocated: rl("6", "12Gi"), Preemptions: 3,
		Conditions: []metav1.Condition{cond(agorav1alpha1.RoleQuotaConditionSatisfied, metav1.ConditionFalse, agorav1alpha1.ReasonBelowGuarantee, ""), fits}})
	ops := quota("eng-ops", &one, nil, rl("8", "16Gi"), agorav1alpha1.RoleQuotaStatus{
		Revocable:  rl("2", "4Gi"),
		Conditions: []metav1.Condition{cond(agorav1alpha1.RoleQuotaConditionSatisfied, metav1.ConditionTrue, agorav1alpha1.ReasonNoGuarantee, ""), fits}})
	fresh := quota("batch", nil, nil, nil, agorav1alpha1.RoleQuotaStatus{})
	fw := &agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "trainer"}, Spec: agorav1alpha1.FrameworkSpec{Role: "eng/ml"}}

	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		// listErr, when set, answers every list of rolequotas.
		listErr       error
		want, notWant []string
	}{{
		name:    "quotas in role-tree order, held is allocated plus offered, a Fits=False warning",
		objects: []runtime.Object{fw, eng, ml, ops, fresh},
		want: []string{
			`ml +trainer +eng/ml`,
			`\n\nQUOTAS \(cluster-wide; held = allocated \+ offered, revocable apart\)\nROLE +WEIGHT +GUARANTEE +HELD +LIMIT +REVOCABLE +SATISFIED +PREEMPTIONS\n`,
			`(?s)batch .*\neng .*\neng/ml .*\neng-ops `,
			`\nbatch +1 +- +- +- +- +- +0\n`,
			`\neng +2 +cpu=16,memory=64Gi +cpu=16,memory=48Gi +- +- +True GuaranteeMet +0\n`,
			`\neng/ml +1 +cpu=20,memory=32Gi +cpu=6,memory=12Gi +cpu=24,memory=96Gi +- +False BelowGuarantee +3\n`,
			`\neng-ops +1 +- +- +cpu=8,memory=16Gi +cpu=2,memory=4Gi +True NoGuarantee +0\n`,
			`\nwarning: role eng: its guarantee cannot be met \(Fits False GuaranteesExceedParent\)\n  the guarantees of its child roles \(eng/ml\) add up to cpu=20, more than its own cpu=16\n$`,
		},
		notWant: []string{`warning: role eng/ml`, `warning: role eng-ops`},
	}, {
		name:    "quotas without frameworks in the namespace",
		objects: []runtime.Object{ml},
		want:    []string{`No frameworks in namespace ml\.\n\nQUOTAS`, `\neng/ml +1 +cpu=20`},
	}, {
		name:    "no quotas: no section",
		objects: []runtime.Object{fw},
		notWant: []string{`QUOTAS`, `RoleQuotas`},
	}, {
		name:    "forbidden: a line instead, and no error",
		objects: []runtime.Object{fw, eng},
		listErr: forbidden("rolequotas"),
		want:    []string{`ml +trainer`, `\n\n\(Your credentials may not list RoleQuotas: role quotas are left out\.\)\n$`},
		notWant: []string{`QUOTAS`},
	}, {
		name:    "an API server without RoleQuotas: nothing",
		objects: []runtime.Object{fw},
		listErr: apierrors.NewNotFound(schema.GroupResource{Group: agorav1alpha1.GroupVersion.Group, Resource: "rolequotas"}, ""),
		notWant: []string{`QUOTAS`, `RoleQuotas`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			agora := agorafake.NewSimpleClientset(tc.objects...)
			if tc.listErr != nil {
				agora.PrependReactor("list", "rolequotas", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.listErr })
			}
			var b strings.Builder
			// Nodes forbidden: the framework's own view, and no nodes line to match around.
			kube := kubefake.NewSimpleClientset()
			kube.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, forbidden("nodes") })
			if err := top(context.Background(), agora, kube, options{namespace: "ml"}, &b); err != nil {
				t.Fatal(err)
			}
			matchAll(t, "top", b.String(), tc.want...)
			for _, p := range tc.notWant {
				if regexp.MustCompile(p).MatchString(b.String()) {
					t.Errorf("top output matches %q:\n%s", p, b.String())
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("top:\n%s", b.String())
			}
		})
	}
}
