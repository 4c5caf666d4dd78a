package allocator

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The quota property test drives an Allocator with random workloads over a tree of quota'd
// roles (guarantees, limits, weights, some over the pool), frameworks that do and do not take
// revocable resources, launches, declines, expiries, task ends, preempted tasks stopping,
// quota changes and node changes. It keeps its own record of offers and tasks and checks,
// after every cycle:
//
//   - no node is overcommitted by tasks and offers;
//   - revocable offers go only to frameworks that take them;
//   - frameworks none of whose roles is below its guarantee are offered, as ordinary
//     resources, no more than the pool's free and revocable resources beyond the headroom
//     that unmet guarantees need (the headroom is lent only as revocable);
//   - no role's subtree is offered past its limit;
//   - a preempted task is revocable, was never preempted before, and is not of the role it
//     is preempted for; the role was below its guarantee beyond what was already being
//     reclaimed for it, and the last task preempted for it was still needed (never past the
//     guarantee by more than one task);
//   - the number of preemptions is bounded: between two "need events" of a role (a
//     non-revocable task of its subtree ends, a framework of its subtree revives, is
//     (re)configured or lets an offer go, a quota or a node changes), the resources preempted for it are at most
//     (frameworks in its subtree + 1) x (what it lacked at the first event + the largest
//     revocable task), in the resource it lacked; with several lacking (tasks taken for one
//     bring the others along), the tasks preempted are at most (frameworks + 1) x (1 + the sum
//     over the lacking resources of (lack / smallest task + 1)). A framework that lets
//     reclaimed resources go unused takes no part in reclaim until such an event, so reclaim
//     cannot feed a borrower's relaunches forever.
type qHarness struct {
	t      *testing.T
	rng    *rand.Rand
	clock  *fakeClock
	a      *Allocator
	nodes  map[string]Resources
	fws    map[string]FrameworkSpec
	quotas map[string]Quota
	offers map[OfferID]Offer // what is left of each outstanding offer
	tasks  map[string]qTask
	// Per role: preempted resources since the last need event, and the bound for them.
	since map[string]Resources
	bound map[string]Resources
	// With several resources lacking: tasks preempted since the last need event, and the
	// bound for them.
	sinceTasks  map[string]int64
	taskBound   map[string]int64
	nextID      int
	cycles      int
	preemptions int
}

type qTask struct {
	fw, node  string
	res       Resources
	revocable bool
	preempted string // the role it was preempted for
}

var qRoles = []string{"gold", "gold/a", "gold/b", "silver", "batch", "batch/x"}

func newQHarness(t *testing.T, seed uint64) *qHarness {
	clock := newFakeClock()
	h := &qHarness{
		t: t, rng: newRand(seed), clock: clock,
		a:     New(Config{Clock: clock, Rand: newRand(seed + 1)}),
		nodes: map[string]Resources{}, fws: map[string]FrameworkSpec{}, quotas: map[string]Quota{},
		offers: map[OfferID]Offer{}, tasks: map[string]qTask{},
		since: map[string]Resources{}, bound: map[string]Resources{},
		sinceTasks: map[string]int64{}, taskBound: map[string]int64{},
	}
	for i := range 4 {
		h.setNode(fmt.Sprintf("n%d", i))
	}
	for i := range 5 {
		h.setFramework(fmt.Sprintf("f%d", i))
	}
	h.setQuota()
	h.setQuota()
	return h
}

func (h *qHarness) setNode(name string) {
	alloc := cpuMem(int64(2+h.rng.IntN(7))*1000, int64(4+h.rng.IntN(28))*Gi)
	rs, err := h.a.SetNode(NodeSpec{Name: name, Allocatable: alloc})
	if err != nil {
		h.t.Fatal(err)
	}
	h.nodes[name] = alloc
	h.applyRescinded(rs)
	h.needEvent("")
}

