package allocator

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// The property tests drive an Allocator with random sequences of events (nodes and
// frameworks coming, changing and going, cycles, launches, declines, rescinds, time passing)
// while keeping their own, independent model of what should be: the harness. After every
// event they check the invariants of docs/architecture.md ("Invariants") against the harness:
//
//   - no node is overcommitted by offers: other pods + tasks + offers ≤ allocatable;
//   - no unit is offered to two frameworks at once (the offers on a node sum to what the
//     allocator charges, and a cycle offers a node at most once per framework);
//   - offers go only to eligible frameworks (active, unsuppressed, unfiltered by the
//     harness's own record of declines, selector, taints, GPU rule, limits);
//   - every cycle equals the one a naive reference computes from the harness's model: per
//     node, all frameworks sorted from scratch by hierarchical weighted DRF, the first
//     eligible one taking the node. So the lowest-share eligible framework with a
//     filter-free node is never skipped for a higher-share one;
//   - and, sorter-independent, a cycle leaves no node with an allocatable amount that some
//     eligible framework could have been offered;
//   - no offer part outlives the framework's eligibility for its node (selector, taints, GPU
//     rule, the node in the pool), whichever of the two changed;
//   - pod slots: no node without a free slot is offered, and LaunchTask never fills a node
//     past MaxPods;
//   - every Rescinded carries the cause of the operation that returned it; a lowered limit
//     leaves no offered amount of a resource still over it; suppression, weight and role
//     changes rescind nothing;
//   - a release not after the framework's last revive (1-second resolution) installs no
//     decline filter.

// chooser is where a harness's random choices come from: a seeded source, or fuzz input.
type chooser interface{ intn(n int) int }

type rngChooser struct{ r *rand.Rand }

func (c rngChooser) intn(n int) int { return c.r.IntN(n) }

type byteChooser struct{ data []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.data) == 0 {
		return 0
	}
	b := int(c.data[0])
	c.data = c.data[1:]
	return b % n
}

type hFramework struct {
	spec   FrameworkSpec
	active bool
}

type hOffer struct {
	fw    string
	nodes []string // in offer order
	left  map[string]Resources
}

type hTask struct {
	fw, node string
	res      Resources
}

type harness struct {
	t       testing.TB
	ch      chooser
	a       *Allocator
	clock   *fakeClock
	pcg     *rand.PCG // the allocator's node-order source, replayed by the reference
	drf     bool
	maxPer  int
	nodes   map[string]NodeSpec
	fws     map[string]*hFramework
	offers  map[OfferID]*hOffer
	tasks   map[string]hTask
	filters map[[2]string]time.Time // (framework, node) -> declined until
	// served counts, per framework, the cycles that offered it something since it was set
	// with its current role: the DRF tie-break after the share.
	served    map[string]int64
	revivedAt map[string]time.Time
	taskSeq   int
	log       []string
}

func newHarness(t testing.TB, ch chooser, drf bool) *harness {
	h := &harness{
		t: t, ch: ch, clock: newFakeClock(), drf: drf,
		pcg:     rand.NewPCG(uint64(ch.intn(1000)), 1),
		nodes:   map[string]NodeSpec{},
		fws:     map[string]*hFramework{},
		offers:  map[OfferID]*hOffer{},
		tasks:   map[string]hTask{},
		filters: map[[2]string]time.Time{},
		served:  map[string]int64{},

		revivedAt: map[string]time.Time{},
	}
	drfSorter := NewDRFSorter()
	drfSorter.compare = []func(int, int) bool{compareFew, drfStrategies["walk"], drfStrategies["compare"]}[ch.intn(3)]
	var sorter Sorter = drfSorter
	if !drf {
		sorter = NewRandomSorter(rand.New(rand.NewPCG(uint64(ch.intn(1000)), 2)))
	}
	h.maxPer = []int{-1, 1, 2, 3}[ch.intn(4)]
	h.a = New(Config{Clock: h.clock, Rand: rand.New(h.pcg), Sorter: sorter, MaxNodesPerOffer: h.maxPer})
	for range 1 + ch.intn(6) {
		h.setNode()
	}
	for range 1 + ch.intn(4) {
		h.setFramework()
	}
	return h
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s\nevents:\n  %s", fmt.Sprintf(format, args...), strings.Join(h.log, "\n  "))
}

func (h *harness) logf(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf(format, args...))
}

func pick[K cmp.Ordered, V any](ch chooser, m map[K]V) (K, bool) {
	if len(m) == 0 {
		var zero K
		return zero, false
	}
	keys := slices.Sorted(maps.Keys(m))
	return keys[ch.intn(len(keys))], true
}

