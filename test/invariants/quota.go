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

package invariants

import (
	"fmt"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

const (
	// decisionWindow bounds how long before the checker sees a preemption's write the controller
	// may have decided it, as seen from the checker's clock: the write is retried for a few
	// seconds while kube-apiserver is away, and the controller's view of Tasks and RoleQuotas
	// may lag the checker's by a few seconds after a restart. What the controller knew when it
	// decided is bounded by what the checker saw somewhere in this window before the write.
	decisionWindow = 15 * time.Second
	// preemptionSettle is how long after a preemption its "same need" check waits, so that a
	// node fault around it, which the 500 ms snapshots report up to an interval late, is known.
	preemptionSettle = 5 * time.Second
)

// The quota invariants (docs/architecture.md, Quotas; docs/quotas.md, "How reclaim avoids
// loops"), numbered 6 here:
//   - 6a: only revocable work is preempted: a task preempted (status.preemptedFor, condition
//     Preempted, or Killed with reason Preempted) was revocable when first seen admitted; a
//     task's status.revocable never changes after admission; no task is preempted for a role
//     its own framework's role lies under; a pod carries scheduling.agora.dev/revocable=true
//     exactly when its task is revocable; an Offer rescinded with reason Preempted had a
//     revocable slice.
//   - 6b: a task is preempted at most once: status.preemptedFor, once set, is never cleared nor
//     rewritten to another role, condition Preempted is never set again (lastTransitionTime
//     moves) nor withdrawn, a task is Killed with reason Preempted only after preemptedFor was
//     set, and a RoleQuota's status.preemptions never exceeds the number of distinct tasks seen
//     preempted for its role.
//   - 6c: no preemption repeats one for the same need (see checkSameNeed).
const (
	invRevocable = "6a"
	invOnce      = "6b"
	invSameNeed  = "6c"
)

// finding is one judgement of the quota rules: a violation, or (tolerated) a check that could
// not be made.
type finding struct {
	inv, detail string
	tolerated   bool
}

func violation(inv, format string, args ...any) finding {
	return finding{inv: inv, detail: fmt.Sprintf(format, args...)}
}

// taskLife is what the Task watch showed of one task (one UID), in the checker's clock.
type taskLife struct {
	uid                  types.UID
	key, node, framework string // framework: namespace/name it was charged to
	res                  corev1.ResourceList
	// role is the framework's spec.role when the task was first seen admitted, "" if the
	// Framework was not known then (looked up again when needed).
	role      string
	admitted  bool
	revocable bool // status.revocable when first seen admitted
	// offer is the namespace/name of its Offer; admittedAt when it was first seen admitted.
	offer      string
	admittedAt time.Time
	// chargedFrom and chargedTo bound when it was seen in a charged phase (Staging, Starting,
	// Running, Unreachable); chargedTo is zero while it is. endSeq is the Task event that
	// showed it terminal or gone (0 while neither).
	chargedFrom, chargedTo time.Time
	endSeq                 uint64
	endedAt                time.Time
	// preemptedFor, preemptedAt and preemptedSeq: the first status.preemptedFor seen, when and
	// at which Task event; preemptedTransition is condition Preempted's lastTransitionTime as
	// first seen True.
	preemptedFor        string
	preemptedAt         time.Time
	preemptedSeq        uint64
	preemptedTransition time.Time
	// reported are the rules already reported for this task: each breach is told once.
	reported map[string]bool
}

func (t *taskLife) endedBy(seq uint64) bool { return t.endSeq != 0 && t.endSeq <= seq }

// chargedAt reports whether the task was charged at time at, as the checker saw it.
func (t *taskLife) chargedAt(at time.Time) bool {
	return !t.chargedFrom.IsZero() && !t.chargedFrom.After(at) && (t.chargedTo.IsZero() || t.chargedTo.After(at))
}

// offerLife is what the Offer watch showed of one Offer: its non-revocable slices, which count
// towards its framework's roles' guarantees while it is outstanding.
type offerLife struct {
	key, framework string // namespace/name of the offer and of its framework
	seen           time.Time
	// end is when it was first seen deleted or rescinded, or its expireTime if that is earlier:
	// the controller frees an offer that expires or that it rescinds before its write shows it.
	end    time.Time
	slices map[string]corev1.ResourceList // node -> non-revocable slice, as first seen
	gone   map[string]time.Time           // node -> when first seen gone from spec.nodes
}

// quotaSample is a RoleQuota's guarantee from a moment on (present false: no RoleQuota).
type quotaSample struct {
	at        time.Time
	present   bool
	guarantee corev1.ResourceList
}

// countSample is a RoleQuota's status.preemptions, to be compared with the tasks seen preempted
// once the Task watch has caught up.
type countSample struct {
	role, name string
	n          int64
	due        time.Time
}

// quotaJudge holds the quota invariants from what the watches and snapshots show. It is pure
// (no client, the time is passed in) so that its rules are unit-tested; the Checker feeds it
// under its own lock and reports what it returns.
type quotaJudge struct {
	seq    uint64 // Task events handled
	tasks  map[types.UID]*taskLife
	offers map[types.UID]*offerLife
	// roles are the Frameworks' spec.role by namespace/name (kept after a Framework goes: its
	// tasks may outlive it).
	roles map[string]string
	// quotas is each role's guarantee history; quotaRole maps a RoleQuota name to its role.
	quotas    map[string][]quotaSample
	quotaRole map[string]string
	// preemptedFor are the tasks seen preempted, by role.
	preemptedFor map[string]map[types.UID]bool
	// nodeBad are the spells in which a node was bad (onNodes), from the snapshots.
	nodeBad  map[string][]window
	badOpen  map[string]bool // the node's last bad spell has not ended yet
	nodeSeen map[string]bool
	lastSnap time.Time
	// renewTime and renewSeen are each node's executor Lease renewTime and when the checker saw
	// it change.
	renewTime, renewSeen map[string]time.Time
	// gaps are the windows in which the Task or RoleQuota watch was blind (it could only start
	// afresh, from a list, after a kube-apiserver restart).
	gaps []window
	// down are the watches (of those two) that ended and have not opened again: what they
	// would deliver is not known yet, so no check is made meanwhile.
	down map[string]bool
	// due are the preemptions whose same-need check waits for preemptionSettle; counts the
	// status.preemptions samples waiting for the Task watch.
	due    []types.UID
	counts []countSample

	// checked counts the preemptions judged by 6c; slack is, for each found legitimate, the room
	// its bound left in tasks of its CPU (G − H − P over the task's CPU; a repeat of fewer tasks
	// for the same need would go unseen); preemptions lists every preemption seen.
	checked     int
	slack       []float64
	preemptions []types.UID
}

// window is a time interval, both ends included.
type window struct{ from, to time.Time }

func (w window) overlaps(from, to time.Time) bool { return !w.to.Before(from) && !w.from.After(to) }

func newQuotaJudge() *quotaJudge {
	return &quotaJudge{tasks: map[types.UID]*taskLife{}, offers: map[types.UID]*offerLife{}, roles: map[string]string{}, quotas: map[string][]quotaSample{},
		quotaRole: map[string]string{}, preemptedFor: map[string]map[types.UID]bool{}, nodeBad: map[string][]window{}, badOpen: map[string]bool{},
		nodeSeen: map[string]bool{}, down: map[string]bool{}, renewTime: map[string]time.Time{}, renewSeen: map[string]time.Time{}}
}

// onOffer follows an Offer's non-revocable slices and how long they are outstanding.
func (j *quotaJudge) onOffer(now time.Time, o *agorav1alpha1.Offer, deleted bool) {
	l := j.offers[o.UID]
	if l == nil {
		l = &offerLife{key: o.Namespace + "/" + o.Name, framework: o.Namespace + "/" + o.Spec.Framework, seen: now,
			end: o.Spec.ExpireTime.Time, slices: map[string]corev1.ResourceList{}, gone: map[string]time.Time{}}
		for _, n := range o.Spec.Nodes {
			if !n.Revocable {
				l.slices[n.NodeName] = n.Resources
			}
		}
		j.offers[o.UID] = l
	}
	if deleted || o.DeletionTimestamp != nil || meta.IsStatusConditionTrue(o.Status.Conditions, agorav1alpha1.OfferConditionRescinded) {
		if now.Before(l.end) {
			l.end = now
		}
	}
	in := map[string]bool{}
	for _, n := range o.Spec.Nodes {
		in[n.NodeName] = true
	}
	for n := range l.slices {
		if !in[n] && l.gone[n].IsZero() && !deleted {
			l.gone[n] = now
		}
	}
}

// inSubtree reports whether role p is role r or lies under it.
func inSubtree(p, r string) bool { return p == r || strings.HasPrefix(p, r+"/") }

func (j *quotaJudge) onFramework(fw *agorav1alpha1.Framework) {
	role := fw.Spec.Role
	if role == "" {
		role = agorav1alpha1.DefaultRole
	}
	j.roles[fw.Namespace+"/"+fw.Name] = role
}

// onQuota records a RoleQuota's guarantee (deleted: its role has none from now) and its
// status.preemptions, to be compared with the preempted tasks once the Task watch caught up.
func (j *quotaJudge) onQuota(now time.Time, q *agorav1alpha1.RoleQuota, deleted bool) {
	role := q.Spec.Role
	j.quotaRole[q.Name] = role
	s := quotaSample{at: now, present: !deleted, guarantee: q.Spec.Guarantee.DeepCopy()}
	if h := j.quotas[role]; len(h) == 0 || h[len(h)-1].present != s.present || !equalRL(h[len(h)-1].guarantee, s.guarantee) {
		j.quotas[role] = append(h, s)
	}
	if !deleted && q.Status.Preemptions > 0 {
		j.counts = append(j.counts, countSample{role: role, name: q.Name, n: q.Status.Preemptions, due: now.Add(preemptionSettle)})
	}
}

// quotaResync forgets the RoleQuotas a fresh list no longer has (deleted while the watch was
// blind).
func (j *quotaJudge) quotaResync(now time.Time, present map[string]bool) {
	for name, role := range j.quotaRole {
		if present[name] {
			continue
		}
		if h := j.quotas[role]; len(h) > 0 && h[len(h)-1].present {
			j.quotas[role] = append(h, quotaSample{at: now})
		}
	}
}

// blind records a window in which the Task or RoleQuota watch saw nothing.
func (j *quotaJudge) blind(from, to time.Time) { j.gaps = append(j.gaps, window{from, to}) }

// setDown records that watch kind ended (down) or is open again.
func (j *quotaJudge) setDown(kind string, down bool) {
	if down {
		j.down[kind] = true
	} else {
		delete(j.down, kind)
	}
}

func (j *quotaJudge) roleOf(l *taskLife) string {
	if l.role != "" {
		return l.role
	}
	return j.roles[l.framework]
}

// onTask follows one task's life and judges 6a and 6b on every change (each rule at most once
// per task); a first preemption is queued for 6c.
func (j *quotaJudge) onTask(now time.Time, t *agorav1alpha1.Task, deleted bool) []finding {
	j.seq++
	l := j.tasks[t.UID]
	if l == nil {
		l = &taskLife{uid: t.UID, key: t.Namespace + "/" + t.Name, node: t.Spec.NodeName, res: t.Spec.Resources}
		j.tasks[t.UID] = l
	}
	st := &t.Status
	if st.Framework != "" {
		l.framework = t.Namespace + "/" + st.Framework
	}
	var out []finding
	breach := func(rule, inv, format string, args ...any) {
		if l.reported[rule] {
			return
		}
		if l.reported == nil {
			l.reported = map[string]bool{}
		}
		l.reported[rule] = true
		out = append(out, violation(inv, "task %s (uid %s, framework %s, role %q, node %s, %s, phase %s): %s", l.key, l.uid, l.framework,
			j.roleOf(l), l.node, fmtRL(l.res), st.Phase, fmt.Sprintf(format, args...)))
	}
	if wasAdmitted(st.Phase) {
		if !l.admitted {
			l.admitted, l.revocable, l.role, l.admittedAt = true, st.Revocable, j.roles[l.framework], now
			l.offer = t.Namespace + "/" + t.Spec.OfferName
		} else if st.Revocable != l.revocable {
			breach("revocable-changed", invRevocable, "status.revocable changed from %v (at admission) to %v", l.revocable, st.Revocable)
		}
	}
	if chargedPhase(st.Phase) && l.chargedFrom.IsZero() && !deleted {
		l.chargedFrom = now
	}
	if (deleted || st.Phase.IsTerminal()) && l.endSeq == 0 {
		l.endSeq, l.endedAt = j.seq, now
		if !l.chargedFrom.IsZero() {
			l.chargedTo = now
		}
	}

	cond := meta.FindStatusCondition(st.Conditions, agorav1alpha1.TaskConditionPreempted)
	condTrue := cond != nil && cond.Status == metav1.ConditionTrue
	killedPreempted := st.Phase == agorav1alpha1.TaskKilled && st.Reason == agorav1alpha1.ReasonPreempted
	switch {
	case st.PreemptedFor != "" && l.preemptedFor == "":
		l.preemptedFor, l.preemptedAt, l.preemptedSeq = st.PreemptedFor, now, j.seq
		if j.preemptedFor[st.PreemptedFor] == nil {
			j.preemptedFor[st.PreemptedFor] = map[types.UID]bool{}
		}
		j.preemptedFor[st.PreemptedFor][l.uid] = true
		j.preemptions = append(j.preemptions, l.uid)
		if r := j.roleOf(l); r != "" && inSubtree(r, st.PreemptedFor) {
			breach("own-subtree", invRevocable, "preempted for role %s, which its own role lies under", st.PreemptedFor)
		}
		j.due = append(j.due, l.uid)
	case st.PreemptedFor != "" && st.PreemptedFor != l.preemptedFor:
		breach("rewritten", invOnce, "status.preemptedFor rewritten from %s (first seen %s) to %s: preempted twice",
			l.preemptedFor, l.preemptedAt.Format("15:04:05.000"), st.PreemptedFor)
	case st.PreemptedFor == "" && l.preemptedFor != "" && !deleted:
		breach("cleared", invOnce, "status.preemptedFor %s (first seen %s) was cleared: a new leader would not know it is being preempted",
			l.preemptedFor, l.preemptedAt.Format("15:04:05.000"))
	}
	if preempted := st.PreemptedFor != "" || condTrue || killedPreempted; preempted {
		revocable := l.revocable
		if !l.admitted {
			revocable = st.Revocable // admitted and preempted while the watch was blind
		}
		if !revocable {
			breach("not-revocable", invRevocable, "preempted (preemptedFor %q, condition Preempted %v, reason %s) but admitted on non-revocable resources",
				st.PreemptedFor, condTrue, st.Reason)
		}
	}
	switch {
	case condTrue && l.preemptedTransition.IsZero():
		l.preemptedTransition = cond.LastTransitionTime.Time
		if st.PreemptedFor == "" {
			breach("condition-alone", invOnce, "condition Preempted without status.preemptedFor: a new leader would not count it as on its way back")
		}
	case condTrue && !cond.LastTransitionTime.Time.Equal(l.preemptedTransition):
		breach("condition-again", invOnce, "condition Preempted set again (lastTransitionTime %s, first %s): preempted twice",
			cond.LastTransitionTime.Format(time.RFC3339), l.preemptedTransition.Format(time.RFC3339))
	case !condTrue && !l.preemptedTransition.IsZero() && !deleted:
		breach("condition-withdrawn", invOnce, "condition Preempted withdrawn after it was set")
	}
	if killedPreempted && l.preemptedFor == "" {
		breach("killed-unrecorded", invOnce, "Killed with reason Preempted, but status.preemptedFor was never set")
	}
	return out
}

// taskResync ends every task a fresh list no longer has: it went while the Task watch was blind,
// at some time since from (counted as gone from then, which only makes the 6c bound looser).
func (j *quotaJudge) taskResync(from time.Time, present map[types.UID]bool) {
	j.seq++
	for uid, l := range j.tasks {
		if present[uid] || l.endSeq != 0 {
			continue
		}
		l.endSeq, l.endedAt = j.seq, from
		if !l.chargedFrom.IsZero() {
			l.chargedTo = from
		}
	}
}

// executorSilence is how long without an observed renewal of a node's executor Lease (renewed
// every 5 s in the suite, held 20 s) the checker takes the node's executor for silent: shorter
// than the controller's judgement, so that the node counts as bad from before the controller
// could have given it up.
const executorSilence = 8 * time.Second

// onNodes takes the Nodes and Leases of one consistent snapshot. A node is bad while it is gone,
// not Ready, cordoned or tainted (other than the pool taint), or its executor Lease has not been
// seen renewed for executorSilence: the controller may then have rescinded its offers or
// dropped its tasks before the API shows it. A bad spell runs from the last snapshot (or
// renewal) that showed the node fine to the first that shows it fine again.
func (j *quotaJudge) onNodes(now time.Time, nodes []corev1.Node, leases []coordinationv1.Lease) {
	for i := range leases {
		l := &leases[i]
		node, ok := strings.CutPrefix(l.Name, agorav1alpha1.ExecutorLeasePrefix)
		if !ok || l.Spec.RenewTime == nil {
			continue
		}
		if r := l.Spec.RenewTime.Time; !r.Equal(j.renewTime[node]) {
			j.renewTime[node], j.renewSeen[node] = r, now
		}
	}
	good := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		j.nodeSeen[n.Name] = true
		fine := !n.Spec.Unschedulable
		for _, t := range n.Spec.Taints {
			fine = fine && t.Key == agorav1alpha1.TaintPool
		}
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if seen, ok := j.renewSeen[n.Name]; ok && now.Sub(seen) > executorSilence {
			fine = false
		}
		good[n.Name] = fine && ready
	}
	prev := j.lastSnap
	if prev.IsZero() {
		prev = now
	}
	for name := range j.nodeSeen {
		ws := j.nodeBad[name]
		switch open := j.badOpen[name]; {
		case !good[name] && open:
			ws[len(ws)-1].to = now
		case !good[name]:
			from := prev
			if seen, ok := j.renewSeen[name]; ok && seen.Before(from) {
				from = seen // silent since its last renewal
			}
			j.nodeBad[name] = append(ws, window{from, now})
			j.badOpen[name] = true
		case open:
			ws[len(ws)-1].to = now // fine again: bad until this snapshot
			j.badOpen[name] = false
		}
	}
	j.lastSnap = now
}

