package allocator

import (
	"fmt"
	"slices"
	"time"
)

// Offer returns an outstanding offer with what of it is still unused, node by node.
func (a *Allocator) Offer(id OfferID) (Offer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.offers[id]
	if !ok {
		return Offer{}, false
	}
	return a.export(o), true
}

func (a *Allocator) export(o *offer) Offer {
	out := Offer{ID: o.id, Framework: a.fws[o.fw].id, MadeAt: o.madeAt, Nodes: make([]OfferNode, len(o.parts))}
	for i, p := range o.parts {
		out.Nodes[i] = OfferNode{Node: a.nodes[p.node].name, Resources: p.remaining, Revocable: p.revocable}
	}
	return out
}

// ReleaseOffer returns what is unused of an offer to the pool (the framework deleted the
// Offer: a decline). With refuse > 0, every node where something went back is filtered for
// the framework until refuse has passed, or until Revive.
//
// releasedAt is when the framework released the offer (the zero time means now). A release
// that is not after the framework's last Revive, compared at 1-second resolution, installs
// no filter: the framework revived after the decline, or in the same second, and asked to
// see those resources again. The controller may learn of the release only after it saw the
// revive, and the order it asked in is what counts.
func (a *Allocator) ReleaseOffer(id OfferID, refuse time.Duration, releasedAt time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.offers[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownOffer, id)
	}
	fw := a.fws[o.fw]
	if releasedAt.IsZero() {
		releasedAt = a.clock.Now()
	}
	if refuse > 0 && !releasedAt.Truncate(time.Second).After(fw.revivedAt) {
		refuse = 0
	}
	var declined []int32
	a.dropOffer(o, func(p offerPart) {
		if refuse > 0 && !p.remaining.IsZero() {
			declined = append(declined, p.node)
		}
		if refuse > 0 {
			a.noteDeclined(fw, p, a.clock.Now().Add(refuse))
		}
	})
	if len(declined) > 0 {
		a.addFilters(fw, declined, a.clock.Now(), refuse)
	}
	return nil
}

// RescindOffer takes an offer back without a filter (it expired, the framework became
// inactive, the offer could not be published). Suppression is no reason: SUPPRESS stops new
// offers only.
func (a *Allocator) RescindOffer(id OfferID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.offers[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownOffer, id)
	}
	a.dropOffer(o, nil)
	return nil
}

// noteDeclined holds for fw's role what fw declined of an offer part made for the role's
// guarantee, until fw's decline filter on the node expires (then it is offered to the role
// first again): lent meanwhile, it would be preempted again as soon as the filter expired,
// and a framework that launches a little on each such offer and declines the rest would have
// its role's whole gap preempted round after round.
func (a *Allocator) noteDeclined(fw *framework, p offerPart, until time.Time) {
	if !p.guaranteed || !p.remaining.atLeast(a.min) || a.preempting.Has(int(p.node)) {
		return
	}
	for _, r := range fw.chain {
		// What it holds still counts the offer being released: the first role with a
		// guarantee is the one the part was for (heldRole lets go of a role satisfied since).
		if !r.guarantee.IsZero() {
			a.hold(p.node, r, until)
			return
		}
	}
}

// RescindOfferNode takes back the part of an offer on one node, without a filter. The
// Rescinded it returns has CauseOther: the caller knows why.
func (a *Allocator) RescindOfferNode(id OfferID, nodeName string) (Rescinded, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.offers[id]
	if !ok {
		return Rescinded{}, fmt.Errorf("%w: %d", ErrUnknownOffer, id)
	}
	slot, ok := a.nodeByName[nodeName]
	if !ok || !slices.ContainsFunc(o.parts, func(p offerPart) bool { return p.node == slot }) {
		return Rescinded{}, fmt.Errorf("%w: offer %d, node %s", ErrNodeNotInOffer, id, nodeName)
	}
	return a.rescindPart(o, slot, CauseOther), nil
}

