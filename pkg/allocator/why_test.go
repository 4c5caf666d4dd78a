package allocator

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every cause a framework can get nothing for, each set up as a person would meet it, with
// the Why the cycle records and the node counts Explain adds.
func TestExplain(t *testing.T) {
	zone := func(z string) *LabelSelector { return &LabelSelector{MatchLabels: map[string]string{"zone": z}} }
	type want struct {
		why       Why
		nodes     map[NodeCause]int
		outOfPool int
		ahead     []string
		holders   []string
		declined  bool
		foreign   Resources
	}
	for name, tc := range map[string]struct {
		cfg   Config
		setup func(e *env)
		want  want
	}{
		"offered": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			// Its own offer holds the node now: the count is as of the call.
			want: want{why: WhyOffered, nodes: map[NodeCause]int{NodeFull: 1}},
		},
		"no cycle yet": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x"})
			},
			want: want{why: WhyNoCycle, nodes: map[NodeCause]int{NodeAvailable: 1}},
		},
		"suppressed": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x", Suppressed: true})
				e.a.Allocate()
			},
			want: want{why: WhySuppressed, nodes: map[NodeCause]int{NodeAvailable: 1}},
		},
		"inactive": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x"})
				if err := e.a.SetFrameworkActive("x", false); err != nil {
					e.t.Fatal(err)
				}
				e.a.Allocate()
			},
			want: want{why: WhyInactive, nodes: map[NodeCause]int{NodeAvailable: 1}},
		},
		"at its limit": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x", Limits: map[ResourceName]int64{CPU: 1000}})
				o := e.a.Allocate()
				e.launch(o[0], "n1", "t1", cpuMem(1000, Gi))
				e.release(o[0], 0)
				e.a.Allocate()
			},
			want: want{why: WhyAtLimit, nodes: map[NodeCause]int{NodeAvailable: 1}},
		},
		"selector matches nothing, and a matching node is cordoned": {
			setup: func(e *env) {
				e.node("a1", cpuMem(4000, 8*Gi), withLabels("zone", "a"))
				e.node("a2", cpuMem(4000, 8*Gi), withLabels("zone", "a"))
				e.node("ml", cpuMem(4000, 8*Gi), withLabels("zone", "ml"), func(s *NodeSpec) { s.Unschedulable = true })
				e.node("t1", cpuMem(4000, 8*Gi), withTaints(Taint{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}))
				e.node("g1", cpuMemGPU(4000, 8*Gi, 1))
				e.framework(FrameworkSpec{ID: "x", NodeSelector: zone("ml")})
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeSelectorMismatch: 4}, outOfPool: 1},
		},
		"taints and GPUs": {
			setup: func(e *env) {
				e.node("t1", cpuMem(4000, 8*Gi), withTaints(Taint{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}))
				e.node("g1", cpuMemGPU(4000, 8*Gi, 1))
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeUntolerated: 1, NodeGPUWithoutCapability: 1}},
		},
		"declined every node": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.node("n2", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x"})
				for _, o := range e.a.Allocate() {
					e.release(o, time.Minute)
				}
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeDeclined: 2}, declined: true},
		},
		"pool full": {
			setup: func(e *env) {
				e.node("n1", cpuMem(5000, 8*Gi), func(s *NodeSpec) { s.UsedByOthers = cpuMem(1000, 0) })
				e.framework(FrameworkSpec{ID: "big"})
				o := e.a.Allocate()
				e.launch(o[0], "n1", "t1", cpuMem(4000, 4*Gi))
				e.release(o[0], 0)
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeFull: 1}, holders: []string{"big"}, foreign: cpuMem(1000, 0)},
		},
		"a few millicores left is full": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "big"})
				o := e.a.Allocate()
				e.launch(o[0], "n1", "t1", cpuMem(3995, 4*Gi))
				e.release(o[0], 0)
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeFull: 1}, holders: []string{"big"}},
		},
		"tasks of a framework not set (yet) hold the node": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				if _, err := e.a.AddTask(Task{ID: "t1", Framework: "ghost", Node: "n1", Resources: cpuMem(4000, 8*Gi)}); err != nil {
					e.t.Fatal(err)
				}
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			// Named with a finite share: a placeholder has no weight.
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeFull: 1}, holders: []string{"ghost"}},
		},
		"below a raised minimum": {
			cfg: Config{MinAllocatable: Resources{CPU: 2000, Memory: 32 * Mi}},
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "big"})
				o := e.a.Allocate()
				e.launch(o[0], "n1", "t1", cpuMem(3000, 4*Gi))
				e.release(o[0], 0)
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeBelowMin: 1}, holders: []string{"big"}},
		},
		"its only node full of its own tasks names no one": {
			setup: func(e *env) {
				e.node("x1", cpuMem(4000, 8*Gi), withLabels("team", "x"))
				e.node("other", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"team": "x"}}})
				e.framework(FrameworkSpec{ID: "o", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"team": "none"}}})
				o := e.a.Allocate()
				e.launch(o[0], "x1", "t1", cpuMem(4000, 8*Gi))
				e.release(o[0], 0)
				e.framework(FrameworkSpec{ID: "o"}) // o now runs on "other", where x may not go
				o2 := e.a.Allocate()
				e.launch(o2[0], "other", "t2", cpuMem(4000, 8*Gi))
				e.release(o2[0], 0)
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodeFull: 1, NodeSelectorMismatch: 1}},
		},
		"pods full": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi), func(s *NodeSpec) { s.MaxPods, s.PodsByOthers = 2, 2 })
				e.framework(FrameworkSpec{ID: "x"})
				e.a.Allocate()
			},
			want: want{why: WhyNoNodes, nodes: map[NodeCause]int{NodePodsFull: 1}},
		},
		"waiting behind lower shares": {
			setup: func(e *env) {
				e.node("n1", cpuMem(4000, 8*Gi))
				e.node("n2", cpuMem(4000, 8*Gi))
				e.framework(FrameworkSpec{ID: "x"})
				o := e.a.Allocate()
				e.launch(o[0], "n1", "tx", cpuMem(4000, 8*Gi))
				e.release(o[0], 0)
				// Two newcomers with nothing come first for n2; x has half the pool.
				e.framework(FrameworkSpec{ID: "a"})
				e.a.Allocate()
			},
			// n1 is full of x's own task: no one else holds what x may use.
			want: want{why: WhyWaitingForShare, nodes: map[NodeCause]int{NodeFull: 1, NodeOffered: 1}, ahead: []string{"a"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			tc.setup(e)
			got, err := e.a.Explain("x")
			if err != nil {
				t.Fatal(err)
			}
			if got.Why != tc.want.why {
				t.Errorf("Why = %v, want %v", got.Why, tc.want.why)
			}
			nodes := map[NodeCause]int{}
			total := 0
			for c, n := range got.Nodes {
				if n > 0 {
					nodes[NodeCause(c)] = n
				}
				total += n
			}
			if diff := cmp.Diff(tc.want.nodes, nodes); diff != "" {
				t.Errorf("node causes (-want +got):\n%s", diff)
			}
			if total != got.PoolNodes {
				t.Errorf("causes sum to %d, pool has %d nodes", total, got.PoolNodes)
			}
			if got.OutOfPool != tc.want.outOfPool {
				t.Errorf("OutOfPool = %d, want %d", got.OutOfPool, tc.want.outOfPool)
			}
			ids := func(s []FrameworkShare) []string {
				var out []string
				for _, f := range s {
					out = append(out, f.ID)
				}
				return out
			}
			if diff := cmp.Diff(tc.want.ahead, ids(got.Ahead)); diff != "" {
				t.Errorf("ahead (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want.holders, ids(got.Holders)); diff != "" {
				t.Errorf("holders (-want +got):\n%s", diff)
			}
			for _, h := range got.Holders {
				if math.IsInf(h.Share, 0) || math.IsNaN(h.Share) {
					t.Errorf("holder %s has share %v", h.ID, h.Share)
				}
			}
			if got.Foreign != tc.want.foreign {
				t.Errorf("Foreign = %v, want %v", got.Foreign, tc.want.foreign)
			}
			if tc.want.declined != !got.DeclinedUntil.IsZero() {
				t.Errorf("DeclinedUntil = %v, want set: %v", got.DeclinedUntil, tc.want.declined)
			}
			if tc.want.declined && !got.DeclinedUntil.Equal(e.clock.Now().Add(time.Minute)) {
				t.Errorf("DeclinedUntil = %v, want now+1m", got.DeclinedUntil)
			}
		})
	}
}