func (h *harness) step() {
	switch h.ch.intn(22) {
	case 0, 1, 2, 3, 4:
		h.allocate()
	case 5, 6, 7:
		h.launch()
	case 8, 9:
		h.release()
	case 10:
		h.rescind()
	case 11:
		h.finish()
	case 12, 13:
		h.advance()
	case 14:
		h.revive()
	case 15:
		h.toggle()
	case 16, 17:
		h.setNode()
	case 18:
		h.removeNode()
	case 19:
		h.setFramework()
	case 20:
		h.removeFramework()
	case 21:
		h.addTask()
	}
	h.check()
}

// ---- Events ----

func (h *harness) randomNode(name string) NodeSpec {
	c := h.ch
	spec := NodeSpec{Name: name, Allocatable: cpuMem([]int64{500, 1000, 4000, 8000, 16000}[c.intn(5)], []int64{Gi / 2, Gi, 4 * Gi, 16 * Gi}[c.intn(4)])}
	if c.intn(5) == 0 {
		spec.Allocatable[GPU] = int64(1 + c.intn(4))
	}
	if c.intn(3) == 0 {
		spec.UsedByOthers = cpuMem(spec.Allocatable[CPU]*int64(c.intn(5))/4, spec.Allocatable[Memory]*int64(c.intn(5))/4)
	}
	spec.Labels = map[string]string{"zone": []string{"a", "b", "c"}[c.intn(3)]}
	if c.intn(2) == 0 {
		spec.Labels["disk"] = "ssd"
	}
	switch c.intn(6) {
	case 0:
		spec.Taints = []Taint{{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}}
	case 1:
		spec.Taints = []Taint{{Key: "soft", Effect: TaintPreferNoSchedule}}
	case 2:
		spec.Taints = []Taint{{Key: "dedicated", Value: "web", Effect: TaintNoExecute}}
	}
	spec.Unschedulable = c.intn(8) == 0
	if c.intn(3) == 0 {
		spec.MaxPods = int64(1 + c.intn(4))
		spec.PodsByOthers = int64(c.intn(3))
	}
	return spec
}

func (h *harness) randomFramework(id string) FrameworkSpec {
	c := h.ch
	spec := FrameworkSpec{
		ID:         id,
		Role:       []string{"", "a", "a/x", "a/y", "b", "b/z/w"}[c.intn(6)],
		Weight:     []float64{0, 0.5, 1, 2, 3}[c.intn(5)],
		Suppressed: c.intn(8) == 0,
	}
	switch c.intn(8) {
	case 0:
		spec.NodeSelector = &LabelSelector{MatchLabels: map[string]string{"zone": "a"}}
	case 1:
		spec.NodeSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorIn, Values: []string{"a", "b"}}}}
	case 2:
		spec.NodeSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorNotIn, Values: []string{"c"}}}}
	case 3:
		spec.NodeSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "disk", Operator: SelectorExists}}}
	case 4:
		spec.NodeSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "disk", Operator: SelectorDoesNotExist}}}
	}
	switch c.intn(6) {
	case 0:
		spec.Tolerations = []Toleration{{Key: "dedicated", Operator: TolerationExists}}
	case 1:
		spec.Tolerations = []Toleration{{Operator: TolerationExists}}
	case 2:
		spec.Tolerations = []Toleration{{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}}
	}
	if c.intn(3) == 0 {
		spec.Capabilities = []Capability{CapabilityGPUResources}
	}
	if c.intn(4) == 0 {
		spec.Limits = map[ResourceName]int64{CPU: int64(1+c.intn(8)) * 1000}
	}
	if c.intn(6) == 0 {
		if spec.Limits == nil {
			spec.Limits = map[ResourceName]int64{}
		}
		spec.Limits[Memory] = int64(1+c.intn(8)) * Gi
	}
	return spec
}

func (h *harness) setNode() {
	spec := h.randomNode(fmt.Sprintf("n%d", h.ch.intn(12)))
	h.logf("SetNode %+v", spec)
	rescinded, err := h.a.SetNode(spec)
	if err != nil {
		h.fatalf("SetNode: %v", err)
	}
	h.nodes[spec.Name] = spec
	for _, r := range rescinded {
		switch {
		case spec.Unschedulable:
			h.wantCause(r, CauseNodeUnschedulable)
		case r.Cause == CauseNodeIneligible:
			if h.compatible(r.Framework, spec) {
				h.fatalf("rescinded %+v, but %s is still eligible for the node", r, r.Framework)
			}
		default:
			h.wantCause(r, CauseCapacity)
		}
	}
	h.applyRescinded(rescinded)
	h.checkNoOffersOnFullNode(spec.Name)
}

func (h *harness) wantCause(r Rescinded, want RescindCause) {
	h.t.Helper()
	if r.Cause != want {
		h.fatalf("rescinded %+v with cause %v, want %v", r, r.Cause, want)
	}
}

