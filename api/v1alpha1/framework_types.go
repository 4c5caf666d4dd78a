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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FrameworkCapability is a feature a framework opts into, as Mesos framework capabilities do.
// +kubebuilder:validation:Enum=GPUResources;RevocableResources
type FrameworkCapability string

const (
	// CapabilityGPUResources lets a framework receive offers on nodes that have GPUs. Without it
	// a framework is never offered a GPU node, so that GPU nodes are not filled by CPU-only work
	// (Mesos GPU_RESOURCES).
	CapabilityGPUResources FrameworkCapability = "GPUResources"
	// CapabilityRevocableResources lets a framework be offered revocable resources (Mesos
	// REVOCABLE_RESOURCES): capacity held back for another role's guarantee (RoleQuota
	// spec.guarantee) while that role does not use it. Such offers carry revocable: true on their
	// node slices, and tasks launched on them may be taken back at any time: they are killed
	// (reason Preempted) when that role wants its guarantee again. Without it a framework is
	// offered only non-revocable resources.
	CapabilityRevocableResources FrameworkCapability = "RevocableResources"
)

// DefaultRole is the role of a Framework that names none.
const DefaultRole = "default"

// FrameworkFinalizer is held by agora-controller on every Framework so that deleting it
// (TEARDOWN) first rescinds its offers and kills its tasks; the controller removes it once no
// Offer and no Task of the framework is left.
const FrameworkFinalizer = "scheduling.agora.dev/framework"

// Framework condition types.
const (
	// FrameworkConditionActive is True while the framework is live: it has no Lease (a person
	// with kubectl), or its Lease is fresh. False once the Lease is stale or the Framework is
	// being deleted; offers are then rescinded and no new ones are made.
	FrameworkConditionActive = "Active"
	// FrameworkConditionReady is True while the framework receives offers (it was offered
	// something in the last allocation cycle, or holds outstanding offers); False with a
	// reason saying why it gets none (suppressed, inactive, invalid, at its limits, no pool
	// node it may use, every such node declined or full, or frameworks with lower shares
	// first) and a message a person can act on. status.why has the detail.
	FrameworkConditionReady = "Ready"
)

// Framework condition reasons.
const (
	// ReasonNoLease (Active=True): the framework never created a Lease, so it is always live.
	ReasonNoLease = "NoLease"
	// ReasonLeaseRenewed (Active=True): the framework's Lease is fresh.
	ReasonLeaseRenewed = "LeaseRenewed"
	// ReasonLeaseExpired (Active=False): the Lease was not renewed within its duration; the
	// framework's offers are rescinded and its tasks are killed after failoverTimeout.
	ReasonLeaseExpired = "LeaseExpired"
	// ReasonFailoverTimeoutExceeded (Active=False): the Lease stayed stale past failoverTimeout
	// and the framework's tasks were killed.
	ReasonFailoverTimeoutExceeded = "FailoverTimeoutExceeded"
	// ReasonTearingDown (Active=False): the Framework is being deleted (TEARDOWN).
	ReasonTearingDown = "TearingDown"
	// ReasonReceivingOffers (Ready=True): the framework is in the allocator and eligible for offers.
	ReasonReceivingOffers = "ReceivingOffers"
	// ReasonSuppressed (Ready=False): spec.suppressOffers is true.
	ReasonSuppressed = "Suppressed"
	// ReasonInactive (Ready=False): the framework is not Active.
	ReasonInactive = "Inactive"
	// ReasonInvalid (Ready=False): the allocator rejected the spec; the message says why.
	ReasonInvalid = "Invalid"
	// ReasonAtLimit (Ready=False): what the framework holds leaves less than the minimum
	// allocatable amount under spec.limits.
	ReasonAtLimit = "AtLimit"
	// ReasonNoMatchingNodes (Ready=False): no node in the pool passes the framework's
	// nodeSelector, tolerations and capabilities.
	ReasonNoMatchingNodes = "NoMatchingNodes"
	// ReasonDeclined (Ready=False): every pool node the framework may use is under one of its
	// decline filters (spec.refuseDuration); REVIVE (spec.revivedAt) clears them.
	ReasonDeclined = "Declined"
	// ReasonPoolFull (Ready=False): every pool node the framework may use (and has not
	// declined) is fully held by tasks, offers or other schedulers' pods, or out of pod slots.
	ReasonPoolFull = "PoolFull"
	// ReasonBelowMinAllocatable (Ready=False): what is free on the nodes the framework may use
	// is below the controller's --min-allocatable.
	ReasonBelowMinAllocatable = "BelowMinAllocatable"
	// ReasonWaitingForShare (Ready=False): what is free on the pool nodes the framework may use
	// is offered to frameworks that came before it in weighted DRF order (lower shares).
	ReasonWaitingForShare = "WaitingForShare"
	// ReasonAtRoleLimit (Ready=False): a RoleQuota limit of a role the framework lies under is
	// reached: the role's subtree holds (tasks and offers) all that its spec.limit allows.
	ReasonAtRoleLimit = "AtRoleLimit"
	// ReasonHeldForGuarantees (Ready=False): what is free is held back for roles below their
	// RoleQuota guarantees; the framework would get it only as revocable resources, and it
	// lacks the RevocableResources capability.
	ReasonHeldForGuarantees = "HeldForGuarantees"
)

