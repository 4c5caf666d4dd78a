package allocator

import (
	"fmt"
	"testing"
	"time"
)

var revocable = []Capability{CapabilityRevocableResources}

func (e *env) quota(q Quota) {
	e.t.Helper()
	if err := e.a.SetQuota(q); err != nil {
		e.t.Fatalf("SetQuota(%s): %v", q.Role, err)
	}
}

// fill launches tasks of size r on every part of offers (as many as fit) and releases what is
// left; it returns the IDs launched.
func (e *env) fill(offers []Offer, r Resources, prefix string) []string {
	e.t.Helper()
	var ids []string
	for _, o := range offers {
		for _, p := range o.Nodes {
			left := p.Resources
			for r.Fits(left) {
				id := fmt.Sprintf("%s-%d", prefix, len(ids))
				e.launch(o, p.Node, id, r)
				ids = append(ids, id)
				left = left.Sub(r)
			}
		}
		e.release(o, 0)
	}
	return ids
}

func sumOffered(offers []Offer, fw string, revocableOnly bool) (sum Resources) {
	for _, o := range offers {
		if o.Framework != fw {
			continue
		}
		for _, p := range o.Nodes {
			if !revocableOnly || p.Revocable {
				sum = sum.Add(p.Resources)
			}
		}
	}
	return sum
}

// The user's complaint: on one 8-CPU node kept busy by two roles, a third role that needs 6
// CPU got DRF's third. With a guarantee of 6 it gets 6, first.
func TestQuotaGuaranteeFirst(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.framework(FrameworkSpec{ID: "a", Role: "a"})
	e.framework(FrameworkSpec{ID: "b", Role: "b"})
	e.framework(FrameworkSpec{ID: "c", Role: "c"})
	e.quota(Quota{Role: "c", Guarantee: Resources{CPU: 6000}})
	offers := e.a.Allocate()
	if got := sumOffered(offers, "c", false); got[CPU] != 6000 {
		t.Fatalf("c offered %v, want 6 CPU first; offers %+v", got, offers)
	}
	if got := sumOffered(offers, "a", false).Add(sumOffered(offers, "b", false)); got[CPU] != 2000 {
		t.Fatalf("a and b offered %v, want the 2 CPU left", got)
	}
	u := e.a.Quotas()["c"]
	if !u.Satisfied() || u.Offered[CPU] != 6000 {
		t.Fatalf("c's usage %+v, want satisfied by 6 CPU offered", u)
	}
}

// Headroom for an idle guarantee is not offered as ordinary resources; frameworks that take
// revocable resources borrow it.
func TestQuotaHeadroomLentOnlyAsRevocable(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 16*Gi))
	e.node("n2", cpuMem(4000, 16*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 6000}})
	e.framework(FrameworkSpec{ID: "plain", Role: "x"})
	offers := e.a.Allocate()
	if got := sumOffered(offers, "plain", false); got[CPU] != 2000 {
		t.Fatalf("plain offered %v, want only the 2 CPU beyond the 6 held back", got)
	}
	e.fill(offers, cpuMem(1000, Gi), "p")
	e.a.Allocate()
	if ex, _ := e.a.Explain("plain"); ex.Why != WhyHeldForGuarantees || ex.HeldBack[CPU] != 6000 {
		t.Fatalf("plain's explanation %v, held back %v; want HeldForGuarantees, 6 CPU", ex.Why, ex.HeldBack)
	}
	e.framework(FrameworkSpec{ID: "borrower", Role: "y", Capabilities: revocable})
	offers = e.a.Allocate()
	if got := sumOffered(offers, "plain", false); !got.IsZero() {
		t.Fatalf("plain offered %v after using its 2 CPU, want nothing", got)
	}
	if got := sumOffered(offers, "borrower", true); got[CPU] != 6000 {
		t.Fatalf("borrower offered %v revocable, want the 6 CPU held back", got)
	}
	if got := sumOffered(offers, "borrower", false); got[CPU] != 6000 {
		t.Fatalf("borrower offered %v in all, want only revocable", got)
	}
}

