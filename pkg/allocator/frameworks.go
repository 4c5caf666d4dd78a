package allocator

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// SetFramework adds a framework, active and unfiltered, or updates it, and returns what it
// may no longer hold, rescinded (CauseFrameworkChanged): its offer parts on nodes its new
// node selector, tolerations or capabilities exclude; then, when what it holds (tasks plus
// offers) exceeds a lowered limit, offer parts until it fits or no offered amount of the
// exceeded resources is left (tasks are never taken back; see rescindOverLimits for the
// order). Suppression, weight and role rescind nothing: SUPPRESS stops new offers only, as
// in Mesos, and the framework may still use what it was offered. A role change starts the
// framework's count of cycles served (the DRF tie-break) afresh in its new role.
func (a *Allocator) SetFramework(spec FrameworkSpec) ([]Rescinded, error) {
	if err := validateFramework(&spec); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fw := a.frameworkFor(spec.ID)
	old := fw.spec
	wasKnown := fw.known
	fw.spec = spec
	fw.spec.NodeSelector = cloneSelector(spec.NodeSelector)
	fw.spec.Tolerations = slices.Clone(spec.Tolerations)
	fw.spec.Capabilities = slices.Clone(spec.Capabilities)
	fw.spec.Limits = maps.Clone(spec.Limits)
	fw.hasLimits = len(spec.Limits) > 0
	fw.suppressed = spec.Suppressed
	fw.revocableCapable = slices.Contains(spec.Capabilities, CapabilityRevocableResources)
	if !wasKnown || old.Role != spec.Role {
		a.setChain(fw)
	}
	a.needEvent(fw) // reconfigured, or new: what its roles' frameworks declined counts no more
	fw.limits = Resources{unlimited, unlimited, unlimited, unlimited}
	for r, v := range spec.Limits {
		fw.limits[r] = v
	}
	c := Client(fw.slot)
	switch {
	case !wasKnown:
		fw.known, fw.active = true, true
		fw.setCycle = a.cycles // no cycle has judged it yet; the next one will, and tells
		a.queueWhy(fw)
		a.sorter.Add(c, fw.id, spec.Role, spec.Weight)
		a.sorter.Allocated(c, fw.held())
		a.sorter.Activate(c)
	case old.Role != spec.Role:
		a.sorter.Remove(c)
		a.sorter.Add(c, fw.id, spec.Role, spec.Weight)
		a.sorter.Allocated(c, fw.held())
		if fw.active {
			a.sorter.Activate(c)
		}
	case old.Weight != spec.Weight:
		a.sorter.UpdateWeight(c, spec.Weight)
	}
	placementChanged := !wasKnown || !samePlacement(&old, &fw.spec)
	if placementChanged {
		for _, n := range a.nodes {
			if n != nil && n.present {
				a.setCompatible(a.row(a.incompatible, n.slot), fw, n)
			}
		}
	}
	if !wasKnown {
		return nil, nil // a new framework (or a placeholder) has no offers yet
	}
	var out []Rescinded
	if placementChanged {
		for _, o := range a.offersOf(fw) {
			for _, p := range slices.Clone(o.parts) {
				if a.row(a.incompatible, p.node).Has(int(fw.slot)) {
					out = append(out, a.rescindPart(o, p.node, CauseFrameworkChanged))
				}
			}
		}
	}
	if !maps.Equal(old.Limits, fw.spec.Limits) && fw.hasLimits && !fw.held().Fits(fw.limits) {
		out = a.rescindOverLimits(fw, out)
	}
	return out, nil
}

