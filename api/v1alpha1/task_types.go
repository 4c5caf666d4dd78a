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

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskPhase is where a task is in its life. An empty phase means the controller has not decided
// on admission yet.
// +kubebuilder:validation:Enum=Staging;Starting;Running;Unreachable;Finished;Failed;Killed;Lost;Error
type TaskPhase string

const (
	// TaskStaging: admitted; its resources are charged to the framework; the executor has not
	// created its pod yet.
	TaskStaging TaskPhase = "Staging"
	// TaskStarting: the pod is created and not running yet.
	TaskStarting TaskPhase = "Starting"
	// TaskRunning: the pod's containers run.
	TaskRunning TaskPhase = "Running"
	// TaskUnreachable: the node's executor stopped renewing its Lease while the Node is Ready, so
	// the task's pod may well still run under the kubelet (Mesos TASK_UNREACHABLE). Not terminal:
	// its resources stay charged, and it returns to its real phase when the executor is back. It
	// becomes Lost only when the Node is deleted or stays NotReady past --node-lost-timeout.
	TaskUnreachable TaskPhase = "Unreachable"
	// TaskFinished: the pod exited 0. Terminal.
	TaskFinished TaskPhase = "Finished"
	// TaskFailed: the pod exited non-zero or could not run; exitCode and reason say why. Terminal.
	TaskFailed TaskPhase = "Failed"
	// TaskKilled: the Task was deleted and its pod stopped. Terminal.
	TaskKilled TaskPhase = "Killed"
	// TaskLost: its node or pod disappeared. Terminal.
	TaskLost TaskPhase = "Lost"
	// TaskError: rejected at admission; nothing was charged. Terminal.
	TaskError TaskPhase = "Error"
)

// IsTerminal reports whether a task in this phase no longer holds resources.
func (p TaskPhase) IsTerminal() bool {
	switch p {
	case TaskFinished, TaskFailed, TaskKilled, TaskLost, TaskError:
		return true
	}
	return false
}

// TaskFinalizer is held by agora-executor on an admitted Task from the moment it first acts on
// it (before it creates the pod) until the task is terminal and its pod no longer runs, so that
// deleting the Task (kill) stops its pod before the Task goes away. A Task deleted before the
// executor saw it never had a pod and goes at once.
//
// The controller may remove it from a Task it declared Lost whose executor is gone for good
// (nobody else would).
const TaskFinalizer = "scheduling.agora.dev/task"

// Labels Agora puts on the objects it creates.
const (
	// LabelFramework names the Framework a Task or Pod belongs to.
	LabelFramework = "scheduling.agora.dev/framework"
	// LabelTask names the Task a Pod runs.
	LabelTask = "scheduling.agora.dev/task"
	// LabelRevocable is "true" on the Pods of revocable tasks (status.revocable), which may be
	// preempted: select them with -l scheduling.agora.dev/revocable=true.
	LabelRevocable = "scheduling.agora.dev/revocable"
)

// Task condition types.
const (
	// TaskConditionAdmitted is True once the controller charged the task to its offer, False
	// (with the Error reason) when it rejected it.
	TaskConditionAdmitted = "Admitted"
	// TaskConditionPreempted is set True on a revocable task by the controller just before it
	// deletes the Task to raise a role to its guarantee, with reason Preempted and a message
	// naming that role. The executor then reports the kill as phase Killed, reason Preempted.
	TaskConditionPreempted = "Preempted"
)

