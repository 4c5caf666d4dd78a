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

package v1alpha1

// Names agora-controller, agora-executor and frameworks agree on. They are defined once, here:
// a component that spelled them differently would silently watch the wrong objects.
const (
	// SystemNamespace holds the controller's leader-election Lease and the executors' Leases.
	SystemNamespace = "agora-system"
	// ExecutorLeasePrefix starts the name of each node's executor Lease: executor-<node>.
	ExecutorLeasePrefix = "executor-"
	// AnnotationInstance on a Task names the framework instance (its Lease holderIdentity) that
	// created it; the SDK sets it. A Task whose instance is not the one its offer was made to is
	// rejected (reason InstanceFenced).
	AnnotationInstance = "scheduling.agora.dev/instance"
	// PodFinalizer is held by agora-executor on every pod it creates until the pod's end is
	// recorded in its Task: a task's pod never disappears unseen, so an executor that finds no
	// pod knows none ever ran and never starts a task twice.
	PodFinalizer = "scheduling.agora.dev/task"
	// TaintPool marks a node of a dedicated Agora pool: `kubectl taint nodes N
	// scheduling.agora.dev/pool=:NoSchedule` keeps kube-scheduler's pods (those that do not
	// tolerate it) off the node, so that nothing Agora cannot see lands on resources it has
	// offered. agora-controller ignores this taint when it matches nodes to frameworks, and
	// agora-executor gives every task pod a toleration for it.
	TaintPool = "scheduling.agora.dev/pool"
)

// ExecutorLeaseName is the name of node's executor Lease in SystemNamespace.
func ExecutorLeaseName(node string) string { return ExecutorLeasePrefix + node }