// nodeBadIn reports whether node was deleted or not Ready at some time in [from, to], or was
// never seen in a snapshot (its tasks then cannot be vouched for).
func (j *quotaJudge) nodeBadIn(node string, from, to time.Time) bool {
	if !j.nodeSeen[node] {
		return true
	}
	for _, w := range j.nodeBad[node] {
		if w.overlaps(from, to) {
			return true
		}
	}
	return false
}

// guaranteeMax is the most of each resource role's RoleQuota guaranteed at any time in
// [from, to] (the value in force at from included), and whether it had one at all then.
func (j *quotaJudge) guaranteeMax(role string, from, to time.Time) (corev1.ResourceList, bool) {
	out := corev1.ResourceList{}
	had := false
	h := j.quotas[role]
	for i, s := range h {
		if s.at.After(to) {
			break
		}
		if i+1 < len(h) && !h[i+1].at.After(from) {
			continue // superseded before the window
		}
		if !s.present {
			continue
		}
		had = true
		for k, v := range s.guarantee {
			if q, ok := out[k]; !ok || v.Cmp(q) > 0 {
				out[k] = v.DeepCopy()
			}
		}
	}
	return out, had
}

// settle runs the checks whose time has come: 6c for preemptions seen preemptionSettle ago,
// and status.preemptions against the tasks seen preempted.
func (j *quotaJudge) settle(now time.Time) []finding {
	if len(j.down) > 0 {
		return nil // a watch is catching up: a task may have ended unseen
	}
	var out []finding
	keep := j.due[:0]
	for _, uid := range j.due {
		l := j.tasks[uid]
		if now.Before(l.preemptedAt.Add(preemptionSettle)) {
			keep = append(keep, uid)
			continue
		}
		out = append(out, j.checkSameNeed(l)...)
	}
	j.due = keep
	keepC := j.counts[:0]
	for _, c := range j.counts {
		if now.Before(c.due) {
			keepC = append(keepC, c)
			continue
		}
		seen := int64(len(j.preemptedFor[c.role]))
		if c.n <= seen {
			continue
		}
		if len(j.gaps) > 0 {
			// Tasks preempted and gone while the Task watch was blind were never seen.
			out = append(out, finding{inv: invOnce, tolerated: true})
			continue
		}
		out = append(out, violation(invOnce, "RoleQuota %s: status.preemptions %d, but only %d distinct tasks were ever seen preempted for role %s: a preemption counted twice",
			c.name, c.n, seen, c.role))
	}
	j.counts = keepC
	return out
}

