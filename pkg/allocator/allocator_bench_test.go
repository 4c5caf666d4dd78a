package allocator

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// The benchmarks follow Mesos's HierarchicalAllocator_BENCHMARK_Test.DeclineOffers
// (src/tests/hierarchical_allocator_tests.cpp): agents of 24 CPU / 4096 MB, each already
// running 16 CPU / 2014 MB of one framework's tasks (agent i belongs to framework i mod F),
// and frameworks that decline every offer with a filter that outlives the run. Results,
// machine and command are in BENCHMARKS.md.

var (
	benchNodes      = []int{1000, 5000, 10000, 20000, 50000}
	benchFrameworks = []int{1, 100, 1000}
	// mesosSizes are the published Mesos data points outside the grid.
	mesosSizes = [][2]int{{5000, 500}, {20000, 2000}}
)

// benchSizes is the grid of (nodes, frameworks), plus the Mesos data points when withMesos.
func benchSizes(withMesos bool) [][2]int {
	var out [][2]int
	for _, n := range benchNodes {
		for _, f := range benchFrameworks {
			out = append(out, [2]int{n, f})
		}
	}
	if withMesos {
		out = append(out, mesosSizes...)
	}
	return out
}

// longRefuse outlives any benchmark (Mesos uses INT_MAX seconds).
const longRefuse = 1000 * time.Hour

// shape is a benchmark cluster: the DeclineOffers cluster of nodes and frameworks and, with
// roles > 0, the frameworks spread over that many roles (benchFramework), each with a quota
// when quotas is set (setBenchQuotas).
type shape struct {
	nodes, frameworks, roles int
	quotas                   bool
}

func (s shape) String() string {
	if s.roles == 0 {
		return fmt.Sprintf("nodes=%d/frameworks=%d", s.nodes, s.frameworks)
	}
	return fmt.Sprintf("nodes=%d/frameworks=%d/roles=%d/quotas=%t", s.nodes, s.frameworks, s.roles, s.quotas)
}

// benchUsed is what each node of the DeclineOffers cluster already runs, of one framework.
var benchUsed = Resources{CPU: 16000, Memory: 2014 * Mi, EphemeralStorage: 1024 * Mi}

func declineCluster(tb testing.TB, nodes, fws int) *env {
	return shape{nodes: nodes, frameworks: fws}.build(tb)
}

func (s shape) build(tb testing.TB) *env {
	e := newEnv(tb, Config{})
	for i := range s.frameworks {
		e.framework(benchFramework(i, s.roles))
	}
	for i := range s.nodes {
		name := fmt.Sprintf("agent-%05d", i)
		e.node(name, Resources{CPU: 24000, Memory: 4096 * Mi, EphemeralStorage: 4096 * Mi})
		if _, err := e.a.AddTask(Task{ID: name + "-used", Framework: benchFrameworkID(i % s.frameworks), Node: name, Resources: benchUsed}); err != nil {
			tb.Fatal(err)
		}
	}
	if s.quotas {
		setBenchQuotas(e, s)
	}
	return e
}

func benchFrameworkID(i int) string { return fmt.Sprintf("framework-%04d", i) }

func declineAll(tb testing.TB, a *Allocator, offers []Offer) {
	for _, o := range offers {
		if err := a.ReleaseOffer(o.ID, longRefuse, time.Time{}); err != nil {
			tb.Fatal(err)
		}
	}
}

// saturated returns the DeclineOffers cluster after the Mesos loop has run to its end:
// cycles, each followed by declining everything, until a cycle offers nothing, because every
// framework has declined every node. Built once per shape and shared by the benchmark's runs
// (a cycle that offers nothing changes nothing).
var saturatedCache = map[shape]*env{}

func saturated(b *testing.B, nodes, fws int) *env {
	return saturatedShape(b, shape{nodes: nodes, frameworks: fws})
}