// Reclaim: revocable offers are rescinded first, then revocable tasks are preempted, the
// fewest and youngest, once; what comes back goes whole to the needy role.
func TestQuotaReclaim(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 6000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	offers := e.a.Allocate()
	// The 2 CPU beyond gold's guarantee in an ordinary offer, the 6 held back for gold in a
	// revocable one.
	if len(offers) != 2 || offers[0].Nodes[0].Resources[CPU] != 2000 || offers[0].Nodes[0].Revocable ||
		offers[1].Nodes[0].Resources[CPU] != 6000 || !offers[1].Nodes[0].Revocable {
		t.Fatalf("first offers %+v, want 2 ordinary CPU and 6 revocable", offers)
	}
	o, rev := offers[0], offers[1]
	e.launch(o, "n1", "b-ord-0", cpuMem(1000, Gi))
	e.launch(o, "n1", "b-ord-1", cpuMem(1000, Gi))
	e.release(o, 0)
	for i := range 4 {
		e.launch(rev, "n1", fmt.Sprintf("b-rev-%d", i), cpuMem(1000, Gi)) // b-rev-3 youngest
	}
	// The borrower keeps the 2 CPU left of the revocable offer.
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	offers = e.a.Allocate()
	rescinded, preempted := e.a.TakeReclaim()
	if len(rescinded) != 1 || rescinded[0].Cause != CausePreempted || rescinded[0].Resources[CPU] != 2000 {
		t.Fatalf("rescinded %+v, want the borrower's 2 unused revocable CPU", rescinded)
	}
	if got := sumOffered(offers, "gold", false); !got.IsZero() {
		t.Fatalf("gold offered %v in the reclaiming cycle, want nothing until the rescind is written", got)
	}
	if len(preempted) != 4 {
		t.Fatalf("preempted %+v, want the 4 revocable 1-CPU tasks to cover 4 CPU", preempted)
	}
	for _, p := range preempted {
		if p.Role != "gold" || p.Framework != "borrower" || p.Task[:5] != "b-rev" {
			t.Fatalf("preempted %+v: only revocable tasks, for gold", p)
		}
	}
	// While they stop, nothing more is preempted, and nothing on their node is offered:
	// what they free goes whole to gold.
	for range 5 {
		e.clock.Step(time.Second)
		if offers := e.a.Allocate(); len(offers) != 0 {
			t.Fatalf("offered %+v while preempted tasks stop on the node", offers)
		}
		if _, p := e.a.TakeReclaim(); len(p) != 0 {
			t.Fatalf("preempted again while the first ones stop: %+v", p)
		}
	}
	for _, p := range preempted {
		e.a.FinishTask(p.Task)
	}
	offers = e.a.Allocate()
	if got := sumOffered(offers, "gold", false); got[CPU] != 6000 {
		t.Fatalf("gold offered %v after the preempted tasks ended, want its 6 CPU", got)
	}
	u := e.a.Quotas()["gold"]
	if !u.Satisfied() || u.Preemptions != 4 {
		t.Fatalf("gold %+v, want satisfied with 4 preemptions", u)
	}
}

// The fewest tasks: one big task covers the need better than several small ones.
func TestQuotaReclaimFewestTasks(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 8000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	offers := e.a.Allocate()
	o := offers[0]
	if !o.Nodes[0].Revocable || o.Nodes[0].Resources[CPU] != 8000 {
		t.Fatalf("offer %+v, want 8 revocable CPU", o)
	}
	e.launch(o, "n1", "small-0", cpuMem(1000, Gi))
	e.launch(o, "n1", "big", cpuMem(4000, Gi))
	e.launch(o, "n1", "small-1", cpuMem(1000, Gi))
	e.launch(o, "n1", "small-2", cpuMem(1000, Gi))
	e.launch(o, "n1", "small-3", cpuMem(1000, Gi))
	e.release(o, 0)
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 5000}})
	e.a.Allocate()
	_, preempted := e.a.TakeReclaim()
	got := map[string]bool{}
	for _, p := range preempted {
		got[p.Task] = true
	}
	if len(got) != 2 || !got["big"] || !got["small-3"] {
		t.Fatalf("preempted %v, want big and the youngest small task (5 CPU in 2 tasks)", got)
	}
}