// checkSameNeed holds 6c for a preemption x of role R, seen at time tX (event seq sX): no
// preemption is made for a need that preemptions already under way cover.
//
// The allocator preempts a task for R only if it covers some resource r of what R still needs:
// guarantee_r − held_r − pending_r − (tasks chosen before it in the same cycle)_r > 0, where held
// is what R's subtree holds on non-revocable resources (tasks and offers) and pending what tasks
// already preempted for R's subtree still hold while they stop. From the API the checker bounds
// each term on the safe side:
//   - G = the most R's RoleQuota guaranteed in [tX − decisionWindow, tX] (≥ the guarantee the
//     controller knew when it decided);
//   - H = the least, over [tX − decisionWindow, tX], of what R's subtree held on non-revocable
//     resources as the watches showed it: its tasks in a charged phase and what remained of its
//     outstanding offers (heldLeast). That is ≤ held when it decided: the controller admits
//     tasks itself and frees one only once it sees it end; an offer is counted from when the
//     checker saw it made to the first of its expireTime and its deletion or rescind seen (the
//     controller frees an expired or rescinded offer before its write shows it, a released one
//     only after), a task admitted on it is taken off it when the checker sees the admission;
//   - P = the resources of the other tasks whose preemptedFor lies in R's subtree, written
//     before x's and neither terminal nor gone at x's write. The controller counted each as
//     pending when it decided x, or chose it in the same cycle as x, or in a later cycle that
//     counted x's as pending; its kills are written concurrently, in any order. The tasks one
//     cycle chooses overshoot its need by less than one task, so with revocable tasks of one
//     size P < G − H still holds for every legitimate x (with sizes that differ, the bound is
//     off by at most the largest less the smallest).
//
// Tasks and offer slices on a node that was bad near the decision (onNodes: gone, not Ready,
// cordoned, tainted, its executor silent) are left out of both H and P: the controller drops a
// lost node's tasks, and rescinds offers on a node it may no longer offer, before the API shows
// it. So a legitimate preemption has some resource r of x with G_r − H_r > P_r; a breach is
// reported when for every resource x holds, P_r ≥ G_r − H_r: what was already on its way back
// to R, with what R held anyway, covered the whole guarantee, so x was preempted for a need
// already met (taken twice), or R was not below its guarantee at all. P = 0 is the case
// "preempted past the guarantee". Not judged (tolerated) when the Task or RoleQuota watch was
// blind in the window. A kill the controller gave up after its preemptedFor was written
// (CancelPreemption, after about 5 minutes of failed deletes) would still count in P.
func (j *quotaJudge) checkSameNeed(x *taskLife) []finding {
	role, tX, sX := x.preemptedFor, x.preemptedAt, x.preemptedSeq
	from, to := tX.Add(-decisionWindow), tX.Add(preemptionSettle)
	for _, g := range j.gaps {
		if g.overlaps(from, tX) {
			return []finding{{inv: invSameNeed, tolerated: true}}
		}
	}
	j.checked++
	g, had := j.guaranteeMax(role, from, tX)
	if !had {
		return []finding{violation(invSameNeed, "task %s (uid %s, %s) preempted for role %s, which had no RoleQuota in the %s before",
			x.key, x.uid, fmtRL(x.res), role, decisionWindow)}
	}
	// P: preemptions for R's subtree under way when x was written.
	p := corev1.ResourceList{}
	var pParts []string
	for _, l := range j.tasks {
		if l == x || l.preemptedFor == "" || !inSubtree(l.preemptedFor, role) || l.preemptedSeq >= sX || l.endedBy(sX) ||
			j.nodeBadIn(l.node, from, to) {
			continue
		}
		addTo(p, l.res)
		pParts = append(pParts, fmt.Sprintf("%s %s (preempted %s)", l.key, fmtRL(l.res), l.preemptedAt.Format("15:04:05.000")))
	}
	h := j.heldLeast(role, from, tX, to)
	legit := false
	for r, xr := range x.res {
		if xr.Sign() <= 0 {
			continue
		}
		slack := g[r].DeepCopy()
		slack.Sub(h[r])
		slack.Sub(p[r])
		legit = legit || slack.Sign() > 0 // x covered part of a need nothing else covered
	}
	if legit {
		if xc := x.res[corev1.ResourceCPU]; xc.Sign() > 0 {
			slack := g[corev1.ResourceCPU].DeepCopy()
			slack.Sub(h[corev1.ResourceCPU])
			slack.Sub(p[corev1.ResourceCPU])
			j.slack = append(j.slack, slack.AsApproximateFloat64()/xc.AsApproximateFloat64())
		}
		return nil
	}
	sort.Strings(pParts)
	if len(pParts) == 0 {
		pParts = []string{"(none)"}
	}
	return []finding{violation(invSameNeed, "task %s (uid %s, %s, node %s) preempted for role %s at %s although the need was covered: guarantee (the most in the %s before) %s, held in non-revocable tasks all that time at least %s, already preempted and still stopping %s:\n    %s",
		x.key, x.uid, fmtRL(x.res), x.node, role, tX.Format("15:04:05.000"), decisionWindow, orNothing(g), orNothing(h), orNothing(p),
		strings.Join(pParts, "\n    "))}
}

