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
// into config/rbac/role.yaml, from which the Helm chart's ClusterRole is built.
//
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks/finalizers,verbs=update
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=offers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=offers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=offers/finalizers,verbs=update
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch
package controllers
