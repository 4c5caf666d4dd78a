package allocator

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The worked example of the DRF paper (Ghodsi et al., NSDI 2011, section 4): 9 CPUs and
// 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPU, 1 GB>. DRF ends with A running 3 tasks and
// B 2, both at a dominant share of 2/3 (A's is memory, B's is CPU).
func TestDRFPaperExample(t *testing.T) {
	sizes := map[string]Resources{"a": cpuMem(1000, 4*Gi), "b": cpuMem(3000, 1*Gi)}
	for name, tc := range map[string]struct {
		refuse time.Duration
		// advance moves the clock past the refuse filters whenever a cycle offers nothing,
		// until the cluster is full.
		advance bool
	}{
		// A framework that declines with no filter would be re-offered the same node at
		// once, so a framework that launched releases with no filter, and one that could
		// not fit its task declines with a filter; the run ends when nothing is offered.
		"decline filter, clock stopped": {refuse: 5 * time.Second},
		// The same with filters that expire: the clock moves on whenever a cycle is empty.
		"decline filter, clock moving": {refuse: 5 * time.Second, advance: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.node("n1", cpuMem(9000, 18*Gi))
			e.framework(FrameworkSpec{ID: "a"})
			e.framework(FrameworkSpec{ID: "b"})
			count := map[string]int{}
			for range 10 {
				for fw, c := range simulate(e, sizes, 1, tc.refuse) {
					count[fw] += c
				}
				if !tc.advance {
					break
				}
				e.clock.Step(tc.refuse)
			}
			if diff := cmp.Diff(map[string]int{"a": 3, "b": 2}, count); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
			for fw, res := range map[string]ResourceName{"a": Memory, "b": CPU} {
				s, ok := e.a.FrameworkShare(fw)
				if !ok || !near(s.Dominant, 2.0/3) || s.Resource != res || !s.Offered.IsZero() {
					t.Errorf("share of %s = %+v, want 2/3 of %v", fw, s, res)
				}
			}
		})
	}
}

// The example again over a cluster of identical nodes, where a framework may pack several
// tasks into one offer: DRF still equalizes the dominant shares.
func TestDRFManyNodes(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 9 {
		e.node("n"+string(rune('0'+i)), cpuMem(4000, 8*Gi))
	}
	e.framework(FrameworkSpec{ID: "a"})
	e.framework(FrameworkSpec{ID: "b"})
	count := simulate(e, map[string]Resources{"a": cpuMem(1000, 4*Gi), "b": cpuMem(3000, 1*Gi)}, 1, time.Minute)
	sa, _ := e.a.FrameworkShare("a")
	sb, _ := e.a.FrameworkShare("b")
	if count["a"] == 0 || count["b"] == 0 || math.Abs(sa.Dominant-sb.Dominant) > 0.15 {
		t.Errorf("tasks %v, shares a=%v b=%v: want shares within 0.15", count, sa.Dominant, sb.Dominant)
	}
}

// A framework of weight 2 converges to twice the share of one of weight 1.
func TestWeights(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(30000, 30*Gi))
	e.framework(FrameworkSpec{ID: "heavy", Weight: 2})
	e.framework(FrameworkSpec{ID: "light"})
	count := simulate(e, map[string]Resources{"heavy": cpuMem(1000, Gi), "light": cpuMem(1000, Gi)}, 1, time.Minute)
	if diff := cmp.Diff(map[string]int{"heavy": 20, "light": 10}, count); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	h, _ := e.a.FrameworkShare("heavy")
	l, _ := e.a.FrameworkShare("light")
	if !near(h.Dominant, 2*l.Dominant) || !near(h.Weighted, l.Weighted) {
		t.Errorf("heavy %+v, light %+v: want twice the share, equal weighted shares", h, l)
	}
	// Changing the weight takes effect on the next cycle.
	e.framework(FrameworkSpec{ID: "light", Weight: 4})
	if s, _ := e.a.FrameworkShare("light"); !near(s.Weighted, s.Dominant/4) {
		t.Errorf("weighted share after reweighting = %v, want %v", s.Weighted, s.Dominant/4)
	}
}