// heldLeast is, per resource, the least role's subtree held on non-revocable resources at any
// time in [from, tX] as the watches showed it: its tasks in a charged phase, and what remained
// of its outstanding offers (each offer's slices less the tasks seen admitted on them, so that
// a task is never counted in both). Tasks and offer slices on nodes bad in [from, to] are left
// out. The sums change only at the events in the window, so those are the points looked at.
func (j *quotaJudge) heldLeast(role string, from, tX, to time.Time) corev1.ResourceList {
	inRole := func(fw string) bool { r := j.roles[fw]; return r != "" && inSubtree(r, role) }
	points := []time.Time{from}
	point := func(t time.Time) {
		if t.After(from) && !t.After(tX) {
			points = append(points, t)
		}
	}
	var offers []*offerLife
	onOffer := map[string][]*taskLife{} // offer key -> tasks seen admitted on it
	for _, o := range j.offers {
		if len(o.slices) == 0 || o.seen.After(tX) || !o.end.After(from) || !inRole(o.framework) {
			continue
		}
		offers = append(offers, o)
		onOffer[o.key] = nil
		point(o.end)
		for _, g := range o.gone {
			point(g)
		}
	}
	var held []*taskLife
	for _, l := range j.tasks {
		if ts, ok := onOffer[l.offer]; ok && l.admitted {
			onOffer[l.offer] = append(ts, l)
			point(l.admittedAt)
		}
		if !l.admitted || l.revocable || l.chargedFrom.IsZero() || l.chargedFrom.After(tX) ||
			(!l.chargedTo.IsZero() && !l.chargedTo.After(from)) || j.nodeBadIn(l.node, from, to) {
			continue
		}
		if r := j.roleOf(l); r == "" || !inSubtree(r, role) {
			continue
		}
		held = append(held, l)
		point(l.chargedTo)
	}
	var h corev1.ResourceList
	for _, at := range points {
		sum := corev1.ResourceList{}
		for _, l := range held {
			if l.chargedAt(at) {
				addTo(sum, l.res)
			}
		}
		for _, o := range offers {
			if o.seen.After(at) || !o.end.After(at) {
				continue
			}
			for node, slice := range o.slices {
				if g := o.gone[node]; (!g.IsZero() && !g.After(at)) || j.nodeBadIn(node, from, to) {
					continue
				}
				taken := corev1.ResourceList{}
				for _, l := range onOffer[o.key] {
					if l.node == node && !l.admittedAt.After(at) {
						addTo(taken, l.res)
					}
				}
				addTo(sum, subtractClamped(slice, taken))
			}
		}
		h = minEach(h, sum)
	}
	return h
}