// dropOffer returns everything unused of o to the pool and forgets o, calling each (if not
// nil) with every part first. The framework's share changes once, not once per node.
func (a *Allocator) dropOffer(o *offer, each func(p offerPart)) {
	fw := a.fws[o.fw]
	var total Resources
	for _, p := range o.parts {
		if each != nil {
			each(p)
		}
		n := a.nodes[p.node]
		n.offered = n.offered.Sub(p.remaining)
		n.offers = slices.DeleteFunc(n.offers, func(id OfferID) bool { return id == o.id })
		a.touch(n)
		total = total.Add(p.remaining)
		if p.revocable {
			fw.revOffered = fw.revOffered.Sub(p.remaining)
		}
	}
	o.parts = nil
	delete(a.offers, o.id)
	fw.offered = fw.offered.Sub(total)
	a.holdingsChanged(fw)
	if fw.known {
		a.sorter.Unallocated(Client(fw.slot), total)
	}
	a.maybeFreeFramework(fw)
}

// rescindPart returns the unused part of o on node slot to the pool.
func (a *Allocator) rescindPart(o *offer, slot int32, cause RescindCause) Rescinded {
	i := slices.IndexFunc(o.parts, func(p offerPart) bool { return p.node == slot })
	p := o.parts[i]
	o.parts = slices.Delete(o.parts, i, i+1)
	n, fw := a.nodes[slot], a.fws[o.fw]
	n.offered = n.offered.Sub(p.remaining)
	n.offers = slices.DeleteFunc(n.offers, func(id OfferID) bool { return id == o.id })
	a.touch(n)
	fw.offered = fw.offered.Sub(p.remaining)
	if p.revocable {
		fw.revOffered = fw.revOffered.Sub(p.remaining)
	}
	a.holdingsChanged(fw)
	if fw.known {
		a.sorter.Unallocated(Client(fw.slot), p.remaining)
	}
	r := Rescinded{Offer: o.id, Framework: fw.id, Node: n.name, Resources: p.remaining, Cause: cause}
	if len(o.parts) == 0 {
		delete(a.offers, o.id)
		r.OfferGone = true
		a.maybeFreeFramework(fw)
	}
	if !n.present && n.taskCount == 0 && len(n.offers) == 0 {
		a.freeNode(n)
	}
	return r
}

// RestoreOffer records an offer that exists already (the controller rebuilding its model
// after a restart), with what of it is unused per node. Node parts that do not fit what is
// free on their node (or a node without a pod slot left), name an unknown node or one out of
// the pool, or a node the framework is not eligible for (selector, taints, GPU rule), are
// left out and returned: the caller rescinds them. IDs handed out later are above o.ID.
func (a *Allocator) RestoreOffer(o Offer) (rejected []string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.offers[o.ID]; ok || o.ID == 0 {
		return nil, fmt.Errorf("%w: offer ID %d in use or zero", ErrInvalid, o.ID)
	}
	fw, err := a.known(o.Framework)
	if err != nil {
		return nil, err
	}
	in := &offer{id: o.ID, fw: fw.slot, madeAt: o.MadeAt}
	var total Resources
	for _, p := range o.Nodes {
		slot, ok := a.nodeByName[p.Node]
		if !ok || !a.nodes[slot].inPool() || a.row(a.incompatible, slot).Has(int(fw.slot)) || p.Resources.HasNegative() ||
			!p.Resources.Fits(a.nodes[slot].free()) ||
			slices.ContainsFunc(in.parts, func(q offerPart) bool { return q.node == slot }) {
			rejected = append(rejected, p.Node)
			continue
		}
		n := a.nodes[slot]
		n.offered = n.offered.Add(p.Resources)
		n.offers = append(n.offers, o.ID)
		a.touch(n)
		in.parts = append(in.parts, offerPart{node: slot, remaining: p.Resources, revocable: p.Revocable})
		total = total.Add(p.Resources)
		if p.Revocable {
			fw.revOffered = fw.revOffered.Add(p.Resources)
		}
	}
	a.nextOfferID = max(a.nextOfferID, o.ID+1)
	if len(in.parts) == 0 {
		return rejected, nil
	}
	a.offers[o.ID] = in
	fw.offered = fw.offered.Add(total)
	a.holdingsChanged(fw)
	a.sorter.Allocated(Client(fw.slot), total)
	return rejected, nil
}

// SkipOfferIDsTo makes the next offer ID at least id (IDs never go back).
func (a *Allocator) SkipOfferIDsTo(id OfferID) {
	a.nextOfferID = max(a.nextOfferID, id)
}
