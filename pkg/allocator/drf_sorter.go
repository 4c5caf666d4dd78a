package allocator

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

type drfKind uint8

const (
	drfRole drfKind = iota // a role path; children are its subroles and its self group
	drfSelf                // the frameworks placed directly in a role; children are leaves
	drfLeaf                // a client
)

// drfNode is a node of the role tree. Every non-leaf keeps its children sorted by
// (weighted share, served, name) (drfLess), so the allocation order is a depth-first walk and
// a change of one client's holdings or served count repositions one node per tree level
// instead of re-sorting everything.
type drfNode struct {
	kind     drfKind
	name     string // role path, or the client's name for a leaf
	parent   *drfNode
	children []*drfNode
	self     *drfNode // role: its self group, if any framework sits directly in it
	client   Client
	depth    int // root is 0
	weight   float64
	alloc    Resources // held by the whole subtree
	share    float64   // dominant share of alloc, divided by weight
	// served counts the cycles that offered to a client (Sorter.Served), summed over the
	// clients of the subtree.
	served int64
	active int // active leaves in the subtree (0 or 1 for a leaf)
}

// drfLess is the order of siblings, and the key every binary search over them uses: the
// smaller weighted share first; on equal shares, the one served fewer times; then the
// smaller name.
func drfLess(a, b *drfNode) bool {
	if a.share != b.share {
		return a.share < b.share
	}
	if a.served != b.served {
		return a.served < b.served
	}
	return a.name < b.name
}

func drfCompare(a, b *drfNode) int {
	if c := cmp.Compare(a.share, b.share); c != 0 {
		return c
	}
	if c := cmp.Compare(a.served, b.served); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// DRFSorter orders clients by weighted Dominant Resource Fairness over a tree of roles, as the
// Mesos hierarchical allocator does: sibling roles are ordered by the dominant share of
// everything held below them; inside a role, the frameworks placed directly in it compete
// together (as one "self" group, the equivalent of Mesos's "." virtual leaf) against its
// subroles, and are then ordered among themselves by their own share divided by their weight.
// Roles weigh 1 unless SetRoleWeight says otherwise. Equal shares go to the client (or role) served fewer times, as in Mesos's
// sorter: without that, a framework that lets its offers expire returns to the same share
// every cycle, and if another sits at that share too (typically 0), the one with the smaller
// name would win every cycle forever. Remaining ties go to the smaller name, so the order is
// deterministic.
type DRFSorter struct {
	root   *drfNode
	roles  map[string]*drfNode
	leaves []*drfNode // by client
	// roleWeights holds the weights set for roles (SetRoleWeight), also for roles that have
	// no framework yet; roles not in it weigh 1.
	roleWeights map[string]float64
	total       Resources
	inv         [NumResources]float64
	// dirty is set when the pool total changed: every share is stale, and the tree is
	// re-sorted once, on the next Sort or First, instead of on every change.
	dirty bool
	// compare decides how First finds its client: when few clients are eligible, comparing
	// them directly beats walking the order past all the ineligible ones. Late in a run of
	// declines most frameworks have filtered most nodes, and the walk would cross nearly
	// all of them for every node. Tests force one way or the other.
	compare func(eligible, active int) bool
}

// compareFew is the default First strategy. A walk step costs about 5 ns and, with the
// eligible clients spread over the order, the walk takes about active/eligible steps; a direct
// comparison costs about 25 ns per eligible client. Measured at 1,000 active clients the two
// cross near 16 eligible, hence eligible² ≤ active/4. (When the eligible clients sit at the
// end of the order, as late in a run of declines, comparing wins by far more.)
func compareFew(eligible, active int) bool { return 4*eligible*eligible <= max(active, 256) }

// NewDRFSorter returns an empty hierarchical weighted DRF sorter.
func NewDRFSorter() *DRFSorter {
	root := &drfNode{kind: drfRole, weight: 1}
	return &DRFSorter{root: root, roles: map[string]*drfNode{"": root}, compare: compareFew}
}

func (s *DRFSorter) leaf(c Client) *drfNode {
	if c < 0 || int(c) >= len(s.leaves) {
		return nil
	}
	return s.leaves[c]
}

// Add implements Sorter.
func (s *DRFSorter) Add(c Client, name, role string, weight float64) {
	if c < 0 {
		return
	}
	if s.leaf(c) != nil {
		s.Remove(c)
	}
	for int(c) >= len(s.leaves) {
		s.leaves = append(s.leaves, nil)
	}
	r := s.role(role)
	if r.self == nil {
		r.self = &drfNode{kind: drfSelf, name: r.name, parent: r, depth: r.depth + 1, weight: 1}
		s.insert(r, r.self)
	}
	l := &drfNode{kind: drfLeaf, name: name, parent: r.self, depth: r.self.depth + 1, client: c, weight: weight}
	s.insert(r.self, l)
	s.leaves[c] = l
}

// role returns the role node of path, creating it and its ancestors.
func (s *DRFSorter) role(path string) *drfNode {
	if n, ok := s.roles[path]; ok {
		return n
	}
	parent := s.root
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		parent = s.role(path[:i])
	}
	n := &drfNode{kind: drfRole, name: path, parent: parent, depth: parent.depth + 1, weight: 1}
	if w, ok := s.roleWeights[path]; ok {
		n.weight = w
	}
	s.insert(parent, n)
	s.roles[path] = n
	return n
}

