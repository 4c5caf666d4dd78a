package allocator

import (
	"fmt"
	"maps"
	"slices"
)

// SetNode adds a node or updates it (a Node watch event, a change of other schedulers' pods,
// a Lease renewal). What the node can no longer hold is rescinded and returned: every offer
// on a node leaving the pool (CauseNodeUnschedulable); the offers of frameworks its new
// labels, taints or GPUs exclude (CauseNodeIneligible); then every offer on a node without a
// pod slot left, or the newest offers until the rest fit a node that shrank or that other
// pods landed on (CauseCapacity).
func (a *Allocator) SetNode(spec NodeSpec) ([]Rescinded, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("%w: node without a name", ErrInvalid)
	}
	if spec.Allocatable.HasNegative() || spec.UsedByOthers.HasNegative() || spec.MaxPods < 0 || spec.PodsByOthers < 0 {
		return nil, fmt.Errorf("%w: node %s: negative resources or pods", ErrInvalid, spec.Name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.nodeFor(spec.Name)
	placementChanged := !n.present || n.hasGPU() != (spec.Allocatable[GPU] > 0) ||
		!maps.Equal(n.labels, spec.Labels) || !slices.Equal(n.taints, spec.Taints)
	a.pool = a.pool.Sub(n.capacity())
	n.present = true
	n.allocatable = spec.Allocatable
	n.usedByOthers = spec.UsedByOthers
	n.unschedulable = spec.Unschedulable
	n.maxPods = spec.MaxPods
	n.podsByOthers = spec.PodsByOthers
	if placementChanged {
		n.labels = maps.Clone(spec.Labels)
		n.taints = slices.Clone(spec.Taints)
		inc := a.row(a.incompatible, n.slot)
		for _, fw := range a.fws {
			if fw != nil && fw.known {
				a.setCompatible(inc, fw, n)
			}
		}
	}
	a.pool = a.pool.Add(n.capacity())
	a.sorter.SetTotal(a.pool)
	a.setFree(n.slot, Resources{}) // out of poolFree while membership changes
	if n.inPool() {
		a.poolSlots.Set(int(n.slot))
	} else {
		a.poolSlots.Clear(int(n.slot))
	}
	a.touch(n)
	var out []Rescinded
	if placementChanged && n.inPool() && len(n.offers) > 0 {
		inc := a.row(a.incompatible, n.slot)
		for _, id := range slices.Clone(n.offers) {
			if o := a.offers[id]; inc.Has(int(o.fw)) {
				out = append(out, a.rescindPart(o, n.slot, CauseNodeIneligible))
			}
		}
	}
	return a.fitNode(n, out), nil
}

// nodeFor returns the node named name, making a placeholder when there is none.
func (a *Allocator) nodeFor(name string) *node {
	if slot, ok := a.nodeByName[name]; ok {
		return a.nodes[slot]
	}
	a.seq++
	n := &node{name: name, addedSeq: a.seq}
	if k := len(a.freeNodeSlots); k > 0 {
		n.slot = a.freeNodeSlots[k-1]
		a.freeNodeSlots = a.freeNodeSlots[:k-1]
		a.nodes[n.slot] = n
	} else {
		n.slot = int32(len(a.nodes))
		a.nodes = append(a.nodes, n)
		a.filtered = append(a.filtered, make([]uint64, a.words)...)
		a.incompatible = append(a.incompatible, make([]uint64, a.words)...)
		a.free = append(a.free, Resources{})
		a.holds = append(a.holds, nodeHold{})
		if wordsFor(len(a.nodes)) > len(a.poolSlots) {
			a.poolSlots = append(a.poolSlots, 0)
		}
	}
	a.nodeByName[name] = n.slot
	return n
}

// fitNode rescinds offers on n, appending them to out: all of them if n left the pool
// (CauseNodeUnschedulable) or has no pod slot left (CauseCapacity), else the newest first
// until tasks, offers and other pods fit its allocatable again (CauseCapacity).
func (a *Allocator) fitNode(n *node, out []Rescinded) []Rescinded {
	for len(n.offers) > 0 {
		cause := CauseCapacity
		switch {
		case !n.inPool():
			cause = CauseNodeUnschedulable
		case n.podsFull():
		case n.usedByOthers.Add(n.tasks).Add(n.offered).Fits(n.allocatable):
			return out
		}
		o := a.offers[n.offers[len(n.offers)-1]]
		out = append(out, a.rescindPart(o, n.slot, cause))
	}
	return out
}

// RemoveNode forgets a lost node: its offers are rescinded and returned, and its tasks are
// forgotten and their IDs returned (the caller marks them Lost).
func (a *Allocator) RemoveNode(name string) (lostTasks []string, rescinded []Rescinded) {
	a.mu.Lock()
	defer a.mu.Unlock()
	slot, ok := a.nodeByName[name]
	if !ok {
		return nil, nil
	}
	n := a.nodes[slot]
	for len(n.offers) > 0 {
		rescinded = append(rescinded, a.rescindPart(a.offers[n.offers[len(n.offers)-1]], slot, CauseNodeUnschedulable))
	}
	if n.taskCount > 0 {
		for id, t := range a.tasks {
			if t.nd == slot {
				lostTasks = append(lostTasks, id)
			}
		}
		slices.Sort(lostTasks)
		for _, id := range lostTasks {
			a.finishTask(id)
		}
	}
	if a.nodes[slot] == n { // finishing the last task frees a placeholder by itself
		a.freeNode(n)
	}
	return lostTasks, rescinded
}

func (a *Allocator) freeNode(n *node) {
	a.pool = a.pool.Sub(n.capacity())
	a.sorter.SetTotal(a.pool)
	f := a.row(a.filtered, n.slot)
	a.filterCount -= f.Count()
	clear(f)
	clear(a.row(a.incompatible, n.slot))
	for k := range a.dupFilters {
		if int32(k) == n.slot {
			delete(a.dupFilters, k)
		}
	}
	a.setFree(n.slot, Resources{})
	a.poolSlots.Clear(int(n.slot))
	a.releaseHold(n.slot) // its preempted tasks ended with it
	delete(a.nodeByName, n.name)
	a.nodes[n.slot] = nil
	a.freeNodeSlots = append(a.freeNodeSlots, n.slot)
}