// DRF first divides the pool between sibling roles, then inside a role.
func TestHierarchicalRoles(t *testing.T) {
	one := cpuMem(1000, Gi)
	for name, tc := range map[string]struct {
		roles     map[string]string // framework -> role
		wantRoles map[string]int    // role -> tasks
		wantFws   map[string]int    // framework -> tasks, where exact
	}{
		"three frameworks in one role share with one in another": {
			roles:     map[string]string{"e1": "eng/batch", "e2": "eng/batch", "e3": "eng/batch", "o1": "ops"},
			wantRoles: map[string]int{"eng": 24, "ops": 24},
			wantFws:   map[string]int{"e1": 8, "e2": 8, "e3": 8, "o1": 24},
		},
		"a role's own frameworks compete as one against its subrole": {
			roles:     map[string]string{"e1": "eng", "e2": "eng", "m1": "eng/ml", "o1": "ops"},
			wantRoles: map[string]int{"eng": 24, "ops": 24, "eng/ml": 12},
			wantFws:   map[string]int{"e1": 6, "e2": 6, "m1": 12, "o1": 24},
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.node("n1", cpuMem(48000, 48*Gi))
			sizes := map[string]Resources{}
			for fw, role := range tc.roles {
				e.framework(FrameworkSpec{ID: fw, Role: role})
				sizes[fw] = one
			}
			count := simulate(e, sizes, 1, time.Minute)
			if diff := cmp.Diff(tc.wantFws, count); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
			shares := e.a.RoleShares()
			for role, n := range tc.wantRoles {
				if want := float64(n) / 48; !near(shares[role].Dominant, want) {
					t.Errorf("role %s share = %v, want %v", role, shares[role].Dominant, want)
				}
			}
		})
	}
}

// A declined node is not offered again to the framework before refuseDuration has passed,
// and is offered again once it has; meanwhile others may get it.
func TestDeclineFilter(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.node("n2", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	offers := e.a.Allocate()
	if diff := cmp.Diff(map[string][]string{"a": {"n1", "n2"}}, offeredNodes(offers)); diff != "" {
		t.Fatalf("first cycle (-want +got):\n%s", diff)
	}
	// Use all of n2, decline the rest: only n1 gets a filter.
	e.launch(offers[0], "n2", "t1", cpuMem(4000, 8*Gi))
	e.release(offers[0], 5*time.Second)
	if exp, ok := e.a.NextFilterExpiry(); !ok || !exp.Equal(e.clock.Now().Add(5*time.Second)) {
		t.Errorf("NextFilterExpiry = %v %v, want now+5s", exp, ok)
	}
	if got := e.a.Stats().Filters; got != 1 {
		t.Errorf("filters = %d, want 1", got)
	}
	e.clock.Step(4900 * time.Millisecond)
	if got := e.a.Allocate(); len(got) != 0 {
		t.Fatalf("offered %v before the filter expired", offeredNodes(got))
	}
	e.framework(FrameworkSpec{ID: "b"})
	if diff := cmp.Diff(map[string][]string{"b": {"n1"}}, offeredNodes(e.a.Allocate())); diff != "" {
		t.Fatalf("another framework (-want +got):\n%s", diff)
	}
	e.a.RemoveFramework("b")
	e.clock.Step(100 * time.Millisecond)
	if diff := cmp.Diff(map[string][]string{"a": {"n1"}}, offeredNodes(e.a.Allocate())); diff != "" {
		t.Fatalf("after refuseDuration (-want +got):\n%s", diff)
	}
	if got := e.a.Stats().Filters; got != 0 {
		t.Errorf("filters = %d, want 0", got)
	}
}

// Two declines of the same node by the same framework: the longer filter holds.
func TestOverlappingFilters(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a", Limits: map[ResourceName]int64{CPU: 2000}})
	first := e.a.Allocate() // half of n1
	e.framework(FrameworkSpec{ID: "a"})
	second := e.a.Allocate() // the other half
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("offers %v then %v, want one each", first, second)
	}
	e.release(first[0], time.Second)
	e.release(second[0], time.Hour)
	e.clock.Step(2 * time.Second)
	if got := e.a.Allocate(); len(got) != 0 {
		t.Fatalf("offered %v while the longer filter holds", got)
	}
	e.clock.Step(time.Hour)
	if got := e.a.Allocate(); len(got) != 1 {
		t.Fatalf("offers %v after both filters expired, want one", got)
	}
}