// podsFull reports whether node has no pod slot left by the harness's records.
func (h *harness) podsFull(name string) bool {
	n := h.nodes[name]
	if n.MaxPods == 0 {
		return false
	}
	count := int64(0)
	for _, t := range h.tasks {
		if t.node == name {
			count++
		}
	}
	return count+n.PodsByOthers >= n.MaxPods
}

func (h *harness) checkNoOffersOnFullNode(name string) {
	if _, ok := h.nodes[name]; !ok || !h.podsFull(name) {
		return
	}
	for id, o := range h.offers {
		if _, ok := o.left[name]; ok {
			h.fatalf("offer %d still holds %s, which has no pod slot left", id, name)
		}
	}
}

func (h *harness) removeNode() {
	name, ok := pick(h.ch, h.nodes)
	if !ok {
		return
	}
	h.logf("RemoveNode %s", name)
	lost, rescinded := h.a.RemoveNode(name)
	for _, r := range rescinded {
		h.wantCause(r, CauseNodeUnschedulable)
	}
	h.applyRescinded(rescinded)
	var want []string
	for id, t := range h.tasks {
		if t.node == name {
			want = append(want, id)
			delete(h.tasks, id)
		}
	}
	slices.Sort(want)
	if !slices.Equal(want, lost) {
		h.fatalf("RemoveNode(%s) lost %v, want %v", name, lost, want)
	}
	delete(h.nodes, name)
	for k := range h.filters {
		if k[1] == name {
			delete(h.filters, k)
		}
	}
}

func (h *harness) setFramework() {
	spec := h.randomFramework(fmt.Sprintf("ns/f%d", h.ch.intn(8)))
	h.logf("SetFramework %+v", spec)
	h.applySetFramework(spec)
}

// applySetFramework calls SetFramework and checks what it rescinds: only parts the new spec
// excludes, or that a changed limit is exceeded by, all CauseFrameworkChanged.
func (h *harness) applySetFramework(spec FrameworkSpec) {
	rescinded, err := h.a.SetFramework(spec)
	if err != nil {
		h.fatalf("SetFramework: %v", err)
	}
	if spec.Role == "" {
		spec.Role = DefaultRole
	}
	if spec.Weight == 0 {
		spec.Weight = 1
	}
	fw, existed := h.fws[spec.ID]
	if !existed {
		fw = &hFramework{active: true}
		h.fws[spec.ID] = fw
		h.served[spec.ID] = 0
	} else if fw.spec.Role != spec.Role {
		h.served[spec.ID] = 0 // the sorter forgets a client that moves to another role
	}
	old := fw.spec
	fw.spec = spec
	limitsChanged := !maps.Equal(old.Limits, spec.Limits)
	for _, r := range rescinded {
		h.wantCause(r, CauseFrameworkChanged)
		if r.Framework != spec.ID {
			h.fatalf("SetFramework(%s) rescinded %+v", spec.ID, r)
		}
		if !limitsChanged && h.compatible(spec.ID, h.nodes[r.Node]) {
			h.fatalf("SetFramework(%s) rescinded %+v, which it may still hold", spec.ID, r)
		}
	}
	h.applyRescinded(rescinded)
	if !existed {
		return
	}
	if limitsChanged {
		held := h.held(spec.ID)
		var offered Resources
		for _, o := range h.offers {
			if o.fw == spec.ID {
				for _, left := range o.left {
					offered = offered.Add(left)
				}
			}
		}
		for r, limit := range spec.Limits {
			if held[r] > limit && offered[r] > 0 {
				h.fatalf("%s holds %v over its new limit %v=%d, with %v still offered", spec.ID, held, r, limit, offered)
			}
		}
	}
}

// compatible reports whether fw passes n's selector, taint and GPU rules.
func (h *harness) compatible(fwID string, n NodeSpec) bool {
	fw := h.fws[fwID].spec
	return (n.Allocatable[GPU] == 0 || fw.gpuCapable()) &&
		toleratesAll(fw.Tolerations, n.Taints) && fw.NodeSelector.Matches(n.Labels)
}

func (h *harness) removeFramework() {
	id, ok := pick(h.ch, h.fws)
	if !ok {
		return
	}
	h.logf("RemoveFramework %s", id)
	rescinded := h.a.RemoveFramework(id)
	for _, r := range rescinded {
		h.wantCause(r, CauseOther)
	}
	h.applyRescinded(rescinded)
	for oid, o := range h.offers {
		if o.fw == id {
			h.fatalf("offer %d of removed framework %s left", oid, id)
		}
	}
	delete(h.fws, id)
	delete(h.served, id)
	delete(h.revivedAt, id)
	h.dropFilters(id)
}

func (h *harness) dropFilters(fw string) {
	for k := range h.filters {
		if k[0] == fw {
			delete(h.filters, k)
		}
	}
}

