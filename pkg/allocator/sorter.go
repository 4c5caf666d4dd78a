package allocator

// Client identifies a sorter client (a framework). Clients are small dense non-negative
// integers chosen by the caller, so that eligibility can be passed as a Bitset: the allocator
// uses framework slot numbers.
type Client int32

// Sorter orders clients for the allocation cycle. The allocator asks it, once per node, for
// the first client in its order among those eligible for that node, and tells it every change
// of what a client holds (tasks plus outstanding offers) so that the order stays current
// within a cycle.
//
// Methods given an unknown client do nothing. A Sorter is not safe for concurrent use.
type Sorter interface {
	// Add adds an inactive client. name breaks ties between equal shares that Served does
	// not break, so it should be stable across restarts (the framework ID). role is a "/"-separated role path.
	// weight must be > 0.
	Add(c Client, name, role string, weight float64)
	// Remove forgets the client and what it holds.
	Remove(c Client)
	// Activate lets the client appear in Sort and First.
	Activate(c Client)
	// Deactivate hides the client from Sort and First; what it holds still counts for its
	// roles.
	Deactivate(c Client)
	// UpdateWeight changes the client's weight.
	UpdateWeight(c Client, weight float64)
	// Allocated adds r to what the client holds.
	Allocated(c Client, r Resources)
	// Unallocated subtracts r from what the client holds.
	Unallocated(c Client, r Resources)
	// Served counts one allocation to the client: the allocator calls it once per cycle for
	// every client offered something in that cycle. Orders that break ties between equal
	// shares use it, as Mesos's sorter does, to prefer the client served least, so that a
	// client whose offers keep returning unanswered (expired, rescinded) to the same share as
	// another does not win every tie, every cycle, forever.
	Served(c Client)
	// SetTotal sets the pool capacity that shares are measured against.
	SetTotal(total Resources)
	// Sort returns the active clients in allocation order.
	Sort() []Client
	// First returns the first active client in allocation order that is in eligible.
	First(eligible Bitset) (Client, bool)
}

// dominantShare returns max over resources of held/total, ignoring resources the pool does
// not have (as Mesos does: a resource nobody can be offered cannot dominate).
func dominantShare(held Resources, inv *[NumResources]float64) (float64, ResourceName) {
	share, which := 0.0, CPU
	for i, v := range held {
		if inv[i] == 0 || v <= 0 {
			continue
		}
		if s := float64(v) * inv[i]; s > share {
			share, which = s, ResourceName(i)
		}
	}
	return share, which
}

// inverse returns 1/total per resource, or 0 where the pool has none.
func inverse(total Resources) [NumResources]float64 {
	var inv [NumResources]float64
	for i, v := range total {
		if v > 0 {
			inv[i] = 1 / float64(v)
		}
	}
	return inv
}
