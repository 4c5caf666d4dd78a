package allocator

import (
	"fmt"
	"slices"
)

// LaunchTask admits a task inside what remains of its framework's offer on its node
// (invariant 3): the resources move from the offer to the task. It fails, changing nothing,
// when the offer is gone, belongs to another framework, does not hold the node, or has too
// little left there (ErrDoesNotFit). It re-checks the rules as they are now, not as they were
// when the offer was made: the framework must still be eligible for the node (node selector,
// tolerations, GPU rule; ErrNotEligible), and the node must still have room for the task
// (capacity and a pod slot; ErrDoesNotFit). SetNode and SetFramework rescind what breaks
// these rules, so this is the second line of defence.
func (a *Allocator) LaunchTask(id OfferID, t Task) error {
	if t.ID == "" || t.Resources.HasNegative() {
		return fmt.Errorf("%w: task %q", ErrInvalid, t.ID)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.tasks[t.ID]; ok {
		return fmt.Errorf("%w: %s", ErrTaskExists, t.ID)
	}
	o, ok := a.offers[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownOffer, id)
	}
	fw := a.fws[o.fw]
	if fw.id != t.Framework {
		return fmt.Errorf("%w: offer %d is %s's, task %s is %s's", ErrWrongFramework, id, fw.id, t.ID, t.Framework)
	}
	slot, ok := a.nodeByName[t.Node]
	i := -1
	if ok {
		i = slices.IndexFunc(o.parts, func(p offerPart) bool { return p.node == slot })
	}
	if i < 0 {
		return fmt.Errorf("%w: offer %d, node %s", ErrNodeNotInOffer, id, t.Node)
	}
	if !t.Resources.Fits(o.parts[i].remaining) {
		return fmt.Errorf("%w: task %s needs %v, offer %d has %v left on %s", ErrDoesNotFit, t.ID, t.Resources, id, o.parts[i].remaining, t.Node)
	}
	n := a.nodes[slot]
	if a.row(a.incompatible, slot).Has(int(fw.slot)) {
		return fmt.Errorf("%w: task %s: framework %s no longer passes the node selector, tolerations or GPU rule of %s", ErrNotEligible, t.ID, fw.id, t.Node)
	}
	if !n.inPool() {
		return fmt.Errorf("%w: task %s: node %s left the pool", ErrDoesNotFit, t.ID, t.Node)
	}
	if n.podsFull() {
		return fmt.Errorf("%w: task %s: node %s has no pod slot left (%d tasks, %d other pods, max %d)", ErrDoesNotFit, t.ID, t.Node, n.taskCount, n.podsByOthers, n.maxPods)
	}
	// The node holds the offer part, so what it holds now is what it would hold after.
	held := n.usedByOthers.Add(n.tasks).Add(n.offered)
	for r, v := range t.Resources {
		if v > 0 && held[r] > n.allocatable[r] {
			return fmt.Errorf("%w: task %s: node %s has %v allocatable, other pods, tasks and offers hold %v", ErrDoesNotFit, t.ID, t.Node, n.allocatable, held)
		}
	}
	o.parts[i].remaining = o.parts[i].remaining.Sub(t.Resources)
	n.offered = n.offered.Sub(t.Resources)
	fw.offered = fw.offered.Sub(t.Resources)
	rev := o.parts[i].revocable
	if rev {
		fw.revOffered = fw.revOffered.Sub(t.Resources)
	}
	a.chargeTask(&task{id: t.ID, fw: fw.slot, nd: slot, res: t.Resources, revocable: rev}, false)
	return nil
}

// AddTask charges a task that is not admitted through LaunchTask: the tasks found when the
// controller (re)builds its model. The framework and node need not be known yet. Adding the
// same task again changes nothing. If the node is now overcommitted, offers on it are
// rescinded and returned.
func (a *Allocator) AddTask(t Task) ([]Rescinded, error) {
	if t.ID == "" || t.Framework == "" || t.Node == "" || t.Resources.HasNegative() {
		return nil, fmt.Errorf("%w: task %q", ErrInvalid, t.ID)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.tasks[t.ID]; ok {
		if a.fws[old.fw].id == t.Framework && a.nodes[old.nd].name == t.Node && old.res == t.Resources && old.revocable == t.Revocable {
			if t.PreemptedFor != "" && old.revocable {
				a.restorePreempted(old, t.PreemptedFor)
			}
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s, with a different charge", ErrTaskExists, t.ID)
	}
	fw, n := a.frameworkFor(t.Framework), a.nodeFor(t.Node)
	nt := &task{id: t.ID, fw: fw.slot, nd: n.slot, res: t.Resources, revocable: t.Revocable}
	a.chargeTask(nt, true)
	if t.PreemptedFor != "" && t.Revocable {
		a.restorePreempted(nt, t.PreemptedFor)
	}
	return a.fitNode(n, nil), nil
}

// restorePreempted records that t is already being killed for role (a restarted controller
// rebuilding its model): it is not preempted again, and its resources count as being
// reclaimed for the role.
func (a *Allocator) restorePreempted(t *task, role string) {
	if _, ok := a.preempted[t.id]; ok {
		return
	}
	t.preemptedFor = role
	a.addPreempted(t)
}

func (a *Allocator) chargeTask(t *task, newlyHeld bool) {
	a.tasks[t.id] = t
	a.taskSeq++
	t.seq = a.taskSeq
	fw, n := a.fws[t.fw], a.nodes[t.nd]
	if t.revocable {
		fw.revTasks = fw.revTasks.Add(t.res)
		a.indexRevocable(t)
	}
	fw.tasks = fw.tasks.Add(t.res)
	fw.taskCount++
	a.holdingsChanged(fw)
	n.tasks = n.tasks.Add(t.res)
	n.taskCount++
	a.touch(n)
	if newlyHeld && fw.known {
		a.sorter.Allocated(Client(fw.slot), t.res)
	}
}

// FinishTask releases a task that reached a terminal phase (or was never admitted). It
// reports whether the task was known.
func (a *Allocator) FinishTask(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.finishTask(id)
}

func (a *Allocator) finishTask(id string) bool {
	t, ok := a.tasks[id]
	if !ok {
		return false
	}
	delete(a.tasks, id)
	fw, n := a.fws[t.fw], a.nodes[t.nd]
	if t.revocable {
		fw.revTasks = fw.revTasks.Sub(t.res)
		a.unindexRevocable(t)
		a.dropPreempted(t)
	} else {
		a.needEvent(fw)
	}
	fw.tasks = fw.tasks.Sub(t.res)
	fw.taskCount--
	a.holdingsChanged(fw)
	n.tasks = n.tasks.Sub(t.res)
	n.taskCount--
	a.touch(n)
	if fw.known {
		a.sorter.Unallocated(Client(fw.slot), t.res)
	}
	a.maybeFreeFramework(fw)
	if !n.present && n.taskCount == 0 && len(n.offers) == 0 {
		a.freeNode(n)
	}
	return true
}