func saturatedShape(b *testing.B, s shape) *env {
	if e, ok := saturatedCache[s]; ok {
		return e
	}
	clear(saturatedCache) // keep one cluster in memory at a time
	e := s.build(b)
	for {
		offers := e.a.Allocate()
		if len(offers) == 0 {
			break
		}
		declineAll(b, e.a, offers)
	}
	wanting := 0 // suppressed frameworks are offered nothing, so decline nothing
	for i := range s.frameworks {
		if !benchFramework(i, s.roles).Suppressed {
			wanting++
		}
	}
	// With quotas fewer: a node whose guarantee offer a needy role declined is held for that
	// role while the filter lasts, so no other framework is offered it to decline.
	if got, want := e.a.Stats().Filters, s.nodes*wanting; got != want && (!s.quotas || got > want) {
		b.Fatalf("%d filters, want %d", got, want)
	}
	saturatedCache[s] = e
	return e
}

// BenchmarkDeclineOffers times one allocation cycle once every framework has declined every
// node: the cycle must establish that nobody may get anything, which is the whole cost in
// Mesos (a filter lookup per agent and framework).
func BenchmarkDeclineOffers(b *testing.B) {
	defer clear(saturatedCache) // free the memory before the next benchmark
	for _, size := range benchSizes(true) {
		s := shape{nodes: size[0], frameworks: size[1]}
		b.Run(s.String(), func(b *testing.B) { declineOffers(b, s) })
	}
}

func declineOffers(b *testing.B, s shape) {
	e := saturatedShape(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if offers := e.a.Allocate(); len(offers) != 0 {
			b.Fatalf("offers in a saturated cluster: %d", len(offers))
		}
	}
	// With quotas: the nodes held for a role (what needy frameworks declined of their
	// guarantee), each checked against its role's frameworks rather than all.
	b.ReportMetric(float64(e.a.preempting.Count()), "held-nodes")
}