func orNothing(rl corev1.ResourceList) string {
	if s := fmtRL(rl); s != "" {
		return s
	}
	return "nothing"
}

// minEach is the per-resource minimum of a and b (b alone when a is nil).
func minEach(a, b corev1.ResourceList) corev1.ResourceList {
	if a == nil {
		return b.DeepCopy()
	}
	out := corev1.ResourceList{}
	for k, v := range a {
		q := b[k]
		if q.Cmp(v) < 0 {
			out[k] = q.DeepCopy()
		} else {
			out[k] = v.DeepCopy()
		}
	}
	return out
}

func equalRL(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if q, ok := b[k]; !ok || q.Cmp(v) != 0 {
			return false
		}
	}
	return true
}

// onOfferRescinded holds 6a for an Offer: rescinded with reason Preempted, it must have had a
// revocable slice (non-revocable offers are never taken back for a guarantee).
func onOfferRescinded(o *agorav1alpha1.Offer, hadRevocable bool) []finding {
	if !rescindedPreempted(o) || hadRevocable {
		return nil
	}
	c := meta.FindStatusCondition(o.Status.Conditions, agorav1alpha1.OfferConditionRescinded)
	return []finding{violation(invRevocable, "offer %s/%s (uid %s, framework %s) rescinded with reason Preempted, but none of its slices was revocable (%s)",
		o.Namespace, o.Name, o.UID, o.Spec.Framework, c.Message)}
}

// rescindedPreempted reports whether an Offer says it was (partly) rescinded with reason
// Preempted.
func rescindedPreempted(o *agorav1alpha1.Offer) bool {
	c := meta.FindStatusCondition(o.Status.Conditions, agorav1alpha1.OfferConditionRescinded)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == agorav1alpha1.ReasonPreempted
}
