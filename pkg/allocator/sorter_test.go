package allocator

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// The DRF sorter finds the first eligible client by walking its order, or by comparing the
// eligible clients directly when they are few; both must give the same answer.
var drfStrategies = map[string]func(eligible, active int) bool{
	"walk":    func(int, int) bool { return false },
	"compare": func(int, int) bool { return true },
}

func drfWith(strategy string) *DRFSorter {
	s := NewDRFSorter()
	s.compare = drfStrategies[strategy]
	return s
}

var sorters = map[string]func() Sorter{
	"drf":         func() Sorter { return NewDRFSorter() },
	"drf-walk":    func() Sorter { return drfWith("walk") },
	"drf-compare": func() Sorter { return drfWith("compare") },
	"random":      func() Sorter { return NewRandomSorter(newRand(7)) },
}

type sorterOp func(s Sorter)

func add(c Client, role string, weight float64) sorterOp {
	return func(s Sorter) { s.Add(c, fmt.Sprintf("c%d", c), role, weight); s.Activate(c) }
}

// The contract every Sorter keeps, whatever its order.
func TestSorterContract(t *testing.T) {
	all := func(n int) Bitset {
		b := NewBitset(n)
		for i := range n {
			b.Set(i)
		}
		return b
	}
	for name, tc := range map[string]struct {
		ops      []sorterOp
		eligible Bitset
		want     []Client // the active clients, in any order
		first    []Client // the clients First may return; nil for none
	}{
		"empty": {},
		"added clients are inactive until activated": {
			ops:  []sorterOp{func(s Sorter) { s.Add(0, "c0", "r", 1) }, add(1, "r", 1)},
			want: []Client{1}, eligible: all(2), first: []Client{1},
		},
		"deactivate hides": {
			ops:  []sorterOp{add(0, "r", 1), add(1, "r", 1), func(s Sorter) { s.Deactivate(0) }},
			want: []Client{1}, eligible: all(2), first: []Client{1},
		},
		"remove forgets": {
			ops:  []sorterOp{add(0, "r", 1), add(1, "r", 1), add(2, "q", 1), func(s Sorter) { s.Remove(1); s.Remove(1) }},
			want: []Client{0, 2}, eligible: all(3), first: []Client{0, 2},
		},
		"first respects eligibility": {
			ops:  []sorterOp{add(0, "r", 1), add(1, "r/s", 1), add(2, "q", 1)},
			want: []Client{0, 1, 2}, eligible: Bitset{1 << 1}, first: []Client{1},
		},
		"nothing eligible": {
			ops:  []sorterOp{add(0, "r", 1), add(1, "r", 1)},
			want: []Client{0, 1}, eligible: Bitset{0},
		},
		"eligible but inactive": {
			ops:      []sorterOp{add(0, "r", 1), func(s Sorter) { s.Deactivate(0) }},
			eligible: all(1),
		},
		"unknown clients are ignored": {
			ops: []sorterOp{add(0, "r", 1), func(s Sorter) {
				s.Activate(9)
				s.Deactivate(9)
				s.Remove(9)
				s.UpdateWeight(9, 2)
				s.Served(9)
				s.Allocated(9, cpuMem(1, 1))
				s.Unallocated(-1, cpuMem(1, 1))
			}},
			want: []Client{0}, eligible: all(10), first: []Client{0},
		},
		"holdings, weights and totals change nothing of membership": {
			ops: []sorterOp{add(0, "r", 1), add(70, "r/s", 2), func(s Sorter) {
				s.SetTotal(cpuMem(10, 10))
				s.Allocated(0, cpuMem(5, 1))
				s.UpdateWeight(70, 0.5)
				s.Allocated(70, cpuMem(1, 9))
				s.Unallocated(0, cpuMem(5, 1))
			}},
			want: []Client{0, 70}, eligible: all(71), first: []Client{0, 70},
		},
		"re-adding moves a client": {
			ops:  []sorterOp{add(0, "r", 1), add(0, "q/z", 1)},
			want: []Client{0}, eligible: all(1), first: []Client{0},
		},
	} {
		for sname, newSorter := range sorters {
			t.Run(sname+"/"+name, func(t *testing.T) {
				s := newSorter()
				for _, op := range tc.ops {
					op(s)
				}
				got := s.Sort()
				slices.Sort(got)
				if diff := gocmp.Diff(tc.want, got, cmpEmpty); diff != "" {
					t.Errorf("Sort (-want +got):\n%s", diff)
				}
				for range 20 { // the random sorter may answer differently each time
					c, ok := s.First(tc.eligible)
					if ok != (tc.first != nil) || (ok && !slices.Contains(tc.first, c)) {
						t.Fatalf("First = %v %v, want one of %v", c, ok, tc.first)
					}
				}
			})
		}
	}
}