func (h *qHarness) setFramework(id string) {
	spec := FrameworkSpec{ID: id, Role: qRoles[h.rng.IntN(len(qRoles))]}
	if h.rng.IntN(2) == 0 {
		spec.Capabilities = revocable
	}
	if h.rng.IntN(6) == 0 {
		spec.Suppressed = true
	}
	rs, err := h.a.SetFramework(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	h.fws[id] = spec
	h.applyRescinded(rs)
	h.needEvent(spec.Role)
}

func (h *qHarness) setQuota() {
	role := qRoles[h.rng.IntN(len(qRoles))]
	if _, ok := h.quotas[role]; ok && h.rng.IntN(3) == 0 {
		h.a.RemoveQuota(role)
		delete(h.quotas, role)
		h.needEvent("")
		return
	}
	q := Quota{Role: role, Weight: float64(1 + h.rng.IntN(3))}
	if h.rng.IntN(4) != 0 {
		q.Guarantee = cpuMem(int64(h.rng.IntN(20))*1000, 0) // sometimes over the pool
		if h.rng.IntN(3) == 0 {
			q.Guarantee[Memory] = int64(h.rng.IntN(48)) * Gi
		}
	}
	if h.rng.IntN(3) == 0 {
		q.Limit = map[ResourceName]int64{CPU: q.Guarantee[CPU] + int64(h.rng.IntN(8))*1000}
	}
	if err := h.a.SetQuota(q); err != nil {
		h.t.Fatal(err)
	}
	h.quotas[role] = q
	h.needEvent("")
}

// needEvent starts a new epoch for the roles whose subtree holds role (every role for "").
func (h *qHarness) needEvent(role string) {
	us := h.a.Quotas()
	for r, u := range us {
		if role != "" && !(&quotaRole{path: r}).contains(role) {
			continue
		}
		n := int64(1)
		for _, f := range h.fws {
			if (&quotaRole{path: r}).contains(f.Role) {
				n++
			}
		}
		var b Resources
		lacking, tasks := 0, n
		for i := range b {
			if u.Unmet[i] > 0 {
				lacking++
				tasks += n * (u.Unmet[i]/h.minRevTask()[i] + 1)
			}
		}
		for i := range b {
			b[i] = n * (u.Unmet[i] + h.maxRevTask()[i])
			if u.Guarantee[i] == 0 || lacking > 1 || (lacking == 1 && u.Unmet[i] == 0) {
				// Tasks taken for one resource bring the others along: with several lacking,
				// each resource's preemptions are bounded only through the tasks' count.
				b[i] = unlimited
			}
		}
		if lacking <= 1 {
			tasks = math.MaxInt64
		}
		h.since[r], h.bound[r], h.sinceTasks[r], h.taskBound[r] = Resources{}, b, 0, tasks
	}
}

// minRevTask is the smallest task launch makes.
func (h *qHarness) minRevTask() Resources {
	return cpuMem(500, Gi)
}

func (h *qHarness) maxRevTask() Resources {
	return cpuMem(2000, 4*Gi) // launch never makes a bigger task
}

func (h *qHarness) applyRescinded(rs []Rescinded) {
	for _, r := range rs {
		o := h.offers[r.Offer]
		o.Nodes = slices.DeleteFunc(slices.Clone(o.Nodes), func(p OfferNode) bool { return p.Node == r.Node })
		if r.OfferGone || len(o.Nodes) == 0 {
			delete(h.offers, r.Offer)
		} else {
			h.offers[r.Offer] = o
		}
	}
}

func (h *qHarness) step() {
	h.stepOnce()
	if d := quotaSumDrift(h.a); d != "" {
		h.t.Fatalf("after step (cycle %d): %s", h.cycles, d)
	}
}

func (h *qHarness) stepOnce() {
	switch k := h.rng.IntN(22); {
	case k < 6:
		h.cycle()
	case k < 10:
		h.launch()
	case k < 12:
		h.release()
	case k < 14:
		h.finish()
	case k == 14:
		h.setQuota()
	case k == 15:
		h.setFramework(fmt.Sprintf("f%d", h.rng.IntN(6)))
	case k == 16:
		id := fmt.Sprintf("f%d", h.rng.IntN(6))
		if f, ok := h.fws[id]; ok && h.a.Revive(id, time.Time{}) == nil {
			h.needEvent(f.Role)
		}
	case k == 17:
		h.setNode(fmt.Sprintf("n%d", h.rng.IntN(5)))
	case k == 18:
		h.removeFramework(fmt.Sprintf("f%d", h.rng.IntN(6)))
	case k == 19:
		h.removeNode(fmt.Sprintf("n%d", h.rng.IntN(5)))
	default:
		h.clock.Step(time.Duration(1+h.rng.IntN(5)) * time.Second)
	}
}

// removeFramework removes a framework: its offers are rescinded, its tasks run on (it stays in
// h.fws, which only names roles, until set again; nothing offers to it meanwhile).
func (h *qHarness) removeFramework(id string) {
	spec, ok := h.fws[id]
	if !ok {
		return
	}
	h.applyRescinded(h.a.RemoveFramework(id))
	h.needEvent(spec.Role)
}

// removeNode removes a node: its offers are rescinded, its tasks lost.
func (h *qHarness) removeNode(name string) {
	if _, ok := h.nodes[name]; !ok {
		return
	}
	lost, rs := h.a.RemoveNode(name)
	h.applyRescinded(rs)
	for _, id := range lost {
		delete(h.tasks, id)
	}
	delete(h.nodes, name)
	h.needEvent("")
}

func (h *qHarness) launch() {
	ids := slices.Sorted(maps.Keys(h.offers))
	if len(ids) == 0 {
		return
	}
	id := ids[h.rng.IntN(len(ids))]
	o := h.offers[id]
	p := o.Nodes[h.rng.IntN(len(o.Nodes))]
	res := cpuMem(int64(1+h.rng.IntN(4))*500, int64(1+h.rng.IntN(4))*Gi)
	if !res.Fits(p.Resources) {
		return
	}
	h.nextID++
	tid := fmt.Sprintf("t%d", h.nextID)
	if err := h.a.LaunchTask(id, Task{ID: tid, Framework: o.Framework, Node: p.Node, Resources: res}); err != nil {
		h.t.Fatalf("LaunchTask %s on %+v: %v", tid, p, err)
	}
	h.tasks[tid] = qTask{fw: o.Framework, node: p.Node, res: res, revocable: p.Revocable}
	for i := range o.Nodes {
		if o.Nodes[i].Node == p.Node {
			o.Nodes[i].Resources = o.Nodes[i].Resources.Sub(res)
		}
	}
	h.offers[id] = o
}

func (h *qHarness) release() {
	ids := slices.Sorted(maps.Keys(h.offers))
	if len(ids) == 0 {
		return
	}
	id := ids[h.rng.IntN(len(ids))]
	var err error
	if h.rng.IntN(2) == 0 {
		err = h.a.ReleaseOffer(id, time.Duration(h.rng.IntN(4))*time.Second, time.Time{})
	} else {
		err = h.a.RescindOffer(id) // expired
	}
	if err != nil {
		h.t.Fatal(err)
	}
	// What its frameworks held of an offer counted towards the role: the role may lack it now.
	h.needEvent(h.fws[h.offers[id].Framework].Role)
	delete(h.offers, id)
}

func (h *qHarness) finish() {
	ids := slices.Sorted(maps.Keys(h.tasks))
	if len(ids) == 0 {
		return
	}
	// Preempted tasks stop soon; others end at random.
	id := ids[h.rng.IntN(len(ids))]
	for _, x := range ids {
		if h.tasks[x].preempted != "" && h.rng.IntN(2) == 0 {
			id = x
			break
		}
	}
	t := h.tasks[id]
	if !h.a.FinishTask(id) {
		h.t.Fatalf("FinishTask(%s) unknown", id)
	}
	delete(h.tasks, id)
	if !t.revocable {
		h.needEvent(h.fws[t.fw].Role)
	}
}

// needy reports whether some quota'd role over fw's role lacks part of its guarantee.
func needy(us map[string]RoleUsage, role string) bool {
	for r, u := range us {
		if (&quotaRole{path: r}).contains(role) && !u.Unmet.IsZero() {
			return true
		}
	}
	return false
}

// headroom is the sum over the top quota'd roles of max(unmet, sum of children's need).
func headroomOf(us map[string]RoleUsage) Resources {
	need := map[string]Resources{}
	roles := slices.Collect(maps.Keys(us))
	slices.SortFunc(roles, func(x, y string) int { return strings.Count(y, "/") - strings.Count(x, "/") })
	parentOf := func(r string) string {
		for p := r; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return ""
			}
			p = p[:i]
			if _, ok := us[p]; ok {
				return p
			}
		}
	}
	child := map[string]Resources{}
	var total Resources
	for _, r := range roles {
		need[r] = maxRes(us[r].Unmet, child[r])
		if p := parentOf(r); p != "" {
			child[p] = child[p].Add(need[r])
		} else {
			total = total.Add(need[r])
		}
	}
	return total
}