// Task reasons for phase Error (rejected at admission; nothing charged).
const (
	// ReasonOfferNotFound: no Offer named spec.offerName exists in the Task's namespace (never
	// made, already released, or rescinded).
	ReasonOfferNotFound = "OfferNotFound"
	// ReasonOfferExpired: the offer's expireTime had passed when the task was admitted.
	ReasonOfferExpired = "OfferExpired"
	// ReasonOfferRescinded: the offer, or its slice of spec.nodeName, was rescinded.
	ReasonOfferRescinded = "OfferRescinded"
	// ReasonFrameworkNotFound: the offer's framework does not exist in this namespace.
	ReasonFrameworkNotFound = "FrameworkNotFound"
	// ReasonNodeNotInOffer: spec.nodeName is not one of the offer's nodes.
	ReasonNodeNotInOffer = "NodeNotInOffer"
	// ReasonInsufficientResources: spec.resources exceeds what remains of the offer on the node.
	ReasonInsufficientResources = "InsufficientResources"
	// ReasonFrameworkMismatch: the Task declares a framework (label scheduling.agora.dev/framework
	// or an owner reference to a Framework) other than the framework its offer was made to. A
	// task is charged to its own framework only.
	ReasonFrameworkMismatch = "FrameworkMismatch"
	// ReasonInstanceFenced: the Task was created by a framework instance (annotation
	// scheduling.agora.dev/instance) that no longer holds the framework's Lease, or the offer was
	// made to another instance: after a failover only the instance holding the Lease launches.
	ReasonInstanceFenced = "InstanceFenced"
	// ReasonInvalidTemplate: the pod template cannot run as given, e.g. it asks for more than
	// spec.resources. Written by the controller at admission, or by agora-executor when it builds
	// the pod of an admitted task.
	ReasonInvalidTemplate = "InvalidTemplate"
	// ReasonNameInUse: never written to the API. The SDK reports it to the framework for a task it
	// did not create because a Task of that name owned by an earlier Framework of the same name
	// (deleted and created again) still exists; launch it again under another name.
	ReasonNameInUse = "NameInUse"
)

// Task reasons for the other phases.
const (
	// ReasonAdmitted (Staging): charged to the offer.
	ReasonAdmitted = "Admitted"
	// ReasonCompleted (Finished): every container exited 0.
	ReasonCompleted = "Completed"
	// ReasonPodDeleted (Failed or Lost): the pod was deleted by someone other than Agora.
	// agora-executor reports it as Lost: the task did not fail by itself.
	ReasonPodDeleted = "PodDeleted"
	// ReasonPodRejected (Failed): the API server refused to create the task's pod (Pod Security
	// admission, validation, quota, a terminating namespace) or another pod holds its name; the
	// message quotes the API server.
	ReasonPodRejected = "PodRejected"
	// ReasonTaskKilled (Killed): the Task was deleted.
	ReasonTaskKilled = "TaskKilled"
	// ReasonFrameworkTeardown (Killed): the Framework was deleted.
	ReasonFrameworkTeardown = "FrameworkTeardown"
	// ReasonFailoverTimeout (Killed): the framework stayed inactive past failoverTimeout.
	ReasonFailoverTimeout = "FailoverTimeout"
	// ReasonPreempted (Killed, and condition Preempted) is declared with the Offer rescind
	// reasons, as the same word: a revocable task was killed to raise another role to its
	// guarantee.

	// ReasonNodeLostTask (Lost): the node was deleted, or stayed NotReady past
	// --node-lost-timeout.
	ReasonNodeLostTask = "NodeLost"
	// ReasonExecutorUnreachable (Unreachable): the node's executor Lease is stale (or deleted)
	// while the Node is Ready; the pod may still run.
	ReasonExecutorUnreachable = "ExecutorUnreachable"
	// ReasonPodNotFound (Lost): the executor found no pod for a task it had started launching and
	// cannot prove the pod never ran, so it does not start a second one.
	ReasonPodNotFound = "PodNotFound"
)

// TaskSpec is what a framework launches on offered resources (Mesos TaskInfo). Immutable.
type TaskSpec struct {
	// offerName is the Offer, in the Task's namespace, whose resources the task uses.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	OfferName string `json:"offerName"`

	// nodeName is the node to run on; it must be one of the offer's nodes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`

	// resources is what the task consumes and is charged to its framework, per resource name
	// (e.g. `cpu: 500m`, `memory: 1Gi`). The pod never requests more. Quantities must not be
	// negative; a task without cpu or memory greater than 0 is rejected at admission (reason
	// `InvalidTemplate`): they bound its pod.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resources must not be negative"
	Resources corev1.ResourceList `json:"resources"`

	// template is the pod to run. agora-executor creates it bound to nodeName with
	// restartPolicy Never; containers that set no resources get requests = limits carved from
	// spec.resources.
	// +required
	// +kubebuilder:validation:XValidation:rule="has(self.spec)",message="template.spec is required: the pod to run"
	Template corev1.PodTemplateSpec `json:"template"`
}

