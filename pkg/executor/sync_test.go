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

package executor

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
)

// TestKillReason: why a deleted Task ends Killed, from the Task and its Framework as the
// executor reads them. The integration tests check that the reason reaches the Task.
func TestKillReason(t *testing.T) {
	preempted := func(s metav1.ConditionStatus, msg string) func(*agorav1alpha1.Task) {
		return func(task *agorav1alpha1.Task) {
			task.Status.Conditions = append(task.Status.Conditions, metav1.Condition{
				Type: agorav1alpha1.TaskConditionPreempted, Status: s, Reason: agorav1alpha1.ReasonPreempted, Message: msg})
		}
	}
	withPod := func(task *agorav1alpha1.Task) { task.Status.PodName = "t1" }
	ownedByFw := func(task *agorav1alpha1.Task) {
		task.OwnerReferences = []metav1.OwnerReference{{APIVersion: agorav1alpha1.SchemeGroupVersion.String(), Kind: "Framework", Name: "fw"}}
	}
	active := &agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fw"}}
	deleting := active.DeepCopy()
	deleting.DeletionTimestamp, deleting.Finalizers = &t0, []string{"keep"}
	timedOut := active.DeepCopy()
	timedOut.Status.Conditions = []metav1.Condition{{Type: agorav1alpha1.FrameworkConditionActive, Status: metav1.ConditionFalse,
		Reason: agorav1alpha1.ReasonFailoverTimeoutExceeded}}

	byRole := "preempted to raise role prod to its guarantee"
	cases := []struct {
		name        string
		framework   *agorav1alpha1.Framework // nil: none exists
		edits       []func(*agorav1alpha1.Task)
		wantReason  string
		wantMessage string
	}{
		{"deleted by someone", active, []func(*agorav1alpha1.Task){withPod},
			agorav1alpha1.ReasonTaskKilled, "the Task was deleted; its pod t1 was stopped"},
		{"deleted before its pod", active, nil,
			agorav1alpha1.ReasonTaskKilled, "the Task was deleted before its pod was started"},
		{"framework torn down", deleting, []func(*agorav1alpha1.Task){withPod},
			agorav1alpha1.ReasonFrameworkTeardown, "framework fw was torn down: the Task was deleted; its pod t1 was stopped"},
		{"framework gone, task its dependent", nil, []func(*agorav1alpha1.Task){withPod, ownedByFw},
			agorav1alpha1.ReasonFrameworkTeardown, "framework fw was torn down: the Task was deleted; its pod t1 was stopped"},
		{"failover timeout", timedOut, []func(*agorav1alpha1.Task){withPod},
			agorav1alpha1.ReasonFailoverTimeout, "framework fw stayed inactive past its failoverTimeout: the Task was deleted; its pod t1 was stopped"},
		{"preempted", active, []func(*agorav1alpha1.Task){withPod, preempted(metav1.ConditionTrue, byRole)},
			agorav1alpha1.ReasonPreempted, byRole + ": the Task was deleted; its pod t1 was stopped"},
		{"preempted before its pod", active, []func(*agorav1alpha1.Task){preempted(metav1.ConditionTrue, byRole)},
			agorav1alpha1.ReasonPreempted, byRole + ": the Task was deleted before its pod was started"},
		{"preempted, no message", active, []func(*agorav1alpha1.Task){withPod, preempted(metav1.ConditionTrue, "")},
			agorav1alpha1.ReasonPreempted, "preempted to raise another role to its guarantee: the Task was deleted; its pod t1 was stopped"},
		// The controller decided to preempt before the teardown reached the task.
		{"preempted while the framework is torn down", deleting, []func(*agorav1alpha1.Task){withPod, preempted(metav1.ConditionTrue, byRole)},
			agorav1alpha1.ReasonPreempted, byRole + ": the Task was deleted; its pod t1 was stopped"},
		{"condition Preempted False", active, []func(*agorav1alpha1.Task){withPod, preempted(metav1.ConditionFalse, byRole)},
			agorav1alpha1.ReasonTaskKilled, "the Task was deleted; its pod t1 was stopped"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.framework != nil {
				objs = append(objs, tc.framework.DeepCopy())
			}
			e := &Executor{agora: agorafake.NewSimpleClientset(objs...)}
			task := newTask(rl("cpu", "1"), ctr("main", nil, nil))
			task.Status.Revocable = true
			for _, edit := range tc.edits {
				edit(task)
			}
			reason, msg := e.killReason(context.Background(), task)
			if diff := cmp.Diff([]string{tc.wantReason, tc.wantMessage}, []string{reason, msg}); diff != "" {
				t.Errorf("reason, message (-want +got):\n%s", diff)
			}
		})
	}
}
