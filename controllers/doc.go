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

// Package controllers holds agora-controller's reconcilers (Framework, Offer, Task) and the
// allocation loop that turns pkg/allocator's decisions into Offer objects.
//
// The RBAC markers below are the controller's whole set of rights; `make manifests` turns them
// into config/rbac/role.yaml, from which the Helm chart's ClusterRole is built. Why each:
// Frameworks are patched only for their finalizer (frameworks/finalizers: Offers name their
// Framework as owner with blockOwnerDeletion); Offers are created, patched (finalizer, a
// rescinded node leaving spec.nodes) and deleted (rescind); Tasks are deleted (kill on
// failoverTimeout and TEARDOWN), their status written (admission, Lost), and patched only to
// drop agora-executor's finalizer from a terminal Task whose node is lost for good (its executor
// is gone, nobody else would); nodes and foreign
// pods are read; Leases are read (executors, frameworks) and the leader-election Lease
// written; Events come from the events.k8s.io recorder and from leader election (core/v1).
// Frameworks, Nodes and other namespaces' Leases are read from informers only (list and watch;
// no get), and no status is read through its subresource: the kube-apiserver audit log of the
// chaos suite, run with exactly these rights, shows no such request (docs/install.md, "RBAC of
// the components").
//
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks,verbs=list;watch;patch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks/status,verbs=update
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks/finalizers,verbs=update
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=offers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=offers/status,verbs=update;patch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks/status,verbs=update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=agora-system,resources=leases,verbs=get;create;update
package controllers
