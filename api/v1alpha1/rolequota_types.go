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

// RoleQuota condition types.
const (
	// RoleQuotaConditionSatisfied says whether the role's subtree holds its guarantee: True
	// (reason GuaranteeMet or NoGuarantee) or False (reason BelowGuarantee or Idle).
	RoleQuotaConditionSatisfied = "Satisfied"
	// RoleQuotaConditionFits says whether the guarantee can be met at all: True (reason Fits),
	// or False (reason GuaranteesExceedPool or GuaranteesExceedParent) when the guarantees
	// promise more than there is.
	RoleQuotaConditionFits = "Fits"
)

// RoleQuota condition reasons.
const (
	// ReasonGuaranteeMet (Satisfied=True): the subtree holds (tasks plus outstanding offers,
	// revocable resources not counted) at least spec.guarantee of every resource it names.
	ReasonGuaranteeMet = "GuaranteeMet"
	// ReasonNoGuarantee (Satisfied=True): spec.guarantee is unset or empty; the role has only a
	// weight and perhaps a limit.
	ReasonNoGuarantee = "NoGuarantee"
	// ReasonBelowGuarantee (Satisfied=False): frameworks of the subtree want offers and it holds
	// less than spec.guarantee. The controller offers it what frees up first, and preempts
	// revocable tasks of other roles to raise it; the message names the resources that fall short.
	ReasonBelowGuarantee = "BelowGuarantee"
	// ReasonIdle (Satisfied=False): the subtree holds less than spec.guarantee, but no framework
	// of it wants offers (none, all suppressed or inactive). The part held back for it is lent to
	// frameworks of other roles with the RevocableResources capability, as revocable resources,
	// until it wants them again.
	ReasonIdle = "Idle"
	// ReasonFits (Fits=True): the pool can hold every top-level role's guarantee at once, and
	// this role's children together are guaranteed no more than the role itself.
	ReasonFits = "Fits"
	// ReasonGuaranteesExceedPool (Fits=False): the guarantees of the top-level roles together
	// exceed the pool's capacity, so some of them cannot be met; the message names the resource
	// and both amounts. Lower a guarantee or add nodes.
	ReasonGuaranteesExceedPool = "GuaranteesExceedPool"
	// ReasonGuaranteesExceedParent (Fits=False): the guarantees of this role's children
	// together exceed this role's own guarantee, which bounds what its subtree is guaranteed;
	// the message names the resource and both amounts. Lower a child's guarantee or raise this
	// one.
	ReasonGuaranteesExceedParent = "GuaranteesExceedParent"
)

// RoleQuotaSpec is what a cluster admin promises and allows a role of the role tree.
// +kubebuilder:validation:XValidation:rule="!has(self.guarantee) || !has(self.limit) || self.guarantee.all(k, !(k in self.limit) || quantity(string(self.guarantee[k])).compareTo(quantity(string(self.limit[k]))) <= 0)",message="guarantee must not exceed limit for any resource named in both: a role is never offered past its limit, so it could never reach such a guarantee"
type RoleQuotaSpec struct {
	// role is the role whose subtree the quota covers: a `/`-separated path such as `eng/ml`, in
	// the syntax of Framework spec.role. It covers the frameworks of that role and of every role
	// below it (`eng/ml/train`, ...). The object's name must be the role with each `/` replaced
	// by `.` (`eng.ml`), which makes the role immutable and keeps one RoleQuota per role. Hence a
	// role with `_` in it cannot have a RoleQuota (object names allow no `_`), and the roles
	// `eng.ml` and `eng/ml` would share the name `eng.ml`: only one of them can have one.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?)*$`
	Role string `json:"role"`

	// guarantee is what the role's subtree is offered first, per resource name (e.g.
	// `cpu: "32"`): the allocator fills every role up to its guarantee before weighted DRF shares
	// out the rest, and preempts revocable tasks to do so. While the subtree's frameworks want less,
	// the rest of the guarantee is lent to other roles as revocable resources. Quantities must not
	// be negative. Unset means no guarantee, only the weight.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="guarantee must not be negative"
	Guarantee corev1.ResourceList `json:"guarantee,omitempty"`

	// limit caps what the role's subtree holds at once (resources of its non-terminal tasks plus
	// its outstanding offers, revocable ones included), per resource name. Quantities must not be
	// negative. Unset means no cap beyond fairness.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="limit must not be negative"
	Limit corev1.ResourceList `json:"limit,omitempty"`

	// weight is the role's weight among its sibling roles in weighted DRF (Mesos role
	// weights): the role's dominant share is divided by it, so a role of weight 2 converges to
	// twice the share of a sibling of weight 1. A decimal quantity greater than 0. Default `1`, which is
	// also the weight of a role without a RoleQuota.
	// +optional
	// +kubebuilder:default="1"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))",message="weight must be greater than 0"
	Weight *resource.Quantity `json:"weight,omitempty"`
}