func (h *harness) toggle() {
	id, ok := pick(h.ch, h.fws)
	if !ok {
		return
	}
	fw := h.fws[id]
	if h.ch.intn(2) == 0 {
		fw.active = !fw.active
		h.logf("SetFrameworkActive %s %v", id, fw.active)
		if err := h.a.SetFrameworkActive(id, fw.active); err != nil {
			h.fatalf("SetFrameworkActive: %v", err)
		}
		return
	}
	spec := fw.spec
	spec.Suppressed = !spec.Suppressed
	h.logf("SetFramework %s suppressed=%v", id, spec.Suppressed)
	before := len(h.offers)
	h.applySetFramework(spec)
	if len(h.offers) != before {
		h.fatalf("suppressing or unsuppressing %s rescinded offers", id)
	}
}

func (h *harness) revive() {
	id, ok := pick(h.ch, h.fws)
	if !ok {
		return
	}
	// The framework asked now, or a little earlier (the controller sees the request late).
	at := h.clock.Now().Add(-[]time.Duration{0, 0, 500 * time.Millisecond, 2 * time.Second}[h.ch.intn(4)])
	h.logf("Revive %s at %v", id, at.Format(time.StampMilli))
	if err := h.a.Revive(id, at); err != nil {
		h.fatalf("Revive: %v", err)
	}
	if at = at.Truncate(time.Second); at.After(h.revivedAt[id]) {
		h.revivedAt[id] = at
	}
	h.dropFilters(id)
}

func (h *harness) advance() {
	d := []time.Duration{100 * time.Millisecond, time.Second, 3 * time.Second, 10 * time.Second, time.Hour}[h.ch.intn(5)]
	h.logf("advance %v", d)
	h.clock.Step(d)
}

func (h *harness) launch() {
	id, ok := pick(h.ch, h.offers)
	if !ok {
		return
	}
	o := h.offers[id]
	if len(o.nodes) == 0 {
		return
	}
	node := o.nodes[h.ch.intn(len(o.nodes))]
	left := o.left[node]
	var res Resources
	switch h.ch.intn(4) {
	case 0:
		res = left
	case 1:
		for r := range left {
			res[r] = left[r] / 2
		}
	case 2:
		res = cpuMem(100, 64*Mi).Min(left)
	case 3:
		res = left.Add(cpuMem(1, 0))
	}
	fw := o.fw
	wrong := false
	if other, ok := pick(h.ch, h.fws); ok && other != fw && h.ch.intn(8) == 0 {
		fw, wrong = other, true
	}
	h.taskSeq++
	tid := fmt.Sprintf("t%d", h.taskSeq)
	h.logf("LaunchTask offer=%d %s on %s for %s: %v", id, tid, node, fw, res)
	err := h.a.LaunchTask(id, Task{ID: tid, Framework: fw, Node: node, Resources: res})
	switch {
	case wrong:
		if !errors.Is(err, ErrWrongFramework) {
			h.fatalf("LaunchTask for the wrong framework: %v", err)
		}
	case !res.Fits(left):
		if !errors.Is(err, ErrDoesNotFit) {
			h.fatalf("LaunchTask too big: %v", err)
		}
	case h.podsFull(node):
		if !errors.Is(err, ErrDoesNotFit) {
			h.fatalf("LaunchTask onto a node without a pod slot: %v", err)
		}
	case err != nil:
		h.fatalf("LaunchTask: %v", err)
	default:
		o.left[node] = left.Sub(res)
		h.tasks[tid] = hTask{fw: fw, node: node, res: res}
		if n := h.nodes[node]; n.MaxPods > 0 {
			count := int64(0)
			for _, t := range h.tasks {
				if t.node == node {
					count++
				}
			}
			if count+n.PodsByOthers > n.MaxPods {
				h.fatalf("LaunchTask filled %s past its %d pod slots (%d tasks, %d other pods)", node, n.MaxPods, count, n.PodsByOthers)
			}
		}
	}
}

func (h *harness) addTask() {
	node, ok := pick(h.ch, h.nodes)
	if !ok {
		return
	}
	h.taskSeq++
	t := Task{ID: fmt.Sprintf("t%d", h.taskSeq), Framework: fmt.Sprintf("ns/f%d", h.ch.intn(8)), Node: node, Resources: cpuMem(int64(h.ch.intn(3000)), int64(h.ch.intn(4))*Gi/2)}
	h.logf("AddTask %+v", t)
	rescinded, err := h.a.AddTask(t)
	if err != nil {
		h.fatalf("AddTask: %v", err)
	}
	h.tasks[t.ID] = hTask{fw: t.Framework, node: t.Node, res: t.Resources}
	for _, r := range rescinded {
		h.wantCause(r, CauseCapacity)
	}
	h.applyRescinded(rescinded)
	h.checkNoOffersOnFullNode(t.Node)
}