// WhyNodeCause is the first thing that keeps a pool node from a framework.
// +kubebuilder:validation:Enum=NodeSelector;Taints;GPU;Declined;PodsFull;Offered;Full;BelowMinAllocatable;Available
type WhyNodeCause string

// Node causes, in the order they are checked.
const (
	// WhyNodeSelector: the node's labels do not match spec.nodeSelector.
	WhyNodeSelector WhyNodeCause = "NodeSelector"
	// WhyNodeTaints: the node has a NoSchedule or NoExecute taint spec.tolerations lack.
	WhyNodeTaints WhyNodeCause = "Taints"
	// WhyNodeGPU: the node has GPUs and spec.capabilities lacks GPUResources.
	WhyNodeGPU WhyNodeCause = "GPU"
	// WhyNodeDeclined: a decline filter of the framework is live on the node.
	WhyNodeDeclined WhyNodeCause = "Declined"
	// WhyNodePodsFull: the node has no pod slot left.
	WhyNodePodsFull WhyNodeCause = "PodsFull"
	// WhyNodeOffered: what is free is in outstanding offers to other frameworks.
	WhyNodeOffered WhyNodeCause = "Offered"
	// WhyNodeFull: nothing is free of CPU or memory: tasks and other schedulers' pods hold it.
	WhyNodeFull WhyNodeCause = "Full"
	// WhyNodeBelowMinAllocatable: something is free, less than --min-allocatable.
	WhyNodeBelowMinAllocatable WhyNodeCause = "BelowMinAllocatable"
	// WhyNodeAvailable: the node has room the framework may be offered.
	WhyNodeAvailable WhyNodeCause = "Available"
)

