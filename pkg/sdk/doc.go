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

/*
Package sdk is the Go library for writing an Agora framework: a program that receives resource
offers from agora-controller and decides which to accept and what to run on them (the second
level of Mesos's two-level scheduling).

A framework implements [Scheduler] and hands it to a [Driver]. The Driver

  - creates the Framework object (or updates its spec to the one given) and keeps it,
  - renews the framework's Lease so the controller treats the framework as active (Liveness in
    the architecture: a framework whose Lease goes stale gets no offers, and after
    spec.failoverTimeout its tasks are killed),
  - watches only its own Offers (field selector spec.framework) and its own Tasks (label
    scheduling.agora.dev/framework) in its namespace,
  - calls the Scheduler back, one callback at a time, from a single goroutine: Registered once
    the caches are in sync, ResourceOffers for new offers, OfferRescinded when the controller
    takes an offer back, StatusUpdate whenever a task's phase changes, Error for what goes wrong
    in the background,
  - and offers the framework's verbs: [Driver.Launch] (create tasks on offers, then release what
    they did not take), [Driver.Decline], [Driver.Kill], [Driver.Suppress], [Driver.Revive],
    [Driver.Reconcile] and [Driver.Teardown].

# Restarts

All state is in the API server. When a framework process restarts, the new Driver re-reads the
framework's Tasks before it calls Registered ([Driver.Tasks] is complete inside Registered), and
then delivers a StatusUpdate for every task, terminal ones included, so a scheduler that rebuilds
its bookkeeping from StatusUpdate loses and duplicates nothing. Task names are the framework's
idempotency keys: [Driver.Launch] treats "already exists" as launched.

# Callbacks and blocking

Callbacks may call the Driver's methods, which talk to the API server synchronously. While a
callback runs, further events queue (unbounded, in order). Do not block a callback on another
event arriving.

# Rights

A Driver uses, in its framework's namespace only: frameworks get/list/watch/create/update/patch
and delete (Teardown), offers get/list/watch/delete, tasks get/list/watch/create/delete, and
coordination.k8s.io leases get/create/update. The Helm chart's ClusterRole agora-framework
(config/rbac/framework_role.yaml) grants these plus a little a framework may want beyond the
Driver (leases list/watch/patch/delete, events create/patch); bind it with a RoleBinding in the
framework's namespace.
*/
package sdk