func (h *harness) finish() {
	id, ok := pick(h.ch, h.tasks)
	if !ok {
		return
	}
	h.logf("FinishTask %s", id)
	if !h.a.FinishTask(id) {
		h.fatalf("FinishTask(%s) = false", id)
	}
	delete(h.tasks, id)
}

func (h *harness) release() {
	id, ok := pick(h.ch, h.offers)
	if !ok {
		return
	}
	refuse := []time.Duration{0, time.Second, 5 * time.Second, time.Hour}[h.ch.intn(4)]
	// Released now, or a little earlier (the controller sees the delete late); the zero time
	// means now.
	var releasedAt time.Time
	if k := h.ch.intn(4); k > 0 {
		releasedAt = h.clock.Now().Add(-[]time.Duration{0, 0, 700 * time.Millisecond, 3 * time.Second}[k])
	}
	h.logf("ReleaseOffer %d refuse=%v releasedAt=%v", id, refuse, releasedAt.Format(time.StampMilli))
	if err := h.a.ReleaseOffer(id, refuse, releasedAt); err != nil {
		h.fatalf("ReleaseOffer: %v", err)
	}
	o := h.offers[id]
	if releasedAt.IsZero() {
		releasedAt = h.clock.Now()
	}
	if refuse > 0 && releasedAt.Truncate(time.Second).After(h.revivedAt[o.fw]) {
		for node, left := range o.left {
			if !left.IsZero() {
				k := [2]string{o.fw, node}
				if until := h.clock.Now().Add(refuse); until.After(h.filters[k]) {
					h.filters[k] = until
				}
			}
		}
	}
	delete(h.offers, id)
}

func (h *harness) rescind() {
	id, ok := pick(h.ch, h.offers)
	if !ok {
		return
	}
	o := h.offers[id]
	if h.ch.intn(2) == 0 || len(o.nodes) == 0 {
		h.logf("RescindOffer %d", id)
		if err := h.a.RescindOffer(id); err != nil {
			h.fatalf("RescindOffer: %v", err)
		}
		delete(h.offers, id)
		return
	}
	node := o.nodes[h.ch.intn(len(o.nodes))]
	h.logf("RescindOfferNode %d %s", id, node)
	r, err := h.a.RescindOfferNode(id, node)
	if err != nil {
		h.fatalf("RescindOfferNode: %v", err)
	}
	h.wantCause(r, CauseOther)
	h.applyRescinded([]Rescinded{r})
}

func (h *harness) applyRescinded(rs []Rescinded) {
	for _, r := range rs {
		o, ok := h.offers[r.Offer]
		if !ok || o.fw != r.Framework {
			h.fatalf("rescinded %+v: no such offer", r)
		}
		if left, ok := o.left[r.Node]; !ok || left != r.Resources {
			h.fatalf("rescinded %+v, but %v was left on %s", r, left, r.Node)
		}
		delete(o.left, r.Node)
		o.nodes = slices.DeleteFunc(o.nodes, func(n string) bool { return n == r.Node })
		if r.OfferGone != (len(o.nodes) == 0) {
			h.fatalf("rescinded %+v with %d nodes left", r, len(o.nodes))
		}
		if r.OfferGone {
			delete(h.offers, r.Offer)
		}
	}
}

// ---- The cycle and the reference ----

type decision struct {
	Node string
	Res  Resources
}

