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

// Package v1alpha1 holds the scheduling.agora.dev/v1alpha1 API: Framework, Offer, Task and
// RoleQuota.
//
// The three kinds carry Mesos's two-level offer protocol over the Kubernetes API. A Framework
// subscribes for offers; agora-controller writes Offers in the framework's namespace, sized by
// weighted Dominant Resource Fairness; the framework accepts by creating Tasks that name an offer
// and one of its nodes, and releases the rest by deleting the Offer. agora-executor turns admitted
// Tasks into Pods bound to their node. A cluster admin's RoleQuota gives a role of the role tree a
// guarantee, a limit and a weight; guaranteed capacity its role leaves idle is lent to frameworks
// with the RevocableResources capability as revocable offers, whose tasks may be preempted.
//
// +kubebuilder:object:generate=true
// +groupName=scheduling.agora.dev
// +k8s:deepcopy-gen=package
package v1alpha1
