package allocator

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Config configures an Allocator. The zero value is usable.
type Config struct {
	// MinAllocatable is the smallest free amount offered (every named resource must reach
	// it); zero means DefaultMinAllocatable.
	MinAllocatable Resources
	// Clock drives filter expiry and offer times; nil means the wall clock.
	Clock Clock
	// Rand orders the nodes of each cycle; nil means a randomly seeded source. Tests pass a
	// seeded one to replay a cycle.
	Rand *rand.Rand
	// Sorter orders frameworks; nil means NewDRFSorter(). It must be empty and is owned by
	// the allocator from then on.
	Sorter Sorter
	// MaxNodesPerOffer splits a framework's share of a cycle into several offers of at most
	// this many nodes; 0 means DefaultMaxNodesPerOffer, negative means no bound.
	MaxNodesPerOffer int
	// FirstOfferID is the first offer ID handed out (0 means 1). A controller that names
	// Offer objects after IDs should seed it from the wall clock, so a new leader does not
	// reuse the name of an offer deleted before it started.
	FirstOfferID OfferID
}

// Allocator is the model of the pool and the allocation cycle. Its methods are safe for
// concurrent use; each takes one lock, and Allocate holds it for the whole cycle.
type Allocator struct {
	mu               sync.Mutex
	clock            Clock
	rng              *rand.Rand
	sorter           Sorter
	min              Resources
	maxNodesPerOffer int

	nodes         []*node // by slot; nil is a free slot
	freeNodeSlots []int32
	nodeByName    map[string]int32
	pool          Resources
	// poolSlots holds the slots of the nodes in the pool, and free what each node has free
	// (node.free, kept current by touch), so the cycle reads dense arrays in slot order and
	// touches a node itself only when it offers it: at 20k nodes the node structs no longer
	// fit in cache, and a miss per node was most of a cycle.
	poolSlots Bitset
	free      []Resources
	// poolFree is the sum of free over the pool's nodes, kept current with free (quota
	// headroom needs it every cycle; summing 10,000 nodes was a third of a saturated cycle).
	poolFree Resources

	fws         []*framework // by slot, which is also the sorter Client
	freeFwSlots []int32
	fwByID      map[string]int32

	// words is the length in uint64 of one node's row in filtered and incompatible.
	words int
	// filtered holds, per node slot, the framework slots with a live decline filter on it.
	filtered []uint64
	// incompatible holds, per node slot, the framework slots that may never get it: node
	// selector, taints, GPU rule.
	incompatible []uint64
	filters      filterQueue
	// dupFilters counts, per (framework, node), live filters beyond the first, so that the
	// expiry of one of them does not lift the others. Rare: it needs two offers of the same
	// node to the same framework, both declined.
	dupFilters  map[uint64]int32
	filterCount int

	offers      map[OfferID]*offer
	nextOfferID OfferID
	tasks       map[string]*task

	// seq orders events for filter staleness: a filter batch is void for a framework revived
	// or a node slot reused after it was made.
	seq uint64

	// Scratch reused by every cycle so a cycle that offers nothing allocates nothing.
	perm      []int32
	base      Bitset
	eligible  Bitset
	cycleOpen []int32
	// cycleOpenRev indexes, per framework, its open offer of revocable parts this cycle: a
	// framework may get a node's ordinary part in one offer and the rest revocably in another.
	cycleOpenRev []int32

	// whyLast is what the last cycle found of each framework slot, whyNext what the running
	// one finds (swapped at its end); Why and Explain read whyLast. cycles counts the cycles
	// run, lastCycleAt is when the last one ran, and whyChanged lists the framework slots
	// whose bits changed since WhyChanged last took them.
	whyLast, whyNext whyBits
	cycles           uint64
	lastCycleAt      time.Time
	whyChanged       []int32

	// Quotas (quotas.go): the quota'd roles by path, deepest first, the frameworks under
	// one, the cycle's view of them, the revocable tasks not preempted yet, the preempted
	// ones still charged, and what reclaim took back since TakeReclaim.
	quotas     map[string]*quotaRole
	quotaOrder []*quotaRole
	quotaFws   []int32
	// The quota'd roles' holdings, kept as running sums between cycles (syncQuotaSums): the
	// frameworks whose tasks or offers changed since the last cycle, whether every sum must
	// be taken again (a framework's chain changed or its slot was freed), and what all
	// frameworks hold on revocable resources.
	sumDirty  []int32
	sumStale  bool
	sumRev    Resources
	chainGen  uint64 // counts changes of frameworks' chains and freed slots (frameworksUnder)
	qs        quotaState
	revocable map[string]*task
	// revByNode indexes the revocable tasks not preempted by node slot.
	revByNode map[int32][]*task
	preempted map[string]*task
	// preemptingOn counts the preempted tasks per node slot, and preempting has the slots
	// where it is not zero: those nodes are not offered until their tasks end.
	preemptingOn map[int32]int32
	preempting   Bitset
	// holds is, by node slot, the role a node is held for (quotaNode; role nil: none).
	holds       []nodeHold
	reclaimed   []Rescinded
	preemptions []Preemption
	taskSeq     uint64
	// cycleFirstOffer is the first offer ID of the running cycle, cycleNow its time.
	cycleFirstOffer OfferID
	cycleNow        time.Time
	cycleNano       int64 // cycleNow.UnixNano()
}