func TestSuppressAndRevive(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a", Suppressed: true})
	if got := e.a.Allocate(); len(got) != 0 {
		t.Fatalf("suppressed framework offered %v", got)
	}
	e.framework(FrameworkSpec{ID: "a"})
	offers := e.a.Allocate()
	if len(offers) != 1 {
		t.Fatalf("offers after unsuppress = %v, want one", offers)
	}
	e.release(offers[0], time.Hour)
	if got := e.a.Allocate(); len(got) != 0 {
		t.Fatalf("declined node re-offered: %v", got)
	}
	if err := e.a.Revive("a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := e.a.Allocate(); len(got) != 1 {
		t.Fatalf("offers after revive = %v, want one", got)
	}
	wantErr(t, e.a.Revive("nobody", time.Time{}), ErrUnknownFramework)
}

// A revive beats a release made before it (or in the same second), whichever of the two the
// controller hears of first: the framework asked to see those resources again.
func TestReviveBeatsEarlierRelease(t *testing.T) {
	t0 := newFakeClock().Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		revive     bool
		at         time.Time // the revive's or the release's time
		zeroAtTime bool      // pass the zero time (now) instead
	}
	for name, tc := range map[string]struct {
		steps    []step
		filtered bool
	}{
		"release, then a later revive heard of first": {
			steps:    []step{{revive: true, at: at(2 * time.Second)}, {at: at(time.Second)}},
			filtered: false,
		},
		"release and revive in the same second, revive heard of first": {
			steps:    []step{{revive: true, at: at(time.Second)}, {at: at(1500 * time.Millisecond)}},
			filtered: false,
		},
		"release after the revive": {
			steps:    []step{{revive: true, at: at(time.Second)}, {at: at(2 * time.Second)}},
			filtered: true,
		},
		"release heard of first, then the revive": {
			steps:    []step{{at: at(time.Second)}, {revive: true, at: at(2 * time.Second)}},
			filtered: false,
		},
		"release heard of first, then an older revive: revive clears filters as before": {
			steps:    []step{{at: at(2 * time.Second)}, {revive: true, at: at(time.Second)}},
			filtered: false,
		},
		"an older revive does not move the revive time back": {
			steps:    []step{{revive: true, at: at(5 * time.Second)}, {revive: true, at: at(time.Second)}, {at: at(3 * time.Second)}},
			filtered: false,
		},
		"never revived": {
			steps:    []step{{at: at(time.Second)}},
			filtered: true,
		},
		"zero times mean now": {
			steps:    []step{{revive: true, zeroAtTime: true}, {zeroAtTime: true}},
			filtered: false,
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.node("n1", cpuMem(4000, 8*Gi))
			e.framework(FrameworkSpec{ID: "a"})
			offers := e.a.Allocate()
			if len(offers) != 1 {
				t.Fatalf("offers = %v", offers)
			}
			e.clock.Step(10 * time.Second) // the controller hears of both later
			for _, s := range tc.steps {
				when := s.at
				if s.zeroAtTime {
					when = time.Time{}
				}
				if s.revive {
					if err := e.a.Revive("a", when); err != nil {
						t.Fatal(err)
					}
				} else if err := e.a.ReleaseOffer(offers[0].ID, time.Hour, when); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.a.Stats().Filters > 0; got != tc.filtered {
				t.Errorf("filtered = %v, want %v", got, tc.filtered)
			}
			if got := len(e.a.Allocate()); got != map[bool]int{true: 0, false: 1}[tc.filtered] {
				t.Errorf("%d offers after the release, filtered %v", got, tc.filtered)
			}
		})
	}
}

func TestInactiveFramework(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	if err := e.a.SetFrameworkActive("a", false); err != nil {
		t.Fatal(err)
	}
	if got := e.a.Allocate(); len(got) != 0 {
		t.Fatalf("inactive framework offered %v", got)
	}
	if err := e.a.SetFrameworkActive("a", true); err != nil {
		t.Fatal(err)
	}
	if got := e.a.Allocate(); len(got) != 1 {
		t.Fatalf("offers after reactivation = %v, want one", got)
	}
	wantErr(t, e.a.SetFrameworkActive("nobody", true), ErrUnknownFramework)
}

// Nodes with GPUs go only to frameworks with the GPUResources capability; other nodes go to
// anyone.
func TestGPUNodes(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("gpu", cpuMemGPU(8000, 32*Gi, 4))
	e.node("plain", cpuMem(8000, 32*Gi))
	e.framework(FrameworkSpec{ID: "a-cpu-only"})
	e.framework(FrameworkSpec{ID: "b-gpu", Capabilities: []Capability{CapabilityGPUResources}})
	offers := e.a.Allocate()
	got := offeredNodes(offers)
	if !slices.Equal(got["b-gpu"], []string{"gpu"}) || !slices.Equal(got["a-cpu-only"], []string{"plain"}) {
		t.Errorf("offers = %v, want gpu to b-gpu and plain to a-cpu-only", got)
	}
	for _, o := range offers {
		if o.Framework == "b-gpu" && o.Nodes[0].Resources[GPU] != 4 {
			t.Errorf("gpu offer %v, want all 4 GPUs", o.Nodes[0].Resources)
		}
	}
}