// BenchmarkDeclineOffersRounds replays the Mesos loop from the start and reports the mean
// and the slowest cycle over all its rounds (every node is offered in the first rounds, to
// a new framework each time, until all have declined it). Only Allocate is timed, as in
// Mesos; the declines between cycles are not.
func BenchmarkDeclineOffersRounds(b *testing.B) {
	for _, size := range benchSizes(true) {
		nodes, fws := size[0], size[1]
		b.Run(fmt.Sprintf("nodes=%d/frameworks=%d", nodes, fws), func(b *testing.B) {
			var cycles []time.Duration
			for range b.N {
				b.StopTimer()
				e := declineCluster(b, nodes, fws)
				runtime.GC()
				for {
					b.StartTimer()
					start := time.Now()
					offers := e.a.Allocate()
					d := time.Since(start)
					b.StopTimer()
					cycles = append(cycles, d)
					if len(offers) == 0 {
						break
					}
					declineAll(b, e.a, offers)
				}
			}
			var total time.Duration
			for _, d := range cycles {
				total += d
			}
			slices.Sort(cycles)
			b.ReportMetric(float64(total.Nanoseconds())/float64(len(cycles)), "ns/cycle")
			// The median resists the odd cycle stretched by the garbage collector or by
			// another process taking the core.
			b.ReportMetric(float64(cycles[len(cycles)/2].Nanoseconds()), "p50-ns/cycle")
			b.ReportMetric(float64(cycles[len(cycles)-1].Nanoseconds()), "max-ns/cycle")
			b.ReportMetric(float64(len(cycles))/float64(b.N), "cycles")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkAllocateEveryNode times a cycle that offers every node: frameworks release their
// offers with no filter, so each cycle hands out the whole pool again, one DRF decision and
// one share update per node.
func BenchmarkAllocateEveryNode(b *testing.B) {
	for _, size := range benchSizes(false) {
		s := shape{nodes: size[0], frameworks: size[1]}
		b.Run(s.String(), func(b *testing.B) { allocateEveryNode(b, s) })
	}
}

func allocateEveryNode(b *testing.B, s shape) {
	e := s.build(b)
	b.ReportAllocs()
	for b.Loop() {
		offers := e.a.Allocate()
		b.StopTimer()
		if len(offers) == 0 {
			b.Fatal("no offers")
		}
		for _, o := range offers {
			if err := e.a.ReleaseOffer(o.ID, 0, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

func heapBytes() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

// BenchmarkFootprint reports the memory the model takes, measured on the heap after GC: per
// framework (added first), per node (with its filter and compatibility rows at that many
// frameworks), per task, and per decline filter once the DeclineOffers loop has made every
// framework decline every node. It times nothing.
func BenchmarkFootprint(b *testing.B) {
	for _, size := range [][2]int{{10000, 100}, {10000, 1000}} {
		nodes, fws := size[0], size[1]
		b.Run(fmt.Sprintf("nodes=%d/frameworks=%d", nodes, fws), func(b *testing.B) {
			for b.Loop() {
			}
			start := heapBytes()
			e := newEnv(b, Config{})
			for i := range fws {
				e.framework(FrameworkSpec{ID: fmt.Sprintf("framework-%04d", i)})
			}
			withFrameworks := heapBytes()
			for i := range nodes {
				e.node(fmt.Sprintf("agent-%05d", i), Resources{CPU: 24000, Memory: 4096 * Mi})
			}
			withNodes := heapBytes()
			for i := range nodes {
				name := fmt.Sprintf("agent-%05d", i)
				if _, err := e.a.AddTask(Task{ID: name + "-used", Framework: fmt.Sprintf("framework-%04d", i%fws), Node: name, Resources: Resources{CPU: 16000, Memory: 2014 * Mi}}); err != nil {
					b.Fatal(err)
				}
			}
			withTasks := heapBytes()
			for {
				offers := e.a.Allocate()
				if len(offers) == 0 {
					break
				}
				declineAll(b, e.a, offers)
			}
			filters := e.a.Stats().Filters
			withFilters := heapBytes()
			b.ReportMetric((withFrameworks-start)/float64(fws), "B/framework")
			b.ReportMetric((withNodes-withFrameworks)/float64(nodes), "B/node")
			b.ReportMetric((withTasks-withNodes)/float64(nodes), "B/task")
			b.ReportMetric((withFilters-withTasks)/float64(filters), "B/filter")
			b.ReportMetric(withFilters/(1<<20), "MiB-total")
			b.ReportMetric(0, "ns/op")
			runtime.KeepAlive(e)
		})
	}
}

// The quota benchmarks run the shapes above at the size the quota issue names, with the
// frameworks spread over roles, each run twice: without quotas (the role tree alone, as
// before quotas existed) and with a quota on every role. Role r (of R) is "team-r" for the
// first 4R/5 and "team-(r-4R/5)/sub" for the rest, so a fifth of the roles sit below another
// quota'd role; framework i is in role i mod R, and half the frameworks of each role take
// revocable resources. What a role is guaranteed is a multiple of what its frameworks' tasks
// hold (a parent's includes its subrole's), by r mod 10:
//
//   - 0, idle: 1.5×, and its frameworks are suppressed, so the guarantee stays unmet and its
//     headroom is held back from ordinary offers and lent as revocable;
//   - 1, needy: 1.25×, its frameworks want offers and get them first;
//   - 2 and 3: 0.95×, and a CPU limit of 1.4× what the subtree holds;
//   - the rest: 0.95×.
//
// At 10,000 nodes × 1,000 frameworks × 100 roles the top-level guarantees sum to 69% of the
// pool's CPU and 51% of its memory, and the unmet guarantees hold back 12,000 CPU of the
// 80,000 free (8,000 of them for the idle roles). Roles weigh 1 to 3.
var quotaShapes = []shape{
	{nodes: 10000, frameworks: 1000, roles: 100},
	{nodes: 10000, frameworks: 1000, roles: 100, quotas: true},
}

func benchRole(r, roles int) string {
	if top := roles * 4 / 5; r >= top {
		return fmt.Sprintf("team-%02d/sub", r-top)
	}
	return fmt.Sprintf("team-%02d", r)
}

// benchFramework is framework i's spec: in the default role when roles is 0, else as the
// comment above says.
func benchFramework(i, roles int) FrameworkSpec {
	spec := FrameworkSpec{ID: benchFrameworkID(i)}
	if roles == 0 {
		return spec
	}
	r := i % roles
	spec.Role = benchRole(r, roles)
	spec.Suppressed = r%10 == 0
	if (i/roles)%2 == 0 {
		spec.Capabilities = revocable
	}
	return spec
}

// setBenchQuotas gives every role its quota, sized on what the DeclineOffers tasks hold.
func setBenchQuotas(e *env, s shape) {
	held := make([]Resources, s.roles) // by the role's own frameworks, then by its subtree
	for n := range s.nodes {
		r := (n % s.frameworks) % s.roles
		held[r] = held[r].Add(benchUsed)
	}
	guarantee := make([]Resources, s.roles)
	for r, h := range held {
		pct := int64(95)
		switch r % 10 {
		case 0:
			pct = 150
		case 1:
			pct = 125
		}
		guarantee[r] = Resources{CPU: h[CPU] * pct / 100, Memory: h[Memory] * pct / 100}
	}
	top := s.roles * 4 / 5
	for r := top; r < s.roles; r++ {
		guarantee[r-top] = guarantee[r-top].Add(guarantee[r])
		held[r-top] = held[r-top].Add(held[r])
	}
	for r := range s.roles {
		q := Quota{Role: benchRole(r, s.roles), Guarantee: guarantee[r], Weight: float64(1 + r%3)}
		if r%10 == 2 || r%10 == 3 {
			q.Limit = map[ResourceName]int64{CPU: held[r][CPU] * 14 / 10}
		}
		e.quota(q)
	}
}

// BenchmarkDeclineOffersQuotas is BenchmarkDeclineOffers over roles, without and with quotas:
// every framework that wants offers has declined every node.
func BenchmarkDeclineOffersQuotas(b *testing.B) {
	defer clear(saturatedCache)
	for _, s := range quotaShapes {
		b.Run(s.String(), func(b *testing.B) { declineOffers(b, s) })
	}
}

// BenchmarkAllocateEveryNodeQuotas is BenchmarkAllocateEveryNode over roles, without and with
// quotas. With them, each cycle offers the needy roles' guarantees first, then the rest by
// DRF as ordinary resources until only the idle roles' headroom is left, and that as
// revocable resources.
func BenchmarkAllocateEveryNodeQuotas(b *testing.B) {
	for _, s := range quotaShapes {
		b.Run(s.String(), func(b *testing.B) { allocateEveryNode(b, s) })
	}
}

// BenchmarkReclaimQuotas times a cycle that preempts. The pool is full: on top of the
// DeclineOffers tasks every node runs a second one of 8 CPU, revocable on every fifth node
// (16,000 CPU lent to frameworks that take revocable resources), ordinary elsewhere. Then the
// idle roles' frameworks stop suppressing: ten roles lack 800 CPU each, nothing is free, and
// the cycle chooses revocable tasks to preempt for each, 1,000 in all. Between cycles (not
// timed) the preemptions are cancelled, so that every cycle preempts as many.
func BenchmarkReclaimQuotas(b *testing.B) {
	s := quotaShapes[1]
	b.Run(s.String(), func(b *testing.B) {
		e := s.build(b)
		var idle []FrameworkSpec
		var ordinary, borrowers []string
		for i := range s.frameworks {
			switch spec := benchFramework(i, s.roles); {
			case spec.Suppressed:
				idle = append(idle, spec)
			case len(spec.Capabilities) > 0:
				borrowers = append(borrowers, spec.ID)
				ordinary = append(ordinary, spec.ID)
			default:
				ordinary = append(ordinary, spec.ID)
			}
		}
		lent := 0
		for n := range s.nodes {
			name := fmt.Sprintf("agent-%05d", n)
			t := Task{ID: name + "-fill", Framework: ordinary[(n-lent)%len(ordinary)], Node: name, Resources: Resources{CPU: 8000, Memory: 2048 * Mi}}
			if n%5 == 0 {
				t.Framework, t.Revocable = borrowers[lent%len(borrowers)], true
				lent++
			}
			if _, err := e.a.AddTask(t); err != nil {
				b.Fatal(err)
			}
		}
		for _, spec := range idle {
			spec.Suppressed = false
			e.framework(spec)
		}
		preempted := 0
		b.ReportAllocs()
		for b.Loop() {
			offers := e.a.Allocate()
			b.StopTimer()
			rescinded, ps := e.a.TakeReclaim()
			if len(offers) != 0 || len(rescinded) != 0 || len(ps) == 0 {
				b.Fatalf("%d offers, %d rescinded, %d preempted: want only preemptions", len(offers), len(rescinded), len(ps))
			}
			preempted += len(ps)
			for _, p := range ps {
				if !e.a.CancelPreemption(p.Task) {
					b.Fatalf("%s was not preempted", p.Task)
				}
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(preempted)/float64(b.N), "preemptions/op")
	})
}
