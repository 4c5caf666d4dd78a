package allocator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The user's story: framework a never answers its offers, so the controller rescinds them
// when they expire and a's share drops back to 0 every cycle; framework b sits at share 0 as
// well. Broken by name alone, the tie went to a every cycle, forever, and b never saw an
// offer. Broken by how often each was served first (Mesos), b gets the node in the second
// cycle, and from then on the two take turns. With roles, sibling roles at equal share take
// turns the same way, and inside a role its frameworks take turns among themselves.
func TestTiesGoToLeastServed(t *testing.T) {
	const cycles = 12
	for name, tc := range map[string]struct {
		frameworks []FrameworkSpec
		want       string // who got the node, cycle by cycle
	}{
		"frameworks": {
			frameworks: []FrameworkSpec{{ID: "a"}, {ID: "b"}},
			want:       "a b a b a b a b a b a b",
		},
		"roles": {
			frameworks: []FrameworkSpec{{ID: "a", Role: "x"}, {ID: "b", Role: "y"}},
			want:       "a b a b a b a b a b a b",
		},
		// Role x is served as often as role y; its two frameworks share x's turns.
		"roles with two frameworks in one": {
			frameworks: []FrameworkSpec{{ID: "x1", Role: "x"}, {ID: "x2", Role: "x"}, {ID: "y1", Role: "y"}},
			want:       "x1 y1 x2 y1 x1 y1 x2 y1 x1 y1 x2 y1",
		},
		// Served counts add up the tree: a role whose subroles were served more waits.
		"nested roles": {
			frameworks: []FrameworkSpec{{ID: "p", Role: "eng/batch"}, {ID: "q", Role: "eng/web"}, {ID: "r", Role: "ops"}},
			want:       "p r q r p r q r p r q r",
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.node("n1", cpuMem(4000, 8*Gi))
			for _, f := range tc.frameworks {
				e.framework(f)
			}
			var got []string
			for range cycles {
				offers := e.a.Allocate()
				if len(offers) != 1 {
					t.Fatalf("cycle %d: offers %v, want one", len(got)+1, offers)
				}
				got = append(got, offers[0].Framework)
				// Nobody answers: the offer expires and is rescinded; no filter, share 0 again.
				if err := e.a.RescindOffer(offers[0].ID); err != nil {
					t.Fatal(err)
				}
				e.clock.Step(time.Second)
			}
			if diff := cmp.Diff(tc.want, strings.Join(got, " ")); diff != "" {
				t.Errorf("offers by cycle (-want +got):\n%s", diff)
			}
		})
	}
}

// The story with b answering: b declines without a filter (share 0 again), a lets its offers
// expire. b must get an offer by the second cycle, and over many cycles each gets half.
func TestTiesBoundForAnsweringFramework(t *testing.T) {
	e := newEnv(t, Config{})
	e.node("n1", cpuMem(4000, 8*Gi))
	e.framework(FrameworkSpec{ID: "a"})
	e.framework(FrameworkSpec{ID: "b"})
	count := map[string]int{}
	firstB := 0
	for cycle := 1; cycle <= 100; cycle++ {
		offers := e.a.Allocate()
		if len(offers) != 1 {
			t.Fatalf("cycle %d: offers %v", cycle, offers)
		}
		o := offers[0]
		count[o.Framework]++
		if o.Framework == "b" {
			if firstB == 0 {
				firstB = cycle
			}
			e.release(o, 0)
		} else if err := e.a.RescindOffer(o.ID); err != nil {
			t.Fatal(err)
		}
	}
	if firstB == 0 || firstB > 2 {
		t.Errorf("b first offered in cycle %d (0: never), want by cycle 2", firstB)
	}
	if count["a"] != 50 || count["b"] != 50 {
		t.Errorf("offers %v, want 50 each", count)
	}
}

// Served breaks only ties: a smaller share still comes first, however often it was served.
func TestServedBreaksOnlyTies(t *testing.T) {
	s := NewDRFSorter()
	for c, name := range []string{"a", "b"} {
		s.Add(Client(c), name, "r", 1)
		s.Activate(Client(c))
	}
	s.SetTotal(cpuMem(100, 100))
	for range 5 {
		s.Served(0)
	}
	if got := s.Sort(); !cmp.Equal(got, []Client{1, 0}) {
		t.Errorf("at equal shares: %v, want the less served first", got)
	}
	s.Allocated(1, cpuMem(1, 0))
	if got := s.Sort(); !cmp.Equal(got, []Client{0, 1}) {
		t.Errorf("with b holding more: %v, want a first though served more", got)
	}
	// Removing a client takes its served count out of its roles.
	s.Add(2, "c", "q", 1)
	s.Activate(2)
	s.Served(2)
	s.Served(2)
	s.Unallocated(1, cpuMem(1, 0))
	s.Remove(0)
	if got := s.Sort(); !cmp.Equal(got, []Client{1, 2}) {
		t.Errorf("after removing the served client: %v, want role r (served 0) first", got)
	}
}

func ExampleDRFSorter_Served() {
	s := NewDRFSorter()
	s.Add(0, "a", "default", 1)
	s.Add(1, "b", "default", 1)
	s.Activate(0)
	s.Activate(1)
	fmt.Println(s.Sort()) // equal shares, never served: by name
	s.Served(0)
	fmt.Println(s.Sort()) // a was served: b's turn
	// Output:
	// [0 1]
	// [1 0]
}