// Limits cap what a framework holds; an offer cut down by a limit keeps the node's shape and
// the rest of the node goes to the next framework in the same cycle.
func TestLimits(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.framework(FrameworkSpec{ID: "a", Limits: map[ResourceName]int64{CPU: 2000}})
	e.framework(FrameworkSpec{ID: "b"})
	offers := e.a.Allocate()
	want := []Offer{
		{ID: 1, Framework: "a", MadeAt: e.clock.Now(), Nodes: []OfferNode{{Node: "n1", Resources: cpuMem(2000, 8*Gi)}}},
		{ID: 2, Framework: "b", MadeAt: e.clock.Now(), Nodes: []OfferNode{{Node: "n1", Resources: cpuMem(6000, 24*Gi)}}},
	}
	if diff := cmp.Diff(want, offers); diff != "" {
		t.Fatalf("offers (-want +got):\n%s", diff)
	}
	// a uses its offer; b gives everything back: a is at its limit and gets nothing more.
	e.launch(offers[0], "n1", "t1", cpuMem(2000, 8*Gi))
	e.release(offers[0], 0)
	e.release(offers[1], 0)
	if diff := cmp.Diff(map[string][]string{"b": {"n1"}}, offeredNodes(e.a.Allocate())); diff != "" {
		t.Fatalf("with a at its limit (-want +got):\n%s", diff)
	}
	wantErr(t, errOf(e.a.SetFramework(FrameworkSpec{ID: "c", Limits: map[ResourceName]int64{CPU: -1}})), ErrInvalid)
}

func TestMinAllocatable(t *testing.T) {
	for name, tc := range map[string]struct {
		min  Resources
		free Resources
		want bool
	}{
		"default, enough":             {free: cpuMem(10, 32*Mi), want: true},
		"default, too little cpu":     {free: cpuMem(9, 32*Gi), want: false},
		"default, too little memory":  {free: cpuMem(4000, 31*Mi), want: false},
		"custom cpu only, no memory":  {min: Resources{CPU: 500}, free: cpuMem(500, 0), want: true},
		"custom cpu only, too little": {min: Resources{CPU: 500}, free: cpuMem(499, 8*Gi), want: false},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{MinAllocatable: tc.min})
			e.node("n1", tc.free.Add(cpuMem(1000, Gi)), func(s *NodeSpec) { s.UsedByOthers = cpuMem(1000, Gi) })
			e.framework(FrameworkSpec{ID: "a"})
			if got := len(e.a.Allocate()) == 1; got != tc.want {
				t.Errorf("offered = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNodeSelectorAndTaints(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("a1", cpuMem(4000, 8*Gi), withLabels("zone", "a"))
	e.node("b1", cpuMem(4000, 8*Gi), withLabels("zone", "b", "disk", "ssd"))
	e.node("c1", cpuMem(4000, 8*Gi), withLabels("zone", "c"))
	e.node("tainted", cpuMem(4000, 8*Gi), withTaints(Taint{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}))
	e.node("soft", cpuMem(4000, 8*Gi), withTaints(Taint{Key: "x", Effect: TaintPreferNoSchedule}))
	for _, tc := range []struct {
		spec FrameworkSpec
		want []string
	}{
		{FrameworkSpec{ID: "labels", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"zone": "a"}}}, []string{"a1"}},
		{FrameworkSpec{ID: "in", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorIn, Values: []string{"a", "b"}}}}}, []string{"a1", "b1"}},
		{FrameworkSpec{ID: "notin", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorNotIn, Values: []string{"a"}}}}}, []string{"b1", "c1", "soft"}},
		{FrameworkSpec{ID: "exists", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "disk", Operator: SelectorExists}}}}, []string{"b1"}},
		{FrameworkSpec{ID: "notexists", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorDoesNotExist}}}}, []string{"soft"}},
		{FrameworkSpec{ID: "tolerates", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorDoesNotExist}}},
			Tolerations: []Toleration{{Key: "dedicated", Operator: TolerationEqual, Value: "db", Effect: TaintNoSchedule}}}, []string{"soft", "tainted"}},
		{FrameworkSpec{ID: "wrong-value", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorDoesNotExist}}},
			Tolerations: []Toleration{{Key: "dedicated", Value: "web"}}}, []string{"soft"}},
	} {
		t.Run(tc.spec.ID, func(t *testing.T) {
			e.framework(tc.spec) // the nodes are shared; the frameworks come one at a time
			defer e.a.RemoveFramework(tc.spec.ID)
			offers := e.a.Allocate()
			if diff := cmp.Diff(map[string][]string{tc.spec.ID: tc.want}, offeredNodes(offers)); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
			for _, o := range offers {
				if err := e.a.RescindOffer(o.ID); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// A node's labels changing moves it in or out of a selector.
	e.framework(FrameworkSpec{ID: "zone-c", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"zone": "c"}}})
	e.node("a1", cpuMem(4000, 8*Gi), withLabels("zone", "c"))
	if diff := cmp.Diff(map[string][]string{"zone-c": {"a1", "c1"}}, offeredNodes(e.a.Allocate())); diff != "" {
		t.Errorf("after relabel (-want +got):\n%s", diff)
	}
	wantErr(t, errOf(e.a.SetFramework(FrameworkSpec{ID: "bad", NodeSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "k", Operator: SelectorIn}}}})), ErrInvalid)
}