func (h *qHarness) cycle() {
	h.cycles++
	before := h.a.Quotas()
	var free, rev Resources
	for name, alloc := range h.nodes {
		used := Resources{}
		for _, t := range h.tasks {
			if t.node == name {
				used = used.Add(t.res)
			}
		}
		for _, o := range h.offers {
			for _, p := range o.Nodes {
				if p.Node == name {
					used = used.Add(p.Resources)
				}
			}
		}
		free = free.Add(alloc.Sub(used).ClampZero())
	}
	for _, t := range h.tasks {
		if t.revocable {
			rev = rev.Add(t.res)
		}
	}
	for _, o := range h.offers {
		for _, p := range o.Nodes {
			if p.Revocable {
				rev = rev.Add(p.Resources)
			}
		}
	}
	budget := free.Add(rev).Sub(headroomOf(before)).ClampZero()
	hasHeadroom := !headroomOf(before).IsZero()

	offers := h.a.Allocate()
	if d := poolFreeDrift(h.a); d != "" {
		h.t.Fatalf("cycle %d: %s", h.cycles, d)
	}
	rescinded, preempted := h.a.TakeReclaim()
	h.applyRescinded(rescinded)
	for _, r := range rescinded {
		if r.Cause != CausePreempted {
			h.t.Fatalf("reclaim rescinded %+v with cause %v", r, r.Cause)
		}
	}
	var ordinary Resources
	for _, o := range offers {
		f := h.fws[o.Framework]
		for _, p := range o.Nodes {
			if p.Revocable && !slices.Contains(f.Capabilities, CapabilityRevocableResources) {
				h.t.Fatalf("revocable offer %+v to %s, which does not take them", p, o.Framework)
			}
			if !p.Revocable && !needy(before, f.Role) {
				ordinary = ordinary.Add(p.Resources)
			}
		}
		h.offers[o.ID] = o
	}
	if hasHeadroom && !ordinary.Fits(budget) {
		h.t.Fatalf("cycle %d: offered %v as ordinary resources to frameworks with no role below its guarantee, budget %v (free %v + revocable %v - headroom %v)",
			h.cycles, ordinary, budget, free, rev, headroomOf(before))
	}
	// Nodes not overcommitted by offers (a node that shrank under its tasks keeps them).
	for name, alloc := range h.nodes {
		var tasks, offered Resources
		for _, t := range h.tasks {
			if t.node == name {
				tasks = tasks.Add(t.res)
			}
		}
		for _, o := range h.offers {
			for _, p := range o.Nodes {
				if p.Node == name {
					offered = offered.Add(p.Resources)
				}
			}
		}
		if !offered.IsZero() && !tasks.Add(offered).Fits(alloc) {
			h.t.Fatalf("cycle %d: node %s holds tasks %v and offers %v of %v", h.cycles, name, tasks, offered, alloc)
		}
	}
	after := h.a.Quotas()
	for r, u := range after {
		q := h.quotas[r]
		held := u.Allocated.Add(u.Offered).Add(u.Revocable)
		b := before[r]
		was := b.Allocated.Add(b.Offered).Add(b.Revocable)
		for res, lim := range q.Limit {
			if held[res] > lim && held[res] > was[res] {
				h.t.Fatalf("cycle %d: role %s holds %v, over its limit %v (held %v before)", h.cycles, r, held, q.Limit, was)
			}
		}
	}
	// Preemptions.
	byRole := map[string][]Preemption{}
	for _, p := range preempted {
		t, ok := h.tasks[p.Task]
		switch {
		case !ok:
			h.t.Fatalf("preempted unknown task %+v", p)
		case !t.revocable:
			h.t.Fatalf("preempted non-revocable task %+v", p)
		case t.preempted != "":
			h.t.Fatalf("preempted %s twice (for %s, then %s)", p.Task, t.preempted, p.Role)
		case (&quotaRole{path: p.Role}).contains(h.fws[t.fw].Role):
			h.t.Fatalf("preempted %s of role %s for its own role %s", p.Task, h.fws[t.fw].Role, p.Role)
		}
		t.preempted = p.Role
		h.tasks[p.Task] = t
		byRole[p.Role] = append(byRole[p.Role], p)
		h.preemptions++
	}
	for r, ps := range byRole {
		b := before[r]
		pending := after[r].Pending.Sub(ps[len(ps)-1].Resources)
		if b.Unmet.Sub(pending).ClampZero().IsZero() {
			h.t.Fatalf("cycle %d: role %s lacked %v with %v already being reclaimed, yet %+v preempted (last one unneeded)", h.cycles, r, b.Unmet, pending, ps)
		}
		for _, p := range ps {
			h.since[r] = h.since[r].Add(p.Resources)
		}
		h.sinceTasks[r] += int64(len(ps))
		if !h.since[r].Fits(h.bound[r]) {
			h.t.Fatalf("cycle %d: role %s had %v preempted since its last need event, bound %v", h.cycles, r, h.since[r], h.bound[r])
		}
		if h.sinceTasks[r] > h.taskBound[r] {
			h.t.Fatalf("cycle %d: role %s had %d tasks preempted since its last need event, bound %d", h.cycles, r, h.sinceTasks[r], h.taskBound[r])
		}
	}
}