// TaskStatus is what happened to a task.
type TaskStatus struct {
	// phase is where the task is: Staging, Starting, Running, Unreachable, Finished, Failed,
	// Killed, Lost, or Error. Empty until the controller decides on admission.
	// +optional
	Phase TaskPhase `json:"phase,omitempty"`

	// reason is a one-word, CamelCase cause of the current phase, e.g. `InsufficientResources`
	// or `OOMKilled`.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// message says in words what happened and what to do about it.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message,omitempty"`

	// framework is the Framework the task was charged to.
	// +optional
	Framework string `json:"framework,omitempty"`

	// podName is the pod the executor runs the task in.
	// +optional
	PodName string `json:"podName,omitempty"`
	// podUID is the UID of that pod, once created: the task runs in this pod and no other.
	// +optional
	PodUID string `json:"podUID,omitempty"`

	// exitCode is the exit code of the first container that ended non-zero, or 0.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`

	// startTime is when the task's containers started running.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the task reached a terminal phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// revocable is true when the task was admitted on a revocable offer slice (resources lent
	// from another role's guarantee); set at admission. Such a task may be preempted (killed
	// with reason `Preempted`) when that role wants its guarantee again; its pod carries the
	// label scheduling.agora.dev/revocable=true.
	// +optional
	Revocable bool `json:"revocable,omitempty"`

	// preemptedFor names the role whose guarantee the task's resources were taken back for
	// (set with the condition `Preempted`, before the Task is deleted). A restarted controller
	// reads it so that resources already being reclaimed for a role are not reclaimed twice.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PreemptedFor string `json:"preemptedFor,omitempty"`

	// conditions: `Admitted`, and `Preempted` on a revocable task about to be killed for a
	// role's guarantee.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Task is work launched on offered resources (Mesos TaskInfo). Created by the framework; its
// spec is immutable. Delete it to kill it.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tk,categories=agora
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:selectablefield:JSONPath=`.spec.offerName`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.spec.resources.cpu`
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.spec.resources.memory`
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.status.framework`,priority=1
// +kubebuilder:printcolumn:name="Offer",type=string,JSONPath=`.spec.offerName`,priority=1
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.status.podName`,priority=1
// +kubebuilder:printcolumn:name="Exit",type=integer,JSONPath=`.status.exitCode`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Task struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Immutability of spec is kept in two places. This CEL rule keeps what admission and
	// accounting read (offerName, nodeName, resources); the ValidatingAdmissionPolicy
	// agora-task-spec-immutable (config/crd/policy, installed with the CRDs) keeps the whole
	// spec. The rule is narrow because the API server evaluates a CRD's CEL rules on every
	// status write too, and comparing the whole pod template there costs a status write 12-14%
	// of its kube-apiserver CPU; the policy matches writes to the Task itself, not to tasks/status
	// (BENCHMARKS.md, "What one write costs kube-apiserver"). CRDs applied without the policy
	// (config/crd/bases alone, or a cluster that does not run ValidatingAdmissionPolicy) leave
	// the template mutable; the executor builds the pod from the Task as it reads it when it
	// creates the pod and never lets it request more than the immutable resources.

	// spec is what to run and on which offered resources. Immutable: delete the Task and create
	// a new one.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.offerName == oldSelf.offerName && self.nodeName == oldSelf.nodeName && self.resources == oldSelf.resources",message="spec is immutable: delete the Task and create a new one"
	Spec TaskSpec `json:"spec"`

	// status is what happened to it.
	// +optional
	Status TaskStatus `json:"status,omitempty"`
}

// TaskList is a list of Tasks.
// +kubebuilder:object:root=true
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Tasks.
	Items []Task `json:"items"`
}
