package allocator

import (
	"math"
	"math/rand/v2"
	"slices"
)

type randomClient struct {
	present, active bool
	weight          float64
}

// RandomSorter orders clients at random, each draw independent of what clients hold, with
// probability proportional to weight (Mesos's "random" sorter). It ignores roles. It exists
// as the baseline that DRF is measured against, and to check that the allocator relies only
// on the Sorter contract.
type RandomSorter struct {
	rng     *rand.Rand
	clients []randomClient
}

// NewRandomSorter returns a random sorter drawing from rng (which must not be nil).
func NewRandomSorter(rng *rand.Rand) *RandomSorter { return &RandomSorter{rng: rng} }

func (s *RandomSorter) client(c Client) *randomClient {
	if c < 0 || int(c) >= len(s.clients) || !s.clients[c].present {
		return nil
	}
	return &s.clients[c]
}

// Add implements Sorter.
func (s *RandomSorter) Add(c Client, _, _ string, weight float64) {
	if c < 0 {
		return
	}
	for int(c) >= len(s.clients) {
		s.clients = append(s.clients, randomClient{})
	}
	s.clients[c] = randomClient{present: true, weight: weight}
}

// Remove implements Sorter.
func (s *RandomSorter) Remove(c Client) {
	if s.client(c) != nil {
		s.clients[c] = randomClient{}
	}
}

// Activate implements Sorter.
func (s *RandomSorter) Activate(c Client) {
	if cl := s.client(c); cl != nil {
		cl.active = true
	}
}

// Deactivate implements Sorter.
func (s *RandomSorter) Deactivate(c Client) {
	if cl := s.client(c); cl != nil {
		cl.active = false
	}
}

// UpdateWeight implements Sorter.
func (s *RandomSorter) UpdateWeight(c Client, weight float64) {
	if cl := s.client(c); cl != nil {
		cl.weight = weight
	}
}

// Allocated implements Sorter; the random order does not depend on holdings.
func (s *RandomSorter) Allocated(Client, Resources) {}

// Unallocated implements Sorter.
func (s *RandomSorter) Unallocated(Client, Resources) {}

// Served implements Sorter; the random order does not depend on it.
func (s *RandomSorter) Served(Client) {}

// SetTotal implements Sorter.
func (s *RandomSorter) SetTotal(Resources) {}

// Sort implements Sorter with a weighted shuffle: each client draws an exponential key with
// rate equal to its weight, smallest first.
func (s *RandomSorter) Sort() []Client {
	type keyed struct {
		key float64
		c   Client
	}
	var ks []keyed
	for i, cl := range s.clients {
		if cl.present && cl.active {
			ks = append(ks, keyed{-math.Log(1-s.rng.Float64()) / cl.weight, Client(i)})
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return int(a.c - b.c)
	})
	out := make([]Client, len(ks))
	for i, k := range ks {
		out[i] = k.c
	}
	return out
}

// First implements Sorter: one weighted draw among the active eligible clients, which has the
// distribution of the head of a weighted shuffle restricted to them.
func (s *RandomSorter) First(eligible Bitset) (Client, bool) {
	total, chosen := 0.0, Client(-1)
	for i := eligible.Next(0); i >= 0 && i < len(s.clients); i = eligible.Next(i + 1) {
		cl := &s.clients[i]
		if !cl.present || !cl.active {
			continue
		}
		total += cl.weight
		if s.rng.Float64()*total < cl.weight {
			chosen = Client(i)
		}
	}
	return chosen, chosen >= 0
}
