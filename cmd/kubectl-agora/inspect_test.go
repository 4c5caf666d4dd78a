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
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
)

func readyNode(name string, labels map[string]string, cpu, mem string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.NodeStatus{
		Allocatable: rl(cpu, mem), Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func executorLease(node string, renewed time.Time) *coordinationv1.Lease {
	d := int32(40)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agorav1alpha1.SystemNamespace, Name: agorav1alpha1.ExecutorLeasePrefix + node},
		Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: renewed}, LeaseDurationSeconds: &d}}
}

func matchAll(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s output does not match %q:\n%s", what, p, out)
		}
	}
}

func TestWhy(t *testing.T) {
	now := time.Now()
	fw := &agorav1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "trainer"},
		Spec:       agorav1alpha1.FrameworkSpec{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ml"}}},
		Status: agorav1alpha1.FrameworkStatus{
			Conditions: []metav1.Condition{
				{Type: agorav1alpha1.FrameworkConditionActive, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonLeaseRenewed, Message: "Lease ml/trainer is fresh", LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))},
				{Type: agorav1alpha1.FrameworkConditionReady, Status: metav1.ConditionFalse, Reason: agorav1alpha1.ReasonNoMatchingNodes,
					Message: "0 of 2 pool nodes match: 2 fail nodeSelector team=ml; 2 node(s) outside the pool would match", LastTransitionTime: metav1.NewTime(now.Add(-3 * time.Minute))},
			},
			Why: &agorav1alpha1.FrameworkWhy{Reason: agorav1alpha1.ReasonNoMatchingNodes, PoolNodes: 2,
				Nodes:          []agorav1alpha1.WhyNodeCount{{Cause: agorav1alpha1.WhyNodeSelector, Count: 2}},
				OutOfPoolNodes: 2, Holders: []agorav1alpha1.FrameworkShareRef{{Name: "batch/etl", DominantShare: "0.7500"}}},
		},
	}
	ml := map[string]string{"team": "ml"}
	cordoned := readyNode("ml-1", ml, "8", "32Gi")
	cordoned.Spec.Unschedulable = true
	notReady := readyNode("ml-2", ml, "8", "32Gi")
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	kube := kubefake.NewSimpleClientset(readyNode("web-1", nil, "8", "32Gi"), readyNode("web-2", nil, "8", "32Gi"), cordoned, notReady,
		executorLease("web-1", now), executorLease("web-2", now), executorLease("ml-1", now), executorLease("ml-2", now.Add(-10*time.Minute)))
	var b strings.Builder
	if err := why(context.Background(), agorafake.NewSimpleClientset(fw), kube, options{namespace: "ml"}, "trainer", &b); err != nil {
		t.Fatal(err)
	}
	matchAll(t, "why", b.String(),
		`Framework ml/trainer \(role default, weight 1, share 0\)`,
		`Ready: False NoMatchingNodes, for 3m\n  0 of 2 pool nodes match: 2 fail nodeSelector team=ml`,
		`2 +NodeSelector +labels do not match spec.nodeSelector`,
		`2 +\(total\) +nodes in the pool`,
		`2 node\(s\) outside the pool would match it\.`,
		`Tasks holding the most of its full nodes \(with their shares\): batch/etl 0\.7500`,
		`Nodes its nodeSelector matches that are outside the pool \(2\):`,
		`ml-1 +cordoned\n`,
		`ml-2 +NotReady, executor stale 10m\n`,
	)
	if strings.Contains(b.String(), "web-1") {
		t.Errorf("why lists a node the selector does not match:\n%s", b.String())
	}

	// Without the right to list Nodes the detail is left out, with a word why.
	kube.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden("nodes")
	})
	b.Reset()
	if err := why(context.Background(), agorafake.NewSimpleClientset(fw), kube, options{namespace: "ml"}, "trainer", &b); err != nil {
		t.Fatal(err)
	}
	matchAll(t, "why (no node rights)", b.String(), `may not list Nodes`)

	if err := why(context.Background(), agorafake.NewSimpleClientset(), kube, options{namespace: "ml"}, "trainer", &b); err == nil || !strings.Contains(err.Error(), `framework "trainer" not found in namespace "ml"`) {
		t.Errorf("missing framework: %v", err)
	}
}

