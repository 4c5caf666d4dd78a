package allocator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// CapabilityRevocableResources lets a framework receive revocable offers: resources held back
// for another role's unmet guarantee, lent until that role wants them (Mesos
// REVOCABLE_RESOURCES). Tasks launched on them are revocable and may be preempted.
const CapabilityRevocableResources Capability = "RevocableResources"

// Quota is a role's quota (a RoleQuota object): what the role's subtree is guaranteed, what it
// may never exceed, and the role's weight among its siblings.
type Quota struct {
	// Role is the "/"-separated role path whose subtree the quota covers.
	Role string
	// Guarantee is offered to the subtree before weighted DRF shares out the rest; zero
	// entries guarantee nothing of that resource.
	Guarantee Resources
	// Limit caps what the subtree holds (tasks and offers, revocable included) per resource;
	// resources not named are unlimited.
	Limit map[ResourceName]int64
	// Weight divides the role's dominant share among its sibling roles; 0 means 1.
	Weight float64
}

// Preemption is a revocable task the allocator chose to kill to raise a role to its guarantee.
// The caller kills it (Task Killed, reason Preempted); its resources stay charged until
// FinishTask, and count as already reclaimed for Role until then.
type Preemption struct {
	Task      string
	Framework string
	Node      string
	Resources Resources
	// Role is the role whose unmet guarantee the task's resources go to.
	Role string
}

// RoleUsage is a quota'd role's standing, for the RoleQuota status.
type RoleUsage struct {
	Role      string
	Guarantee Resources
	// Limit is unlimited (math.MaxInt64) where the quota names no limit.
	Limit Resources
	// Allocated and Offered are what the subtree's tasks and outstanding offers hold on
	// non-revocable resources: what counts towards the guarantee.
	Allocated, Offered Resources
	// Revocable is what the subtree holds on revocable resources (tasks and offers).
	Revocable Resources
	// Unmet is what the subtree lacks of the guarantee (zero when satisfied).
	Unmet Resources
	// Pending is what tasks preempted for the subtree still hold while they stop.
	Pending Resources
	// Wanting reports that some framework of the subtree wanted offers in the last cycle.
	Wanting bool
	// Preemptions counts the tasks preempted for the role since the allocator started.
	Preemptions int64
}

// Satisfied reports whether the role holds its whole guarantee.
func (u RoleUsage) Satisfied() bool { return u.Unmet.IsZero() }

// quotaRole is a role with a quota. Roles without one need no state: their frameworks are
// ordered by the sorter as before.
type quotaRole struct {
	path      string
	depth     int
	parent    *quotaRole // nearest ancestor with a quota
	guarantee Resources
	limit     Resources // unlimited where not named
	hasLimit  bool
	weight    float64

	// What the subtree's frameworks hold between cycles, non-revocable and all: running sums
	// (syncQuotaSums), the start of held and all each cycle.
	sumHeld, sumAll Resources

	// Set at the start of each cycle and kept current through it.
	held      Resources // non-revocable tasks and offers of the subtree
	all       Resources // everything the subtree holds, revocable included
	pending   Resources // tasks preempted for the subtree, still charged
	childNeed Resources // sum of the children's need
	need      Resources // max(unmet, childNeed): what must stay reclaimable for the subtree
	wanting   bool
	short     bool // below its guarantee, as of the last refreshQuotaBase

	// retryAt: a reclaim for the role that found nothing to take is not tried again before.
	retryAt time.Time
	removed bool     // RemoveQuota took it out
	mask    roleMask // heldMask's, for the cycle it names

	preemptions int64
}

func (q *quotaRole) unmet() Resources { return q.guarantee.Sub(q.held).ClampZero() }

// keepsHolds reports whether nodes held for q stay held: its quota stands, its frameworks want
// offers and it lacks part of its guarantee (heldRole and heldMask judge holds by it).
func (q *quotaRole) keepsHolds() bool { return !q.removed && q.wanting && !q.unmet().IsZero() }

// contains reports whether role path p is q's role or below it.
func (q *quotaRole) contains(p string) bool {
	return p == q.path || (len(p) > len(q.path) && p[len(q.path)] == '/' && strings.HasPrefix(p, q.path))
}

func maxRes(x, y Resources) Resources {
	for i := range x {
		x[i] = max(x[i], y[i])
	}
	return x
}

// SetQuota adds or changes a role's quota. A lowered limit takes nothing back: outstanding
// offers stay until used, released or expired, and no new ones are made while the subtree is
// at its limit.
func (a *Allocator) SetQuota(q Quota) error {
	if err := validateQuota(&q); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.quotas[q.Role]
	if !ok {
		r = &quotaRole{path: q.Role, depth: strings.Count(q.Role, "/")}
		a.quotas[q.Role] = r
	}
	r.guarantee = q.Guarantee
	r.limit = Resources{unlimited, unlimited, unlimited, unlimited}
	r.hasLimit = len(q.Limit) > 0
	for res, v := range q.Limit {
		r.limit[res] = v
	}
	if r.weight != q.Weight {
		r.weight = q.Weight
		if w, ok := a.sorter.(roleWeigher); ok {
			w.SetRoleWeight(q.Role, q.Weight)
		}
	}
	a.rebuildQuotaTree()
	return nil
}