// No loop: a role that lets reclaimed resources go unused gets no more preemptions while a
// borrower keeps relaunching on what it gave back.
func TestQuotaNoPreemptionLoop(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 16*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 4000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	e.framework(FrameworkSpec{ID: "gold", Role: "gold", Suppressed: true})
	e.fill(e.a.Allocate(), cpuMem(1000, Gi), "b0")
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"}) // wants offers, but will decline them
	total := 0
	for cycle := range 200 {
		e.clock.Step(time.Second)
		offers := e.a.Allocate()
		_, preempted := e.a.TakeReclaim()
		total += len(preempted)
		for _, p := range preempted {
			e.a.FinishTask(p.Task)
		}
		for _, o := range offers {
			if o.Framework == "gold" {
				e.release(o, 5*time.Second) // declines what was reclaimed for it
			} else {
				e.fill([]Offer{o}, cpuMem(1000, Gi), fmt.Sprintf("b%d", cycle+1))
			}
		}
	}
	if total > 4 {
		t.Fatalf("%d preemptions in 200 cycles for a role that never launches, want at most 4 (one need)", total)
	}
}

// A non-revocable task is never preempted, even for an unmet guarantee.
func TestQuotaNeverPreemptsOrdinaryTasks(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.framework(FrameworkSpec{ID: "early", Role: "batch", Capabilities: revocable})
	e.fill(e.a.Allocate(), cpuMem(1000, Gi), "early") // before any quota: all ordinary
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 6000}})
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	for range 10 {
		e.clock.Step(time.Second)
		e.a.Allocate()
		if r, p := e.a.TakeReclaim(); len(r)+len(p) != 0 {
			t.Fatalf("reclaimed %+v %+v from ordinary tasks", r, p)
		}
	}
	if u := e.a.Quotas()["gold"]; u.Satisfied() || !u.Wanting {
		t.Fatalf("gold %+v, want below its guarantee and wanting", u)
	}
}

// Hierarchy: a child's guarantee counts inside its parent's; the parent's limit caps the
// subtree.
func TestQuotaHierarchy(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 4 {
		e.node(fmt.Sprintf("n%d", i), cpuMem(4000, 16*Gi))
	}
	e.quota(Quota{Role: "eng", Guarantee: Resources{CPU: 8000}, Limit: map[ResourceName]int64{CPU: 10000}})
	e.quota(Quota{Role: "eng/ml", Guarantee: Resources{CPU: 4000}})
	e.framework(FrameworkSpec{ID: "web", Role: "eng/web"})
	e.framework(FrameworkSpec{ID: "ml", Role: "eng/ml"})
	e.framework(FrameworkSpec{ID: "other", Role: "other"})
	offers := e.a.Allocate()
	ml, web, other := sumOffered(offers, "ml", false), sumOffered(offers, "web", false), sumOffered(offers, "other", false)
	if ml[CPU] < 4000 {
		t.Fatalf("ml offered %v, want at least its 4 CPU guarantee", ml)
	}
	if ml[CPU]+web[CPU] > 10000 {
		t.Fatalf("eng offered %v+%v, over its 10 CPU limit", ml, web)
	}
	if ml[CPU]+web[CPU] < 8000 {
		t.Fatalf("eng offered %v+%v, want at least its 8 CPU guarantee", ml, web)
	}
	if other[CPU] != 16000-ml[CPU]-web[CPU] {
		t.Fatalf("other offered %v, want the rest of 16 CPU after eng's %v", other, ml.Add(web))
	}
	us := e.a.Quotas()
	if !us["eng"].Satisfied() || !us["eng/ml"].Satisfied() {
		t.Fatalf("usage %+v, want both satisfied", us)
	}
}