// offersOf returns the outstanding offers of fw, oldest first.
func (a *Allocator) offersOf(fw *framework) []*offer {
	var out []*offer
	for _, o := range a.offers {
		if o.fw == fw.slot {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(x, y *offer) int { return cmp.Compare(x.id, y.id) })
	return out
}

// rescindOverLimits takes back offer parts of fw until what it holds fits its limits, or no
// part holds any of a resource over its limit. The newest offer goes first, as in fitNode:
// the framework has had the least time to use it. Within an offer, the part that covers the
// largest fraction of the excess goes first (ties by node name), so that as few parts as
// possible are taken back. A part holding none of an exceeded resource stays: taking it would
// not help.
func (a *Allocator) rescindOverLimits(fw *framework, out []Rescinded) []Rescinded {
	offers := a.offersOf(fw)
	for i := len(offers) - 1; i >= 0; {
		excess := fw.held().Sub(fw.limits)
		if excess.ClampZero().IsZero() {
			break
		}
		o := offers[i]
		best, bestCover := -1, 0.0
		for j, p := range o.parts {
			cover := 0.0
			for r, e := range excess {
				if e > 0 && p.remaining[r] > 0 {
					cover = max(cover, float64(p.remaining[r])/float64(e))
				}
			}
			if cover == 0 {
				continue
			}
			if best < 0 || cover > bestCover ||
				(cover == bestCover && a.nodes[p.node].name < a.nodes[o.parts[best].node].name) {
				best, bestCover = j, cover
			}
		}
		if best < 0 {
			i-- // nothing of this offer helps; try the next older one
			continue
		}
		gone := len(o.parts) == 1
		out = append(out, a.rescindPart(o, o.parts[best].node, CauseFrameworkChanged))
		if gone {
			i--
		}
	}
	return out
}

func validateFramework(spec *FrameworkSpec) error {
	if spec.ID == "" {
		return fmt.Errorf("%w: framework without an ID", ErrInvalid)
	}
	if spec.Role == "" {
		spec.Role = DefaultRole
	}
	for _, seg := range strings.Split(spec.Role, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: framework %s: bad role %q", ErrInvalid, spec.ID, spec.Role)
		}
	}
	if spec.Weight == 0 {
		spec.Weight = 1
	}
	if !(spec.Weight > 0) || math.IsInf(spec.Weight, 0) {
		return fmt.Errorf("%w: framework %s: weight %v must be a positive number", ErrInvalid, spec.ID, spec.Weight)
	}
	if err := spec.NodeSelector.Validate(); err != nil {
		return fmt.Errorf("%w: framework %s: %v", ErrInvalid, spec.ID, err)
	}
	for _, t := range spec.Tolerations {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("%w: framework %s: %v", ErrInvalid, spec.ID, err)
		}
	}
	for _, c := range spec.Capabilities {
		if c != CapabilityGPUResources && c != CapabilityRevocableResources {
			return fmt.Errorf("%w: framework %s: unknown capability %q", ErrInvalid, spec.ID, c)
		}
	}
	for r, v := range spec.Limits {
		if r < 0 || r >= NumResources || v < 0 {
			return fmt.Errorf("%w: framework %s: bad limit %v=%d", ErrInvalid, spec.ID, r, v)
		}
	}
	return nil
}

func cloneSelector(s *LabelSelector) *LabelSelector {
	if s == nil {
		return nil
	}
	c := &LabelSelector{MatchLabels: maps.Clone(s.MatchLabels)}
	for _, r := range s.MatchExpressions {
		r.Values = slices.Clone(r.Values)
		c.MatchExpressions = append(c.MatchExpressions, r)
	}
	return c
}

func samePlacement(a, b *FrameworkSpec) bool {
	if a.gpuCapable() != b.gpuCapable() || !slices.Equal(a.Tolerations, b.Tolerations) {
		return false
	}
	x, y := a.NodeSelector, b.NodeSelector
	if x == nil || y == nil {
		return x == y
	}
	return maps.Equal(x.MatchLabels, y.MatchLabels) &&
		slices.EqualFunc(x.MatchExpressions, y.MatchExpressions, func(p, q LabelSelectorRequirement) bool {
			return p.Key == q.Key && p.Operator == q.Operator && slices.Equal(p.Values, q.Values)
		})
}

// compatible reports whether fw may ever be offered n, whatever either holds.
func compatible(fw *framework, n *node) bool {
	return (!n.hasGPU() || fw.spec.gpuCapable()) &&
		toleratesAll(fw.spec.Tolerations, n.taints) &&
		fw.spec.NodeSelector.Matches(n.labels)
}

func (a *Allocator) setCompatible(inc Bitset, fw *framework, n *node) {
	if compatible(fw, n) {
		inc.Clear(int(fw.slot))
	} else {
		inc.Set(int(fw.slot))
	}
}