// Removing a node rescinds its offers, loses its tasks, and shrinks the pool.
func TestRemoveNode(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.node("n2", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	offers := e.a.Allocate()
	e.launch(offers[0], "n1", "t1", cpuMem(1000, Gi))
	lost, rescinded := e.a.RemoveNode("n1")
	if diff := cmp.Diff([]string{"t1"}, lost); diff != "" {
		t.Errorf("lost tasks (-want +got):\n%s", diff)
	}
	want := []Rescinded{{Offer: offers[0].ID, Framework: "a", Node: "n1", Resources: cpuMem(3000, 7*Gi), Cause: CauseNodeUnschedulable}}
	if diff := cmp.Diff(want, rescinded); diff != "" {
		t.Errorf("rescinded (-want +got):\n%s", diff)
	}
	if got := e.a.Pool(); got != cpuMem(4000, 8*Gi) {
		t.Errorf("pool = %v, want one node", got)
	}
	s, _ := e.a.FrameworkShare("a")
	if !near(s.Dominant, 1) || !s.Allocated.IsZero() {
		t.Errorf("share = %+v, want 1 (all of n2 offered) and no tasks", s)
	}
	o, ok := e.a.Offer(offers[0].ID)
	if !ok || len(o.Nodes) != 1 || o.Nodes[0].Node != "n2" {
		t.Errorf("offer after removal = %+v, want n2 only", o)
	}
	if lost, rescinded := e.a.RemoveNode("nope"); lost != nil || rescinded != nil {
		t.Errorf("removing an unknown node: %v %v", lost, rescinded)
	}
	// Re-adding a node of the same name starts clean.
	e.node("n1", cpuMem(4000, 8*Gi))
	if diff := cmp.Diff(map[string][]string{"a": {"n1"}}, offeredNodes(e.a.Allocate())); diff != "" {
		t.Errorf("after re-adding (-want +got):\n%s", diff)
	}
}

// A node that shrinks, or that other schedulers fill, has offers rescinded, newest first,
// until it is not overcommitted; a node leaving the pool has all of them rescinded.
func TestNodeChangeRescinds(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(8000, 32*Gi))
	e.framework(FrameworkSpec{ID: "a", Limits: map[ResourceName]int64{CPU: 4000}})
	e.framework(FrameworkSpec{ID: "b", Limits: map[ResourceName]int64{CPU: 2000}})
	offers := e.a.Allocate()
	if len(offers) != 2 {
		t.Fatalf("offers = %v, want a and b", offers)
	}
	rescinded, err := e.a.SetNode(NodeSpec{Name: "n1", Allocatable: cpuMem(8000, 32*Gi), UsedByOthers: cpuMem(3000, Gi)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rescinded) != 1 || rescinded[0].Framework != "b" || !rescinded[0].OfferGone {
		t.Errorf("rescinded = %+v, want b's offer", rescinded)
	}
	rescinded, _ = e.a.SetNode(NodeSpec{Name: "n1", Allocatable: cpuMem(8000, 32*Gi), Unschedulable: true})
	if len(rescinded) != 1 || rescinded[0].Framework != "a" {
		t.Errorf("rescinded = %+v, want a's offer", rescinded)
	}
	if got := e.a.Allocate(); len(got) != 0 || !e.a.Pool().IsZero() {
		t.Errorf("unschedulable node offered %v, pool %v", got, e.a.Pool())
	}
	if _, err := e.a.SetNode(NodeSpec{Name: "n1", Allocatable: Resources{CPU: -1}}); err == nil {
		t.Error("negative allocatable accepted")
	}
}

func TestLaunchTaskAdmission(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.node("n2", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"x": "y"}}})
	e.framework(FrameworkSpec{ID: "b"})
	e.node("n1", cpuMem(4000, 8*Gi), withLabels("x", "y"))
	offers := e.a.Allocate()
	if len(offers) != 2 {
		t.Fatalf("offers = %v", offers)
	}
	oa := offers[0]
	for name, tc := range map[string]struct {
		offer OfferID
		task  Task
		want  error
	}{
		"unknown offer":     {offer: 999, task: Task{ID: "t", Framework: "a", Node: "n1"}, want: ErrUnknownOffer},
		"other framework":   {offer: oa.ID, task: Task{ID: "t", Framework: "b", Node: "n1"}, want: ErrWrongFramework},
		"node not in offer": {offer: oa.ID, task: Task{ID: "t", Framework: "a", Node: "n2"}, want: ErrNodeNotInOffer},
		"unknown node":      {offer: oa.ID, task: Task{ID: "t", Framework: "a", Node: "zz"}, want: ErrNodeNotInOffer},
		"too big":           {offer: oa.ID, task: Task{ID: "t", Framework: "a", Node: "n1", Resources: cpuMem(4001, Gi)}, want: ErrDoesNotFit},
		"negative":          {offer: oa.ID, task: Task{ID: "t", Framework: "a", Node: "n1", Resources: Resources{CPU: -1}}, want: ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, e.a.LaunchTask(tc.offer, tc.task), tc.want)
		})
	}
	e.launch(oa, "n1", "t1", cpuMem(3000, 6*Gi))
	wantErr(t, e.a.LaunchTask(oa.ID, Task{ID: "t1", Framework: "a", Node: "n1"}), ErrTaskExists)
	wantErr(t, e.a.LaunchTask(oa.ID, Task{ID: "t2", Framework: "a", Node: "n1", Resources: cpuMem(1001, Gi)}), ErrDoesNotFit)
	e.launch(oa, "n1", "t2", cpuMem(1000, 2*Gi))
	got, _ := e.a.Offer(oa.ID)
	if diff := cmp.Diff([]OfferNode{{Node: "n1", Resources: Resources{}}}, got.Nodes); diff != "" {
		t.Errorf("remaining (-want +got):\n%s", diff)
	}
	// A fully used node gets no filter on release.
	e.release(oa, time.Hour)
	if n := e.a.Stats().Filters; n != 0 {
		t.Errorf("filters = %d, want 0", n)
	}
	if !e.a.FinishTask("t1") || e.a.FinishTask("t1") {
		t.Error("FinishTask should report the task once")
	}
	if s, _ := e.a.FrameworkShare("a"); s.Allocated != cpuMem(1000, 2*Gi) {
		t.Errorf("allocated = %v after finishing t1", s.Allocated)
	}
}