func TestTasksAndNodes(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	task := func(name, fw, node string, phase agorav1alpha1.TaskPhase, reason string) *agorav1alpha1.Task {
		return &agorav1alpha1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: name, CreationTimestamp: old, Labels: map[string]string{agorav1alpha1.LabelFramework: fw}},
			Spec:       agorav1alpha1.TaskSpec{NodeName: node, Resources: rl("2", "4Gi")},
			Status:     agorav1alpha1.TaskStatus{Phase: phase, Reason: reason},
		}
	}
	agora := agorafake.NewSimpleClientset(
		task("a-1", "etl", "n1", agorav1alpha1.TaskRunning, ""),
		task("a-2", "etl", "n1", agorav1alpha1.TaskFinished, ""),
		task("b-1", "report", "n2", agorav1alpha1.TaskError, agorav1alpha1.ReasonOfferNotFound),
		task("b-2", "report", "n2", "", ""),
		&agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "report-7"},
			Spec: agorav1alpha1.OfferSpec{Framework: "report", Nodes: []agorav1alpha1.OfferNode{{NodeName: "n1", Resources: rl("2", "8Gi")}}}},
	)
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "nginx"}, Spec: corev1.PodSpec{NodeName: "n1",
		Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl("1", "1Gi")}}}}}
	kube := kubefake.NewSimpleClientset(readyNode("n1", nil, "8", "32Gi"), readyNode("n2", nil, "4", "8Gi"), foreign, executorLease("n1", time.Now()))

	var b strings.Builder
	if err := tasks(context.Background(), agora, options{namespace: "batch"}, &b); err != nil {
		t.Fatal(err)
	}
	matchAll(t, "tasks", b.String(),
		`4 tasks: 1 Pending, 1 Running, 1 Finished, 1 Error`,
		// Live first: a-1 (Running), b-2 (Pending), then a-2 (Finished), b-1 (Error).
		`(?s)a-1 .*b-2 .*a-2 .*b-1 `,
		`batch +a-1 +etl +Running +n1 +cpu=2,memory=4Gi +5m +- +-`,
		`batch +b-1 +report +Error +n2 +cpu=2,memory=4Gi +5m +OfferNotFound`,
		`batch +b-2 +report +Pending`,
	)
	b.Reset()
	if err := tasks(context.Background(), agora, options{namespace: "batch", phase: "running"}, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1 tasks: 1 Running") || strings.Contains(b.String(), "b-1") {
		t.Errorf("tasks --phase running:\n%s", b.String())
	}

	b.Reset()
	if err := nodes(context.Background(), agora, kube, &b); err != nil {
		t.Fatal(err)
	}
	matchAll(t, "nodes", b.String(),
		// 8 - 1 (nginx) - 2 (a-1 runs; a-2 finished) - 2 (offered) = 3 CPU free.
		`n1 +Ready +live +cpu=8,memory=32Gi +1 cpu=1,memory=1Gi +1 cpu=2,memory=4Gi +cpu=2,memory=8Gi +cpu=3,memory=19Gi`,
		// b-1 ended in Error, b-2 is not admitted: neither holds n2.
		`n2 +Ready +none +cpu=4,memory=8Gi +0 - +0 - +- +cpu=4,memory=8Gi`,
	)
}

// Revocable tasks get a REVOCABLE column (only then), preempted ones are counted with Killed.
func TestTasksRevocableAndPreempted(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	task := func(name string, phase agorav1alpha1.TaskPhase, reason string, revocable bool) *agorav1alpha1.Task {
		return &agorav1alpha1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: name, CreationTimestamp: old, Labels: map[string]string{agorav1alpha1.LabelFramework: "etl"}},
			Spec:       agorav1alpha1.TaskSpec{NodeName: "n1", Resources: rl("1", "2Gi")},
			Status:     agorav1alpha1.TaskStatus{Phase: phase, Reason: reason, Revocable: revocable},
		}
	}
	agora := agorafake.NewSimpleClientset(
		task("a", agorav1alpha1.TaskRunning, "", false),
		task("b", agorav1alpha1.TaskRunning, "", true),
		task("c", agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted, true),
		task("d", agorav1alpha1.TaskKilled, agorav1alpha1.ReasonTaskKilled, false),
	)
	var b strings.Builder
	if err := tasks(context.Background(), agora, options{namespace: "batch"}, &b); err != nil {
		t.Fatal(err)
	}
	matchAll(t, "tasks", b.String(),
		`^4 tasks: 2 Running, 2 Killed \(1 preempted\); 2 on revocable resources\n`,
		`NAMESPACE +TASK +FRAMEWORK +PHASE +NODE +RESOURCES +REVOCABLE +AGE +REASON +MESSAGE\n`,
		`batch +a +etl +Running +n1 +cpu=1,memory=2Gi +- +5m +- +-\n`,
		`batch +b +etl +Running +n1 +cpu=1,memory=2Gi +yes +5m +- +-\n`,
		`batch +c +etl +Killed +n1 +cpu=1,memory=2Gi +yes +5m +Preempted +-\n`,
		`batch +d +etl +Killed +n1 +cpu=1,memory=2Gi +- +5m +TaskKilled +-\n`,
	)
	if testing.Verbose() {
		t.Logf("tasks:\n%s", b.String())
	}
}

func TestWhyArguments(t *testing.T) {
	var b strings.Builder
	for _, args := range [][]string{{"why", "--kubeconfig", "/nonexistent"}, {"why", "a", "b", "--kubeconfig", "/nonexistent"}} {
		if err := run(args, &b); err == nil || !strings.Contains(err.Error(), "needs one FRAMEWORK name") {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	if err := run([]string{"tasks", "extra", "--kubeconfig", "/nonexistent"}, &b); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("tasks with an argument: %v", err)
	}
}

func forbidden(resource string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC: not allowed"))
}