// WhyChanged reports each framework once per change, and only on change.
func TestWhyChanged(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	e.framework(FrameworkSpec{ID: "b", NodeSelector: &LabelSelector{MatchLabels: map[string]string{"team": "nowhere"}}})
	e.a.Allocate()
	got := e.a.WhyChanged()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Fatalf("first cycle (-want +got):\n%s", diff)
	}
	e.a.Allocate() // a holds its offer, b still matches nothing: a went Offered -> NoNodes
	if diff := cmp.Diff([]string{"a"}, e.a.WhyChanged()); diff != "" {
		t.Fatalf("second cycle (-want +got):\n%s", diff)
	}
	e.a.Allocate()
	if got := e.a.WhyChanged(); len(got) != 0 {
		t.Fatalf("nothing changed, got %v", got)
	}
	// A removed framework is not reported, even when its Why changed before it went.
	e.framework(FrameworkSpec{ID: "b", Suppressed: true})
	e.a.Allocate()
	e.a.RemoveFramework("b")
	if got := e.a.WhyChanged(); len(got) != 0 {
		t.Fatalf("after removal, got %v", got)
	}

	// A framework added since the last cycle is reported after the next one judged it, even
	// when its bits are those of its slot's former occupant (c takes b's freed slot, and
	// matches nothing as b did) or never change (d starts at its limit: not eligible before
	// or after).
	none := &LabelSelector{MatchLabels: map[string]string{"team": "nowhere"}}
	e.framework(FrameworkSpec{ID: "b2", NodeSelector: none})
	e.a.Allocate()
	e.a.WhyChanged()
	e.a.RemoveFramework("b2")
	e.framework(FrameworkSpec{ID: "c", NodeSelector: none})
	e.framework(FrameworkSpec{ID: "d", Limits: map[ResourceName]int64{CPU: 5}})
	if w, _ := e.a.Why("c"); w != WhyNoCycle {
		t.Errorf("before a cycle, Why(c) = %v", w)
	}
	e.a.Allocate()
	got = e.a.WhyChanged()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"c", "d"}, got); diff != "" {
		t.Fatalf("new frameworks (-want +got):\n%s", diff)
	}
	if w, _ := e.a.Why("c"); w != WhyNotOffered {
		t.Errorf("Why(c) = %v, want NotOffered", w)
	}
	if w, _ := e.a.Why("d"); w != WhyAtLimit {
		t.Errorf("Why(d) = %v, want AtLimit", w)
	}
}

// BenchmarkExplain times the detail asked on demand for one framework, at the Mesos
// benchmark's sizes: a pass over every node and framework.
func BenchmarkExplain(b *testing.B) {
	for _, size := range [][2]int{{10000, 100}, {10000, 1000}} {
		nodes, fws := size[0], size[1]
		b.Run(fmt.Sprintf("nodes=%d/frameworks=%d", nodes, fws), func(b *testing.B) {
			e := saturated(b, nodes, fws)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.a.Explain("framework-0000"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