// The model can be rebuilt from what the API server holds, in any order.
func TestRestore(t *testing.T) {
	e := newEnv(t, Config{})
	// A task reported before its framework and its node.
	if _, err := e.a.AddTask(Task{ID: "t1", Framework: "a", Node: "n1", Resources: cpuMem(1000, Gi)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.AddTask(Task{ID: "t1", Framework: "a", Node: "n1", Resources: cpuMem(1000, Gi)}); err != nil {
		t.Errorf("adding the same task again: %v", err)
	}
	if _, err := e.a.AddTask(Task{ID: "t1", Framework: "a", Node: "n1", Resources: cpuMem(2000, Gi)}); err == nil {
		t.Error("adding a different task under the same ID succeeded")
	}
	e.node("n1", cpuMem(4000, 8*Gi))
	e.node("n2", cpuMem(4000, 8*Gi))
	e.node("out", cpuMem(4000, 8*Gi), func(s *NodeSpec) { s.Unschedulable = true })
	e.node("gpu", cpuMemGPU(4000, 8*Gi, 1))
	e.node("full", cpuMem(4000, 8*Gi), func(s *NodeSpec) { s.MaxPods, s.PodsByOthers = 3, 3 })
	e.framework(FrameworkSpec{ID: "a"})
	if s, _ := e.a.FrameworkShare("a"); !near(s.Dominant, 1.0/16) {
		t.Errorf("share = %v, want 1/16", s.Dominant)
	}
	rejected, err := e.a.RestoreOffer(Offer{ID: 41, Framework: "a", Nodes: []OfferNode{
		{Node: "n1", Resources: cpuMem(3000, 7*Gi)}, {Node: "n2", Resources: cpuMem(5000, Gi)}, {Node: "gone", Resources: cpuMem(1, 1)},
		{Node: "out", Resources: cpuMem(1000, Gi)}, {Node: "gpu", Resources: cpuMem(1000, Gi)}, {Node: "full", Resources: cpuMem(1000, Gi)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"n2", "gone", "out", "gpu", "full"}, rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	_, err = e.a.RestoreOffer(Offer{ID: 41, Framework: "a"})
	wantErr(t, err, ErrInvalid)
	_, err = e.a.RestoreOffer(Offer{ID: 50, Framework: "nobody"})
	wantErr(t, err, ErrUnknownFramework)
	offers := e.a.Allocate()
	if len(offers) != 1 || offers[0].ID != 42 || offers[0].Nodes[0].Node != "n2" {
		t.Errorf("offers = %+v, want ID 42 on n2", offers)
	}
}

// A removed framework's offers are rescinded; its tasks stay charged until they finish.
func TestRemoveFramework(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	e.framework(FrameworkSpec{ID: "b"})
	offers := e.a.Allocate() // a gets n1
	e.launch(offers[0], "n1", "t1", cpuMem(1000, Gi))
	rescinded := e.a.RemoveFramework("a")
	if len(rescinded) != 1 || !rescinded[0].OfferGone || rescinded[0].Resources != cpuMem(3000, 7*Gi) {
		t.Errorf("rescinded = %+v", rescinded)
	}
	if _, ok := e.a.FrameworkShare("a"); ok {
		t.Error("removed framework still has a share")
	}
	if diff := cmp.Diff([]Offer{{ID: 2, Framework: "b", MadeAt: e.clock.Now(), Nodes: []OfferNode{{Node: "n1", Resources: cpuMem(3000, 7*Gi)}}}}, e.a.Allocate()); diff != "" {
		t.Errorf("b's offer (-want +got):\n%s", diff)
	}
	if e.a.RemoveFramework("a") != nil {
		t.Error("removing twice rescinded something")
	}
	// Re-adding it brings back its task's charge.
	e.framework(FrameworkSpec{ID: "a"})
	if s, _ := e.a.FrameworkShare("a"); s.Allocated != cpuMem(1000, Gi) {
		t.Errorf("re-added framework holds %v, want its task", s.Allocated)
	}
	e.a.RemoveFramework("a")
	e.a.FinishTask("t1")
	if st := e.a.Stats(); st.Frameworks != 1 || st.Tasks != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMaxNodesPerOffer(t *testing.T) {
	e := newEnv(t, Config{MaxNodesPerOffer: 2})
	for _, n := range []string{"n1", "n2", "n3", "n4", "n5"} {
		e.node(n, cpuMem(1000, Gi))
	}
	e.framework(FrameworkSpec{ID: "a"})
	offers := e.a.Allocate()
	var sizes []int
	for _, o := range offers {
		sizes = append(sizes, len(o.Nodes))
	}
	if diff := cmp.Diff([]int{2, 2, 1}, sizes); diff != "" {
		t.Errorf("offer sizes (-want +got):\n%s", diff)
	}
}

func TestRescindOfferNode(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(1000, Gi))
	e.node("n2", cpuMem(1000, Gi))
	e.framework(FrameworkSpec{ID: "a"})
	o := e.a.Allocate()[0]
	r, err := e.a.RescindOfferNode(o.ID, "n1")
	if err != nil || r.OfferGone || r.Node != "n1" {
		t.Fatalf("RescindOfferNode = %+v, %v", r, err)
	}
	_, err = e.a.RescindOfferNode(o.ID, "n1")
	wantErr(t, err, ErrNodeNotInOffer)
	if r, _ := e.a.RescindOfferNode(o.ID, "n2"); !r.OfferGone {
		t.Errorf("last node rescinded: %+v, want OfferGone", r)
	}
	wantErr(t, e.a.RescindOffer(o.ID), ErrUnknownOffer)
	wantErr(t, e.a.ReleaseOffer(o.ID, 0, time.Time{}), ErrUnknownOffer)
	// n1 went back without a filter.
	if got := len(e.a.Allocate()); got != 1 {
		t.Errorf("offers = %d, want 1", got)
	}
}

func TestSharesExported(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(10000, 10*Gi))
	e.framework(FrameworkSpec{ID: "x", Role: "r/s", Weight: 2})
	o := e.a.Allocate()[0]
	e.launch(o, "n1", "t1", cpuMem(1000, 5*Gi))
	if _, err := e.a.RescindOfferNode(o.ID, "n1"); err != nil {
		t.Fatal(err)
	}
	want := Share{Dominant: 0.5, Weighted: 0.25, Resource: Memory, Allocated: cpuMem(1000, 5*Gi)}
	if diff := cmp.Diff(map[string]Share{"x": want}, e.a.FrameworkShares()); diff != "" {
		t.Errorf("framework shares (-want +got):\n%s", diff)
	}
	role := Share{Dominant: 0.5, Weighted: 0.5, Resource: Memory, Allocated: cpuMem(1000, 5*Gi)}
	if diff := cmp.Diff(map[string]Share{"r": role, "r/s": role}, e.a.RoleShares()); diff != "" {
		t.Errorf("role shares (-want +got):\n%s", diff)
	}
	for _, bad := range []FrameworkSpec{{}, {ID: "b", Role: "a//b"}, {ID: "b", Role: "/a"}, {ID: "b", Weight: -1}, {ID: "b", Weight: math.NaN()}, {ID: "b", Capabilities: []Capability{"Foo"}}} {
		wantErr(t, errOf(e.a.SetFramework(bad)), ErrInvalid)
	}
}

// The allocator relies only on the Sorter contract: with the random sorter it still offers
// every node, each to one framework.
func TestRandomSorterAllocator(t *testing.T) {
	e := newEnv(t, Config{})
	e.a = New(Config{Clock: e.clock, Sorter: NewRandomSorter(newRand(3))})
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		e.node(n, cpuMem(1000, Gi))
	}
	e.framework(FrameworkSpec{ID: "a"})
	e.framework(FrameworkSpec{ID: "b"})
	var all []string
	for _, nodes := range offeredNodes(e.a.Allocate()) {
		all = append(all, nodes...)
	}
	slices.Sort(all)
	if diff := cmp.Diff([]string{"n1", "n2", "n3", "n4"}, all); diff != "" {
		t.Errorf("offered nodes (-want +got):\n%s", diff)
	}
}

// Concurrent callers: the race detector checks the locking.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 20 {
		e.node(string(rune('a'+i)), cpuMem(1000, Gi))
	}
	e.framework(FrameworkSpec{ID: "a"})
	e.framework(FrameworkSpec{ID: "b"})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				for _, o := range e.a.Allocate() {
					_ = e.a.ReleaseOffer(o.ID, 0, time.Time{})
				}
				_, _ = e.a.SetNode(NodeSpec{Name: string(rune('a' + (i+w)%20)), Allocatable: cpuMem(int64(1000+i), Gi)})
				_ = e.a.FrameworkShares()
				_ = e.a.Stats()
			}
		}()
	}
	wg.Wait()
}