func (h *harness) allocate() {
	now := h.clock.Now()
	var want map[string][]decision
	if h.drf {
		state, err := h.pcg.MarshalBinary()
		if err != nil {
			h.fatalf("%v", err)
		}
		replay := &rand.PCG{}
		if err := replay.UnmarshalBinary(state); err != nil {
			h.fatalf("%v", err)
		}
		want = h.reference(rand.New(replay), now)
	}
	h.logf("Allocate at %v", now.Format(time.TimeOnly))
	offers := h.a.Allocate()
	got := map[string][]decision{}
	gotFws := map[string]bool{}
	for _, o := range offers {
		if _, ok := h.offers[o.ID]; ok {
			h.fatalf("offer ID %d reused", o.ID)
		}
		if h.maxPer > 0 && len(o.Nodes) > h.maxPer {
			h.fatalf("offer %d has %d nodes, bound %d", o.ID, len(o.Nodes), h.maxPer)
		}
		ho := &hOffer{fw: o.Framework, left: map[string]Resources{}}
		for _, p := range o.Nodes {
			if why := h.ineligible(o.Framework, p.Node, now); why != "" {
				h.fatalf("offered %s to %s, which is %s", p.Node, o.Framework, why)
			}
			if !p.Resources.atLeast(DefaultMinAllocatable) {
				h.fatalf("offered %v on %s to %s: below the minimum", p.Resources, p.Node, o.Framework)
			}
			for _, d := range got[o.Framework] {
				if d.Node == p.Node {
					h.fatalf("offered %s to %s twice in one cycle", p.Node, o.Framework)
				}
			}
			got[o.Framework] = append(got[o.Framework], decision{p.Node, p.Resources})
			ho.nodes = append(ho.nodes, p.Node)
			ho.left[p.Node] = p.Resources
		}
		h.offers[o.ID] = ho
		gotFws[o.Framework] = true
	}
	for id := range gotFws {
		h.served[id]++
	}
	for id := range gotFws {
		fw := h.fws[id]
		held := h.held(id)
		for r, limit := range fw.spec.Limits {
			if held[r] > limit {
				h.fatalf("%s holds %v, over its limit %v=%d", id, held, r, limit)
			}
		}
	}
	if h.drf {
		if diff := gocmp.Diff(want, got, gocmp.Comparer(func(a, b Resources) bool { return a == b })); diff != "" {
			h.fatalf("cycle differs from the reference (-reference +allocator):\n%s", diff)
		}
	}
	h.checkFiltersExact(now)
	h.checkWorkConserving(now)
}

// ineligible says why fw may not be offered node now, by the harness's own records, or "".
func (h *harness) ineligible(fwID, nodeName string, now time.Time) string {
	fw, ok := h.fws[fwID]
	switch {
	case !ok:
		return "unknown"
	case !fw.active:
		return "inactive"
	case fw.spec.Suppressed:
		return "suppressed"
	}
	n, ok := h.nodes[nodeName]
	switch {
	case !ok:
		return "an unknown node"
	case n.Unschedulable:
		return "an unschedulable node"
	case now.Before(h.filters[[2]string{fwID, nodeName}]):
		return "filtered"
	case h.podsFull(nodeName):
		return "a node without a pod slot"
	case n.Allocatable[GPU] > 0 && !fw.spec.gpuCapable():
		return "not GPU-capable"
	case !toleratesAll(fw.spec.Tolerations, n.Taints):
		return "intolerant"
	case !fw.spec.NodeSelector.Matches(n.Labels):
		return "not selected"
	}
	return ""
}

func (h *harness) held(fw string) Resources {
	var sum Resources
	for _, t := range h.tasks {
		if t.fw == fw {
			sum = sum.Add(t.res)
		}
	}
	for _, o := range h.offers {
		if o.fw == fw {
			for _, r := range o.left {
				sum = sum.Add(r)
			}
		}
	}
	return sum
}

func (h *harness) nodeUse(node string) (tasks, offered Resources) {
	for _, t := range h.tasks {
		if t.node == node {
			tasks = tasks.Add(t.res)
		}
	}
	for _, o := range h.offers {
		offered = offered.Add(o.left[node])
	}
	return tasks, offered
}

func (h *harness) headroom(fw string, held Resources) Resources {
	room := Resources{unlimited, unlimited, unlimited, unlimited}
	for r, v := range h.fws[fw].spec.Limits {
		room[r] = max(v-held[r], 0)
	}
	return room
}