var cmpEmpty = gocmp.Comparer(func(a, b []Client) bool { return slices.Equal(a, b) })

// The DRF order: by weighted dominant share, ties by times served, then by name, roles first.
func TestDRFSorterOrder(t *testing.T) {
	for name, tc := range map[string]struct {
		ops  []sorterOp
		want []Client
	}{
		"ties by name": {
			ops:  []sorterOp{add(2, "r", 1), add(0, "r", 1), add(1, "r", 1)},
			want: []Client{0, 1, 2},
		},
		"ties by times served, then by name": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), add(2, "r", 1), func(s Sorter) {
				s.Served(0)
				s.Served(0)
				s.Served(1)
			}},
			want: []Client{2, 1, 0},
		},
		"roles tie by what their subtree was served": {
			ops: []sorterOp{add(0, "r/s", 1), add(1, "r/t", 1), add(2, "q", 1), func(s Sorter) {
				s.Served(0)
				s.Served(1)
				s.Served(2)
			}},
			want: []Client{2, 0, 1},
		},
		"served counts survive a new total": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Served(0)
				s.SetTotal(cpuMem(200, 100))
			}},
			want: []Client{1, 0},
		},
		"smallest dominant share first": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), add(2, "r", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(50, 10)) // 0.5 cpu
				s.Allocated(1, cpuMem(10, 40)) // 0.4 memory
				s.Allocated(2, cpuMem(45, 45)) // 0.45
			}},
			want: []Client{1, 2, 0},
		},
		"weight divides the share": {
			ops: []sorterOp{add(0, "r", 3), add(1, "r", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(60, 0)) // 0.2 weighted
				s.Allocated(1, cpuMem(30, 0)) // 0.3
			}},
			want: []Client{0, 1},
		},
		"a weight change reorders": {
			ops: []sorterOp{add(0, "r", 3), add(1, "r", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(60, 0))
				s.Allocated(1, cpuMem(30, 0))
				s.UpdateWeight(0, 1)
			}},
			want: []Client{1, 0},
		},
		"roles before frameworks": {
			// Role q holds less than role r as a whole, so both of q's frameworks come first,
			// though client 0 alone holds less than either.
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), add(2, "q", 1), add(3, "q", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(5, 0))
				s.Allocated(1, cpuMem(40, 0))
				s.Allocated(2, cpuMem(10, 0))
				s.Allocated(3, cpuMem(20, 0))
			}},
			want: []Client{2, 3, 0, 1},
		},
		"a role's own frameworks compete as a group with its subroles": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), add(2, "r/s", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(10, 0)) // r's own: 0.2 together
				s.Allocated(1, cpuMem(10, 0))
				s.Allocated(2, cpuMem(15, 0)) // r/s: 0.15
			}},
			want: []Client{2, 0, 1},
		},
		"inactive holdings still count for the role": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), add(2, "q", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(50, 0))
				s.Deactivate(0)
				s.Allocated(2, cpuMem(10, 0))
			}},
			want: []Client{2, 1},
		},
		"a resource the pool lacks does not dominate": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMemGPU(10, 0, 5))
				s.Allocated(1, cpuMem(20, 0))
			}},
			want: []Client{0, 1},
		},
		"a new total re-sorts": {
			ops: []sorterOp{add(0, "r", 1), add(1, "r", 1), func(s Sorter) {
				s.SetTotal(cpuMem(100, 100))
				s.Allocated(0, cpuMem(30, 0))
				s.Allocated(1, cpuMem(0, 20))
				s.Sort()
				s.SetTotal(cpuMem(100, 10))
			}},
			want: []Client{0, 1},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewDRFSorter()
			for _, op := range tc.ops {
				op(s)
			}
			if diff := gocmp.Diff(tc.want, s.Sort(), cmpEmpty); diff != "" {
				t.Errorf("Sort (-want +got):\n%s", diff)
			}
		})
	}
}