func (s *DRFSorter) insert(p, n *drfNode) {
	n.share = s.shareOf(n)
	i := sort.Search(len(p.children), func(k int) bool { return drfLess(n, p.children[k]) })
	p.children = slices.Insert(p.children, i, n)
}

// Remove implements Sorter.
func (s *DRFSorter) Remove(c Client) {
	l := s.leaf(c)
	if l == nil {
		return
	}
	s.Deactivate(c)
	s.Unallocated(c, l.alloc)
	s.addServed(l, -l.served)
	s.leaves[c] = nil
	// Drop the leaf, then every ancestor it leaves empty.
	for n := l; n.parent != nil; {
		p := n.parent
		p.children = slices.DeleteFunc(p.children, func(x *drfNode) bool { return x == n })
		if len(p.children) > 0 || p == s.root {
			break
		}
		switch p.kind {
		case drfSelf:
			p.parent.self = nil
		case drfRole:
			delete(s.roles, p.name)
		}
		n = p
	}
}

// Activate implements Sorter.
func (s *DRFSorter) Activate(c Client) {
	if l := s.leaf(c); l != nil && l.active == 0 {
		for n := l; n != nil; n = n.parent {
			n.active++
		}
	}
}

// Deactivate implements Sorter.
func (s *DRFSorter) Deactivate(c Client) {
	if l := s.leaf(c); l != nil && l.active == 1 {
		for n := l; n != nil; n = n.parent {
			n.active--
		}
	}
}

// UpdateWeight implements Sorter.
func (s *DRFSorter) UpdateWeight(c Client, weight float64) {
	if l := s.leaf(c); l != nil {
		s.reweigh(l, weight)
	}
}

// SetRoleWeight sets the weight of a role path (Mesos role weights): among its siblings, the
// role's dominant share is divided by it. Roles weigh 1 until set; weight must be > 0.
func (s *DRFSorter) SetRoleWeight(role string, weight float64) {
	if s.roleWeights == nil {
		s.roleWeights = map[string]float64{}
	}
	if weight == 1 {
		delete(s.roleWeights, role)
	} else {
		s.roleWeights[role] = weight
	}
	if n, ok := s.roles[role]; ok {
		s.reweigh(n, weight)
	}
}

// reweigh gives n a new weight and moves it to its place among its siblings.
func (s *DRFSorter) reweigh(n *drfNode, weight float64) {
	if n.weight == weight {
		return
	}
	if s.dirty {
		n.weight = weight
		return
	}
	i := s.indexOf(n)
	n.weight = weight
	n.share = s.shareOf(n)
	reposition(n.parent.children, i)
}

// Allocated implements Sorter.
func (s *DRFSorter) Allocated(c Client, r Resources) { s.change(c, r, false) }

// Unallocated implements Sorter.
func (s *DRFSorter) Unallocated(c Client, r Resources) { s.change(c, r, true) }

func (s *DRFSorter) change(c Client, r Resources, sub bool) {
	l := s.leaf(c)
	if l == nil || r.IsZero() {
		return
	}
	for n := l; n.parent != nil; n = n.parent {
		if sub {
			n.alloc = n.alloc.Sub(r)
		} else {
			n.alloc = n.alloc.Add(r)
		}
		if s.dirty {
			continue
		}
		i := s.indexOf(n)
		n.share = s.shareOf(n)
		reposition(n.parent.children, i)
	}
}