// reference computes a cycle the slow, obvious way: per node, sort every framework from
// scratch by its path of (share, served, name) keys down the role tree, take the first
// eligible. A framework counts as served once in a cycle, at its first node.
func (h *harness) reference(rng *rand.Rand, now time.Time) map[string][]decision {
	minimum := DefaultMinAllocatable
	held := map[string]Resources{}
	for id := range h.fws {
		held[id] = h.held(id)
	}
	free := map[string]Resources{}
	var pool Resources
	type slotted struct {
		slot int32
		name string
	}
	var perm []slotted
	for name, n := range h.nodes {
		if n.Unschedulable {
			continue
		}
		tasks, offered := h.nodeUse(name)
		free[name] = n.Allocatable.Sub(n.UsedByOthers).Sub(tasks).Sub(offered).ClampZero()
		if h.podsFull(name) {
			free[name] = Resources{}
		}
		pool = pool.Add(n.Allocatable.Sub(n.UsedByOthers).ClampZero())
		perm = append(perm, slotted{h.a.nodeByName[name], name})
	}
	// Who may get anything this cycle, and the nodes one of them may get, in slot order, then
	// shuffled: what the allocator must draw its node order from.
	var base []string
	for id, fw := range h.fws {
		if fw.active && !fw.spec.Suppressed && h.headroom(id, held[id]).atLeast(minimum) {
			base = append(base, id)
		}
	}
	if len(base) == 0 {
		return map[string][]decision{}
	}
	perm = slices.DeleteFunc(perm, func(n slotted) bool {
		return !free[n.name].atLeast(minimum) || !slices.ContainsFunc(base, func(id string) bool { return h.ineligible(id, n.name, now) == "" })
	})
	slices.SortFunc(perm, func(a, b slotted) int { return cmp.Compare(a.slot, b.slot) })
	rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })

	inv := inverse(pool)
	served := maps.Clone(h.served)
	type key struct {
		share  float64
		served int64
		name   string
	}
	sum := func(match func(role string) bool) (Resources, int64) {
		var s Resources
		var n int64
		for id, fw := range h.fws {
			if match(fw.spec.Role) {
				s = s.Add(held[id])
				n += served[id]
			}
		}
		return s, n
	}
	path := func(id string) []key {
		fw := h.fws[id]
		var p []key
		segs := strings.Split(fw.spec.Role, "/")
		for i := range segs {
			role := strings.Join(segs[:i+1], "/")
			r, n := sum(func(r string) bool { return r == role || strings.HasPrefix(r, role+"/") })
			d, _ := dominantShare(r, &inv)
			p = append(p, key{d, n, role})
		}
		r, n := sum(func(r string) bool { return r == fw.spec.Role })
		d, _ := dominantShare(r, &inv)
		p = append(p, key{d, n, fw.spec.Role})
		d, _ = dominantShare(held[id], &inv)
		return append(p, key{d / fw.spec.Weight, served[id], id})
	}
	before := func(x, y string) bool {
		px, py := path(x), path(y)
		for i := range min(len(px), len(py)) {
			if px[i].name == py[i].name {
				continue
			}
			if px[i].share != py[i].share {
				return px[i].share < py[i].share
			}
			if px[i].served != py[i].served {
				return px[i].served < py[i].served
			}
			return px[i].name < py[i].name
		}
		return false
	}

	out := map[string][]decision{}
	for _, n := range perm {
		f := free[n.name]
		if !f.atLeast(minimum) {
			continue
		}
		var cands []string
		for id := range h.fws {
			if h.ineligible(id, n.name, now) == "" {
				cands = append(cands, id)
			}
		}
		for len(cands) > 0 {
			best := 0
			for i := range cands {
				if before(cands[i], cands[best]) {
					best = i
				}
			}
			id := cands[best]
			cands = slices.Delete(cands, best, best+1)
			amount := f
			if len(h.fws[id].spec.Limits) > 0 {
				amount = capToHeadroom(f, h.headroom(id, held[id]))
			}
			if !amount.atLeast(minimum) {
				continue
			}
			if len(out[id]) == 0 {
				served[id]++
			}
			out[id] = append(out[id], decision{n.name, amount})
			held[id] = held[id].Add(amount)
			f = f.Sub(amount)
			if !f.atLeast(minimum) {
				break
			}
		}
	}
	return out
}

// checkWorkConserving: after a cycle, no node has an allocatable amount left that an
// eligible framework could have been offered.
func (h *harness) checkWorkConserving(now time.Time) {
	for name, n := range h.nodes {
		if n.Unschedulable {
			continue
		}
		tasks, offered := h.nodeUse(name)
		free := n.Allocatable.Sub(n.UsedByOthers).Sub(tasks).Sub(offered).ClampZero()
		if !free.atLeast(DefaultMinAllocatable) {
			continue
		}
		for id, fw := range h.fws {
			if h.ineligible(id, name, now) != "" {
				continue
			}
			amount := free
			if len(fw.spec.Limits) > 0 {
				amount = capToHeadroom(free, h.headroom(id, h.held(id)))
			}
			if amount.atLeast(DefaultMinAllocatable) {
				h.fatalf("after the cycle %s still has %v free that %s could get", name, free, id)
			}
		}
	}
}

// checkFiltersExact: right after a cycle has expired filters, the allocator's filter bits
// are exactly the harness's unexpired declines.
func (h *harness) checkFiltersExact(now time.Time) {
	n := 0
	for id := range h.fws {
		for name := range h.nodes {
			want := now.Before(h.filters[[2]string{id, name}])
			got := h.a.row(h.a.filtered, h.a.nodeByName[name]).Has(int(h.a.fwByID[id]))
			if got != want {
				h.fatalf("filter %s on %s = %v, want %v", id, name, got, want)
			}
			if want {
				n++
			}
		}
	}
	if got := h.a.Stats().Filters; got != n {
		h.fatalf("Stats().Filters = %d, want %d", got, n)
	}
}

// check compares the allocator with the harness after every event.
// poolFreeDrift reports how a.poolFree differs from the sum it keeps current, or "".
func poolFreeDrift(a *Allocator) string {
	var sum Resources
	for s := a.poolSlots.Next(0); s >= 0; s = a.poolSlots.Next(s + 1) {
		sum = sum.Add(a.free[s])
	}
	if sum != a.poolFree {
		return fmt.Sprintf("poolFree %v, the pool's nodes have %v free", a.poolFree, sum)
	}
	return ""
}

