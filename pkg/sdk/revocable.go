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
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Revocable reports whether offer's slice on node lends revocable resources (the slice's
// spec.nodes[].revocable): capacity held back for another role's guarantee (RoleQuota) that the
// role does not use now. Only a framework registered with the RevocableResources capability
// (Config.Spec.Capabilities) is offered such slices. A task launched on one is revocable: it may
// be preempted whenever that role wants its guarantee back, and then ends Killed with reason
// Preempted ([Preempted]). Launch only work that can be retried there. False for a node the
// offer does not hold.
func Revocable(offer *agorav1alpha1.Offer, node string) bool {
	for _, n := range offer.Spec.Nodes {
		if n.NodeName == node {
			return n.Revocable
		}
	}
	return false
}

// Preempted reports whether a task's status, as StatusUpdate delivers it, says it was preempted:
// phase Killed, reason Preempted. The controller killed the revocable task (one launched on a
// [Revocable] slice; its status.revocable is true) to raise another role to its guarantee; the
// message names that role. Nothing was wrong with the task: a framework typically launches it
// again, on other resources, without counting it as a failure.
func Preempted(task *agorav1alpha1.Task) bool {
	return task.Status.Phase == agorav1alpha1.TaskKilled && task.Status.Reason == agorav1alpha1.ReasonPreempted
}

// preemptedFor returns the message of a task's Preempted condition when the controller set it
// (True) before deleting the task, for a kill the Driver reports itself.
func preemptedFor(task *agorav1alpha1.Task) (string, bool) {
	c := meta.FindStatusCondition(task.Status.Conditions, agorav1alpha1.TaskConditionPreempted)
	if c == nil || c.Status != metav1.ConditionTrue {
		return "", false
	}
	return c.Message, true
}