type node struct {
	name          string
	slot          int32
	present       bool // false: a placeholder holding tasks reported for an unknown node
	allocatable   Resources
	usedByOthers  Resources
	labels        map[string]string
	taints        []Taint
	unschedulable bool
	maxPods       int64 // 0: no limit
	podsByOthers  int64
	tasks         Resources
	offered       Resources
	taskCount     int
	offers        []OfferID
	addedSeq      uint64
}

func (n *node) inPool() bool { return n.present && !n.unschedulable }

func (n *node) capacity() Resources {
	if !n.inPool() {
		return Resources{}
	}
	return n.allocatable.Sub(n.usedByOthers).ClampZero()
}

// free is what may still be offered on n: nothing once its pod slots are taken.
func (n *node) free() Resources {
	if n.podsFull() {
		return Resources{}
	}
	return n.allocatable.Sub(n.usedByOthers).Sub(n.tasks).Sub(n.offered).ClampZero()
}

// podsFull reports whether n has no pod slot left for another task.
func (n *node) podsFull() bool {
	return n.maxPods > 0 && int64(n.taskCount)+n.podsByOthers >= n.maxPods
}

func (n *node) hasGPU() bool { return n.allocatable[GPU] > 0 }

// touch refreshes the free amount of n after what it holds or offers changed.
func (a *Allocator) touch(n *node) { a.setFree(n.slot, n.free()) }

// setFree sets what node slot has free, keeping poolFree current.
func (a *Allocator) setFree(slot int32, f Resources) {
	if a.poolSlots.Has(int(slot)) {
		a.poolFree = a.poolFree.Sub(a.free[slot]).Add(f)
	}
	a.free[slot] = f
}

type framework struct {
	// The fields every cycle reads for every framework come first, in one word: spread over
	// the struct they were three cache lines per framework, a fifth of a saturated cycle at
	// 10,000 nodes x 1,000 frameworks. suppressed is spec.Suppressed.
	known      bool // SetFramework seen and not removed; only known frameworks are sorted
	active     bool
	hasLimits  bool
	suppressed bool
	whyDirty   bool // queued in Allocator.whyChanged
	slot       int32
	spec       FrameworkSpec
	id         string
	limits     Resources
	tasks      Resources
	offered    Resources
	taskCount  int
	// revivedSeq is Allocator.seq at the last revive; revivedAt is the latest time the
	// framework asked to revive (Revive's at, at 1-second resolution): a decline released no
	// later than that installs no filter.
	revivedSeq uint64
	revivedAt  time.Time
	// setCycle is Allocator.cycles when the framework was added: no cycle has judged it
	// while they are equal.
	setCycle uint64

	// Quotas: the quota'd roles it lies under (deepest first), whether one of them has a
	// limit, whether it takes revocable offers, and what of its tasks and offers is revocable.
	chain            []*quotaRole
	roleLimited      bool
	revocableCapable bool
	revTasks         Resources
	revOffered       Resources
	// What the framework added to its roles' running sums (quotaRole.sumAll, sumHeld) and to
	// Allocator.sumRev when last summed, and whether it changed since (queued in sumDirty).
	sumAll, sumHeld, sumRev Resources
	sumDirty                bool
}

