package allocator

import (
	"cmp"
	"math/bits"
	"slices"
	"time"
)

// Why says what became of a framework in the last allocation cycle that ran: offered
// something, or the first reason it got nothing. A cycle records two bits per framework, at
// its start and at its end, and nothing per node; Why reads them, and Explain adds the
// detail on demand, telling WaitingForShare from NoNodes by how the nodes stand.
type Why uint8

const (
	// WhyNoCycle: no cycle has run since the framework was set.
	WhyNoCycle Why = iota
	// WhyOffered: the cycle offered it something.
	WhyOffered
	// WhyInactive: the framework is not active (its Lease is stale).
	WhyInactive
	// WhySuppressed: the framework suppressed offers.
	WhySuppressed
	// WhyAtLimit: its limits leave less than the minimum allocatable.
	WhyAtLimit
	// WhyNotOffered: it was eligible but got nothing; Explain says whether others' offers
	// hold the nodes it may use (WhyWaitingForShare) or nothing there has room (WhyNoNodes).
	WhyNotOffered
	// WhyWaitingForShare (from Explain): nodes it may use are offered to frameworks that came
	// before it in DRF order.
	WhyWaitingForShare
	// WhyNoNodes (from Explain): no pool node it may use has room; the node counts say why.
	WhyNoNodes
	// WhyAtRoleLimit: the limit of a quota'd role it lies under leaves less than the minimum
	// allocatable.
	WhyAtRoleLimit
	// WhyHeldForGuarantees (from Explain): nodes it may use have room, but what is free is
	// held back for roles below their guarantees, and it takes no revocable resources.
	WhyHeldForGuarantees
)

var whyNames = [...]string{"NoCycle", "Offered", "Inactive", "Suppressed", "AtLimit", "NotOffered", "WaitingForShare", "NoNodes", "AtRoleLimit", "HeldForGuarantees"}

func (w Why) String() string {
	if int(w) < len(whyNames) {
		return whyNames[w]
	}
	return "Why(?)"
}

// NodeCause is the first thing, in this order, that keeps a node from a framework.
type NodeCause uint8

const (
	// NodeSelectorMismatch: the node's labels do not match the framework's node selector.
	NodeSelectorMismatch NodeCause = iota
	// NodeUntolerated: the node has a NoSchedule or NoExecute taint the framework does not
	// tolerate.
	NodeUntolerated
	// NodeGPUWithoutCapability: the node has GPUs and the framework lacks GPUResources.
	NodeGPUWithoutCapability
	// NodeDeclined: a decline filter of the framework is live on the node.
	NodeDeclined
	// NodePodsFull: the node has no pod slot left.
	NodePodsFull
	// NodeOffered: what is free is held by outstanding offers to other frameworks.
	NodeOffered
	// NodeFull: nothing of some resource the minimum names is free: tasks and other
	// schedulers' pods hold it.
	NodeFull
	// NodeBelowMin: something is free, but less than the minimum allocatable.
	NodeBelowMin
	// NodeAvailable: the node has room the framework may be offered.
	NodeAvailable
	// NumNodeCauses is the number of causes.
	NumNodeCauses
)

var nodeCauseNames = [...]string{"NodeSelector", "Taints", "GPU", "Declined", "PodsFull", "Offered", "Full", "BelowMinAllocatable", "Available"}

func (c NodeCause) String() string {
	if int(c) < len(nodeCauseNames) {
		return nodeCauseNames[c]
	}
	return "NodeCause(?)"
}

// Explanation is why a framework got nothing in the last cycle, with the detail a person
// needs to act on it. Node counts and shares are as of the call.
type Explanation struct {
	// Why is what the last cycle found of the framework, with WhyNotOffered resolved into
	// WhyWaitingForShare or WhyNoNodes.
	Why Why
	// At is when that cycle ran; zero when none has.
	At time.Time
	// PoolNodes is the number of nodes in the pool.
	PoolNodes int
	// Nodes counts the pool nodes by the first cause that keeps each from the framework.
	Nodes [NumNodeCauses]int
	// OutOfPool counts the nodes outside the pool (not Ready, cordoned, no live executor,
	// outside the controller's node selector) that the framework's placement would match.
	OutOfPool int
	// DeclinedUntil is when the first of its decline filters on a pool node it matches
	// expires; zero when none is live.
	DeclinedUntil time.Time
	// Share is the framework's weighted dominant share.
	Share float64
	// Held is what the framework holds (tasks plus offers); Headroom what its limits still
	// allow (unlimited resources read as the largest int64).
	Held, Headroom Resources
	// Min is the minimum allocatable amount.
	Min Resources
	// LargestFree is the largest free amount (by CPU, then memory) on a pool node it
	// matches and has not declined.
	LargestFree Resources
	// Ahead are the frameworks whose outstanding offers hold pool nodes it may use, lowest
	// weighted share first, at most MaxNamed: whom weighted DRF offered them to.
	Ahead []FrameworkShare
	// Holders are the other frameworks whose tasks hold the most CPU (then memory) on the
	// pool nodes it may use that have no room, at most MaxNamed, with their shares.
	Holders []FrameworkShare
	// Foreign is what other schedulers' pods hold on those nodes.
	Foreign Resources
	// HeldBack is what the last cycle held back for roles below their guarantees (offered
	// only as revocable resources).
	HeldBack Resources
}

