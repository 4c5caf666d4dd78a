package allocator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const (
	Mi = int64(1) << 20
	Gi = int64(1) << 30
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock                  { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time             { return c.t }
func (c *fakeClock) Step(d time.Duration)       { c.t = c.t.Add(d) }
func cpuMem(milli, mem int64) Resources         { return Resources{CPU: milli, Memory: mem} }
func cpuMemGPU(milli, mem, gpu int64) Resources { return Resources{CPU: milli, Memory: mem, GPU: gpu} }

// env is an allocator with a fake clock and a fixed seed.
type env struct {
	t     testing.TB
	a     *Allocator
	clock *fakeClock
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	clock := newFakeClock()
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	return &env{t: t, a: New(cfg), clock: clock}
}

func (e *env) node(name string, alloc Resources, opts ...func(*NodeSpec)) {
	e.t.Helper()
	spec := NodeSpec{Name: name, Allocatable: alloc}
	for _, o := range opts {
		o(&spec)
	}
	if _, err := e.a.SetNode(spec); err != nil {
		e.t.Fatalf("SetNode(%s): %v", name, err)
	}
}

func (e *env) framework(spec FrameworkSpec) []Rescinded {
	e.t.Helper()
	rs, err := e.a.SetFramework(spec)
	if err != nil {
		e.t.Fatalf("SetFramework(%s): %v", spec.ID, err)
	}
	return rs
}

// errOf returns the error of a call that returns a value and an error.
func errOf[T any](_ T, err error) error { return err }

func (e *env) release(o Offer, refuse time.Duration) {
	e.t.Helper()
	if err := e.a.ReleaseOffer(o.ID, refuse, time.Time{}); err != nil {
		e.t.Fatalf("ReleaseOffer(%d): %v", o.ID, err)
	}
}

func (e *env) launch(o Offer, node, id string, r Resources) {
	e.t.Helper()
	if err := e.a.LaunchTask(o.ID, Task{ID: id, Framework: o.Framework, Node: node, Resources: r}); err != nil {
		e.t.Fatalf("LaunchTask(%s): %v", id, err)
	}
}

// offeredNodes returns, per framework, the sorted names of the nodes in offers.
func offeredNodes(offers []Offer) map[string][]string {
	out := map[string][]string{}
	for _, o := range offers {
		for _, n := range o.Nodes {
			out[o.Framework] = append(out[o.Framework], n.Node)
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func withLabels(kv ...string) func(*NodeSpec) {
	return func(s *NodeSpec) {
		s.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaints(t ...Taint) func(*NodeSpec) { return func(s *NodeSpec) { s.Taints = t } }

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// simulate runs cycles in which each framework launches tasks of its size on what it is
// offered (at most perOffer per offer, 0 for no bound) and releases the rest: with no filter
// when it launched something, with a refuse filter when it could not use the offer (as a
// framework that is done, or cannot fit, declines). It stops when a cycle offers nothing and
// returns the number of tasks per framework.
func simulate(e *env, sizes map[string]Resources, perOffer int, refuse time.Duration) map[string]int {
	e.t.Helper()
	count := map[string]int{}
	for cycle := 0; cycle < 10000; cycle++ {
		offers := e.a.Allocate()
		if len(offers) == 0 {
			return count
		}
		for _, o := range offers {
			launched := 0
			for _, part := range o.Nodes {
				left := part.Resources
				for (perOffer == 0 || launched < perOffer) && sizes[o.Framework].Fits(left) {
					count[o.Framework]++
					launched++
					e.launch(o, part.Node, fmt.Sprintf("%s-%d", o.Framework, count[o.Framework]), sizes[o.Framework])
					left = left.Sub(sizes[o.Framework])
				}
			}
			if launched > 0 {
				e.release(o, 0)
			} else {
				e.release(o, refuse)
			}
		}
	}
	e.t.Fatal("simulation did not settle")
	return nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
