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

func declineCluster(tb testing.TB, nodes, fws int) *env {
	e := newEnv(tb, Config{})
	for i := range fws {
		e.framework(FrameworkSpec{ID: fmt.Sprintf("framework-%04d", i)})
	}
	for i := range nodes {
		name := fmt.Sprintf("agent-%05d", i)
		e.node(name, Resources{CPU: 24000, Memory: 4096 * Mi, EphemeralStorage: 4096 * Mi})
		if _, err := e.a.AddTask(Task{
			ID: name + "-used", Framework: fmt.Sprintf("framework-%04d", i%fws), Node: name,
			Resources: Resources{CPU: 16000, Memory: 2014 * Mi, EphemeralStorage: 1024 * Mi},
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

func declineAll(tb testing.TB, a *Allocator, offers []Offer) {
	for _, o := range offers {
		if err := a.ReleaseOffer(o.ID, longRefuse, time.Time{}); err != nil {
			tb.Fatal(err)
		}
	}
}

// saturated returns the DeclineOffers cluster after the Mesos loop has run to its end:
// cycles, each followed by declining everything, until a cycle offers nothing, because every
// framework has declined every node. Built once per size and shared by the benchmark's runs
// (a cycle that offers nothing changes nothing).
var saturatedCache = map[[2]int]*env{}

func saturated(b *testing.B, nodes, fws int) *env {
	key := [2]int{nodes, fws}
	if e, ok := saturatedCache[key]; ok {
		return e
	}
	clear(saturatedCache) // keep one cluster in memory at a time
	e := declineCluster(b, nodes, fws)
	for {
		offers := e.a.Allocate()
		if len(offers) == 0 {
			break
		}
		declineAll(b, e.a, offers)
	}
	if got, want := e.a.Stats().Filters, nodes*fws; got != want {
		b.Fatalf("%d filters, want %d", got, want)
	}
	saturatedCache[key] = e
	return e
}

// BenchmarkDeclineOffers times one allocation cycle once every framework has declined every
// node: the cycle must establish that nobody may get anything, which is the whole cost in
// Mesos (a filter lookup per agent and framework).
func BenchmarkDeclineOffers(b *testing.B) {
	defer clear(saturatedCache) // free the memory before the next benchmark
	for _, size := range benchSizes(true) {
		nodes, fws := size[0], size[1]
		b.Run(fmt.Sprintf("nodes=%d/frameworks=%d", nodes, fws), func(b *testing.B) {
			e := saturated(b, nodes, fws)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if offers := e.a.Allocate(); len(offers) != 0 {
					b.Fatalf("offers in a saturated cluster: %d", len(offers))
				}
			}
		})
	}
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
		nodes, fws := size[0], size[1]
		b.Run(fmt.Sprintf("nodes=%d/frameworks=%d", nodes, fws), func(b *testing.B) {
			e := declineCluster(b, nodes, fws)
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
		})
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
