package allocator

import (
	"math"
	"strconv"
	"strings"
)

// ResourceName indexes a Resources vector. The set is fixed so that a resource vector is a
// small array that is copied, compared and summed without maps or allocation: the allocation
// cycle does this arithmetic once per node and per decision, and at tens of thousands of nodes
// a map per vector would dominate the cycle.
type ResourceName int

const (
	// CPU is measured in millicores (Kubernetes "cpu", 1 core = 1000).
	CPU ResourceName = iota
	// Memory is measured in bytes (Kubernetes "memory").
	Memory
	// EphemeralStorage is measured in bytes (Kubernetes "ephemeral-storage").
	EphemeralStorage
	// GPU is measured in whole devices (Kubernetes "nvidia.com/gpu" and the like; the
	// controller decides which extended resource names count as GPUs).
	GPU
	// NumResources is the length of a Resources vector.
	NumResources
)

var resourceNames = [NumResources]string{"cpu", "memory", "ephemeral-storage", "gpu"}

// String returns the Kubernetes-style name: cpu, memory, ephemeral-storage or gpu.
func (n ResourceName) String() string {
	if n >= 0 && n < NumResources {
		return resourceNames[n]
	}
	return "resource(" + strconv.Itoa(int(n)) + ")"
}

// Resources is an amount of every resource kind, in the units documented on ResourceName.
// Build one with a keyed array literal: Resources{CPU: 1500, Memory: 4 << 30}.
type Resources [NumResources]int64

// unlimited marks a resource without a limit in a framework's limit vector.
const unlimited = math.MaxInt64

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	for i := range r {
		r[i] += o[i]
	}
	return r
}

// Sub returns r - o; entries may become negative.
func (r Resources) Sub(o Resources) Resources {
	for i := range r {
		r[i] -= o[i]
	}
	return r
}

// Min returns the element-wise minimum of r and o.
func (r Resources) Min(o Resources) Resources {
	for i := range r {
		r[i] = min(r[i], o[i])
	}
	return r
}

// ClampZero returns r with negative entries replaced by zero.
func (r Resources) ClampZero() Resources {
	for i := range r {
		r[i] = max(r[i], 0)
	}
	return r
}

// Fits reports whether r fits in capacity: every entry of r is at most the same entry of
// capacity.
func (r Resources) Fits(capacity Resources) bool {
	for i := range r {
		if r[i] > capacity[i] {
			return false
		}
	}
	return true
}

// IsZero reports whether every entry is zero.
func (r Resources) IsZero() bool {
	return r == Resources{}
}

// HasNegative reports whether some entry is below zero.
func (r Resources) HasNegative() bool {
	for _, v := range r {
		if v < 0 {
			return true
		}
	}
	return false
}

// atLeast reports whether r reaches the minimum m in every resource that m names (m[i] > 0).
// A minimum is a conjunction: the default (cpu 10m, memory 32Mi) rejects memory without CPU,
// which would be useless to any task.
func (r Resources) atLeast(m Resources) bool {
	for i := range r {
		if m[i] > 0 && r[i] < m[i] {
			return false
		}
	}
	return true
}

// String formats the non-zero entries in Kubernetes quantity notation, e.g.
// "cpu=1500m,memory=4Gi". The zero vector formats as "0".
func (r Resources) String() string {
	var b strings.Builder
	for i, v := range r {
		if v == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ResourceName(i).String())
		b.WriteByte('=')
		b.WriteString(FormatAmount(ResourceName(i), v))
	}
	if b.Len() == 0 {
		return "0"
	}
	return b.String()
}

// FormatAmount formats one amount of resource r in Kubernetes quantity notation: cpu as
// cores or millicores ("2", "1500m"), memory and storage in the largest binary unit that
// divides it ("32Mi"), the rest as a plain number.
func FormatAmount(r ResourceName, v int64) string {
	switch r {
	case CPU:
		if v%1000 == 0 {
			return strconv.FormatInt(v/1000, 10)
		}
		return strconv.FormatInt(v, 10) + "m"
	case Memory, EphemeralStorage:
		return formatBytes(v)
	}
	return strconv.FormatInt(v, 10)
}

func formatBytes(v int64) string {
	suffixes := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	i := 0
	for i < len(suffixes)-1 && v != 0 && v%1024 == 0 {
		v /= 1024
		i++
	}
	return strconv.FormatInt(v, 10) + suffixes[i]
}
