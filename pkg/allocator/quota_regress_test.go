package allocator

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// Regressions found by review of the first quota change.

// A framework that launches a little on each offer made for its guarantee and declines the
// rest, while a borrower relaunches on everything lent: what it declines counts as given until
// its next need event, so reclaim takes its gap once, not once per round (it took 21 CPU for a
// 6 CPU gap with 1-CPU tasks, 43 CPU with 0.1-CPU ones, when only declining without launching
// counted).
func TestQuotaLaunchLittleStaysBounded(t *testing.T) {
	for _, taskCPU := range []int64{100, 1000} {
		t.Run(fmt.Sprint(taskCPU), func(t *testing.T) { launchLittle(t, taskCPU) })
	}
}

func launchLittle(t *testing.T, taskCPU int64) {
	e := newEnv(t, Config{})
	for i := range 3 {
		e.node(fmt.Sprintf("n%d", i), cpuMem(4000, 16*Gi))
	}
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 6000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	e.framework(FrameworkSpec{ID: "gold", Role: "gold", Suppressed: true})
	e.fill(e.a.Allocate(), cpuMem(1000, Gi), "b0")
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	var preemptedCPU int64
	n := 0
	for cycle := range 300 {
		e.clock.Step(time.Second)
		offers := e.a.Allocate()
		_, preempted := e.a.TakeReclaim()
		for _, p := range preempted {
			preemptedCPU += p.Resources[CPU]
			e.a.FinishTask(p.Task) // pods stop at once
		}
		for _, o := range offers {
			if o.Framework == "gold" {
				n++
				e.launch(o, o.Nodes[0].Node, fmt.Sprintf("g%d", n), cpuMem(taskCPU, 64*Mi))
				e.release(o, 5*time.Second)
			} else {
				e.fill([]Offer{o}, cpuMem(1000, Gi), fmt.Sprintf("b%d", cycle+1))
			}
		}
	}
	u := e.a.Quotas()["gold"]
	t.Logf("gold launched %d tasks, holds %v; %d mCPU preempted; stated bound (1 fw+1)x(6 CPU+1 CPU) = 14000 mCPU", n, u.Allocated, preemptedCPU)
	if preemptedCPU > 14000 {
		t.Errorf("%d mCPU preempted with no need event, over the bound", preemptedCPU)
	}
}

// A role's own revocable holdings are not reclaimable for it: counted as reclaimable headroom,
// they let its headroom go to others as ordinary resources, for good.
func TestQuotaOwnRevocableIsNotHeadroom(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 3 {
		e.node(fmt.Sprintf("n%d", i), cpuMem(4000, 16*Gi))
	}
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 4000}})
	e.quota(Quota{Role: "silver", Guarantee: Resources{CPU: 8000}})
	e.framework(FrameworkSpec{ID: "G", Role: "gold", Capabilities: revocable})
	var ord []string
	k := 0
	for _, o := range e.a.Allocate() {
		for _, p := range o.Nodes {
			for left := p.Resources; cpuMem(1000, Gi).Fits(left); left = left.Sub(cpuMem(1000, Gi)) {
				k++
				id := fmt.Sprintf("g%d", k)
				e.launch(o, p.Node, id, cpuMem(1000, Gi))
				if !p.Revocable {
					ord = append(ord, id)
				}
			}
		}
		e.release(o, 0)
	}
	t.Logf("G: %d tasks, %d ordinary; gold %+v", k, len(ord), e.a.Quotas()["gold"].Revocable)
	e.framework(FrameworkSpec{ID: "G", Role: "gold", Capabilities: revocable, Suppressed: true})
	for _, id := range ord {
		e.a.FinishTask(id)
	}
	// Silver meets its guarantee on a new node only it may use.
	e.node("big", cpuMem(8000, 32*Gi), withLabels("pool", "silver"))
	e.framework(FrameworkSpec{ID: "S", Role: "silver", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"pool": "silver"}}})
	e.fill(e.a.Allocate(), cpuMem(1000, Gi), "s")
	t.Logf("silver %+v", e.a.Quotas()["silver"].Allocated)
	// A plain framework of another role now gets gold's headroom as ordinary resources.
	e.framework(FrameworkSpec{ID: "B", Role: "batch"})
	offers := e.a.Allocate()
	t.Logf("B offered %v ordinary while gold lacks %v (headroom %v)", sumOffered(offers, "B", false), e.a.Quotas()["gold"].Unmet, e.a.Headroom())
	e.fill(offers, cpuMem(1000, Gi), "b")
	e.framework(FrameworkSpec{ID: "G", Role: "gold", Capabilities: revocable})
	pre := 0
	for range 20 {
		e.clock.Step(time.Second)
		e.a.Allocate()
		_, p := e.a.TakeReclaim()
		pre += len(p)
	}
	if u := e.a.Quotas()["gold"]; !u.Satisfied() {
		t.Errorf("gold wants offers and lacks %v for good (%d preemptions possible): its headroom went to B as ordinary", u.Unmet, pre)
	}
}