// The incrementally kept DRF order equals a sort from scratch after any sequence of changes.
func TestDRFSorterIncremental(t *testing.T) {
	roles := []string{"a", "a/x", "a/y", "b", "b/z/w", "c"}
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 99))
		s := drfWith([]string{"walk", "compare"}[seed%2])
		type client struct {
			role   string
			weight float64
			alloc  Resources
			active bool
			served int64
		}
		clients := map[Client]*client{}
		total := cpuMem(1000, 1000)
		s.SetTotal(total)
		for step := range 200 {
			c := Client(rng.IntN(12))
			cl := clients[c]
			switch op := rng.IntN(10); {
			case cl == nil || op == 0:
				cl = &client{role: roles[rng.IntN(len(roles))], weight: float64(1 + rng.IntN(3)), active: true}
				if old := clients[c]; old != nil && rng.IntN(2) == 0 {
					cl.alloc = old.alloc // re-added with its holdings, as the allocator does on a role change
				}
				clients[c] = cl
				s.Add(c, fmt.Sprintf("c%02d", c), cl.role, cl.weight)
				s.Allocated(c, cl.alloc)
				s.Activate(c)
			case op == 1:
				delete(clients, c)
				s.Remove(c)
			case op == 2:
				cl.active = !cl.active
				if cl.active {
					s.Activate(c)
				} else {
					s.Deactivate(c)
				}
			case op == 3:
				cl.weight = float64(1 + rng.IntN(4))
				s.UpdateWeight(c, cl.weight)
			case op == 4:
				total = cpuMem(int64(500+rng.IntN(1000)), int64(500+rng.IntN(1000)))
				s.SetTotal(total)
			case op == 5 && rng.IntN(2) == 0:
				cl.served++
				s.Served(c)
			case op < 7 && !cl.alloc.IsZero():
				r := cpuMem(rng.Int64N(cl.alloc[CPU]+1), rng.Int64N(cl.alloc[Memory]+1))
				cl.alloc = cl.alloc.Sub(r)
				s.Unallocated(c, r)
			default:
				r := cpuMem(rng.Int64N(50), rng.Int64N(50))
				cl.alloc = cl.alloc.Add(r)
				s.Allocated(c, r)
			}
			if rng.IntN(3) > 0 {
				continue // let several changes pile up between reads
			}
			// From scratch: each client's path of (share, served, name) keys from the root.
			inv := inverse(total)
			held := func(match func(role string) bool) (Resources, int64) {
				var sum Resources
				var served int64
				for _, o := range clients {
					if match(o.role) {
						sum = sum.Add(o.alloc)
						served += o.served
					}
				}
				return sum, served
			}
			type key struct {
				share  float64
				served int64
				name   string
			}
			path := func(c Client) []key {
				cl := clients[c]
				var p []key
				segs := strings.Split(cl.role, "/")
				for i := range segs {
					role := strings.Join(segs[:i+1], "/")
					r, n := held(func(r string) bool { return r == role || strings.HasPrefix(r, role+"/") })
					d, _ := dominantShare(r, &inv)
					p = append(p, key{d, n, role})
				}
				r, n := held(func(r string) bool { return r == cl.role })
				d, _ := dominantShare(r, &inv)
				p = append(p, key{d, n, cl.role}) // the self group
				d, _ = dominantShare(cl.alloc, &inv)
				return append(p, key{d / cl.weight, cl.served, fmt.Sprintf("c%02d", c)})
			}
			var want []Client
			for c, cl := range clients {
				if cl.active {
					want = append(want, c)
				}
			}
			slices.SortFunc(want, func(x, y Client) int {
				px, py := path(x), path(y)
				for i := range min(len(px), len(py)) {
					if px[i].name == py[i].name && (i+1 < len(px)) == (i+1 < len(py)) {
						continue
					}
					if c := cmp.Compare(px[i].share, py[i].share); c != 0 {
						return c
					}
					if c := cmp.Compare(px[i].served, py[i].served); c != 0 {
						return c
					}
					return strings.Compare(px[i].name, py[i].name)
				}
				return 0
			})
			if diff := gocmp.Diff(want, s.Sort(), cmpEmpty); diff != "" {
				t.Fatalf("seed %d step %d: order (-scratch +incremental):\n%s", seed, step, diff)
			}
			if len(want) > 0 {
				if c, ok := s.First(NewBitset(0)); ok {
					t.Fatalf("First with nothing eligible = %v", c)
				}
				for _, strategy := range []string{"walk", "compare"} {
					s.compare = drfStrategies[strategy]
					e := NewBitset(12)
					var wantFirst Client = -1
					for _, c := range want {
						if rng.IntN(3) == 0 {
							e.Set(int(c))
							if wantFirst < 0 {
								wantFirst = c
							}
						}
					}
					c, ok := s.First(e)
					if ok != (wantFirst >= 0) || (ok && c != wantFirst) {
						t.Fatalf("seed %d step %d: %s First = %v %v, want %v", seed, step, strategy, c, ok, wantFirst)
					}
				}
			}
		}
	}
}

// The random sorter draws in proportion to weight.
func TestRandomSorterWeights(t *testing.T) {
	s := NewRandomSorter(newRand(11))
	s.Add(0, "a", "r", 1)
	s.Add(1, "b", "r", 3)
	s.Activate(0)
	s.Activate(1)
	firsts, heads := [2]int{}, [2]int{}
	for range 4000 {
		c, _ := s.First(Bitset{3})
		firsts[c]++
		heads[s.Sort()[0]]++
	}
	for _, got := range [][2]int{firsts, heads} {
		if got[1] < 2700 || got[1] > 3300 {
			t.Errorf("weight-3 client first %d of 4000 times, want about 3000", got[1])
		}
	}
}