// RemoveQuota forgets a role's quota: its guarantee and limit no longer apply and its weight
// goes back to 1. Tasks preempted for it still stop, and count for its nearest quota'd
// ancestor.
func (a *Allocator) RemoveQuota(role string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.quotas[role]
	if !ok {
		return
	}
	delete(a.quotas, role)
	r.removed = true // its holds end (heldRole)
	if w, ok := a.sorter.(roleWeigher); ok && r.weight != 1 {
		w.SetRoleWeight(role, 1)
	}
	a.rebuildQuotaTree()
}

func validateQuota(q *Quota) error {
	for _, seg := range strings.Split(q.Role, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: quota: bad role %q", ErrInvalid, q.Role)
		}
	}
	if q.Weight == 0 {
		q.Weight = 1
	}
	if !(q.Weight > 0) || q.Weight > 1e9 {
		return fmt.Errorf("%w: quota %s: weight %v must be a positive number", ErrInvalid, q.Role, q.Weight)
	}
	if q.Guarantee.HasNegative() {
		return fmt.Errorf("%w: quota %s: negative guarantee %v", ErrInvalid, q.Role, q.Guarantee)
	}
	for r, v := range q.Limit {
		if r < 0 || r >= NumResources || v < 0 {
			return fmt.Errorf("%w: quota %s: bad limit %v=%d", ErrInvalid, q.Role, r, v)
		}
		if q.Guarantee[r] > v {
			return fmt.Errorf("%w: quota %s: guarantee %s above limit %s", ErrInvalid, q.Role,
				FormatAmount(r, q.Guarantee[r]), FormatAmount(r, v))
		}
	}
	return nil
}

// rebuildQuotaTree links every quota role to its nearest quota'd ancestor and every framework
// to its chain of quota'd roles, after a quota or a framework's role changed.
func (a *Allocator) rebuildQuotaTree() {
	a.chainGen++
	a.quotaOrder = a.quotaOrder[:0]
	for _, r := range a.quotas {
		r.parent = nil
		for p := r.path; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if pr, ok := a.quotas[p]; ok {
				r.parent = pr
				break
			}
		}
		a.quotaOrder = append(a.quotaOrder, r)
	}
	// Deepest first, so a pass in this order sees every child before its parent.
	slices.SortFunc(a.quotaOrder, func(x, y *quotaRole) int {
		if c := cmp.Compare(y.depth, x.depth); c != 0 {
			return c
		}
		return strings.Compare(x.path, y.path)
	})
	a.quotaFws = a.quotaFws[:0]
	for _, fw := range a.fws {
		if fw != nil {
			a.setChain(fw)
		}
	}
}

