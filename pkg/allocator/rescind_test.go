package allocator

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rescindedAt is what the tests compare of a Rescinded: which part went, and why.
type rescindedAt struct {
	Framework, Node string
	Cause           RescindCause
}

func summarize(rs []Rescinded) []rescindedAt {
	var out []rescindedAt
	for _, r := range rs {
		out = append(out, rescindedAt{r.Framework, r.Node, r.Cause})
	}
	return out
}

var sortRescinded = cmpopts.SortSlices(func(x, y rescindedAt) bool {
	if x.Framework != y.Framework {
		return x.Framework < y.Framework
	}
	return x.Node < y.Node
})

func TestRescindCauseString(t *testing.T) {
	for c, want := range map[RescindCause]string{
		CauseNodeUnschedulable: "NodeUnschedulable",
		CauseCapacity:          "Capacity",
		CauseNodeIneligible:    "NodeIneligible",
		CauseFrameworkChanged:  "FrameworkChanged",
		CauseOther:             "Other",
		0:                      "RescindCause(0)",
		99:                     "RescindCause(99)",
	} {
		if got := c.String(); got != want {
			t.Errorf("RescindCause(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

// Every change of a node takes back what the node can no longer give, and says why.
func TestSetNodeRescindCauses(t *testing.T) {
	base := NodeSpec{Name: "n1", Allocatable: cpuMemGPU(8000, 32*Gi, 0), Labels: map[string]string{"zone": "a"}, MaxPods: 10}
	for name, tc := range map[string]struct {
		change func(*NodeSpec)
		want   []rescindedAt
	}{
		"unchanged": {change: func(*NodeSpec) {}},
		"unschedulable": {
			change: func(s *NodeSpec) { s.Unschedulable = true },
			want:   []rescindedAt{{"any", "n1", CauseNodeUnschedulable}, {"zoned", "n1", CauseNodeUnschedulable}},
		},
		"other pods take some: the newest offer goes": {
			change: func(s *NodeSpec) { s.UsedByOthers = cpuMem(1000, Gi) },
			want:   []rescindedAt{{"zoned", "n1", CauseCapacity}},
		},
		"allocatable shrinks below both": {
			change: func(s *NodeSpec) { s.Allocatable = cpuMem(3000, 32*Gi) },
			want:   []rescindedAt{{"any", "n1", CauseCapacity}, {"zoned", "n1", CauseCapacity}},
		},
		"pod slots fill with other pods": {
			change: func(s *NodeSpec) { s.PodsByOthers = 10 },
			want:   []rescindedAt{{"any", "n1", CauseCapacity}, {"zoned", "n1", CauseCapacity}},
		},
		"max pods lowered to what runs": {
			change: func(s *NodeSpec) { s.MaxPods = 1; s.PodsByOthers = 1 },
			want:   []rescindedAt{{"any", "n1", CauseCapacity}, {"zoned", "n1", CauseCapacity}},
		},
		"a slot left": {change: func(s *NodeSpec) { s.PodsByOthers = 9 }},
		"label no longer selected": {
			change: func(s *NodeSpec) { s.Labels = map[string]string{"zone": "b"} },
			want:   []rescindedAt{{"zoned", "n1", CauseNodeIneligible}},
		},
		"an untolerated NoSchedule taint": {
			change: func(s *NodeSpec) { s.Taints = []Taint{{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}} },
			want:   []rescindedAt{{"zoned", "n1", CauseNodeIneligible}},
		},
		"a PreferNoSchedule taint keeps offers": {
			change: func(s *NodeSpec) { s.Taints = []Taint{{Key: "x", Effect: TaintPreferNoSchedule}} },
		},
		"GPUs appear": {
			change: func(s *NodeSpec) { s.Allocatable[GPU] = 2 },
			want:   []rescindedAt{{"zoned", "n1", CauseNodeIneligible}},
		},
		"ineligible first, then capacity for the rest": {
			change: func(s *NodeSpec) {
				s.Labels = nil
				s.UsedByOthers = cpuMem(5000, Gi)
			},
			want: []rescindedAt{{"any", "n1", CauseCapacity}, {"zoned", "n1", CauseNodeIneligible}},
		},
		"unschedulable wins over every other cause": {
			change: func(s *NodeSpec) { s.Labels = nil; s.Unschedulable = true; s.PodsByOthers = 10 },
			want:   []rescindedAt{{"any", "n1", CauseNodeUnschedulable}, {"zoned", "n1", CauseNodeUnschedulable}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			if _, err := e.a.SetNode(base); err != nil {
				t.Fatal(err)
			}
			// "any" is offered half the node, then "zoned" (tolerating db taints, not GPU
			// capable) the other half, in a newer offer.
			e.framework(FrameworkSpec{ID: "any", Limits: map[ResourceName]int64{CPU: 4000}, Tolerations: []Toleration{{Operator: TolerationExists}}, Capabilities: []Capability{CapabilityGPUResources}})
			if got := e.a.Allocate(); len(got) != 1 {
				t.Fatalf("offers = %v", got)
			}
			e.framework(FrameworkSpec{ID: "zoned", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"zone": "a"}}})
			if got := e.a.Allocate(); len(got) != 1 || got[0].Framework != "zoned" {
				t.Fatalf("offers = %v", got)
			}
			spec := base
			spec.Labels = map[string]string{"zone": "a"}
			tc.change(&spec)
			rs, err := e.a.SetNode(spec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(rs), sortRescinded); diff != "" {
				t.Errorf("rescinded (-want +got):\n%s", diff)
			}
		})
	}
}

// The other operations that rescind say why too.
func TestOtherRescindCauses(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.node("n2", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	o := e.a.Allocate()[0]

	// A task found on rebuild that overcommits the node.
	rs, err := e.a.AddTask(Task{ID: "old", Framework: "x", Node: "n1", Resources: cpuMem(1000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]rescindedAt{{"a", "n1", CauseCapacity}}, summarize(rs)); diff != "" {
		t.Errorf("AddTask rescinded (-want +got):\n%s", diff)
	}
	e.node("n3", cpuMem(4000, 8*Gi))
	e.node("n4", cpuMem(4000, 8*Gi))
	o2 := e.a.Allocate()[0]
	r, err := e.a.RescindOfferNode(o2.ID, o2.Nodes[0].Node)
	if err != nil || r.Cause != CauseOther {
		t.Errorf("RescindOfferNode = %+v, %v; want CauseOther", r, err)
	}
	_, rs = e.a.RemoveNode("n2")
	if diff := cmp.Diff([]rescindedAt{{"a", "n2", CauseNodeUnschedulable}}, summarize(rs)); diff != "" {
		t.Errorf("RemoveNode rescinded (-want +got):\n%s", diff)
	}
	if _, ok := e.a.Offer(o.ID); ok {
		t.Errorf("offer %d outlived its last node", o.ID)
	}
	rs = e.a.RemoveFramework("a")
	var want []rescindedAt
	for _, p := range o2.Nodes[1:] {
		want = append(want, rescindedAt{"a", p.Node, CauseOther})
	}
	if diff := cmp.Diff(want, summarize(rs), sortRescinded); diff != "" {
		t.Errorf("RemoveFramework rescinded (-want +got):\n%s", diff)
	}
}

// A framework whose spec no longer allows what it was offered loses it; suppression, weight
// and role changes take nothing back.
func TestSetFrameworkRescinds(t *testing.T) {
	zone := func(z string) *LabelSelector { return &LabelSelector{MatchLabels: map[string]string{"zone": z}} }
	base := FrameworkSpec{
		ID: "a", Role: "r", Weight: 1,
		Tolerations:  []Toleration{{Key: "dedicated", Operator: TolerationExists}},
		Capabilities: []Capability{CapabilityGPUResources},
	}
	for name, tc := range map[string]struct {
		change func(*FrameworkSpec)
		want   []rescindedAt
	}{
		"suppressed":         {change: func(s *FrameworkSpec) { s.Suppressed = true }},
		"weight":             {change: func(s *FrameworkSpec) { s.Weight = 3 }},
		"role":               {change: func(s *FrameworkSpec) { s.Role = "q/s" }},
		"limits still above": {change: func(s *FrameworkSpec) { s.Limits = map[ResourceName]int64{CPU: 16000} }},
		"selector": {
			change: func(s *FrameworkSpec) { s.NodeSelector = zone("a") },
			want:   []rescindedAt{{"a", "b1", CauseFrameworkChanged}, {"a", "gpu", CauseFrameworkChanged}},
		},
		"tolerations": {
			change: func(s *FrameworkSpec) { s.Tolerations = nil },
			want:   []rescindedAt{{"a", "tainted", CauseFrameworkChanged}},
		},
		"capabilities": {
			change: func(s *FrameworkSpec) { s.Capabilities = nil },
			want:   []rescindedAt{{"a", "gpu", CauseFrameworkChanged}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.node("a1", cpuMem(4000, 8*Gi), withLabels("zone", "a"))
			e.node("b1", cpuMem(4000, 8*Gi), withLabels("zone", "b"))
			e.node("tainted", cpuMem(4000, 8*Gi), withLabels("zone", "a"), withTaints(Taint{Key: "dedicated", Value: "db", Effect: TaintNoExecute}))
			e.node("gpu", cpuMemGPU(4000, 8*Gi, 1))
			e.framework(base)
			offers := e.a.Allocate()
			if len(offeredNodes(offers)["a"]) != 4 {
				t.Fatalf("offers = %v, want all four nodes", offers)
			}
			spec := base
			tc.change(&spec)
			rs := e.framework(spec)
			if diff := cmp.Diff(tc.want, summarize(rs), sortRescinded); diff != "" {
				t.Errorf("rescinded (-want +got):\n%s", diff)
			}
			left := 0
			for _, o := range offers {
				if got, ok := e.a.Offer(o.ID); ok {
					left += len(got.Nodes)
				}
			}
			if left != 4-len(tc.want) {
				t.Errorf("%d offer parts left, want %d", left, 4-len(tc.want))
			}
		})
	}
}

// A lowered limit takes back offer parts, newest offer first and, within an offer, the part
// covering most of the excess first, until the framework fits or nothing offered of the
// exceeded resource is left. Tasks stay.
func TestLoweredLimitsRescind(t *testing.T) {
	setup := func(t *testing.T) (*env, Offer, Offer) {
		e := newEnv(t, Config{MaxNodesPerOffer: -1})
		e.node("n1", cpuMem(4000, 4*Gi))
		e.node("n2", cpuMem(2000, 4*Gi))
		e.framework(FrameworkSpec{ID: "a"})
		older := e.a.Allocate()
		e.node("n3", cpuMem(1000, 4*Gi))
		newer := e.a.Allocate()
		if len(older) != 1 || len(newer) != 1 {
			t.Fatalf("offers = %v then %v", older, newer)
		}
		return e, older[0], newer[0]
	}
	for name, tc := range map[string]struct {
		limits  map[ResourceName]int64
		launch  Resources // launched on n1 from the older offer first
		want    []rescindedAt
		wantCPU int64 // what the framework holds after
	}{
		// 7 cores held, 4 allowed: n3 (newest) goes, then n1, which covers more of the
		// remaining 2-core excess than n2 does.
		"cpu": {limits: map[ResourceName]int64{CPU: 4000}, want: []rescindedAt{{"a", "n3", CauseFrameworkChanged}, {"a", "n1", CauseFrameworkChanged}}, wantCPU: 2000},
		// 1 core over: n3 alone is enough.
		"just over": {limits: map[ResourceName]int64{CPU: 6000}, want: []rescindedAt{{"a", "n3", CauseFrameworkChanged}}, wantCPU: 6000},
		"not over":  {limits: map[ResourceName]int64{CPU: 7000}, wantCPU: 7000},
		// A limit on memory takes back parts by their memory.
		"memory": {limits: map[ResourceName]int64{Memory: 5 * Gi}, want: []rescindedAt{{"a", "n3", CauseFrameworkChanged}, {"a", "n1", CauseFrameworkChanged}}, wantCPU: 2000},
		// Tasks are never taken back: below what they hold, every offered core goes and the
		// framework stays over its limit.
		"below the tasks": {
			limits: map[ResourceName]int64{CPU: 1000}, launch: cpuMem(3000, Gi),
			want:    []rescindedAt{{"a", "n3", CauseFrameworkChanged}, {"a", "n2", CauseFrameworkChanged}, {"a", "n1", CauseFrameworkChanged}},
			wantCPU: 3000,
		},
		// A limit on a resource nothing offered holds takes nothing back.
		"gpu": {limits: map[ResourceName]int64{GPU: 0}, wantCPU: 7000},
	} {
		t.Run(name, func(t *testing.T) {
			e, older, _ := setup(t)
			if !tc.launch.IsZero() {
				e.launch(older, "n1", "t1", tc.launch)
			}
			rs := e.framework(FrameworkSpec{ID: "a", Limits: tc.limits})
			if diff := cmp.Diff(tc.want, summarize(rs)); diff != "" {
				t.Errorf("rescinded, in order (-want +got):\n%s", diff)
			}
			if s, _ := e.a.FrameworkShare("a"); s.Allocated.Add(s.Offered)[CPU] != tc.wantCPU {
				t.Errorf("holds %v + %v, want %d millicores", s.Allocated, s.Offered, tc.wantCPU)
			}
		})
	}
}

// LaunchTask checks the rules as they are, not as they were when the offer was made.
func TestLaunchTaskRechecks(t *testing.T) {
	t.Run("pod slots", func(t *testing.T) {
		e := newEnv(t, Config{})
		if _, err := e.a.SetNode(NodeSpec{Name: "n1", Allocatable: cpuMem(4000, 8*Gi), MaxPods: 3, PodsByOthers: 1}); err != nil {
			t.Fatal(err)
		}
		e.framework(FrameworkSpec{ID: "a"})
		o := e.a.Allocate()[0]
		e.launch(o, "n1", "t1", cpuMem(100, Mi))
		e.launch(o, "n1", "t2", cpuMem(100, Mi))
		err := e.a.LaunchTask(o.ID, Task{ID: "t3", Framework: "a", Node: "n1", Resources: cpuMem(100, Mi)})
		wantErr(t, err, ErrDoesNotFit)
		// A full node is not offered again, however much CPU it has free.
		e.release(o, 0)
		if got := e.a.Allocate(); len(got) != 0 {
			t.Errorf("full node offered: %v", got)
		}
		e.a.FinishTask("t1")
		if got := e.a.Allocate(); len(got) != 1 {
			t.Errorf("offers after a slot freed = %v, want one", got)
		}
		// Tasks found on rebuild are charged past MaxPods: they exist.
		for _, id := range []string{"r1", "r2"} {
			if _, err := e.a.AddTask(Task{ID: id, Framework: "a", Node: "n1", Resources: cpuMem(100, Mi)}); err != nil {
				t.Fatal(err)
			}
		}
		if st := e.a.Stats(); st.Tasks != 3 || st.Offers != 0 {
			t.Errorf("stats %+v, want 3 tasks and the offer on the full node rescinded", st)
		}
	})
	t.Run("eligibility", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.node("n1", cpuMem(4000, 8*Gi))
		e.framework(FrameworkSpec{ID: "a"})
		o := e.a.Allocate()[0]
		// SetNode and SetFramework rescind before this can happen; force the state to test
		// the second line of defence.
		e.a.row(e.a.incompatible, e.a.nodeByName["n1"]).Set(int(e.a.fwByID["a"]))
		err := e.a.LaunchTask(o.ID, Task{ID: "t1", Framework: "a", Node: "n1", Resources: cpuMem(100, Mi)})
		wantErr(t, err, ErrNotEligible)
		if errors.Is(err, ErrDoesNotFit) {
			t.Error("ErrNotEligible must not also be ErrDoesNotFit")
		}
	})
	t.Run("capacity", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.node("n1", cpuMem(4000, 8*Gi))
		e.framework(FrameworkSpec{ID: "a"})
		o := e.a.Allocate()[0]
		e.a.nodes[e.a.nodeByName["n1"]].usedByOthers = cpuMem(1000, 0) // as if SetNode had not rescinded
		wantErr(t, e.a.LaunchTask(o.ID, Task{ID: "t1", Framework: "a", Node: "n1", Resources: cpuMem(100, Mi)}), ErrDoesNotFit)
		// A task that needs none of the overcommitted resource still fits.
		e.launch(o, "n1", "t2", cpuMem(0, Mi))
	})
}