func (h *harness) check() {
	if d := poolFreeDrift(h.a); d != "" {
		h.fatalf("%s", d)
	}
	st := h.a.Stats()
	if st.Nodes != len(h.nodes) || st.Frameworks != len(h.fws) || st.Offers != len(h.offers) || st.Tasks != len(h.tasks) {
		h.fatalf("stats %+v; harness has %d nodes, %d frameworks, %d offers, %d tasks", st, len(h.nodes), len(h.fws), len(h.offers), len(h.tasks))
	}
	var pool Resources
	for name, spec := range h.nodes {
		tasks, offered := h.nodeUse(name)
		slot, ok := h.a.nodeByName[name]
		if !ok {
			h.fatalf("node %s missing", name)
		}
		n := h.a.nodes[slot]
		if n.tasks != tasks || n.offered != offered {
			h.fatalf("node %s: allocator charges tasks %v, offers %v; harness %v, %v", name, n.tasks, n.offered, tasks, offered)
		}
		if h.a.free[slot] != n.free() {
			h.fatalf("node %s: cached free %v, computed %v", name, h.a.free[slot], n.free())
		}
		// Invariant 1: offers never overcommit a node. (Other pods or restored tasks may
		// overcommit it by themselves; then no offer may add to it.)
		base := spec.UsedByOthers.Add(tasks)
		if base.Fits(spec.Allocatable) && !base.Add(offered).Fits(spec.Allocatable) {
			h.fatalf("node %s overcommitted: others %v + tasks %v + offers %v > %v", name, spec.UsedByOthers, tasks, offered, spec.Allocatable)
		}
		for r := range offered {
			if offered[r] > 0 && base[r]+offered[r] > spec.Allocatable[r] {
				h.fatalf("node %s: %v offered on top of overcommitted %v", name, ResourceName(r), base)
			}
		}
		if !spec.Unschedulable {
			pool = pool.Add(spec.Allocatable.Sub(spec.UsedByOthers).ClampZero())
		} else if offered != (Resources{}) {
			h.fatalf("offers on unschedulable node %s", name)
		}
	}
	if st.Pool != pool {
		h.fatalf("pool %v, want %v", st.Pool, pool)
	}
	for id := range h.fws {
		s, ok := h.a.FrameworkShare(id)
		var tasks Resources
		for _, t := range h.tasks {
			if t.fw == id {
				tasks = tasks.Add(t.res)
			}
		}
		if !ok || s.Allocated != tasks || s.Allocated.Add(s.Offered) != h.held(id) {
			h.fatalf("share of %s = %+v, %v; want tasks %v, held %v", id, s, ok, tasks, h.held(id))
		}
	}
	for id, o := range h.offers {
		for node := range o.left {
			if n := h.nodes[node]; n.Unschedulable || !h.compatible(o.fw, n) {
				h.fatalf("offer %d of %s still holds %s, which it is no longer eligible for", id, o.fw, node)
			}
		}
		got, ok := h.a.Offer(id)
		if !ok || got.Framework != o.fw || len(got.Nodes) != len(o.nodes) {
			h.fatalf("offer %d = %+v, want %+v", id, got, o)
		}
		for _, p := range got.Nodes {
			if o.left[p.Node] != p.Resources {
				h.fatalf("offer %d on %s has %v left, want %v", id, p.Node, p.Resources, o.left[p.Node])
			}
		}
	}
	// A live decline always shows as a filter bit (expired ones may linger until a cycle).
	for k, until := range h.filters {
		if _, ok := h.fws[k[0]]; !ok || !h.clock.Now().Before(until) {
			continue
		}
		if !h.a.row(h.a.filtered, h.a.nodeByName[k[1]]).Has(int(h.a.fwByID[k[0]])) {
			h.fatalf("live filter %v missing", k)
		}
	}
}

func runHarness(t testing.TB, ch chooser, drf bool, steps int, more func() bool) {
	h := newHarness(t, ch, drf)
	for i := 0; i < steps && more(); i++ {
		h.step()
	}
}

func TestProperties(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for _, drf := range []bool{true, false} {
		for seed := range seeds {
			ch := rngChooser{rand.New(rand.NewPCG(uint64(seed), 42))}
			runHarness(t, ch, drf, 150, func() bool { return !t.Failed() })
		}
	}
}

func FuzzAllocator(f *testing.F) {
	for seed := range uint64(16) {
		b := make([]byte, 64+seed*40)
		_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		drf := data[0]%4 != 0
		ch := &byteChooser{data: data[1:]}
		runHarness(t, ch, drf, 500, func() bool { return len(ch.data) > 0 })
	})
}