func (f *framework) held() Resources { return f.tasks.Add(f.offered) }

// headroom is what the framework may still be offered under its limits.
func (f *framework) headroom() Resources {
	if !f.hasLimits {
		return Resources{unlimited, unlimited, unlimited, unlimited}
	}
	return f.limits.Sub(f.held()).ClampZero()
}

type offer struct {
	id     OfferID
	fw     int32
	madeAt time.Time
	parts  []offerPart
}

type offerPart struct {
	node       int32
	revocable  bool // lent from the headroom of unmet guarantees
	guaranteed bool // made in the guarantee stage, for a role below its guarantee
	remaining  Resources
}

type task struct {
	id           string
	fw           int32
	nd           int32
	res          Resources
	revocable    bool
	preemptedFor string // with a.preempted: the role it is being killed for
	seq          uint64 // launch order, for "youngest first"
}

// New returns an empty allocator.
func New(cfg Config) *Allocator {
	a := &Allocator{
		clock:            cfg.Clock,
		rng:              cfg.Rand,
		sorter:           cfg.Sorter,
		min:              cfg.MinAllocatable,
		maxNodesPerOffer: cfg.MaxNodesPerOffer,
		nodeByName:       map[string]int32{},
		fwByID:           map[string]int32{},
		dupFilters:       map[uint64]int32{},
		offers:           map[OfferID]*offer{},
		tasks:            map[string]*task{},
		quotas:           map[string]*quotaRole{},
		revocable:        map[string]*task{},
		revByNode:        map[int32][]*task{},
		preempted:        map[string]*task{},
		preemptingOn:     map[int32]int32{},
		nextOfferID:      max(cfg.FirstOfferID, 1),
		words:            1,
	}
	if a.clock == nil {
		a.clock = realClock{}
	}
	if a.rng == nil {
		a.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if a.sorter == nil {
		a.sorter = NewDRFSorter()
	}
	if a.min.IsZero() {
		a.min = DefaultMinAllocatable
	}
	if a.maxNodesPerOffer == 0 {
		a.maxNodesPerOffer = DefaultMaxNodesPerOffer
	}
	a.base = make(Bitset, a.words)
	a.eligible = make(Bitset, a.words)
	a.whyLast, a.whyNext = newWhyBits(a.words), newWhyBits(a.words)
	a.qs.needy, a.qs.stage = make(Bitset, a.words), make(Bitset, a.words)
	return a
}

func (a *Allocator) row(bits []uint64, slot int32) Bitset {
	off := int(slot) * a.words
	return Bitset(bits[off : off+a.words : off+a.words])
}

// ensureFrameworkSlot widens every node row when the framework slots outgrow it.
func (a *Allocator) ensureFrameworkSlot(slot int32) {
	if int(slot) < a.words*64 {
		return
	}
	w := max(2*a.words, wordsFor(int(slot)+1))
	widen := func(old []uint64) []uint64 {
		nw := make([]uint64, len(a.nodes)*w)
		for i := range a.nodes {
			copy(nw[i*w:], old[i*a.words:(i+1)*a.words])
		}
		return nw
	}
	a.filtered, a.incompatible = widen(a.filtered), widen(a.incompatible)
	a.words = w
	a.base = make(Bitset, w)
	a.eligible = make(Bitset, w)
	a.whyLast, a.whyNext = a.whyLast.widen(w), newWhyBits(w)
	a.qs.needy, a.qs.stage = make(Bitset, w), make(Bitset, w)
}
