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
  - takes the framework's Lease over and renews it, so the controller treats the framework as
    active (Liveness in the architecture: a framework whose Lease goes stale gets no offers,
    and after spec.failoverTimeout its tasks are killed) and makes its offers to this instance,
  - watches only its own Offers (field selector spec.framework) and its own Tasks (label
    scheduling.agora.dev/framework) in its namespace,
  - calls the Scheduler back, one callback at a time, from a single goroutine: Registered once
    the caches are in sync, ResourceOffers for new offers, OfferRescinded when the controller
    takes an offer back, OfferNodesRescinded (optional, [OfferNodesRescinder]) when it takes
    some nodes out of one, StatusUpdate whenever a task's phase changes, Error for what goes
    wrong in the background,
  - and offers the framework's verbs: [Driver.Launch] (create tasks on offers, 16 creates in flight,
    each Task with agora-executor's finalizer already on so that the executor writes nothing to it
    before the pod; a task whose offer's lifetime, counted from its receipt, has run out by its
    turn is not created and comes back as a StatusUpdate in phase Error, reason OfferExpired, as
    the controller's rejection would ([ErrOfferExpired]); then release what they did not take), [Driver.Decline], [Driver.Kill], [Driver.Suppress], [Driver.Revive],
    [Driver.Reconcile] and [Driver.Teardown].

# Revocable resources

A framework that registers with the RevocableResources capability (Config.Spec.Capabilities)
may also be offered capacity that a RoleQuota guarantees to another role which does not use it
now: such an offer slice is revocable ([Revocable]). A task launched on it is revocable too
(status.revocable; its pod is labelled scheduling.agora.dev/revocable=true) and is killed when
that role wants its guarantee back: StatusUpdate delivers it as Killed with reason Preempted
([Preempted]). Run there only work that can be retried, and retry it without counting a failure.

# Restarts

All state is in the API server. When a framework process restarts, the new Driver re-reads the
framework's Tasks before it calls Registered ([Driver.Tasks] is complete inside Registered), and
then delivers a StatusUpdate for every task, terminal ones included, so a scheduler that rebuilds
its bookkeeping from StatusUpdate loses and duplicates nothing. Task names are the framework's
idempotency keys: [Driver.Launch] treats "already exists" as launched — unless the Task of that
name belongs to an earlier Framework of the same name (deleted and registered again, e.g. a job
run again under its name) and is still being deleted: then the task is not created and comes back
as a StatusUpdate in phase Error, reason NameInUse ([ErrNameInUse]); launch it under another
name.

# Failover

One instance of a framework runs at a time. Each Driver has an identity ([Config.Identity],
by default <hostname>_<pid>_<random>, new for every process start), which Run writes into the
framework's Lease as its holder, whoever held it before and however fresh: the newest instance
takes over, as a Mesos framework re-registering with its FrameworkID does (a rolling update, or
a restart while the old process still lives). The controller makes each Offer to the Lease's
holder of the moment (Offer spec.frameworkInstance) and rescinds the outstanding offers of the
previous holder (reason FrameworkFailedOver).

The previous instance notices at once through its watch of the Lease (at its next renewal at the
latest): from then on its verbs fail with [ErrSuperseded] without writing anything, the Error
callback hears of it, and Run returns it. Every Task the Driver creates carries the annotation
scheduling.agora.dev/instance with its identity, and the controller rejects (reason
InstanceFenced) a Task whose instance is not the one its offer was made to — which catches a
task the old instance created in the moment before it noticed. A Driver never delivers, lists or
launches on an offer made to another instance. The new instance needs nothing from the old one:
it reads the framework's tasks as any restarted framework does. A Driver without a Lease
(negative [Config.LeaseDuration]) takes part in none of this: nothing tells its instances apart.

# Callbacks and blocking

Callbacks may call the Driver's methods, which talk to the API server synchronously. While a
callback runs, further events queue (unbounded, in order). Do not block a callback on another
event arriving.

# Rights

A Driver uses, in its framework's namespace only: frameworks get/list/watch/create/update/patch
and delete (Teardown), offers get/list/watch/delete, tasks get/list/watch/create/delete, and
coordination.k8s.io leases get/list/watch/create/update (without list and watch a takeover is
noticed only at the next renewal). The Helm chart's ClusterRole agora-framework
(config/rbac/framework_role.yaml) grants these plus a little a framework may want beyond the
Driver (leases patch/delete, events create/patch); bind it with a RoleBinding in the
framework's namespace.
*/
package sdk