// Served implements Sorter: the client and each of its roles count one more allocation.
func (s *DRFSorter) Served(c Client) {
	if l := s.leaf(c); l != nil {
		s.addServed(l, 1)
	}
}

// addServed adds d to the served count of leaf l and of its ancestors, keeping every level
// sorted.
func (s *DRFSorter) addServed(l *drfNode, d int64) {
	if d == 0 {
		return
	}
	for n := l; n.parent != nil; n = n.parent {
		if s.dirty {
			n.served += d
			continue
		}
		i := s.indexOf(n)
		n.served += d
		reposition(n.parent.children, i)
	}
}

// SetTotal implements Sorter.
func (s *DRFSorter) SetTotal(total Resources) {
	if total == s.total {
		return
	}
	s.total = total
	s.inv = inverse(total)
	s.dirty = true
}

// Sort implements Sorter.
func (s *DRFSorter) Sort() []Client {
	s.clean()
	var out []Client
	var walk func(n *drfNode)
	walk = func(n *drfNode) {
		for _, c := range n.children {
			switch {
			case c.active == 0:
			case c.kind == drfLeaf:
				out = append(out, c.client)
			default:
				walk(c)
			}
		}
	}
	walk(s.root)
	return out
}

// First implements Sorter. It walks the tree depth first in order and stops at the first
// eligible leaf, skipping subtrees without active clients, or, when few clients are eligible,
// compares those directly. It allocates nothing.
func (s *DRFSorter) First(eligible Bitset) (Client, bool) {
	s.clean()
	if s.compare(eligible.Count(), s.root.active) {
		var best *drfNode
		for i := eligible.Next(0); i >= 0 && i < len(s.leaves); i = eligible.Next(i + 1) {
			if l := s.leaves[i]; l != nil && l.active > 0 && (best == nil || before(l, best)) {
				best = l
			}
		}
		if best == nil {
			return 0, false
		}
		return best.client, true
	}
	return first(s.root, eligible)
}

// before reports whether leaf a comes before leaf b in the order: compare the children of
// their lowest common ancestor that lead to them.
func before(a, b *drfNode) bool {
	for a.depth > b.depth {
		a = a.parent
	}
	for b.depth > a.depth {
		b = b.parent
	}
	for a.parent != b.parent {
		a, b = a.parent, b.parent
	}
	return drfLess(a, b)
}

func first(n *drfNode, eligible Bitset) (Client, bool) {
	for _, c := range n.children {
		if c.active == 0 {
			continue
		}
		if c.kind == drfLeaf {
			if eligible.Has(int(c.client)) {
				return c.client, true
			}
			continue
		}
		if cl, ok := first(c, eligible); ok {
			return cl, true
		}
	}
	return 0, false
}

func (s *DRFSorter) shareOf(n *drfNode) float64 {
	d, _ := dominantShare(n.alloc, &s.inv)
	return d / n.weight
}

// indexOf finds n among its siblings by binary search on its current drfLess key,
// which is exact because the siblings are sorted and names are unique among them.
func (s *DRFSorter) indexOf(n *drfNode) int {
	ch := n.parent.children
	i := sort.Search(len(ch), func(k int) bool { return !drfLess(ch[k], n) })
	if i < len(ch) && ch[i] == n {
		return i
	}
	return slices.Index(ch, n) // unreachable while the invariant holds; stay correct anyway
}

// reposition restores the order of ch after the key of ch[i] changed, shifting only the
// elements between its old and new place.
func reposition(ch []*drfNode, i int) {
	n := ch[i]
	switch {
	case i+1 < len(ch) && drfLess(ch[i+1], n):
		rest := ch[i+1:]
		j := sort.Search(len(rest), func(k int) bool { return drfLess(n, rest[k]) })
		copy(ch[i:i+j], rest[:j])
		ch[i+j] = n
	case i > 0 && drfLess(n, ch[i-1]):
		j := sort.Search(i, func(k int) bool { return drfLess(n, ch[k]) })
		copy(ch[j+1:i+1], ch[j:i])
		ch[j] = n
	}
}

// clean recomputes every share and re-sorts every level after the pool total changed.
func (s *DRFSorter) clean() {
	if !s.dirty {
		return
	}
	s.dirty = false
	var walk func(n *drfNode)
	walk = func(n *drfNode) {
		for _, c := range n.children {
			c.share = s.shareOf(c)
			walk(c)
		}
		slices.SortFunc(n.children, drfCompare)
	}
	walk(s.root)
}