// A guarantee larger than the pool: the role gets everything it asks for, others get only
// revocable resources, nothing loops.
func TestQuotaGuaranteeOverPool(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.quota(Quota{Role: "huge", Guarantee: Resources{CPU: 100000}})
	e.framework(FrameworkSpec{ID: "plain", Role: "x"})
	e.framework(FrameworkSpec{ID: "borrower", Role: "y", Capabilities: revocable})
	offers := e.a.Allocate()
	if got := sumOffered(offers, "plain", false); !got.IsZero() {
		t.Fatalf("plain offered %v, want nothing (all is headroom)", got)
	}
	if got := sumOffered(offers, "borrower", true); got[CPU] != 8000 {
		t.Fatalf("borrower offered %v revocable, want all 8 CPU", got)
	}
	e.framework(FrameworkSpec{ID: "huge", Role: "huge"})
	total := 0
	for range 20 {
		e.clock.Step(time.Second)
		offers = e.a.Allocate()
		_, p := e.a.TakeReclaim()
		total += len(p)
		e.fill(offers, cpuMem(1000, Gi), "t"+e.clock.Now().Format("150405"))
	}
	if got := e.a.Quotas()["huge"]; got.Allocated[CPU] != 8000 {
		t.Fatalf("huge holds %v, want the whole 8 CPU pool", got.Allocated)
	}
	if total != 0 {
		t.Fatalf("%d preemptions, want none (the borrower's offer was rescinded instead)", total)
	}
}

// Role limits cap the subtree; deleting the quota lifts them.
func TestQuotaLimitAndRemove(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.quota(Quota{Role: "capped", Limit: map[ResourceName]int64{CPU: 3000}})
	e.framework(FrameworkSpec{ID: "a", Role: "capped/a"})
	e.framework(FrameworkSpec{ID: "b", Role: "capped/b"})
	offers := e.a.Allocate()
	if got := sumOffered(offers, "a", false).Add(sumOffered(offers, "b", false)); got[CPU] != 3000 {
		t.Fatalf("capped offered %v, want its 3 CPU limit", got)
	}
	e.a.Allocate()
	if w, _ := e.a.Why("b"); w != WhyAtRoleLimit {
		t.Fatalf("b's why %v, want AtRoleLimit", w)
	}
	e.a.RemoveQuota("capped")
	offers = e.a.Allocate()
	if got := sumOffered(offers, "a", false).Add(sumOffered(offers, "b", false)); got[CPU] != 5000 {
		t.Fatalf("after removing the quota offered %v more, want the 5 CPU left", got)
	}
	if len(e.a.Quotas()) != 0 {
		t.Fatal("quota still reported after RemoveQuota")
	}
}

// Role weights: with a weight of 3, a role converges to three times another's share.
func TestQuotaRoleWeight(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 8 {
		e.node(fmt.Sprintf("n%d", i), cpuMem(4000, 16*Gi))
	}
	e.quota(Quota{Role: "heavy", Weight: 3})
	e.framework(FrameworkSpec{ID: "h", Role: "heavy"})
	e.framework(FrameworkSpec{ID: "l", Role: "light"})
	count := simulate(e, map[string]Resources{"h": cpuMem(1000, Gi), "l": cpuMem(1000, Gi)}, 1, time.Minute)
	if count["h"] != 24 || count["l"] != 8 {
		t.Fatalf("tasks %v, want 24:8 (weights 3:1)", count)
	}
}

