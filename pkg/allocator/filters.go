package allocator

import (
	"math"
	"time"
)

// A filterBatch is the decline filters made by one ReleaseOffer: one framework, one expiry,
// the nodes it covers. Filters live as bits in the node rows of Allocator.filtered, which is
// what the cycle reads; batches exist only to know which bits to clear when time passes.
// Grouping by decline keeps the cost of a filter at 4 bytes instead of a map entry and a
// timer each, which matters when every framework declines every node (Mesos's DeclineOffers
// benchmark: 10 million filters at 10k nodes × 1k frameworks). Batches hold no pointers —
// their node lists live in one shared arena — so a million of them cost the garbage
// collector nothing to scan.
type filterBatch struct {
	expiry int64  // Unix nanoseconds
	seq    uint64 // Allocator.seq when made; revives and reused slots after it void it
	fw     int32
	start  uint32 // the node slots are filterArena[start : start+count]
	count  uint32
}

// filterQueue is a binary min-heap of batches by expiry, with the arena of their node lists.
type filterQueue struct {
	heap  []filterBatch
	arena []int32
	dead  int // arena entries of batches already popped
}

func (q *filterQueue) push(b filterBatch, nodes []int32) {
	b.start, b.count = uint32(len(q.arena)), uint32(len(nodes))
	q.arena = append(q.arena, nodes...)
	q.heap = append(q.heap, b)
	for i := len(q.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if q.heap[p].expiry <= q.heap[i].expiry {
			break
		}
		q.heap[p], q.heap[i] = q.heap[i], q.heap[p]
		i = p
	}
}

// pop removes the earliest batch; its nodes stay readable until the next push.
func (q *filterQueue) pop() (filterBatch, []int32) {
	b := q.heap[0]
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap = q.heap[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < last && q.heap[l].expiry < q.heap[small].expiry {
			small = l
		}
		if r := l + 1; r < last && q.heap[r].expiry < q.heap[small].expiry {
			small = r
		}
		if small == i {
			break
		}
		q.heap[i], q.heap[small] = q.heap[small], q.heap[i]
		i = small
	}
	q.dead += int(b.count)
	return b, q.arena[b.start : b.start+b.count]
}

// compact drops the node lists of popped batches once they are most of the arena, so the
// arena stays within twice what live filters need.
func (q *filterQueue) compact() {
	if q.dead < 1024 || 2*q.dead < len(q.arena) {
		return
	}
	arena := make([]int32, 0, 2*(len(q.arena)-q.dead))
	for i := range q.heap {
		b := &q.heap[i]
		start := uint32(len(arena))
		arena = append(arena, q.arena[b.start:b.start+b.count]...)
		b.start = start
	}
	q.arena, q.dead = arena, 0
}

func filterKey(fw, node int32) uint64 { return uint64(uint32(fw))<<32 | uint64(uint32(node)) }

// addFilters filters nodes for fw until now+refuse.
func (a *Allocator) addFilters(fw *framework, nodes []int32, now time.Time, refuse time.Duration) {
	expiry := now.UnixNano()
	if int64(refuse) > math.MaxInt64-expiry {
		expiry = math.MaxInt64
	} else {
		expiry += int64(refuse)
	}
	a.filters.compact()
	for _, s := range nodes {
		row := a.row(a.filtered, s)
		if row.Has(int(fw.slot)) {
			a.dupFilters[filterKey(fw.slot, s)]++
		} else {
			row.Set(int(fw.slot))
			a.filterCount++
		}
	}
	a.filters.push(filterBatch{expiry: expiry, seq: a.seq, fw: fw.slot}, nodes)
}

// expireFilters lifts the filters whose time has come.
func (a *Allocator) expireFilters(now time.Time) {
	t := now.UnixNano()
	for len(a.filters.heap) > 0 && a.filters.heap[0].expiry <= t {
		b, nodes := a.filters.pop()
		if fw := a.fws[b.fw]; fw == nil || fw.revivedSeq > b.seq {
			continue // revived or removed since: its filters are gone already
		}
		for _, s := range nodes {
			a.expireFilter(b, s)
		}
	}
}

func (a *Allocator) expireFilter(b filterBatch, s int32) {
	if int(s) >= len(a.nodes) || a.nodes[s] == nil || a.nodes[s].addedSeq > b.seq {
		return // the node was removed, and perhaps its slot reused, since
	}
	k := filterKey(b.fw, s)
	if c, ok := a.dupFilters[k]; ok {
		if c <= 1 {
			delete(a.dupFilters, k)
		} else {
			a.dupFilters[k] = c - 1
		}
		return
	}
	row := a.row(a.filtered, s)
	if row.Has(int(b.fw)) {
		row.Clear(int(b.fw))
		a.filterCount--
	}
}

// clearFilters drops every filter of fw and voids its pending batches.
func (a *Allocator) clearFilters(fw *framework) {
	a.seq++
	fw.revivedSeq = a.seq
	for _, n := range a.nodes {
		if n == nil {
			continue
		}
		row := a.row(a.filtered, n.slot)
		if row.Has(int(fw.slot)) {
			row.Clear(int(fw.slot))
			a.filterCount--
		}
	}
	for k := range a.dupFilters {
		if int32(k>>32) == fw.slot {
			delete(a.dupFilters, k)
		}
	}
}

// NextFilterExpiry returns when the next decline filter may expire, so that a caller that
// skips cycles while nothing changes knows when to run one anyway.
func (a *Allocator) NextFilterExpiry() (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.filters.heap) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, a.filters.heap[0].expiry), true
}