// FrameworkSpec is what a framework asks of Agora (Mesos SUBSCRIBE).
// +kubebuilder:validation:XValidation:rule="!has(self.revivedAt) || !has(oldSelf.revivedAt) || self.revivedAt >= oldSelf.revivedAt",message="revivedAt may only move forward"
type FrameworkSpec struct {
	// role is the framework's place in the role tree, a `/`-separated path such as
	// `analytics/batch`. Dominant Resource Fairness is applied between sibling roles first, then
	// between the frameworks inside a role (hierarchical DRF). Default `default`.
	// +optional
	// +kubebuilder:default=default
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?)*$`
	Role string `json:"role,omitempty"`

	// weight scales the framework's fair share: its dominant share is divided by the weight, so a
	// framework of weight 2 converges to twice the share of a framework of weight 1. A decimal
	// quantity greater than 0. Default `1`.
	// +optional
	// +kubebuilder:default="1"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))",message="weight must be greater than 0"
	Weight *resource.Quantity `json:"weight,omitempty"`

	// suppressOffers is SUPPRESS: while true the framework gets no new offers. Its outstanding
	// offers are rescinded with reason `Suppressed`; its tasks keep running. Default false.
	// +optional
	SuppressOffers bool `json:"suppressOffers,omitempty"`

	// revivedAt is REVIVE: setting it to a time newer than the last value the controller saw
	// clears every decline filter of the framework at once, so released nodes are offered again
	// without waiting for refuseDuration. It may only move forward.
	// +optional
	RevivedAt *metav1.Time `json:"revivedAt,omitempty"`

	// offerTimeout is how long an offer stays open: resources in it that no task took are
	// rescinded this long after the offer was made (reason `Expired`), so a framework cannot hoard
	// them. A duration such as `60s`; non-negative. Unset or `0s` means the controller's
	// `--offer-timeout` (default 60s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="offerTimeout must not be negative"
	OfferTimeout *metav1.Duration `json:"offerTimeout,omitempty"`

	// refuseDuration is the decline filter: after the framework releases an offer, the nodes it
	// did not use are not offered to it again for this long (unless it revives). A duration such
	// as `5s`; non-negative. Default `5s`.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="refuseDuration must not be negative"
	RefuseDuration *metav1.Duration `json:"refuseDuration,omitempty"`

	// failoverTimeout is how long the framework may stay inactive (its Lease stale) before its
	// tasks are killed. A duration; non-negative. Unset means its tasks are never killed for
	// inactivity.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="failoverTimeout must not be negative"
	FailoverTimeout *metav1.Duration `json:"failoverTimeout,omitempty"`

	// nodeSelector is a whitelist: only nodes whose labels match it are offered to the
	// framework. Unset means every node in the pool.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="nodeSelector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="nodeSelector.matchExpressions: In and NotIn need values; Exists and DoesNotExist take none"
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// tolerations let the framework be offered nodes with matching taints (Kubernetes toleration
	// semantics; effects NoSchedule and NoExecute keep a node from untolerating frameworks). At
	// most 32.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.operator) || t.operator in ['', 'Exists', 'Equal'])",message="tolerations: operator must be Exists or Equal"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.effect) || t.effect in ['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="tolerations: effect must be NoSchedule, PreferNoSchedule or NoExecute (or empty for all)"
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// capabilities are features the framework opts into. `GPUResources`: the framework may be
	// offered nodes that have GPUs; without it, GPU nodes are never offered to it.
	// `RevocableResources`: the framework may also be offered revocable resources (other roles'
	// idle guarantees), whose tasks may be preempted; without it, it is offered none. At most 8.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	Capabilities []FrameworkCapability `json:"capabilities,omitempty"`

	// limits caps what the framework holds at once (resources of its non-terminal tasks plus
	// its outstanding offers), per resource name, e.g. `cpu: "16"`. Quantities must not be
	// negative. Unset means no cap beyond fairness.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="limits must not be negative"
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// TaskCounts counts a framework's tasks by phase.
type TaskCounts struct {
	// active is the number of tasks holding resources: Staging, Starting, Running and
	// Unreachable.
	// +optional
	Active int32 `json:"active"`
	// staging is the number of admitted tasks the executor has not started yet.
	// +optional
	Staging int32 `json:"staging,omitempty"`
	// starting is the number of tasks whose pod is created but not running yet.
	// +optional
	Starting int32 `json:"starting,omitempty"`
	// running is the number of tasks whose pod runs.
	// +optional
	Running int32 `json:"running,omitempty"`
	// unreachable is the number of tasks whose node's executor is silent while the node is
	// Ready; they still hold their resources.
	// +optional
	Unreachable int32 `json:"unreachable,omitempty"`
	// finished is the number of tasks that exited 0.
	// +optional
	Finished int32 `json:"finished,omitempty"`
	// failed is the number of tasks that exited non-zero or whose pod failed.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// killed is the number of tasks killed by deletion.
	// +optional
	Killed int32 `json:"killed,omitempty"`
	// lost is the number of tasks lost with their node or pod.
	// +optional
	Lost int32 `json:"lost,omitempty"`
	// error is the number of tasks rejected at admission.
	// +optional
	Error int32 `json:"error,omitempty"`
}

// FrameworkStatus is what the controller observes of a framework.
type FrameworkStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: `Active` (the framework is live) and `Ready` (it can receive offers), each
	// with a reason.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// dominantShare is the framework's weighted dominant share of the pool as a decimal string
	// with four places, e.g. `"0.6667"`: the largest fraction of any one resource it holds
	// (tasks plus offers), divided by its weight.
	// +optional
	DominantShare string `json:"dominantShare,omitempty"`

	// dominantResource is the resource name that gives dominantShare, e.g. `cpu`.
	// +optional
	DominantResource corev1.ResourceName `json:"dominantResource,omitempty"`

	// allocated is what the framework's non-terminal tasks hold.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty"`

	// offered is what the framework's outstanding offers hold that no task took yet.
	// +optional
	Offered corev1.ResourceList `json:"offered,omitempty"`

	// outstandingOffers is the number of the framework's Offers that are open.
	// +optional
	OutstandingOffers int32 `json:"outstandingOffers,omitempty"`

	// tasks counts the framework's tasks by phase.
	// +optional
	Tasks TaskCounts `json:"tasks,omitempty"`

	// observedRevivedAt is the last spec.revivedAt the controller acted on.
	// +optional
	ObservedRevivedAt *metav1.Time `json:"observedRevivedAt,omitempty"`

	// why is the detail behind Ready=False: how the pool's nodes stand for this framework.
	// Unset while the framework receives offers.
	// +optional
	Why *FrameworkWhy `json:"why,omitempty"`
}

