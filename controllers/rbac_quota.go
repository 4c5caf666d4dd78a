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

// The controller's rights on RoleQuotas: it reads the quotas cluster admins write (cluster-scoped)
// and writes their status (what each role's subtree holds, Satisfied, Fits, preemptions). It never
// creates, changes or deletes a quota's spec. `make manifests` turns these markers into
// config/rbac/role.yaml; the agora-framework role grants nothing on RoleQuotas.
//
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=rolequotas,verbs=get;list;watch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=rolequotas/status,verbs=get;update;patch

package controllers
