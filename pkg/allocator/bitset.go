package allocator

import "math/bits"

// Bitset is a set of small non-negative integers (sorter clients, framework slots), one bit
// each. The allocator keeps one row per node of which frameworks are filtered on it, so the
// question "is anyone left who may get this node?" costs a few word operations instead of one
// map lookup per framework.
type Bitset []uint64

func wordsFor(n int) int { return (n + 63) >> 6 }

// Has reports whether i is in the set; indexes beyond the set's length are absent.
func (b Bitset) Has(i int) bool {
	w := i >> 6
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

// Set adds i; the set must be long enough.
func (b Bitset) Set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// Clear removes i; the set must be long enough.
func (b Bitset) Clear(i int) { b[i>>6] &^= 1 << (uint(i) & 63) }

// Count returns the number of members.
func (b Bitset) Count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// Next returns the smallest member >= i, or -1.
func (b Bitset) Next(i int) int {
	if i < 0 {
		i = 0
	}
	w := i >> 6
	if w >= len(b) {
		return -1
	}
	word := b[w] &^ (1<<(uint(i)&63) - 1)
	for {
		if word != 0 {
			return w<<6 + bits.TrailingZeros64(word)
		}
		w++
		if w == len(b) {
			return -1
		}
		word = b[w]
	}
}

// NewBitset returns an empty set that can hold 0..n-1.
func NewBitset(n int) Bitset { return make(Bitset, wordsFor(n)) }

// Any reports whether the set has a member.
func (b Bitset) Any() bool {
	for _, w := range b {
		if w != 0 {
			return true
		}
	}
	return false
}