// FrameworkShare names a framework and its weighted dominant share.
type FrameworkShare struct {
	ID    string
	Share float64
}

// MaxNamed bounds the frameworks an Explanation names.
const MaxNamed = 3

// Matching is the number of pool nodes the framework's placement (selector, tolerations,
// GPU rule) allows.
func (e *Explanation) Matching() int {
	return e.PoolNodes - e.Nodes[NodeSelectorMismatch] - e.Nodes[NodeUntolerated] - e.Nodes[NodeGPUWithoutCapability]
}

// whyBits are what a cycle found of each framework slot: eligible for something at its
// start (base), offered something (offered). Two bits per framework are all a cycle
// records, so its cost does not grow with the frameworks that got nothing.
type whyBits struct{ base, offered Bitset }

func newWhyBits(words int) whyBits {
	return whyBits{make(Bitset, words), make(Bitset, words)}
}

// widen returns b with room for words words, its bits kept.
func (b whyBits) widen(words int) whyBits {
	w := newWhyBits(words)
	copy(w.base, b.base)
	copy(w.offered, b.offered)
	return w
}

// finishCycle makes the running cycle's bits the last cycle's and queues the frameworks whose
// bits changed for WhyChanged: a pass over the bit words, and work only for changes. (A
// framework added since the last cycle was queued by SetFramework: its slot's bits may be a
// former occupant's, or the same before and after.)
func (a *Allocator) finishCycle(now time.Time) {
	a.cycles++
	a.lastCycleAt = now
	l, n := &a.whyLast, &a.whyNext
	for w := range n.base {
		ch := (l.base[w] ^ n.base[w]) | (l.offered[w] ^ n.offered[w])
		for ch != 0 {
			slot := w<<6 + bits.TrailingZeros64(ch)
			ch &= ch - 1
			if fw := a.fws[slot]; fw != nil && fw.known {
				a.queueWhy(fw)
			}
		}
	}
	a.whyLast, a.whyNext = a.whyNext, a.whyLast
}

// whyOf reads what the last cycle found of fw. A framework that was not eligible at its start
// gets the reason that holds now (the controller re-reads it when the spec or liveness
// changes), or WhyNoCycle when none does any more.
func (a *Allocator) whyOf(fw *framework) Why {
	l, s := &a.whyLast, int(fw.slot)
	switch {
	case fw.setCycle >= a.cycles:
		return WhyNoCycle
	case l.offered.Has(s):
		return WhyOffered
	case l.base.Has(s):
		return WhyNotOffered
	case !fw.active:
		return WhyInactive
	case fw.spec.Suppressed:
		return WhySuppressed
	case !fw.headroom().atLeast(a.min):
		return WhyAtLimit
	case fw.roleLimited && !fw.roleHeadroom().atLeast(a.min):
		return WhyAtRoleLimit
	}
	return WhyNoCycle
}

// WhyChanged returns the frameworks whose Why changed since the last call, and forgets them:
// the caller refreshes what it shows of them.
func (a *Allocator) WhyChanged() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, slot := range a.whyChanged {
		if fw := a.fws[slot]; fw != nil && fw.whyDirty {
			fw.whyDirty = false
			out = append(out, fw.id)
		}
	}
	a.whyChanged = a.whyChanged[:0]
	return out
}

// Why returns what the last cycle found of the framework, without Explain's detail.
func (a *Allocator) Why(id string) (Why, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, err := a.known(id)
	if err != nil {
		return WhyNoCycle, err
	}
	return a.whyOf(fw), nil
}