// An offer the controller takes back without the framework choosing it (publish failure,
// stale Lease, failover) does not count as declined: the role is reclaimed for again.
func TestQuotaRescindDoesNotBlockReclaim(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 6000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	e.fill(e.a.Allocate(), cpuMem(1000, Gi), "b0")
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	e.a.Allocate()
	_, p := e.a.TakeReclaim()
	for _, x := range p {
		e.a.FinishTask(x.Task)
	}
	offers := e.a.Allocate()
	if got := sumOffered(offers, "gold", false); got[CPU] != 6000 {
		t.Fatalf("gold offered %v", got)
	}
	// The controller cannot publish it (or the Lease went stale for a moment): rescinded.
	wantErr(t, e.a.SetFrameworkActive("gold", false), nil)
	for _, o := range offers {
		wantErr(t, e.a.RescindOffer(o.ID), nil)
	}
	e.clock.Step(time.Second)
	e.fill(e.a.Allocate(), cpuMem(1000, Gi), "b1") // the borrower takes it back meanwhile
	wantErr(t, e.a.SetFrameworkActive("gold", true), nil)
	e.framework(FrameworkSpec{ID: "gold", Role: "gold", Weight: 2}) // reconfigured, too
	total := 0
	for i := range 60 {
		e.clock.Step(time.Second)
		for _, o := range e.a.Allocate() {
			if o.Framework == "borrower" {
				e.fill([]Offer{o}, cpuMem(1000, Gi), "b"+e.clock.Now().Format("150405")+string(rune('a'+i%26)))
			}
		}
		_, p := e.a.TakeReclaim()
		total += len(p)
		for _, x := range p {
			e.a.FinishTask(x.Task)
		}
	}
	if u := e.a.Quotas()["gold"]; !u.Satisfied() {
		t.Errorf("gold (never saw an offer, active, wanting) lacks %v after 60 cycles, %d preemptions: reclaim blocked for good", u.Unmet, total)
	}
}

// Free held for role a (its framework declined a guarantee offer) does not count, in reclaim,
// as covering role b's need: b may not be offered it while the hold lasts.
func TestQuotaHeldFreeIsNotAnotherRoles(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 16*Gi))
	e.node("n2", cpuMem(4000, 16*Gi))
	e.quota(Quota{Role: "a", Guarantee: Resources{CPU: 4000}})
	e.quota(Quota{Role: "b", Guarantee: Resources{CPU: 4000}})
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	for _, o := range e.a.Allocate() {
		for _, p := range o.Nodes {
			if p.Node == "n2" {
				e.launch(o, "n2", "rev-0", cpuMem(4000, 4*Gi))
			}
		}
		e.release(o, 0)
	}
	e.framework(FrameworkSpec{ID: "fa", Role: "a"})
	offers := e.a.Allocate()
	if got := sumOffered(offers, "fa", false); got[CPU] != 4000 {
		t.Fatalf("fa offered %v", got)
	}
	e.release(offers[0], 10*time.Minute) // declines for 10 min: n1 held for a
	e.framework(FrameworkSpec{ID: "fb", Role: "b"})
	for i := range 10 {
		e.clock.Step(10 * time.Second)
		offers := e.a.Allocate()
		_, ps := e.a.TakeReclaim()
		if len(ps) > 0 || sumOffered(offers, "fb", false)[CPU] > 0 {
			t.Logf("cycle %d: fb offered %v, preempted %+v", i, sumOffered(offers, "fb", false), ps)
			return
		}
	}
	t.Fatalf("b lacks 4 CPU for 100 s: nothing offered, nothing preempted (n1's 4 CPU held for a count as b's)")
}

// After the best node, the next is the one that covers most of what is still needed (nodes
// ranked once against the first need disturbed a third node and preempted 4 CPU too many).
func TestQuotaPreemptPicksNodesAgainstWhatIsLeft(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("a", cpuMem(3000, 3*Gi))
	e.node("b", cpuMem(4000, 512*Mi))
	e.node("c", cpuMem(1000, 1*Gi))
	e.framework(FrameworkSpec{ID: "borrower", Role: "batch", Capabilities: revocable})
	for _, x := range []struct {
		id, node string
		r        Resources
	}{{"ta", "a", cpuMem(3000, 3*Gi)}, {"tb", "b", cpuMem(4000, 512*Mi)}, {"tc", "c", cpuMem(1000, Gi)}} {
		if _, err := e.a.AddTask(Task{ID: x.id, Framework: "borrower", Node: x.node, Resources: x.r, Revocable: true}); err != nil {
			t.Fatal(err)
		}
	}
	e.quota(Quota{Role: "gold", Guarantee: cpuMem(4000, 4*Gi)})
	e.framework(FrameworkSpec{ID: "gold", Role: "gold"})
	e.a.Allocate()
	_, ps := e.a.TakeReclaim()
	var sum Resources
	for _, p := range ps {
		sum = sum.Add(p.Resources)
		t.Logf("preempted %s on %s %v", p.Task, p.Node, p.Resources)
	}
	if len(ps) != 2 {
		t.Fatalf("preempted %d tasks (%v) on %d nodes for a need of cpu=4,mem=4Gi; ta+tc cover it exactly", len(ps), sum, len(ps))
	}
}

// A decline filter of centuries holds the declined guarantee part for its role for as long:
// the hold's end, counted in nanoseconds since 1970, must not wrap round and end it at once
// (review: a refuse of math.MaxInt64 gave the node to a borrower the next cycle).
func TestQuotaHoldOfCenturiesDoesNotWrap(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n0", cpuMem(4000, 16*Gi))
	e.quota(Quota{Role: "gold", Guarantee: Resources{CPU: 4000}})
	e.framework(FrameworkSpec{ID: "G", Role: "gold"})
	offers := e.a.Allocate()
	if len(offers) != 1 || offers[0].Framework != "G" {
		t.Fatalf("first cycle: %+v, want one offer to G", offers)
	}
	e.release(offers[0], time.Duration(math.MaxInt64))
	e.framework(FrameworkSpec{ID: "B", Role: "batch", Capabilities: revocable})
	e.clock.Step(time.Second)
	if offers := e.a.Allocate(); len(offers) != 0 {
		t.Fatalf("n0, declined by G for its guarantee, was offered to %s", offers[0].Framework)
	}
}
