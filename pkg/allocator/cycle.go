package allocator

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Allocate runs one allocation cycle at the clock's current time and returns the offers it
// made, ordered by framework ID then offer ID. They are outstanding from now on: the caller
// publishes each one (as an Offer object) or, if it cannot, rescinds it.
//
// The cycle visits the pool's nodes in a fresh random order. Each node's whole free amount
// goes to the first framework in the sorter's order that is eligible for it; if the
// framework's limits cut the amount down, what is left goes on to the next eligible
// framework. Each decision counts as held at once, so the order is current for the next
// node. A framework is eligible for a node when it is known, active and not suppressed, has
// no live decline filter on the node, passes the node's selector, taint and GPU rules, and is
// offered at least the minimum allocatable amount within its limits.
func (a *Allocator) Allocate() []Offer {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	a.expireFilters(now)

	// Who may get anything at all this cycle; narrowed per node below.
	base := a.base
	clear(base)
	anyone := false
	for _, fw := range a.fws {
		if fw != nil && fw.known && fw.active && !fw.suppressed && (!fw.hasLimits || fw.headroom().atLeast(a.min)) {
			base.Set(int(fw.slot))
			anyone = true
		}
	}
	a.cycleFirstOffer, a.cycleNow, a.cycleNano = a.nextOfferID, now, now.UnixNano()
	a.startQuotaCycle(base) // may drop frameworks whose roles are at their limits
	next := &a.whyNext
	copy(next.base, base)
	clear(next.offered)
	if !anyone {
		a.finishCycle(now)
		return nil
	}

	// The nodes worth visiting: someone may get them and they have enough free. Eligibility
	// only shrinks during a cycle and free amounts change only where offers are made, so
	// no node left out here could get an offer later in the cycle. Checking first, in slot
	// order, reads the rows sequentially and leaves most node structs alone; shuffling only
	// what is left makes a cycle that offers nothing cheap.
	perm := a.visitable(base)
	a.rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	words := a.words

	var made []*offer // this cycle's offers; a.cycleOpen[fw] indexes the framework's open one
	eligible := a.eligible
	for _, slot := range perm {
		free := a.free[slot]
		off := int(slot) * words
		filtered := a.filtered[off : off+words]
		incompatible := a.incompatible[off : off+words]
		var some uint64
		for w := range eligible {
			e := base[w] &^ filtered[w] &^ incompatible[w]
			eligible[w] = e
			some |= e
		}
		if some == 0 {
			continue // frameworks reached their limits earlier in the cycle
		}
		if a.qs.on {
			made = a.quotaNode(slot, base, eligible, made)
			continue
		}
		for {
			c, ok := a.sorter.First(eligible)
			if !ok {
				break
			}
			eligible.Clear(int(c))
			fw := a.fws[c]
			amount := free
			if fw.hasLimits {
				amount = capToHeadroom(free, fw.headroom())
			}
			if !amount.atLeast(a.min) {
				continue
			}
			if a.cycleOpen[c] < 0 {
				// The framework's first node this cycle counts it as served once, however
				// many nodes and Offer objects the cycle gives it: ties break by how many
				// cycles a framework was offered something in, so two frameworks that keep
				// returning to the same share take turns, cycle by cycle.
				a.sorter.Served(c)
			}
			made = a.recordPart(made, fw, offerPart{node: slot, remaining: amount})
			a.setFree(slot, a.free[slot].Sub(amount)) // the node itself is updated below
			fw.offered = fw.offered.Add(amount)
			a.holdingsChanged(fw)
			a.sorter.Allocated(c, amount)
			free = free.Sub(amount)
			if fw.hasLimits && !fw.headroom().atLeast(a.min) {
				base.Clear(int(c))
			}
			if !free.atLeast(a.min) {
				break
			}
		}
	}
	var out []Offer
	if len(made) > 0 {
		out = make([]Offer, len(made))
	}
	for i, o := range made {
		a.openOffer(o, now)
		next.offered.Set(int(o.fw))
		out[i] = a.export(o)
	}
	if a.qs.on {
		// Take back revocable resources for roles still below their guarantees (older offers
		// only; this cycle's are open above, so the nodes count them). What comes back is
		// offered from the next cycle on (to those roles first), once the caller has written
		// the rescinds: the same resources never show in two live offers.
		a.reclaim(base)
	}
	a.finishCycle(now)
	if len(made) == 0 {
		return nil
	}
	slices.SortFunc(out, func(x, y Offer) int {
		if c := strings.Compare(x.Framework, y.Framework); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out
}

// visitable returns, in slot order, the pool's nodes that some framework in base may get and
// that have at least the minimum free. It is the whole cost of a cycle that offers nothing,
// so it is kept apart from the rest of Allocate, whose code does not then disturb this loop.
func (a *Allocator) visitable(base Bitset) []int32 {
	if a.preempting.Any() {
		return a.visitableHeld(base)
	}
	words := a.words
	perm := a.perm[:0]
	for s := a.poolSlots.Next(0); s >= 0; s = a.poolSlots.Next(s + 1) {
		off := s * words
		filtered := a.filtered[off : off+words]
		incompatible := a.incompatible[off : off+words]
		var some uint64
		for w, b := range base {
			some |= b &^ filtered[w] &^ incompatible[w]
		}
		if some != 0 && a.free[s].atLeast(a.min) {
			perm = append(perm, int32(s))
		}
	}
	a.perm = perm
	return perm
}

// visitableHeld is visitable when some nodes are held (quotas: preempted tasks stop there, or
// what they freed, or a needy framework declined, waits for a role): a held node is checked
// against its role's needy frameworks instead of base, in the same loop, as a cycle may find
// every node held. Kept apart so that the loop without holds stays as tight as it was.
func (a *Allocator) visitableHeld(base Bitset) []int32 {
	words := a.words
	perm := a.perm[:0]
	held := a.preempting
	for s := a.poolSlots.Next(0); s >= 0; s = a.poolSlots.Next(s + 1) {
		off := s * words
		filtered := a.filtered[off : off+words]
		incompatible := a.incompatible[off : off+words]
		who := base
		if held.Has(s) {
			// Preempted tasks still stop there (no role: nobody gets it), or it is held for a
			// role: while the hold stands only the role's needy frameworks may get it; once it
			// ended, quotaNode lets go of it.
			h := &a.holds[s]
			if h.role == nil {
				continue
			}
			m := &h.role.mask
			if m.cycle != a.cycles+1 {
				m = a.heldMask(h.role, base) // the role's first held node this cycle
			}
			if m.live && a.cycleNano < h.until {
				who = m.bits
			}
		}
		var some uint64
		for w, b := range who {
			some |= b &^ filtered[w] &^ incompatible[w]
		}
		if some != 0 && a.free[s].atLeast(a.min) {
			perm = append(perm, int32(s))
		}
	}
	a.perm = perm
	return perm
}

// openOffer makes one of the cycle's offers outstanding: the allocator holds it and charges
// its nodes.
func (a *Allocator) openOffer(o *offer, now time.Time) {
	a.cycleOpen[o.fw], a.cycleOpenRev[o.fw] = -1, -1
	o.madeAt = now
	a.offers[o.id] = o
	for _, p := range o.parts {
		n := a.nodes[p.node]
		n.offered = n.offered.Add(p.remaining)
		n.offers = append(n.offers, o.id)
	}
}

// recordPart adds the decision p (fw gets p.remaining on node p.node) to fw's open offer of
// this cycle (its revocable one for a revocable part), opening a new one when there is none or
// it is full.
func (a *Allocator) recordPart(made []*offer, fw *framework, p offerPart) []*offer {
	open := a.cycleOpen
	if p.revocable {
		open = a.cycleOpenRev
	}
	i := open[fw.slot]
	if i < 0 || (a.maxNodesPerOffer > 0 && len(made[i].parts) >= a.maxNodesPerOffer) {
		i = int32(len(made))
		made = append(made, &offer{id: a.nextOfferID, fw: fw.slot})
		a.nextOfferID++
		open[fw.slot] = i
	}
	made[i].parts = append(made[i].parts, p)
	return made
}

// capToHeadroom cuts a node's free amount down to what a framework's limits still allow. All
// resources shrink by the same factor, the one the tightest limit needs, so the offer keeps
// the node's shape and what stays behind is as usable by the next framework as the node was
// (cutting only the limited resource would hand over all the memory with a quarter of the
// CPU, stranding the other three quarters).
func capToHeadroom(free, headroom Resources) Resources {
	factor := 1.0
	for r := range free {
		if free[r] > headroom[r] {
			factor = min(factor, float64(headroom[r])/float64(free[r]))
		}
	}
	if factor == 1 {
		return free
	}
	var out Resources
	for r := range free {
		out[r] = min(int64(float64(free[r])*factor), headroom[r])
	}
	return out
}
