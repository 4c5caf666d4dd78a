// Package allocator decides how much of the cluster each Agora framework is offered: the
// first level of Mesos's two-level scheduling, by weighted, hierarchical Dominant Resource
// Fairness (DRF). Frameworks decide the second level — which offered resources to use, and
// for what — outside this package.
//
// The package is pure Go and imports no Kubernetes client code (a depguard rule in
// .golangci.yml keeps it so), because it is the part of Agora that must be right and fast:
// it is tested in isolation, at scale, without an API server, and the controller translates
// Kubernetes objects into its model and its decisions into Offer objects.
//
// # Model
//
// The Allocator holds a model of the pool, fed incrementally by the controller:
//
//   - Nodes (SetNode, RemoveNode): allocatable, what other schedulers' pods use, pod slots
//     (MaxPods, PodsByOthers), labels, taints, GPUs, and whether the node is in the pool at
//     all.
//   - Frameworks (SetFramework, SetFrameworkActive, Revive, RemoveFramework): role path,
//     weight, suppression, node selector, tolerations, capabilities, limits.
//   - Tasks (LaunchTask, AddTask, FinishTask) and outstanding offers (Allocate, ReleaseOffer,
//     RescindOffer, RescindOfferNode, RestoreOffer), per framework and node.
//
// A framework holds its tasks plus its outstanding offers: as in Mesos, offered counts as
// allocated, which gives frameworks a reason to answer offers quickly. A node's free amount is
// allocatable − other pods − tasks − outstanding offers, so no unit of a node is offered to two
// frameworks at once, and nothing is offered beyond allocatable (docs/architecture.md invariants 1
// and 2). A node whose pod slots are all taken is not offered at all. LaunchTask admits a task
// only inside what remains of its own framework's offer on its node (invariant 3), and only if
// the framework is still eligible for the node and the node still has room and a pod slot.
// When a node shrinks, other pods land on it, or its labels, taints or GPUs change, and when
// a framework's selector, tolerations, capabilities or limits change, what may no longer be
// held is rescinded and handed back to the caller with its cause (Rescinded.Cause), rather
// than leaving the node overcommitted or an offer the framework could not be given now.
//
// # Fairness
//
// A framework's dominant share is the largest, over resources, of what it holds divided by
// the pool's capacity, and DRF offers next to the framework with the smallest share divided by
// its weight. Roles form a tree ("eng/batch"): DRF picks among sibling roles by what their
// whole subtree holds, then among the frameworks of the chosen role, as the Mesos hierarchical
// allocator does. Equal shares go to the framework (or role) offered something in fewer
// cycles, then by name, as Mesos's sorter breaks them by allocation count: a framework that
// lets its offers expire returns to the same share each cycle and must not win every tie.
// The Sorter interface hides that order; DRFSorter implements it and RandomSorter is the
// baseline.
//
// # The cycle
//
// Allocate visits the pool's nodes in random order (so no node is always first to fill) and
// hands each node's whole free amount to the first eligible framework in DRF order, updating
// shares after every decision. Handing out whole nodes, rather than slices, lets a framework
// pack its own tasks, which is the point of two-level scheduling; the random order and the
// share update spread the nodes fairly over a cycle. Decisions come back grouped per framework,
// one Offer per framework per cycle, so the controller writes O(frameworks) objects per cycle,
// not O(nodes).
//
// # Using it from the controller
//
// The Allocator is safe for concurrent use, so watch handlers may feed it while the
// allocation loop runs. Resources are a small fixed vector (Resources): CPU in millicores,
// memory and ephemeral storage in bytes, GPUs in devices.
//
//   - Rebuild after a start: SetNode, SetFramework (and SetFrameworkActive), AddTask for every
//     charged Task, RestoreOffer for every Offer still outstanding (rescind what it rejects).
//   - Each cycle: Allocate, then write one Offer object per returned Offer; if that fails,
//     RescindOffer.
//   - Admission: LaunchTask with the Task's offer; an error is the reason for phase Error.
//   - A deleted Offer: admit the tasks created before the delete, then ReleaseOffer with the
//     framework's refuseDuration and the time of the delete. Expiry, inactivity: RescindOffer.
//     Suppression rescinds nothing (SUPPRESS stops new offers only).
//   - REVIVE: Revive with the time the framework asked; a release made no later installs no
//     filter, whichever the controller hears of first.
//   - Task terminal: FinishTask. Node lost: RemoveNode, and mark the returned tasks Lost.
//   - Every Rescinded returned by SetNode, SetFramework, AddTask, RemoveNode,
//     RemoveFramework or RescindOfferNode names a node to take out of an Offer object, and
//     its Cause picks the condition reason.
//   - Status and metrics: FrameworkShare(s), RoleShares, Stats; NextFilterExpiry tells a loop
//     that skips idle cycles when a filter will lift.
//
// # Speed
//
// The costly case is the one Mesos's DeclineOffers benchmark measures: every framework has
// declined every node, so a naive cycle asks nodes × frameworks filter questions (ten million
// at 10k nodes × 1k frameworks) to hand out nothing. Here every node has a bit row over
// framework slots for "filtered" and one for "incompatible" (selector, taints, GPU rule), and
// the cycle ANDs them with the set of frameworks that may get anything at all, in slot order,
// before it shuffles: a node nobody may get costs a few word operations and is never visited.
// Decline filters are grouped per decline in a heap keyed by expiry, pointer-free, so expiry
// costs nothing until it is due and a million of them cost the garbage collector nothing.
// The DRF order is kept incrementally: each level of the role tree keeps its children sorted,
// a change of holdings moves one child per level, and the first eligible framework is found
// by walking the order and stopping early, or, when only a few frameworks are eligible, by
// comparing those few directly; nothing sorts all frameworks per node. See BENCHMARKS.md.
package allocator
