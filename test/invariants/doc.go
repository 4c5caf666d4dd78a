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

// Package invariants judges a running Agora cluster against the invariants of
// docs/architecture.md. It knows the cluster only through the API server — consistent list
// snapshots (Pods, Nodes, Tasks and Offers at one etcd revision) and watches — never through a
// controller's memory, so it can judge the chaos suite and benchmarks alike.
//
// What it judges, by invariant number:
//   - 1: no node is overcommitted: its non-terminal foreign pods, charged tasks (Staging,
//     Starting, Running, Unreachable) and what remains of its outstanding offers fit within its
//     allocatable, for every resource but pods;
//   - 2: the same, on a node that two or more outstanding offers share: no unit of it is offered
//     twice;
//   - 3: a task is admitted only inside its own framework's offer: one the checker saw, created
//     before the offer was deleted or expired and while its node was still in it, charged to the
//     offer's framework, and with the tasks admitted on that offer and node within what was
//     offered (an offer's name is never reused either);
//   - 4 (in part): nothing is double-booked across restarts: a task ever has at most one pod;
//   - 6, the quota rules of docs/quotas.md (Task, Framework and RoleQuota watches, nodes from
//     the snapshots): 6a only revocable work is preempted (a preempted task was revocable at
//     admission, never for its own role's subtree; pods are labelled revocable exactly when
//     their tasks are; only offers with a revocable slice are rescinded for a guarantee); 6b a
//     task is preempted at most once (status.preemptedFor and condition Preempted are never
//     rewritten, withdrawn or set again; RoleQuota status.preemptions counts no task twice);
//     6c no preemption repeats one for the same need (quotaJudge.checkSameNeed says exactly
//     what is bounded). Revocable offer slices count in 1-3 like any other.
//
// Invariant 5 (a framework sees only its own namespace) is RBAC's and is not judged here.
//
// An excess explained entirely by pods kwok is about to remove (deleted less than a few seconds
// ago, owned by a task no longer charged) is counted as tolerated, not as a violation. Callers
// may record breaches they judge themselves with Checker.Violate.
package invariants