// FrameworkWhy says why a framework gets no offers: what the last allocation cycle found of
// it, and how the pool's nodes stand for it. It is counted again when that changes, and at
// least every 30 seconds while the framework is not Ready.
type FrameworkWhy struct {
	// reason is the Ready condition's reason it details.
	// +required
	Reason string `json:"reason"`
	// poolNodes is the number of nodes in the pool.
	// +optional
	PoolNodes int32 `json:"poolNodes,omitempty"`
	// nodes counts the pool nodes by the first cause that keeps each from the framework;
	// causes with no node are left out.
	// +optional
	// +listType=map
	// +listMapKey=cause
	// +kubebuilder:validation:MaxItems=9
	Nodes []WhyNodeCount `json:"nodes,omitempty"`
	// outOfPoolNodes counts the nodes outside the pool (not Ready, cordoned, without a live
	// executor, or outside the controller's --node-selector) that the framework's placement
	// would match.
	// +optional
	OutOfPoolNodes int32 `json:"outOfPoolNodes,omitempty"`
	// declinedUntil is when the first of the framework's decline filters on a pool node
	// expires.
	// +optional
	DeclinedUntil *metav1.Time `json:"declinedUntil,omitempty"`
	// ahead are the frameworks whose outstanding offers hold what is free on pool nodes it may
	// use, lowest share first.
	// +optional
	// +kubebuilder:validation:MaxItems=3
	Ahead []FrameworkShareRef `json:"ahead,omitempty"`
	// holders are the frameworks whose tasks hold the most of the pool nodes it may use that
	// have no room, most first.
	// +optional
	// +kubebuilder:validation:MaxItems=3
	Holders []FrameworkShareRef `json:"holders,omitempty"`
	// foreignPods is what other schedulers' pods hold on those nodes.
	// +optional
	ForeignPods corev1.ResourceList `json:"foreignPods,omitempty"`
}

// WhyNodeCount is a number of pool nodes kept from a framework by one cause.
type WhyNodeCount struct {
	// cause is what keeps the nodes from the framework.
	// +required
	Cause WhyNodeCause `json:"cause"`
	// count is the number of nodes.
	// +required
	Count int32 `json:"count"`
}

// FrameworkShareRef names a framework and its weighted dominant share.
type FrameworkShareRef struct {
	// name is the framework, as namespace/name.
	// +required
	// +kubebuilder:validation:MaxLength=317
	Name string `json:"name"`
	// dominantShare is its weighted dominant share, a decimal string with four places.
	// +required
	// +kubebuilder:validation:MaxLength=16
	DominantShare string `json:"dominantShare"`
}

// Framework is a scheduler that wants resource offers (Mesos SUBSCRIBE). Deleting it is
// TEARDOWN: its offers are rescinded and its tasks killed.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fw,categories=agora
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="a Framework's name must be at most 63 characters: it is the value of the scheduling.agora.dev/framework label on its Offers, Tasks and Pods"
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="Share",type=string,JSONPath=`.status.dominantShare`
// +kubebuilder:printcolumn:name="Dominant",type=string,JSONPath=`.status.dominantResource`,priority=1
// +kubebuilder:printcolumn:name="Tasks",type=integer,JSONPath=`.status.tasks.active`
// +kubebuilder:printcolumn:name="Offers",type=integer,JSONPath=`.status.outstandingOffers`,priority=1
// +kubebuilder:printcolumn:name="Suppressed",type=boolean,JSONPath=`.spec.suppressOffers`,priority=1
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Framework struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the framework asks for.
	// +optional
	Spec FrameworkSpec `json:"spec,omitempty"`

	// status is what the controller observes.
	// +optional
	Status FrameworkStatus `json:"status,omitempty"`
}

// FrameworkList is a list of Frameworks.
// +kubebuilder:object:root=true
type FrameworkList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Frameworks.
	Items []Framework `json:"items"`
}
