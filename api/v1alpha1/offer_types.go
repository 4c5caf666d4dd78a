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

// MaxOfferNodes bounds the nodes in one Offer; the controller splits a larger batch into several
// Offers so that each object stays small.
const MaxOfferNodes = 500

// OfferFinalizer is held by the controller on every Offer so that a released (deleted) Offer
// stays readable until the tasks created before its deletion are admitted and the rest is
// returned to the pool.
const OfferFinalizer = "scheduling.agora.dev/offer"

// Offer condition types.
const (
	// OfferConditionRescinded is True once the controller took the offer back; its reason is one
	// of the Reason* rescind constants below.
	OfferConditionRescinded = "Rescinded"
)

// ReasonReleased is the reason of the Normal Event the controller emits on an Offer when it
// returns what no task took of a released (deleted) offer to the pool (see also the metric
// agora_offers_released_total). It is never a condition: a released Offer is gone a moment after
// its release, so nobody could read one.
const ReasonReleased = "Released"

// Offer rescind reasons (condition Rescinded, and the Event the controller emits).
const (
	// ReasonExpired: the offer reached spec.expireTime with resources no task took.
	ReasonExpired = "Expired"
	// ReasonNodeLost: a node of the offer went NotReady, was deleted, or its executor stopped
	// renewing its Lease.
	ReasonNodeLost = "NodeLost"
	// ReasonCapacityChanged: what the node can give shrank under the offer: a pod of another
	// scheduler landed on it, its allocatable shrank, or pods of ended tasks still run there.
	ReasonCapacityChanged = "CapacityChanged"
	// ReasonNodeChanged: the node was cordoned, tainted, relabelled or left the controller's
	// --node-selector, so the framework may no longer use it.
	ReasonNodeChanged = "NodeChanged"
	// ReasonFrameworkInactive: the framework's Lease went stale or the framework is being deleted.
	ReasonFrameworkInactive = "FrameworkInactive"
	// ReasonFrameworkChanged: the framework's limits, nodeSelector, tolerations or capabilities
	// changed so that it may no longer hold (all of) the offer.
	ReasonFrameworkChanged = "FrameworkChanged"
	// ReasonFrameworkFailedOver: another instance of the framework took over its Lease; offers
	// made to the earlier instance are taken back (see spec.frameworkInstance).
	ReasonFrameworkFailedOver = "FrameworkFailedOver"
	// ReasonPreempted: the resources were taken back to raise a role to its guarantee (RoleQuota
	// spec.guarantee); the message names that role. The same word is the reason of a Task killed
	// for it (phase Killed, after its condition Preempted), and of the Events on both.
	ReasonPreempted = "Preempted"
)

// OfferNode is one node's slice of an offer.
type OfferNode struct {
	// nodeName is the Kubernetes Node the resources are on.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`

	// resources is the amount of the node offered, per resource name (cpu in cores or
	// millicores, memory in bytes, extended resources such as nvidia.com/gpu as counts).
	// Quantities must not be negative.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resources must not be negative"
	Resources corev1.ResourceList `json:"resources"`

	// revocable is true when the slice lends resources held back for another role's guarantee
	// (RoleQuota spec.guarantee) that the role does not use now; only frameworks with the
	// RevocableResources capability are offered such slices. Tasks launched on it are revocable
	// (status.revocable) and may be preempted (phase Killed, reason `Preempted`) to raise that role
	// to its guarantee. Default false: the resources are the framework's until it releases them.
	// +optional
	Revocable bool `json:"revocable,omitempty"`

	// attributes are the node labels that matter for placement (zone, instance type, hostname,
	// and labels the controller is told to pass on), so a framework can choose without reading
	// Nodes. At most 32.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Attributes map[string]string `json:"attributes,omitempty"`
}

// OfferSpec is what the controller offers one framework in one allocation cycle.
type OfferSpec struct {
	// framework is the name of the Framework, in this namespace, the offer is made to.
	// Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="framework is immutable"
	Framework string `json:"framework"`

	// nodes are the offered slices, one per node, at most 500. The controller may remove a node
	// when it rescinds that part of the offer.
	// +required
	// +listType=map
	// +listMapKey=nodeName
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=500
	Nodes []OfferNode `json:"nodes"`

	// expireTime is when what is still unused in the offer is rescinded (reason `Expired`). A
	// task created before it is admitted even when the controller gets to it later.
	// +required
	ExpireTime metav1.Time `json:"expireTime"`

	// frameworkInstance is the holderIdentity of the framework's Lease when the offer was made:
	// the instance the offer is for. A Task annotated scheduling.agora.dev/instance with another
	// value is rejected (InstanceFenced). Empty for a framework without a Lease.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	FrameworkInstance string `json:"frameworkInstance,omitempty"`
}

// OfferNodeRemaining is what is left of one node's slice.
type OfferNodeRemaining struct {
	// nodeName is the node.
	// +required
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`
	// resources is what no admitted task has taken yet.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// OfferStatus is what is left of an offer and why it ended.
type OfferStatus struct {
	// remaining is, per node, what no admitted task has taken yet.
	// +optional
	// +listType=map
	// +listMapKey=nodeName
	// +kubebuilder:validation:MaxItems=500
	Remaining []OfferNodeRemaining `json:"remaining,omitempty"`

	// admittedTasks is the number of Tasks admitted against this offer.
	// +optional
	AdmittedTasks int32 `json:"admittedTasks,omitempty"`

	// admitted is, per node, what admitted tasks took of the offer. The controller writes it
	// before it writes the tasks' admission, so a restarted controller restores exactly what
	// remains, even when those tasks have ended or been deleted since.
	// +optional
	// +listType=map
	// +listMapKey=nodeName
	// +kubebuilder:validation:MaxItems=500
	Admitted []OfferNodeRemaining `json:"admitted,omitempty"`

	// conditions: `Rescinded` (with the reason the controller took the offer back). A release
	// is told by an Event with reason `Released`: the Offer is gone right after it.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Offer holds resources on one or more nodes offered to one framework (a Mesos OFFERS batch).
// Written only by agora-controller. Accept it by creating Tasks that name it; release it by
// deleting it.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ofr,categories=agora
// +kubebuilder:selectablefield:JSONPath=`.spec.framework`
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.spec.framework`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodes[0].nodeName`,description="first node of the offer; kubectl get -o yaml lists all",priority=1
// +kubebuilder:printcolumn:name="Tasks",type=integer,JSONPath=`.status.admittedTasks`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expireTime`
// +kubebuilder:printcolumn:name="Rescinded",type=string,JSONPath=`.status.conditions[?(@.type=="Rescinded")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Offer struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what is offered.
	// +required
	Spec OfferSpec `json:"spec"`

	// status is what remains of it.
	// +optional
	Status OfferStatus `json:"status,omitempty"`
}

// OfferList is a list of Offers.
// +kubebuilder:object:root=true
type OfferList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Offers.
	Items []Offer `json:"items"`
}