// A restarted controller tells AddTask which tasks were already preempted: no second
// preemption for the same need.
func TestQuotaRestoredPreemptionNotRepeated(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 16*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 2000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	for i := range 4 {
		task := Task{ID: fmt.Sprintf("b%d", i), Framework: "borrower", Node: "n1", Resources: cpuMem(1000, Gi), Revocable: true}
		if i < 2 {
			task.PreemptedFor = "gold"
		}
		if _, err := e.a.AddTask(task); err != nil {
			t.Fatal(err)
		}
	}
	e.a.Allocate()
	if _, p := e.a.TakeReclaim(); len(p) != 0 {
		t.Fatalf("preempted %+v again after a restart", p)
	}
	if u := e.a.Quotas()["gold"]; u.Pending[CPU] != 2000 {
		t.Fatalf("gold pending %v, want the 2 CPU being reclaimed", u.Pending)
	}
}

func TestQuotaValidation(t *testing.T) {
	e := newEnv(t, Config{})
	for _, q := range []Quota{
		{Role: ""},
		{Role: "a//b"},
		{Role: "a", Weight: -1},
		{Role: "a", Guarantee: Resources{CPU: -1}},
		{Role: "a", Guarantee: Resources{CPU: 2000}, Limit: map[ResourceName]int64{CPU: 1000}},
	} {
		wantErr(t, e.a.SetQuota(q), ErrInvalid)
	}
}

// What preempted tasks free is held for their role even while its framework has declined the
// node for a while: the borrower does not get it back, and nothing is preempted twice.
func TestQuotaFreedHeldForRole(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(9000, 18*Gi))
	e.quota(Quota{Role: "b", Guarantee: Resources{CPU: 6000}})
	e.framework(FrameworkSpec{ID: "a", Role: "a", Capabilities: revocable})
	e.fill(e.a.Allocate(), cpuMem(1000, 4*Gi), "a0") // 1 ordinary + 3 revocable tasks, 16Gi
	e.framework(FrameworkSpec{ID: "b", Role: "b"})
	offers := e.a.Allocate()
	_, preempted := e.a.TakeReclaim()
	if got := sumOffered(offers, "b", false); got[CPU] != 5000 || len(preempted) != 1 {
		t.Fatalf("b offered %v with %d preempted, want the 5 free CPU and one revocable task preempted for the sixth", got, len(preempted))
	}
	// b launches one 3-CPU task and declines the rest for 5 s; the preempted task ends.
	e.launch(offers[0], "n1", "b-0", cpuMem(3000, Gi))
	e.release(offers[0], 5*time.Second)
	e.a.FinishTask(preempted[0].Task)
	for range 4 {
		e.clock.Step(time.Second)
		for _, o := range e.a.Allocate() {
			t.Fatalf("offered %+v while n1 is held for b, which declined it for 5 s", o)
		}
		if _, p := e.a.TakeReclaim(); len(p) != 0 {
			t.Fatalf("preempted %+v again", p)
		}
	}
	e.clock.Step(2 * time.Second)
	if got := sumOffered(e.a.Allocate(), "b", false); got[CPU] != 3000 {
		t.Fatalf("b offered %v once its filter expired, want the 3 CPU held for it", got)
	}
}

// A guarantee naming memory as well as CPU: the guarantee stage cuts each resource to what the
// role lacks of it, not all by the tightest one (which offered 1.3 CPU of the 4 free).
func TestQuotaGuaranteeOfTwoResources(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.framework(FrameworkSpec{ID: "other", Role: "other"})
	o := e.a.Allocate()[0]
	e.launch(o, "n1", "o-0", cpuMem(4000, 8*Gi))
	e.release(o, time.Minute)
	e.quota(Quota{Role: "prod", Guarantee: cpuMem(4000, 8*Gi)})
	e.framework(FrameworkSpec{ID: "prod", Role: "prod"})
	if got := sumOffered(e.a.Allocate(), "prod", false); got != cpuMem(4000, 8*Gi) {
		t.Fatalf("prod offered %v, want its whole lack, cpu=4,memory=8Gi", got)
	}
}