// Explain returns why the framework got nothing in the last cycle. It costs a pass over the
// nodes and the frameworks; the cycle itself only records the Why.
func (a *Allocator) Explain(id string) (Explanation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, err := a.known(id)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Why: a.whyOf(fw), At: a.lastCycleAt, Held: fw.held(), Headroom: fw.headroom(), Min: a.min}
	if e.Why == WhyNoCycle {
		e.At = time.Time{}
	}
	inv := inverse(a.pool)
	e.Share = shareOf(fw.tasks, fw.offered, fw.spec.Weight, &inv).Weighted

	var offeredBy map[int32]int // framework slot -> nodes it holds offers on that fw may use
	var taken Bitset            // the pool nodes fw may use that have no room
	for _, n := range a.nodes {
		if n == nil || !n.present {
			continue
		}
		if !n.inPool() {
			if compatible(fw, n) {
				e.OutOfPool++
			}
			continue
		}
		e.PoolNodes++
		c := a.nodeCause(fw, n)
		e.Nodes[c]++
		if c >= NodePodsFull {
			if f := a.free[n.slot]; f[CPU] > e.LargestFree[CPU] || (f[CPU] == e.LargestFree[CPU] && f[Memory] > e.LargestFree[Memory]) {
				e.LargestFree = f
			}
		}
		if c == NodePodsFull || c == NodeFull || c == NodeBelowMin {
			if taken == nil {
				taken = NewBitset(len(a.nodes))
			}
			taken.Set(int(n.slot))
			e.Foreign = e.Foreign.Add(n.usedByOthers)
		}
		if c == NodeOffered {
			if offeredBy == nil {
				offeredBy = map[int32]int{}
			}
			for _, id := range n.offers {
				if o := a.offers[id]; o != nil && o.fw != fw.slot {
					offeredBy[o.fw]++
				}
			}
		}
	}
	e.HeldBack = a.qs.headroom
	if e.Why == WhyNotOffered {
		e.Why = WhyNoNodes
		switch {
		case e.Nodes[NodeAvailable] > 0 && !e.HeldBack.IsZero() && !fw.revocableCapable && !fw.needy():
			e.Why = WhyHeldForGuarantees
		case e.Nodes[NodeOffered] > 0:
			e.Why = WhyWaitingForShare
		}
	}
	if e.Nodes[NodeDeclined] > 0 {
		e.DeclinedUntil = a.firstFilterExpiry(fw)
	}

	// What each other framework's tasks hold on the nodes without room.
	var heldOn map[int32]Resources
	if taken != nil {
		heldOn = map[int32]Resources{}
		for _, t := range a.tasks {
			if t.fw != fw.slot && taken.Has(int(t.nd)) {
				heldOn[t.fw] = heldOn[t.fw].Add(t.res)
			}
		}
	}
	var ahead []FrameworkShare
	type holder struct {
		FrameworkShare
		held Resources
	}
	var holders []holder
	for _, o := range a.fws {
		if o == nil || o == fw || (offeredBy[o.slot] == 0 && heldOn[o.slot].IsZero()) {
			continue
		}
		weight := o.spec.Weight
		if weight <= 0 {
			weight = 1 // a placeholder: tasks reported for a framework not (yet) set
		}
		s := FrameworkShare{ID: o.id, Share: shareOf(o.tasks, o.offered, weight, &inv).Weighted}
		if offeredBy[o.slot] > 0 {
			ahead = append(ahead, s)
		}
		if h := heldOn[o.slot]; !h.IsZero() {
			holders = append(holders, holder{s, h})
		}
	}
	slices.SortFunc(ahead, func(x, y FrameworkShare) int {
		if c := cmp.Compare(x.Share, y.Share); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	slices.SortFunc(holders, func(x, y holder) int {
		if c := cmp.Compare(y.held[CPU], x.held[CPU]); c != 0 {
			return c
		}
		if c := cmp.Compare(y.held[Memory], x.held[Memory]); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	e.Ahead = ahead[:min(len(ahead), MaxNamed)]
	for _, h := range holders[:min(len(holders), MaxNamed)] {
		e.Holders = append(e.Holders, h.FrameworkShare)
	}
	return e, nil
}

// nodeCause is the first cause that keeps pool node n from fw.
func (a *Allocator) nodeCause(fw *framework, n *node) NodeCause {
	switch {
	case !fw.spec.NodeSelector.Matches(n.labels):
		return NodeSelectorMismatch
	case !toleratesAll(fw.spec.Tolerations, n.taints):
		return NodeUntolerated
	case n.hasGPU() && !fw.spec.gpuCapable():
		return NodeGPUWithoutCapability
	case a.row(a.filtered, n.slot).Has(int(fw.slot)):
		return NodeDeclined
	case n.podsFull():
		return NodePodsFull
	}
	free := a.free[n.slot]
	if free.atLeast(a.min) {
		return NodeAvailable
	}
	if len(n.offers) > 0 && n.free().Add(n.offered).atLeast(a.min) && !onlyOffersOf(a, n, fw) {
		return NodeOffered
	}
	// Below Mesos's own minimum (DefaultMinAllocatable) a node is full; between that and a
	// --min-allocatable raised above it, the raised minimum is what keeps it.
	for r, m := range a.min {
		if floor := DefaultMinAllocatable[r]; m > 0 && free[r] < min(m, max(floor, 1)) {
			return NodeFull
		}
	}
	return NodeBelowMin
}

// queueWhy queues fw for WhyChanged.
func (a *Allocator) queueWhy(fw *framework) {
	if !fw.whyDirty {
		fw.whyDirty = true
		a.whyChanged = append(a.whyChanged, fw.slot)
	}
}

// firstFilterExpiry is when the first live decline filter of fw expires.
func (a *Allocator) firstFilterExpiry(fw *framework) time.Time {
	var first int64
	for _, b := range a.filters.heap {
		if b.fw == fw.slot && b.seq >= fw.revivedSeq && (first == 0 || b.expiry < first) {
			first = b.expiry
		}
	}
	if first == 0 {
		return time.Time{}
	}
	return time.Unix(0, first)
}

// onlyOffersOf reports whether every outstanding offer on n is fw's own.
func onlyOffersOf(a *Allocator, n *node, fw *framework) bool {
	for _, id := range n.offers {
		if o := a.offers[id]; o != nil && o.fw != fw.slot {
			return false
		}
	}
	return true
}