func TestQuotaProperties(t *testing.T) {
	total, cycles := 0, 0
	for seed := range uint64(300) {
		h := newQHarness(t, seed)
		for range 400 {
			h.step()
		}
		total += h.preemptions
		cycles += h.cycles
	}
	t.Logf("%d preemptions in %d cycles over 300 seeds", total, cycles)
	if total == 0 {
		t.Fatal("no preemption in any run: the test does not exercise reclaim")
	}
}

// quotaSumDrift reports how the quota'd roles' running sums (syncQuotaSums) differ from the
// sums taken afresh, or "".
func quotaSumDrift(a *Allocator) string {
	if len(a.quotas) == 0 {
		return "" // the sums are not kept without quotas
	}
	a.syncQuotaSums()
	all, held := map[*quotaRole]Resources{}, map[*quotaRole]Resources{}
	var rev Resources
	for _, fw := range a.fws {
		if fw == nil {
			continue
		}
		r := fw.revTasks.Add(fw.revOffered)
		rev = rev.Add(r)
		for _, q := range fw.chain {
			all[q] = all[q].Add(fw.held())
			held[q] = held[q].Add(fw.held().Sub(r))
		}
	}
	if rev != a.sumRev {
		return fmt.Sprintf("revocable running sum %v, the frameworks hold %v", a.sumRev, rev)
	}
	for _, q := range a.quotaOrder {
		if q.sumAll != all[q] || q.sumHeld != held[q] {
			return fmt.Sprintf("role %s: running sums all %v held %v, the frameworks hold all %v held %v", q.path, q.sumAll, q.sumHeld, all[q], held[q])
		}
	}
	return ""
}