// frameworkFor returns the framework with id, making a placeholder when there is none.
func (a *Allocator) frameworkFor(id string) *framework {
	if slot, ok := a.fwByID[id]; ok {
		return a.fws[slot]
	}
	a.seq++
	fw := &framework{id: id, revivedSeq: a.seq}
	if k := len(a.freeFwSlots); k > 0 {
		fw.slot = a.freeFwSlots[k-1]
		a.freeFwSlots = a.freeFwSlots[:k-1]
		a.fws[fw.slot] = fw
	} else {
		fw.slot = int32(len(a.fws))
		a.ensureFrameworkSlot(fw.slot)
		a.fws = append(a.fws, fw)
		a.cycleOpen = append(a.cycleOpen, -1)
		a.cycleOpenRev = append(a.cycleOpenRev, -1)
	}
	a.fwByID[id] = fw.slot
	return fw
}

func (a *Allocator) known(id string) (*framework, error) {
	if slot, ok := a.fwByID[id]; ok && a.fws[slot].known {
		return a.fws[slot], nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownFramework, id)
}

// SetFrameworkActive marks a framework active or not (its Lease is fresh or stale). An
// inactive framework gets no offers; what it holds still counts for its roles. Its
// outstanding offers are left for the caller to rescind.
func (a *Allocator) SetFrameworkActive(id string, active bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, err := a.known(id)
	if err != nil {
		return err
	}
	if fw.active != active {
		fw.active = active
		if active {
			a.needEvent(fw) // back (a new instance, perhaps): it may want what it declined
			a.sorter.Activate(Client(fw.slot))
		} else {
			a.sorter.Deactivate(Client(fw.slot))
		}
	}
	return nil
}

// Revive clears every decline filter of the framework (REVIVE). at is when the framework
// asked (its spec.revivedAt, 1-second resolution; the zero time means now): a later
// ReleaseOffer of a release made no later than that installs no filter. An at earlier than
// an earlier revive's does not move the revive time back.
func (a *Allocator) Revive(id string, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, err := a.known(id)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = a.clock.Now()
	}
	if at = at.Truncate(time.Second); at.After(fw.revivedAt) {
		fw.revivedAt = at
	}
	a.clearFilters(fw)
	a.needEvent(fw)
	return nil
}

// RemoveFramework forgets a framework (TEARDOWN): its offers are rescinded and returned and
// its filters dropped. Its tasks stay charged to their nodes until FinishTask or RemoveNode,
// because their pods run until the executor has killed them.
func (a *Allocator) RemoveFramework(id string) []Rescinded {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, err := a.known(id)
	if err != nil {
		return nil
	}
	var out []Rescinded
	for _, oid := range slices.Sorted(maps.Keys(a.offers)) {
		if o := a.offers[oid]; o.fw == fw.slot {
			a.dropOffer(o, func(p offerPart) {
				out = append(out, Rescinded{Offer: o.id, Framework: fw.id, Node: a.nodes[p.node].name, Resources: p.remaining, Cause: CauseOther})
			})
			out[len(out)-1].OfferGone = true
		}
	}
	a.clearFilters(fw)
	a.sorter.Remove(Client(fw.slot))
	fw.known, fw.active = false, false
	fw.revivedAt = time.Time{} // a framework set again later starts afresh
	a.maybeFreeFramework(fw)
	return out
}

// maybeFreeFramework releases the slot of a removed framework that holds nothing any more.
func (a *Allocator) maybeFreeFramework(fw *framework) {
	if fw.known || fw.taskCount > 0 || !fw.offered.IsZero() {
		return
	}
	for _, n := range a.nodes {
		if n != nil {
			a.row(a.incompatible, n.slot).Clear(int(fw.slot))
		}
	}
	delete(a.fwByID, fw.id)
	a.quotaFws = slices.DeleteFunc(a.quotaFws, func(c int32) bool { return c == fw.slot })
	a.sumStale = true // a framework taking the slot must not inherit its part of the sums
	a.chainGen++
	a.fws[fw.slot] = nil
	a.freeFwSlots = append(a.freeFwSlots, fw.slot)
}
