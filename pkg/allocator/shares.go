package allocator

import (
	"strings"
)

// Pool returns the capacity that shares are measured against: allocatable minus other
// schedulers' pods, summed over the nodes in the pool.
func (a *Allocator) Pool() Resources {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pool
}

// Stats returns counts for metrics.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{Offers: len(a.offers), Tasks: len(a.tasks), Filters: a.filterCount, Pool: a.pool}
	for _, n := range a.nodes {
		if n != nil && n.present {
			s.Nodes++
			if n.inPool() {
				s.PoolNodes++
			}
		}
	}
	for _, fw := range a.fws {
		if fw != nil && fw.known {
			s.Frameworks++
		}
	}
	return s
}

// FrameworkShare returns the dominant share of a framework.
func (a *Allocator) FrameworkShare(id string) (Share, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw, err := a.known(id)
	if err != nil {
		return Share{}, false
	}
	inv := inverse(a.pool)
	return shareOf(fw.tasks, fw.offered, fw.spec.Weight, &inv), true
}

// FrameworkShares returns the dominant share of every framework, by ID.
func (a *Allocator) FrameworkShares() map[string]Share {
	a.mu.Lock()
	defer a.mu.Unlock()
	inv := inverse(a.pool)
	out := map[string]Share{}
	for _, fw := range a.fws {
		if fw != nil && fw.known {
			out[fw.id] = shareOf(fw.tasks, fw.offered, fw.spec.Weight, &inv)
		}
	}
	return out
}

// RoleShares returns the dominant share of every role that has a framework, and of every
// ancestor of such a role, by role path: what its subtree holds over the pool.
func (a *Allocator) RoleShares() map[string]Share {
	a.mu.Lock()
	defer a.mu.Unlock()
	type held struct{ tasks, offered Resources }
	sums := map[string]held{}
	for _, fw := range a.fws {
		if fw == nil || !fw.known {
			continue
		}
		for role := fw.spec.Role; ; {
			h := sums[role]
			sums[role] = held{h.tasks.Add(fw.tasks), h.offered.Add(fw.offered)}
			i := strings.LastIndexByte(role, '/')
			if i < 0 {
				break
			}
			role = role[:i]
		}
	}
	inv := inverse(a.pool)
	out := make(map[string]Share, len(sums))
	for role, h := range sums {
		out[role] = shareOf(h.tasks, h.offered, 1, &inv)
	}
	return out
}

func shareOf(tasks, offered Resources, weight float64, inv *[NumResources]float64) Share {
	d, r := dominantShare(tasks.Add(offered), inv)
	return Share{Dominant: d, Weighted: d / weight, Resource: r, Allocated: tasks, Offered: offered}
}
