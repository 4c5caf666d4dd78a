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

// Package executor is agora-executor, Agora's node agent (the Mesos agent and executor in one):
// it turns the Tasks the controller admitted onto a node into Pods bound to that node, reports
// what the Pods do in the Tasks' status, and stops them when their Task is deleted.
//
// # What it does, per node
//
//   - Registers the node by renewing the Lease executor-<node> in agora-system (every 30s, 90s
//     duration); the controller offers a node only while that Lease is fresh.
//   - Watches the Tasks whose spec.nodeName is the node (a field selector, which the Task CRD
//     allows through selectableFields) in all namespaces, and the Pods on the node that carry
//     the scheduling.agora.dev/task label. Nothing else is cached.
//   - Acts on a Task once the controller admitted it (phase Staging). Phase "" (undecided) and
//     Error (rejected) are left alone.
//   - Runs it as a Pod built by BuildPod: the Task's name and namespace, spec.nodeName preset,
//     restartPolicy Never, resources fitted into spec.resources (requests = limits; Guaranteed
//     when the template says nothing; more than the Task has is phase Error, reason
//     InvalidTemplate), owner reference to the Task, labels naming task and framework, and the
//     executor's pod finalizer (agorav1alpha1.PodFinalizer, below).
//   - Mirrors the Pod into the status: Starting (pod created but not running after
//     --starting-delay, 2s by default; a pod that runs sooner goes from Staging straight to
//     Running, one write fewer), Running (status.podUID is recorded with the first of these), Finished (exit 0), Failed (exit code and the container's or kubelet's reason:
//     OOMKilled, an image that cannot be pulled, OutOfcpu...), Lost with reason PodDeleted when
//     someone else deletes the pod, Lost with reason PodNotFound when the pod left the API past
//     the pod finalizer, and Failed with reason PodRejected, quoting the API server, when the pod
//     cannot be created (Pod Security admission, validation, quota). A status is written only
//     when it changes.
//   - Puts a task the controller marked Unreachable (its Lease was stale) back where its pod
//     says: Starting, Running, Finished, Failed; one that never got a pod is launched.
//
// # Who writes what
//
// The controller writes a Task's admission (phase Staging or Error, status.framework, the
// Admitted condition), Unreachable when the node's executor Lease is stale, and Lost when a node
// is lost. The executor writes every later phase (Starting, Running, Finished, Failed, Killed,
// Lost/PodDeleted, Lost/PodNotFound, and Error/InvalidTemplate for a template the controller let
// through), moves Unreachable back, and never writes over a terminal phase. All writes use
// the Task's resourceVersion, so a concurrent write by the controller makes the executor re-read,
// never overwrite.
//
// # The Task finalizer (scheduling.agora.dev/task on the Task)
//
// The executor makes sure a Staging task holds TaskFinalizer before it creates the pod, and
// removes it once the task is terminal and the pod no longer runs. The Go SDK creates every Task
// with the finalizer already on, so that the executor has nothing to write before the pod
// create; for a Task created without it (kubectl), the executor adds it. The controller removes
// it from a task it rejects (Error) and from a task deleted before admission: neither ever gets
// a pod. So:
//
//   - Kill = delete the Task. The executor deletes the pod with the template's
//     terminationGracePeriodSeconds, waits until the pod stopped, writes Killed (reason
//     TaskKilled; Preempted when the controller marked the task with condition Preempted before
//     deleting it; FrameworkTeardown / FailoverTimeout when the framework is gone or timed out),
//     releases the pod, then removes the finalizer and the Task disappears. A Task that got its finalizer but no pod
//     yet is Killed at once.
//   - A Task created without the finalizer and deleted before the executor ever saw it has no
//     pod: it goes at once, which is the immediate kill of a task that never started. The
//     executor's finalizer write then fails (the Task is gone or being deleted), so no pod is
//     ever created for it. One created with the finalizer (the SDK's) is Killed by the executor
//     when it sees the delete (no pod: at once), or let go by the controller if it was never
//     admitted; its kill waits for the node's executor like that of a running task, and a node
//     that is lost frees it (the controller removes the finalizer of a lost node's tasks).
//   - The controller takes part in kills only for tasks it never admitted.
//   - Terminal tasks carry no finalizer, so deleting a finished task needs no executor; its
//     leftover pod is deleted by garbage collection (owner reference) or, where no
//     kube-controller-manager runs (the local cluster), by the executor when it sees a pod whose
//     Task is gone.
//
// # The pod finalizer (scheduling.agora.dev/task on the Pod): a task never runs twice
//
// Every pod the executor creates carries PodFinalizer, and the executor removes it ("releases"
// the pod) only once the pod's end is recorded in its Task (a terminal phase, written first) or
// the Task is gone:
//
//   - a task's pod that is not done is released once the task is terminal and the pod is
//     terminating (the executor stops the pod of a terminal task first);
//   - a pod that someone else deletes (a person, an eviction, pod garbage collection, a
//     namespace going away) stays in the API, terminating, until the executor has written Lost
//     (PodDeleted), or Finished/Failed if it had ended; then it is released and goes;
//   - an ended pod is released when its end is written (it stays, for its logs, until its Task
//     is deleted);
//   - an orphan (its Task gone) is released and deleted.
//
// So the pod of a task that is not terminal cannot leave the API unseen, and a Staging task
// whose pod create does not meet AlreadyExists never had a pod (or the executor recorded its end,
// and then it is not Staging): launching it is safe after any crash. A pod that exists is
// adopted; once status.podUID is recorded (with the first status write, no extra write) only that
// pod is ever mirrored or adopted, and any other pod claiming the task is released and deleted.
// The one way around the finalizer is removing it by hand (or a pod made by an executor older
// than it): a Starting, Running or Unreachable task whose pod is then missing from the API is
// Lost with reason PodNotFound and is not run again. A live pod found without the finalizer is
// held again when it is mirrored.
//
// Nothing is left hanging on uninstall or namespace deletion while the executor runs: it
// releases every pod that is terminating once its task's end is written or its Task is gone.
// With no executor serving the node (uninstalled, or the node gone), the finalizer stays until
// someone removes it, like the Task finalizer.
//
// # Restarts
//
// All state is in the API server. On start, each node's Task and Pod caches are filled before
// any event handler runs, so every task is looked at once with both caches complete: existing
// pods are adopted and mirrored (a pod deleted meanwhile is still there, terminating, and its
// end is recorded); tasks still Staging or Unreachable without a pod are launched; tasks deleted
// meanwhile are killed. The pod name is the Task's name, so two pods of one task cannot exist at
// once (AlreadyExists makes the executor adopt the pod if it is the task's), and the pod
// finalizer makes sure one cannot follow another.
//
// # Simulation mode
//
// With no node name, one process serves every Node matching a label selector (default
// type=kwok, the kwok nodes of hack/local-cluster.sh), each exactly as a DaemonSet pod would:
// its own Lease, its own field-selected Task and Pod watches. The workers and API clients are
// shared.
//
// # Why client-go informers and not a controller-runtime manager
//
// The executor's caches are per node: one Task watch and one Pod watch with a spec.nodeName
// field selector each, for a set of nodes that changes at run time in simulation mode. A
// controller-runtime manager has one cache per object kind with one selector and is built
// around leader election and a static set of controllers, which the executor does not need
// (every node's agent is independent; there is nothing to elect). Plain informer factories,
// one pair per node, a shared rate-limited work queue and a small sync function are all it
// takes, with the generated clientset, informers and listers of pkg/client.
//
// # RBAC (least privilege; role agora-executor)
//
// Read Tasks and patch them (the finalizer only), update Task status; read
// Frameworks (only to name the reason of a kill); read, create and delete Pods, and patch them
// (a JSON patch removing the pod finalizer, nothing else); list and watch Nodes (simulation
// mode); record Events; manage Leases in agora-system only.
//
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks/status,verbs=update
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=tasks/finalizers,verbs=update
// +kubebuilder:rbac:groups=scheduling.agora.dev,resources=frameworks,verbs=get
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=agora-system,resources=leases,verbs=get;create;update;delete
package executor