// RoleQuotaStatus is what the controller observes of a role's subtree.
type RoleQuotaStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: `Satisfied` (the subtree holds its guarantee) and `Fits` (the guarantee can
	// be met), each with a reason.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// allocated is what the non-terminal tasks of the subtree's frameworks hold on
	// non-revocable resources.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Allocated corev1.ResourceList `json:"allocated,omitempty"`

	// offered is what the subtree's outstanding non-revocable offers hold that no task took yet.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Offered corev1.ResourceList `json:"offered,omitempty"`

	// revocable is what the subtree holds on revocable resources (lent from other roles'
	// guarantees), tasks and outstanding offers together. It may be taken back at any time.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Revocable corev1.ResourceList `json:"revocable,omitempty"`

	// preemptions is the number of tasks preempted so far to raise this role's subtree to its
	// guarantee (tasks of other roles, killed with reason `Preempted`).
	// +optional
	Preemptions int64 `json:"preemptions,omitempty"`
}

// RoleQuota sets a guarantee, a limit and a weight for one role of the role tree and its
// subtree (Mesos quota and role weights). Cluster-scoped and written by cluster admins: roles
// span namespaces. Its name is the role with each `/` replaced by `.`. A role without a
// RoleQuota has weight 1, no guarantee and no limit.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rq,categories=agora
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.role.replace('/', '.')",message="metadata.name must be the role with '/' replaced by '.', e.g. eng.ml for role eng/ml: one RoleQuota per role",messageExpression="'metadata.name must be ' + self.spec.role.replace('/', '.') + ', the role ' + self.spec.role + ' with each / replaced by .: one RoleQuota per role'"
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="CPU-Guarantee",type=string,JSONPath=`.spec.guarantee.cpu`
// +kubebuilder:printcolumn:name="CPU-Limit",type=string,JSONPath=`.spec.limit.cpu`
// +kubebuilder:printcolumn:name="CPU-Allocated",type=string,JSONPath=`.status.allocated.cpu`
// +kubebuilder:printcolumn:name="CPU-Revocable",type=string,JSONPath=`.status.revocable.cpu`
// +kubebuilder:printcolumn:name="Memory-Guarantee",type=string,JSONPath=`.spec.guarantee.memory`,priority=1
// +kubebuilder:printcolumn:name="Memory-Limit",type=string,JSONPath=`.spec.limit.memory`,priority=1
// +kubebuilder:printcolumn:name="Memory-Allocated",type=string,JSONPath=`.status.allocated.memory`,priority=1
// +kubebuilder:printcolumn:name="Memory-Revocable",type=string,JSONPath=`.status.revocable.memory`,priority=1
// +kubebuilder:printcolumn:name="Satisfied",type=string,JSONPath=`.status.conditions[?(@.type=="Satisfied")].status`
// +kubebuilder:printcolumn:name="Fits",type=string,JSONPath=`.status.conditions[?(@.type=="Fits")].status`,priority=1
// +kubebuilder:printcolumn:name="Preemptions",type=integer,JSONPath=`.status.preemptions`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoleQuota struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata. name must be spec.role with each `/` replaced
	// by `.`.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the role's guarantee, limit and weight.
	// +required
	Spec RoleQuotaSpec `json:"spec"`

	// status is what the role's subtree holds, and whether its guarantee is met.
	// +optional
	Status RoleQuotaStatus `json:"status,omitempty"`
}

// RoleQuotaList is a list of RoleQuotas.
// +kubebuilder:object:root=true
type RoleQuotaList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the RoleQuotas.
	Items []RoleQuota `json:"items"`
}