// A filter outlives neither its node nor its framework: when their slots are reused, the old
// filter's expiry must not lift a newer filter.
func TestFilterSlotReuse(t *testing.T) {
	t.Run("node", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.node("n1", cpuMem(1000, Gi))
		e.framework(FrameworkSpec{ID: "a"})
		e.release(e.a.Allocate()[0], 5*time.Second)
		e.a.RemoveNode("n1")
		e.node("n2", cpuMem(1000, Gi)) // takes n1's slot
		e.release(e.a.Allocate()[0], time.Hour)
		e.clock.Step(5 * time.Second)
		if got := e.a.Allocate(); len(got) != 0 {
			t.Fatalf("n2 offered while filtered: %v", got)
		}
	})
	t.Run("framework", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.node("n1", cpuMem(1000, Gi))
		e.framework(FrameworkSpec{ID: "a"})
		e.release(e.a.Allocate()[0], 5*time.Second)
		e.a.RemoveFramework("a")
		e.framework(FrameworkSpec{ID: "b"}) // takes a's slot
		e.release(e.a.Allocate()[0], time.Hour)
		e.clock.Step(5 * time.Second)
		if got := e.a.Allocate(); len(got) != 0 {
			t.Fatalf("n1 offered to b while filtered: %v", got)
		}
	})
}
