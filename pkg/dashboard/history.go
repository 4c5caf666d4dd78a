/*
Copyright 2026 The Agora Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package dashboard

import (
	"sort"
	"sync"
)

// Sample is the pool and the frameworks' shares at one moment, for the over-time plots.
type Sample struct {
	T         float64            `json:"t"` // Unix seconds
	Capacity  Res                `json:"capacity"`
	Allocated Res                `json:"allocated"`
	Offered   Res                `json:"offered"`
	Free      Res                `json:"free"`
	Shares    map[string]float64 `json:"shares"` // namespace/name → dominant share
	// Preemptions is each RoleQuota's status.preemptions (role → tasks preempted for it so far).
	Preemptions map[string]int64 `json:"preemptions,omitempty"`
}

func sampleOf(s *Snapshot) Sample {
	out := Sample{T: float64(s.Time.UnixMilli()) / 1000, Capacity: s.Pool.Capacity, Allocated: s.Pool.Allocated,
		Offered: s.Pool.Offered, Free: s.Pool.Free, Shares: make(map[string]float64, len(s.Frameworks))}
	for _, f := range s.Frameworks {
		out.Shares[f.Key] = f.Share
	}
	if len(s.Quotas) > 0 {
		out.Preemptions = make(map[string]int64, len(s.Quotas))
		for _, q := range s.Quotas {
			out.Preemptions[q.Role] = q.Preemptions
		}
	}
	return out
}

// ring keeps the last n samples.
type ring struct {
	mu   sync.Mutex
	buf  []Sample
	next int
	full bool
}

func newRing(n int) *ring {
	if n < 1 {
		n = 1
	}
	return &ring{buf: make([]Sample, n)}
}

func (r *ring) add(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// all returns the samples oldest first.
func (r *ring) all() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Sample(nil), r.buf[:r.next]...)
	}
	return append(append([]Sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// Series is the history in the column layout the plots take: one array per line, aligned
// with T. A framework absent at a sample has null there.
type Series struct {
	T         []float64 `json:"t"`
	CPU       ResSeries `json:"cpu"`
	Memory    ResSeries `json:"memory"`
	GPU       ResSeries `json:"gpu"`
	Shares    []Line    `json:"shares"`
	Truncated int       `json:"truncated"` // frameworks left out by top
	// Preemptions has one line per role with a RoleQuota: its preemptions so far (never cut
	// by top: roles with quotas are few).
	Preemptions []Line `json:"preemptions"`
}

// ResSeries is one resource of the pool over time.
type ResSeries struct {
	Capacity  []int64 `json:"capacity"`
	Allocated []int64 `json:"allocated"`
	Offered   []int64 `json:"offered"`
	Free      []int64 `json:"free"`
}

// Line is one framework's dominant share over time.
type Line struct {
	Key    string     `json:"key"`
	Values []*float64 `json:"values"`
}

// columns turns samples into Series; top > 0 keeps only the frameworks with the largest
// current (else peak) shares.
func columns(samples []Sample, top int) Series {
	n := len(samples)
	s := Series{T: make([]float64, n)}
	for _, r := range []*ResSeries{&s.CPU, &s.Memory, &s.GPU} {
		r.Capacity, r.Allocated, r.Offered, r.Free = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	}
	peak := map[string]float64{}
	for i, x := range samples {
		s.T[i] = x.T
		for _, c := range []struct {
			r   *ResSeries
			get func(Res) int64
		}{{&s.CPU, func(r Res) int64 { return r.CPU }}, {&s.Memory, func(r Res) int64 { return r.Memory }}, {&s.GPU, func(r Res) int64 { return r.GPU }}} {
			c.r.Capacity[i], c.r.Allocated[i], c.r.Offered[i], c.r.Free[i] = c.get(x.Capacity), c.get(x.Allocated), c.get(x.Offered), c.get(x.Free)
		}
		for k, v := range x.Shares {
			if v >= peak[k] {
				peak[k] = v
			}
		}
	}
	keys := make([]string, 0, len(peak))
	for k := range peak {
		keys = append(keys, k)
	}
	current := func(k string) float64 {
		if n == 0 {
			return 0
		}
		return samples[n-1].Shares[k]
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := current(keys[i]), current(keys[j])
		if ci != cj {
			return ci > cj
		}
		if peak[keys[i]] != peak[keys[j]] {
			return peak[keys[i]] > peak[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if top > 0 && len(keys) > top {
		s.Truncated = len(keys) - top
		keys = keys[:top]
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := Line{Key: k, Values: make([]*float64, n)}
		for i, x := range samples {
			if v, ok := x.Shares[k]; ok {
				l.Values[i] = &v
			}
		}
		s.Shares = append(s.Shares, l)
	}
	if s.Shares == nil {
		s.Shares = []Line{}
	}
	s.Preemptions = preemptionLines(samples)
	return s
}

// preemptionLines is each role's preemption count over time, roles in tree order; a role
// without a RoleQuota at a sample has null there.
func preemptionLines(samples []Sample) []Line {
	seen := map[string]bool{}
	var roles []string
	for _, x := range samples {
		for r := range x.Preemptions {
			if !seen[r] {
				seen[r] = true
				roles = append(roles, r)
			}
		}
	}
	sort.Slice(roles, func(i, j int) bool { return roleTreeLess(roles[i], roles[j]) })
	out := make([]Line, 0, len(roles))
	for _, r := range roles {
		l := Line{Key: r, Values: make([]*float64, len(samples))}
		for i, x := range samples {
			if v, ok := x.Preemptions[r]; ok {
				f := float64(v)
				l.Values[i] = &f
			}
		}
		out = append(out, l)
	}
	return out
}