// quotaAt returns the quota'd role at path or its nearest quota'd ancestor, or nil.
func (a *Allocator) quotaAt(path string) *quotaRole {
	for p := path; p != ""; {
		if r, ok := a.quotas[p]; ok {
			return r
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil
}

// setChain finds the quota'd roles fw's role lies under, deepest first.
func (a *Allocator) setChain(fw *framework) {
	a.sumStale = true // its part of the sums moves to other roles
	a.chainGen++
	fw.chain = fw.chain[:0]
	fw.roleLimited = false
	if len(a.quotas) > 0 {
		role := fw.spec.Role
		if role == "" {
			role = DefaultRole
		}
		for p := role; ; {
			if r, ok := a.quotas[p]; ok {
				fw.chain = append(fw.chain, r)
				fw.roleLimited = fw.roleLimited || r.hasLimit
			}
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	if len(fw.chain) > 0 && !slices.Contains(a.quotaFws, fw.slot) {
		a.quotaFws = append(a.quotaFws, fw.slot)
	}
}

// roleHeadroom is what fw's quota'd roles' limits still let it be offered.
func (fw *framework) roleHeadroom() Resources {
	h := Resources{unlimited, unlimited, unlimited, unlimited}
	for _, r := range fw.chain {
		if r.hasLimit {
			h = h.Min(r.limit.Sub(r.all).ClampZero())
		}
	}
	return h
}

// frameworksUnder returns the frameworks whose roles lie under r, built once until a chain
// changes (a cycle may visit a thousand nodes held for the same role).
func (a *Allocator) frameworksUnder(r *quotaRole) Bitset {
	s := &a.qs
	if b, ok := s.under[r]; ok && len(b) == a.words {
		return b
	}
	b := make(Bitset, a.words)
	for _, c := range a.quotaFws {
		if fw := a.fws[c]; fw != nil && slices.Contains(fw.chain, r) {
			b.Set(int(c))
		}
	}
	if s.under == nil {
		s.under = map[*quotaRole]Bitset{}
	}
	s.under[r] = b
	return b
}

// capped cuts amount down to what fw's own limits and its roles' limits still allow.
func (fw *framework) capped(amount Resources) Resources {
	if fw.hasLimits {
		amount = capToHeadroom(amount, fw.headroom())
	}
	if fw.roleLimited {
		amount = capToHeadroom(amount, fw.roleHeadroom())
	}
	return amount
}

// guaranteeCap is what fw may be offered in the guarantee stage: no more of a resource than
// the most any of its roles below their guarantee still lacks of it, and resources none of
// them lacks unlimited (they travel with the node's shape).
func (fw *framework) guaranteeCap() Resources {
	c := Resources{unlimited, unlimited, unlimited, unlimited}
	for _, r := range fw.chain {
		u := r.unmet()
		for i, v := range u {
			if v > 0 {
				c[i] = min(c[i], v)
			}
		}
	}
	return c
}

// capToLack cuts a node's free amount down for the guarantee stage: each resource its roles
// lack to what they lack (cut one by one: a guarantee of 4 CPU and 8Gi must not turn 8Gi of
// a node's memory into a third of its CPU), and the resources they do not lack in the
// proportion of the most cut of those, so that they travel with the node's shape.
func capToLack(free, lack Resources) Resources {
	factor := 1.0
	for r := range free {
		if lack[r] != unlimited && free[r] > lack[r] {
			factor = min(factor, float64(lack[r])/float64(free[r]))
		}
	}
	var out Resources
	for r := range free {
		if lack[r] != unlimited {
			out[r] = min(free[r], lack[r])
		} else {
			out[r] = int64(float64(free[r]) * factor)
		}
	}
	return out
}

// needy reports whether some quota'd role of fw is below its guarantee.
func (fw *framework) needy() bool {
	for _, r := range fw.chain {
		if !r.unmet().IsZero() {
			return true
		}
	}
	return false
}

// quotaState is the cycle's view of quotas: built by startQuotaCycle, kept current by
// chargeQuota.
type quotaState struct {
	on       bool
	headroom Resources // sum of the top quota roles' need: must stay reclaimable
	// ownRev is what of revHeld the top roles in need hold themselves: reclaim never takes a
	// role's own revocable holdings for it, so they do not count as reclaimable headroom (nor,
	// to stay on the safe side, for the other roles in need).
	ownRev    Resources
	freeSum   Resources // free on the pool's nodes
	revHeld   Resources // held on revocable resources (reclaimable)
	needy     Bitset    // frameworks in base with a role below its guarantee
	anyNeedy  bool
	stage     Bitset                // scratch: the needy eligible for one node
	capable   Bitset                // frameworks that take revocable resources,
	capableOK bool                  // once this cycle needs them (revocableCapable)
	under     map[*quotaRole]Bitset // frameworksUnder's, while no chain changes
	underGen  uint64                // Allocator.chainGen they were built at
}

// budget is what may still be offered as ordinary (non-revocable) resources this cycle
// without eating into the headroom that unmet guarantees need.
func (s *quotaState) budget() Resources {
	return s.freeSum.Add(s.revHeld).Sub(s.ownRev).Sub(s.headroom).ClampZero()
}

// startQuotaCycle sums what every quota'd role holds, works out the headroom unmet
// guarantees need, drops from base the frameworks whose roles are at their limits, and marks
// the needy ones.
func (a *Allocator) startQuotaCycle(base Bitset) {
	s := &a.qs
	s.on = len(a.quotas) > 0
	if !s.on {
		return
	}
	if s.underGen != a.chainGen {
		clear(s.under)
		s.underGen = a.chainGen
	}
	a.syncQuotaSums()
	for _, r := range a.quotaOrder {
		r.held, r.all, r.pending, r.childNeed, r.need, r.wanting = r.sumHeld, r.sumAll, Resources{}, Resources{}, Resources{}, false
	}
	s.revHeld = a.sumRev
	for _, t := range a.preempted {
		for r := a.quotaAt(t.preemptedFor); r != nil; r = r.parent {
			r.pending = r.pending.Add(t.res)
		}
	}
	s.headroom, s.ownRev = Resources{}, Resources{}
	for _, r := range a.quotaOrder {
		r.need = maxRes(r.unmet(), r.childNeed)
		if r.parent != nil {
			r.parent.childNeed = r.parent.childNeed.Add(r.need)
		} else {
			s.headroom = s.headroom.Add(r.need)
			if !r.need.IsZero() {
				s.ownRev = s.ownRev.Add(r.all.Sub(r.held))
			}
		}
	}
	s.freeSum = a.poolFree
	s.capableOK = false
	a.refreshQuotaBase(base)
	for _, c := range a.quotaFws {
		if fw := a.fws[c]; fw != nil && base.Has(int(c)) {
			for _, r := range fw.chain {
				r.wanting = true
			}
		}
	}
}

// holdingsChanged notes that fw's tasks or offers changed, for syncQuotaSums. Without quotas
// nothing is noted: the first quota makes every sum be taken afresh (setChain).
func (a *Allocator) holdingsChanged(fw *framework) {
	if !fw.sumDirty && len(a.quotas) > 0 {
		fw.sumDirty = true
		a.sumDirty = append(a.sumDirty, fw.slot)
	}
}

// syncQuotaSums brings the quota'd roles' running sums of what their frameworks hold (and the
// sum of what all frameworks hold on revocable resources) up to date: from scratch after a
// chain changed or a framework's slot was freed, otherwise by the change of each framework
// noted since the last call. A cycle that offers nothing then costs nothing per framework.
func (a *Allocator) syncQuotaSums() {
	if a.sumStale {
		a.sumStale = false
		for _, r := range a.quotaOrder {
			r.sumAll, r.sumHeld = Resources{}, Resources{}
		}
		a.sumRev = Resources{}
		for _, fw := range a.fws {
			if fw != nil {
				fw.sumAll, fw.sumHeld, fw.sumRev = Resources{}, Resources{}, Resources{}
				a.resum(fw)
			}
		}
	} else {
		for _, c := range a.sumDirty {
			if fw := a.fws[c]; fw != nil {
				a.resum(fw)
			}
		}
	}
	a.sumDirty = a.sumDirty[:0]
}

// resum moves fw's part of the running sums from what it held when last summed to what it
// holds now.
func (a *Allocator) resum(fw *framework) {
	fw.sumDirty = false
	rev := fw.revTasks.Add(fw.revOffered)
	a.sumRev = a.sumRev.Add(rev.Sub(fw.sumRev))
	fw.sumRev = rev
	if len(fw.chain) == 0 {
		return // no role sums to keep (a chain that became empty made the sums stale)
	}
	all := fw.held()
	held := all.Sub(rev)
	dAll, dHeld := all.Sub(fw.sumAll), held.Sub(fw.sumHeld)
	for _, r := range fw.chain {
		r.sumAll = r.sumAll.Add(dAll)
		r.sumHeld = r.sumHeld.Add(dHeld)
	}
	fw.sumAll, fw.sumHeld = all, held
}

// refreshQuotaBase drops from base the frameworks whose roles reached their limits and
// recomputes which frameworks in base are needy.
func (a *Allocator) refreshQuotaBase(base Bitset) {
	s := &a.qs
	clear(s.needy)
	s.anyNeedy = false
	for _, r := range a.quotaOrder {
		r.short = !r.unmet().IsZero()
	}
	for _, c := range a.quotaFws {
		fw := a.fws[c]
		if fw == nil || !base.Has(int(c)) {
			continue
		}
		if fw.roleLimited && !fw.roleHeadroom().atLeast(a.min) {
			base.Clear(int(c))
			continue
		}
		if slices.ContainsFunc(fw.chain, func(r *quotaRole) bool { return r.short }) {
			s.needy.Set(int(c))
			s.anyNeedy = true
		}
	}
}

// chargeQuota counts amount, just offered to fw, for its roles and the cycle's budget.
func (a *Allocator) chargeQuota(fw *framework, amount Resources, revocable bool, base Bitset) {
	s := &a.qs
	s.freeSum = s.freeSum.Sub(amount)
	if revocable {
		s.revHeld = s.revHeld.Add(amount)
	}
	if len(fw.chain) == 0 {
		return
	}
	refresh := false
	for _, r := range fw.chain {
		r.all = r.all.Add(amount)
		if r.hasLimit && !r.limit.Sub(r.all).ClampZero().atLeast(a.min) {
			refresh = true
		}
		if revocable {
			continue
		}
		wasUnmet := !r.unmet().IsZero()
		r.held = r.held.Add(amount)
		if wasUnmet && r.unmet().IsZero() {
			refresh = true
		}
		old := r.need
		r.need = maxRes(r.unmet(), r.childNeed)
		if d := r.need.Sub(old); !d.IsZero() {
			if r.parent != nil {
				r.parent.childNeed = r.parent.childNeed.Add(d)
			} else {
				s.headroom = s.headroom.Add(d)
			}
		}
	}
	if refresh {
		a.refreshQuotaBase(base)
	}
}

// quotaNode offers node slot's free amount with quotas in force: first to the eligible
// frameworks whose roles are below their guarantees (DRF among them, each up to what its
// roles lack), then to the rest by DRF as ordinary resources while the cycle's budget lasts,
// and past it as revocable resources to the frameworks that take them.
func (a *Allocator) quotaNode(slot int32, base, eligible Bitset, made []*offer) []*offer {
	s := &a.qs
	free := a.free[slot]
	only := a.heldRole(slot)
	if a.preempting.Has(int(slot)) && only == nil {
		return made // preempted tasks still stop here; what they free is for their role
	}
	if only != nil {
		// What preempted tasks freed goes to the role they were preempted for, and to
		// nobody else while it wants it: its frameworks only, guarantee stage only.
		under := a.frameworksUnder(only)
		for w := range eligible {
			eligible[w] &= s.needy[w] & under[w]
		}
	}
	if s.anyNeedy {
		stage := s.stage
		any := false
		for w := range stage {
			stage[w] = eligible[w] & s.needy[w]
			any = any || stage[w] != 0
		}
		for any {
			c, ok := a.sorter.First(stage)
			if !ok {
				break
			}
			stage.Clear(int(c))
			eligible.Clear(int(c))
			fw := a.fws[c]
			amount := fw.capped(capToLack(free, fw.guaranteeCap()))
			if !amount.atLeast(a.min) {
				continue
			}
			made = a.give(made, fw, slot, amount, offerPart{guaranteed: true}, base)
			a.chargeQuota(fw, amount, false, base)
			free = free.Sub(amount)
			if only != nil {
				a.releaseHold(slot) // offered to the role: the hold has done its work
				only = nil
			}
			if !free.atLeast(a.min) {
				return made
			}
			for w := range stage {
				stage[w] &= s.needy[w]
			}
		}
	}
	if only != nil {
		return made // none of the role's frameworks could take it this cycle
	}
	for {
		if !s.headroom.IsZero() && !s.budget().atLeast(a.min) {
			// No ordinary offer fits the budget any more (nothing in this stage raises it but
			// a needy role's ordinary offer, which lowers the headroom): only the frameworks
			// that take revocable resources can get anything, so only they are asked for.
			a.revocableCapable()
			for w := range eligible {
				eligible[w] &= base[w] & s.capable[w]
			}
		} else {
			for w := range eligible {
				eligible[w] &= base[w]
			}
		}
		c, ok := a.sorter.First(eligible)
		if !ok {
			break
		}
		eligible.Clear(int(c))
		fw := a.fws[c]
		amount := fw.capped(free)
		if !amount.atLeast(a.min) {
			continue
		}
		ordinary := amount
		if !s.headroom.IsZero() {
			ordinary = capToHeadroom(amount, s.budget())
		}
		if ordinary.atLeast(a.min) {
			made = a.give(made, fw, slot, ordinary, offerPart{}, base)
			a.chargeQuota(fw, ordinary, false, base)
			free = free.Sub(ordinary)
		} else {
			ordinary = Resources{}
		}
		// Past the budget, the rest is headroom: lent, in a revocable offer, to frameworks
		// that take it — the same one too, so that a node cut short by the budget is not
		// left with a part too small for its tasks and the rest idle.
		if rest := amount.Sub(ordinary); fw.revocableCapable && rest.atLeast(a.min) {
			made = a.give(made, fw, slot, rest, offerPart{revocable: true}, base)
			a.chargeQuota(fw, rest, true, base)
			free = free.Sub(rest)
		}
		if !free.atLeast(a.min) {
			break
		}
	}
	return made
}

// revocableCapable builds, once per cycle that needs it, the set of frameworks that take
// revocable resources (a saturated cycle never does).
func (a *Allocator) revocableCapable() {
	s := &a.qs
	if s.capableOK {
		return
	}
	s.capableOK = true
	if len(s.capable) != a.words {
		s.capable = make(Bitset, a.words)
	}
	clear(s.capable)
	for _, fw := range a.fws {
		if fw != nil && fw.revocableCapable {
			s.capable.Set(int(fw.slot))
		}
	}
}

// give records that fw is offered amount on node slot, as part p says (revocable, from the
// guarantee stage), and counts it as held at once.
func (a *Allocator) give(made []*offer, fw *framework, slot int32, amount Resources, p offerPart, base Bitset) []*offer {
	c := Client(fw.slot)
	if a.cycleOpen[c] < 0 && a.cycleOpenRev[c] < 0 {
		a.sorter.Served(c)
	}
	p.node, p.remaining = slot, amount
	made = a.recordPart(made, fw, p)
	a.setFree(slot, a.free[slot].Sub(amount))
	fw.offered = fw.offered.Add(amount)
	if p.revocable {
		fw.revOffered = fw.revOffered.Add(amount)
	}
	a.holdingsChanged(fw)
	a.sorter.Allocated(c, amount)
	if fw.hasLimits && !fw.headroom().atLeast(a.min) {
		base.Clear(int(c))
	}
	return made
}

// reclaim takes back revocable resources for the roles still below their guarantees after
// the cycle's offers, whose frameworks want offers and have not let reclaimed resources go
// unused: first it rescinds revocable offer parts (newest first) on nodes those frameworks
// may get, then it chooses revocable tasks to preempt: the fewest nodes, and on each the
// fewest and youngest tasks, that cover what the role lacks beyond what is already being
// reclaimed for it. It never preempts a task of the role's own subtree, nor a non-revocable
// task, nor a task twice.
func (a *Allocator) reclaim(base Bitset) {
	s := &a.qs
	if s.revHeld.IsZero() {
		return
	}
	want := s.stage // scratch: the frameworks a role reclaims for
	for _, r := range a.quotaOrder {
		need := r.unmet().Sub(r.pending).ClampZero()
		if need.IsZero() || !r.wanting || a.cycleNow.Before(r.retryAt) {
			continue
		}
		clear(want)
		anyWant := false
		for _, c := range a.quotaFws {
			fw := a.fws[c]
			if fw != nil && base.Has(int(c)) && slices.Contains(fw.chain, r) {
				want.Set(int(c))
				anyWant = true
			}
		}
		if !anyWant {
			continue
		}
		reachable := func(slot int32) bool {
			off := int(slot) * a.words
			for w, b := range want {
				if b&^a.filtered[off+w]&^a.incompatible[off+w] != 0 {
					return true
				}
			}
			return false
		}
		// What is free where those frameworks may be offered it covers part of the need
		// without taking anything: it was too little, or of the wrong shape, to offer now, or
		// they declined it a moment ago (it is held for the role while their filter lasts).
		compatible := func(slot int32) bool {
			off := int(slot) * a.words
			for w, b := range want {
				if b&^a.incompatible[off+w] != 0 {
					return true
				}
			}
			return false
		}
		for sl := a.poolSlots.Next(0); sl >= 0; sl = a.poolSlots.Next(sl + 1) {
			if f := a.free[sl]; covers(f, need) && compatible(int32(sl)) && !a.heldFromRole(int32(sl), r) {
				need = need.Sub(f).ClampZero()
			}
		}
		if need.IsZero() {
			continue
		}
		// Revocable offers first: taking them back kills nothing.
		var parts []reclaimPart
		for _, o := range a.offers {
			if o.id >= a.cycleFirstOffer || r.contains(a.fws[o.fw].spec.Role) {
				continue // this cycle's offers went where the cycle found best
			}
			for _, p := range o.parts {
				if p.revocable && covers(p.remaining, need) && a.nodes[p.node].inPool() && reachable(p.node) {
					parts = append(parts, reclaimPart{o, p.node})
				}
			}
		}
		slices.SortFunc(parts, func(x, y reclaimPart) int {
			if c := cmp.Compare(y.o.id, x.o.id); c != 0 {
				return c
			}
			return cmp.Compare(x.node, y.node)
		})
		took := len(parts) > 0
		for _, p := range parts {
			if need.IsZero() {
				break
			}
			rs := a.rescindPart(p.o, p.node, CausePreempted)
			a.reclaimed = append(a.reclaimed, rs)
			need = need.Sub(rs.Resources).ClampZero()
			s.revHeld = s.revHeld.Sub(rs.Resources)
			s.freeSum = s.freeSum.Add(rs.Resources)
		}
		if need.IsZero() {
			continue
		}
		if !a.preemptFor(r, need, reachable) && !took {
			// Nothing reachable to take: looking again every cycle would cost a pass over the
			// pool and the revocable tasks each time (a guarantee over the pool, frameworks
			// whose selectors reach no borrower). What comes free is offered to it anyway.
			r.retryAt = a.cycleNow.Add(ReclaimRetry)
		}
	}
}

// ReclaimRetry is how long a reclaim that found nothing to take for a role waits before it
// looks again.
const ReclaimRetry = 5 * time.Second

type reclaimPart struct {
	o    *offer
	node int32
}

// covers reports whether x holds some of a resource that need lacks.
func covers(x, need Resources) bool {
	for i, v := range need {
		if v > 0 && x[i] > 0 {
			return true
		}
	}
	return false
}

// coverage is how much of need x covers, as the sum over the resources need lacks of the
// fraction covered (each at most 1).
func coverage(x, need Resources) float64 {
	f := 0.0
	for i, v := range need {
		if v > 0 && x[i] > 0 {
			f += min(1, float64(x[i])/float64(v))
		}
	}
	return f
}

// preemptFor chooses revocable tasks to preempt for role r, which lacks need, on nodes
// reachable by its wanting frameworks: nodes whose revocable tasks cover the most of need
// first, so that as few nodes as possible are disturbed; on each, the task covering the most
// first (the youngest among equals), then any chosen task the others make unnecessary is
// spared again, oldest first.
func (a *Allocator) preemptFor(r *quotaRole, need Resources, reachable func(int32) bool) (took bool) {
	byNode := map[int32][]*task{}
	for nd, ts := range a.revByNode {
		if !a.poolSlots.Has(int(nd)) || !reachable(nd) {
			continue
		}
		for _, t := range ts {
			if covers(t.res, need) && !r.contains(a.fws[t.fw].spec.Role) {
				byNode[nd] = append(byNode[nd], t)
			}
		}
	}
	// Each time, the node whose revocable tasks cover the most of what is still needed (their
	// sums taken once: a cycle preempting a thousand tasks summed every candidate's tasks again
	// for every node it took). What is needed changes after each node, and with it the best
	// next node when the need names several resources.
	// A pick is a pass over the candidates, so the pass is kept lean: the sums as floats, and
	// only the resources still needed (the value is coverage's, to the last bit).
	type candidate struct {
		node int32
		sum  [NumResources]float64
	}
	cands := make([]candidate, 0, len(byNode))
	for nd, ts := range byNode {
		var sum Resources
		for _, t := range ts {
			sum = sum.Add(t.res)
		}
		c := candidate{node: nd}
		for i, v := range sum {
			c.sum[i] = float64(v)
		}
		cands = append(cands, c)
	}
	var lacking [NumResources]int
	var lack [NumResources]float64
	for !need.IsZero() && len(cands) > 0 {
		n := 0
		for i, v := range need {
			if v > 0 {
				lacking[n], lack[n] = i, float64(v)
				n++
			}
		}
		best, bestCover := 0, -1.0
		for i := range cands {
			c := &cands[i]
			cv := 0.0
			for k, r := range lacking[:n] {
				if x := c.sum[r]; x > 0 {
					cv += min(1, x/lack[k])
				}
			}
			if cv > bestCover || (cv == bestCover && c.node < cands[best].node) {
				best, bestCover = i, cv
			}
		}
		nd := cands[best].node
		cands[best] = cands[len(cands)-1]
		cands = cands[:len(cands)-1]
		ts := byNode[nd]
		slices.SortFunc(ts, func(x, y *task) int {
			if c := cmp.Compare(coverage(y.res, need), coverage(x.res, need)); c != 0 {
				return c
			}
			return cmp.Compare(y.seq, x.seq) // youngest first
		})
		var chosen []*task
		left := need
		for _, t := range ts {
			if left.IsZero() {
				break
			}
			if covers(t.res, left) {
				chosen = append(chosen, t)
				left = left.Sub(t.res).ClampZero()
			}
		}
		// Spare what the rest make unnecessary, oldest first.
		slices.SortFunc(chosen, func(x, y *task) int { return cmp.Compare(x.seq, y.seq) })
		for i := 0; i < len(chosen); {
			var rest Resources
			for j, t := range chosen {
				if j != i {
					rest = rest.Add(t.res)
				}
			}
			if len(chosen) > 1 && need.Sub(rest).ClampZero().IsZero() {
				chosen = slices.Delete(chosen, i, i+1)
				continue
			}
			i++
		}
		for _, t := range chosen {
			need = need.Sub(t.res).ClampZero()
			a.markPreempted(t, r)
			took = true
		}
	}
	return took
}

// markPreempted records that t is to be killed for r: its resources count as being reclaimed
// for r and its ancestors until FinishTask.
func (a *Allocator) markPreempted(t *task, r *quotaRole) {
	t.preemptedFor = r.path
	a.addPreempted(t)
	for q := r; q != nil; q = q.parent {
		q.pending = q.pending.Add(t.res)
	}
	r.preemptions++
	a.preemptions = append(a.preemptions, Preemption{Task: t.id, Framework: a.fws[t.fw].id, Node: a.nodes[t.nd].name, Resources: t.res, Role: r.path})
}

// addPreempted records t as being killed: until it ends, nothing on its node is offered, so
// that what it frees goes whole to the role it was preempted for, not piecemeal to whoever
// the next cycle finds first.
func (a *Allocator) addPreempted(t *task) {
	a.preempted[t.id] = t
	a.unindexRevocable(t)
	if a.preemptingOn[t.nd]++; a.preemptingOn[t.nd] == 1 {
		for len(a.preempting) <= int(t.nd)>>6 {
			a.preempting = append(a.preempting, 0)
		}
		a.preempting.Set(int(t.nd))
	}
}

// indexRevocable adds t to the revocable tasks that reclaim may preempt; unindexRevocable
// takes it out (preempted, or ended).
func (a *Allocator) indexRevocable(t *task) {
	a.revocable[t.id] = t
	a.revByNode[t.nd] = append(a.revByNode[t.nd], t)
}

func (a *Allocator) unindexRevocable(t *task) {
	if _, ok := a.revocable[t.id]; !ok {
		return
	}
	delete(a.revocable, t.id)
	ts := slices.DeleteFunc(a.revByNode[t.nd], func(x *task) bool { return x == t })
	if len(ts) == 0 {
		delete(a.revByNode, t.nd)
	} else {
		a.revByNode[t.nd] = ts
	}
}

// needEvent lets reclaim look again at once for the roles of fw, whose need may have grown
// (one of its tasks ended, it revived, it was reconfigured or came back).
func (a *Allocator) needEvent(fw *framework) {
	for _, r := range fw.chain {
		r.retryAt = time.Time{}
	}
}

// CancelPreemption takes back the choice to preempt a task that the caller could not kill (its
// kill cannot be written): it is revocable again, no longer counts as on its way to its role,
// and its node is offered again. It reports whether the task was preempted.
func (a *Allocator) CancelPreemption(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.preempted[id]
	if !ok {
		return false
	}
	a.dropPreempted(t)
	a.releaseHold(t.nd)
	t.preemptedFor = ""
	a.indexRevocable(t)
	return true
}

// dropPreempted forgets t, which ended.
func (a *Allocator) dropPreempted(t *task) {
	if _, ok := a.preempted[t.id]; !ok {
		return
	}
	delete(a.preempted, t.id)
	if a.preemptingOn[t.nd]--; a.preemptingOn[t.nd] <= 0 {
		delete(a.preemptingOn, t.nd)
		// The node stays marked: held for the role until offered to it (heldRole).
		if r := a.quotas[t.preemptedFor]; r != nil {
			a.hold(t.nd, r, a.clock.Now().Add(ReclaimHold))
		} else {
			a.releaseHold(t.nd)
		}
	}
}

// hold keeps what is free on node slot for role until until (quotaNode, heldRole).
func (a *Allocator) hold(slot int32, role *quotaRole, until time.Time) {
	for len(a.preempting) <= int(slot)>>6 {
		a.preempting = append(a.preempting, 0)
	}
	a.preempting.Set(int(slot))
	a.holds[slot] = nodeHold{role: role, until: unixNano(until)}
}

// unixNano is t.UnixNano(), or the largest int64 for a time past what it can count (a decline
// filter of centuries: a hold that long must not wrap round and end at once).
func unixNano(t time.Time) int64 {
	if !t.Before(maxUnixNano) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

var maxUnixNano = time.Unix(0, math.MaxInt64)

// ReclaimHold bounds how long what preempted tasks freed on a node waits for the role they
// were preempted for (its frameworks may have declined the node for a while).
const ReclaimHold = 30 * time.Second

// nodeHold is a node whose preempted tasks ended: its free is for role until offered to it,
// the role lacks nothing or wants nothing any more, or until passes.
type nodeHold struct {
	role  *quotaRole
	until int64 // UnixNano: compared with cycleNano for every held node of a cycle
}

// heldFromRole reports whether node slot is kept from r: preempted tasks still stop there, or
// it is held, while the hold stands, for another role.
func (a *Allocator) heldFromRole(slot int32, r *quotaRole) bool {
	if !a.preempting.Has(int(slot)) {
		return false
	}
	h := a.holds[slot]
	if h.role == nil {
		return true
	}
	return h.role != r && !h.role.removed && a.cycleNano < h.until
}

// roleMask is, for one cycle, the needy frameworks in base under a role, and whether holds for
// the role still stand (live).
type roleMask struct {
	bits  Bitset
	live  bool
	cycle uint64
}

// heldMask returns, once per cycle, the needy frameworks in base under r: a cycle may check ten
// thousand nodes held for a few roles (every node a needy framework with a long decline filter
// declined), each against its role's set as other nodes are against base.
func (a *Allocator) heldMask(r *quotaRole, base Bitset) *roleMask {
	m := &r.mask
	if m.cycle == a.cycles+1 {
		return m
	}
	m.cycle = a.cycles + 1 // the running cycle (finishCycle counts it)
	if len(m.bits) != len(base) {
		m.bits = make(Bitset, len(base))
	}
	clear(m.bits)
	m.live = r.keepsHolds()
	if !m.live {
		return m
	}
	s := &a.qs
	under := a.frameworksUnder(r)
	for w, b := range base {
		m.bits[w] = b & s.needy[w] & under[w]
	}
	return m
}

// heldRole returns the role node slot is held for, or nil (releasing a hold that ended).
func (a *Allocator) heldRole(slot int32) *quotaRole {
	if !a.preempting.Has(int(slot)) {
		return nil
	}
	h := a.holds[slot]
	r := h.role
	if r == nil {
		return nil // tasks still stopping
	}
	if !r.keepsHolds() || a.cycleNano >= h.until {
		a.releaseHold(slot)
		return nil
	}
	return r
}

func (a *Allocator) releaseHold(slot int32) {
	a.holds[slot] = nodeHold{}
	if a.preemptingOn[slot] == 0 && a.preempting.Has(int(slot)) {
		a.preempting.Clear(int(slot))
	}
}

// TakeReclaim returns, and forgets, what the cycles since the last call took back for roles
// below their guarantees: revocable offer parts rescinded (CausePreempted; the caller removes
// them from their Offer objects) and revocable tasks to kill. A preempted task stays charged,
// and its resources count as being reclaimed for its role, until FinishTask: the caller must
// kill it exactly once, and need not remember it across a restart beyond telling AddTask.
func (a *Allocator) TakeReclaim() ([]Rescinded, []Preemption) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, p := a.reclaimed, a.preemptions
	a.reclaimed, a.preemptions = nil, nil
	return r, p
}

// Quotas returns the standing of every quota'd role, by role path.
func (a *Allocator) Quotas() map[string]RoleUsage {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]RoleUsage, len(a.quotas))
	if len(a.quotas) == 0 {
		return out
	}
	type sums struct{ tasks, offered, rev Resources }
	by := map[*quotaRole]*sums{}
	for _, r := range a.quotaOrder {
		by[r] = &sums{}
	}
	for _, fw := range a.fws {
		if fw == nil {
			continue
		}
		for _, r := range fw.chain {
			s := by[r]
			s.tasks = s.tasks.Add(fw.tasks.Sub(fw.revTasks))
			s.offered = s.offered.Add(fw.offered.Sub(fw.revOffered))
			s.rev = s.rev.Add(fw.revTasks).Add(fw.revOffered)
		}
	}
	pending := map[*quotaRole]Resources{}
	for _, t := range a.preempted {
		for r := a.quotaAt(t.preemptedFor); r != nil; r = r.parent {
			pending[r] = pending[r].Add(t.res)
		}
	}
	for _, r := range a.quotaOrder {
		s := by[r]
		out[r.path] = RoleUsage{
			Role: r.path, Guarantee: r.guarantee, Limit: r.limit,
			Allocated: s.tasks, Offered: s.offered, Revocable: s.rev,
			Unmet:   r.guarantee.Sub(s.tasks.Add(s.offered)).ClampZero(),
			Pending: pending[r], Wanting: r.wanting, Preemptions: r.preemptions,
		}
	}
	return out
}

// Headroom returns what the last cycle held back for unmet guarantees: offered only as
// revocable resources.
func (a *Allocator) Headroom() Resources {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.qs.headroom
}

// roleWeigher is a Sorter that weighs roles (DRFSorter); other sorters ignore role weights.
type roleWeigher interface {
	SetRoleWeight(role string, weight float64)
}
