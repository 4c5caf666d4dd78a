package allocator

import (
	"errors"
	"strconv"
	"time"
)

// Clock tells the time. k8s.io/utils/clock.PassiveClock satisfies it; tests inject a fake.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Capability is an opt-in of a framework, as in Mesos FrameworkInfo.Capability.
type Capability string

// CapabilityGPUResources lets a framework receive offers on nodes with GPUs. Frameworks
// without it get nothing from such nodes, so that GPU nodes are not filled up with work that
// leaves their GPUs stranded (Mesos GPU_RESOURCES).
const CapabilityGPUResources Capability = "GPUResources"

// DefaultRole is the role of a framework that names none.
const DefaultRole = "default"

// DefaultMaxNodesPerOffer bounds the node list of one Offer, so one Kubernetes object stays
// far below the API server's size limit.
const DefaultMaxNodesPerOffer = 500

// DefaultMinAllocatable is the smallest free amount worth offering: cpu 10m and memory 32Mi,
// Mesos's MIN_CPUS and MIN_MEM.
var DefaultMinAllocatable = Resources{CPU: 10, Memory: 32 << 20}

// NodeSpec is what the allocator needs to know of a node. The controller builds it from the
// Node object, the Pods other schedulers placed on it, and the executor's Lease.
type NodeSpec struct {
	// Name is the Node name.
	Name string
	// Allocatable is the node's status.allocatable.
	Allocatable Resources
	// UsedByOthers is the sum of the requests of non-terminal pods that are not Agora tasks.
	UsedByOthers Resources
	// Labels are the node's labels, matched against framework node selectors.
	Labels map[string]string
	// Taints are the node's taints, matched against framework tolerations.
	Taints []Taint
	// Unschedulable keeps the node out of the pool while its tasks keep running: not Ready,
	// cordoned, not matching the controller's node selector, executor Lease not fresh. Its
	// capacity leaves the DRF totals, it gets no offers, and its outstanding offers are
	// rescinded. A node that is lost, with its tasks, is removed with RemoveNode instead.
	Unschedulable bool
	// MaxPods is the number of pods the node takes (its "pods" allocatable); 0 means no
	// limit. A node whose pod slots are all taken (Agora tasks plus PodsByOthers) is not
	// offered, however much CPU and memory it has free: a task admitted there could never
	// start.
	MaxPods int64
	// PodsByOthers counts the non-terminal pods on the node that are not Agora tasks
	// charged here (other schedulers' pods, DaemonSets).
	PodsByOthers int64
}

// FrameworkSpec is what the allocator needs to know of a framework (a Framework object's
// spec).
type FrameworkSpec struct {
	// ID names the framework uniquely, e.g. "namespace/name".
	ID string
	// Role is a "/"-separated role path; empty means DefaultRole.
	Role string
	// Weight divides the framework's dominant share; it must be > 0, and 0 means 1.
	Weight float64
	// Suppressed stops new offers to the framework (SUPPRESS).
	Suppressed bool
	// NodeSelector, when set, restricts offers to the nodes it matches.
	NodeSelector *LabelSelector
	// Tolerations let offers come from nodes with matching NoSchedule/NoExecute taints.
	Tolerations []Toleration
	// Capabilities the framework opted into.
	Capabilities []Capability
	// Limits caps what the framework holds (tasks plus outstanding offers) per resource;
	// resources not named are unlimited. Offers are cut down to fit.
	Limits map[ResourceName]int64
}

func (s *FrameworkSpec) gpuCapable() bool {
	for _, c := range s.Capabilities {
		if c == CapabilityGPUResources {
			return true
		}
	}
	return false
}

// Task is a task's charge on a node.
type Task struct {
	// ID names the task uniquely, e.g. "namespace/name".
	ID string
	// Framework is the ID of the framework it is charged to.
	Framework string
	// Node is the name of the node it runs on.
	Node string
	// Resources is what it consumes.
	Resources Resources
	// Revocable: the task runs on revocable resources (LaunchTask sets it from the offer;
	// AddTask takes it from the caller) and may be preempted for a role's guarantee.
	Revocable bool
	// PreemptedFor, for AddTask, names the role a task was already preempted for: it is being
	// killed, and its resources count as being reclaimed for that role until FinishTask.
	PreemptedFor string
}

// OfferID identifies an offer. IDs increase; see Config.FirstOfferID.
type OfferID uint64

// Offer is what one framework was offered in one allocation cycle, node by node.
type Offer struct {
	ID        OfferID
	Framework string
	// MadeAt is the time of the cycle that made the offer.
	MadeAt time.Time
	// Nodes are the offered amounts, or, from Allocator.Offer, what of them is unused yet.
	Nodes []OfferNode
}

// OfferNode is the part of an offer on one node.
type OfferNode struct {
	Node      string
	Resources Resources
	// Revocable: the part lends resources held back for unmet guarantees; tasks launched on
	// it are revocable.
	Revocable bool
}

// Rescinded reports the part of an offer on one node that the allocator took back because
// the node or the framework changed under it. The caller must remove it from the Offer
// object (with a condition saying why: Cause).
type Rescinded struct {
	Offer     OfferID
	Framework string
	Node      string
	// Resources is what was still unused and went back to the pool.
	Resources Resources
	// OfferGone is true when no node is left in the offer: the allocator forgot it.
	OfferGone bool
	// Cause says why the part was taken back.
	Cause RescindCause
}

// RescindCause says why the allocator took back part of an offer. The zero value is not a
// cause: every Rescinded the allocator returns has one of the constants below.
type RescindCause uint8

const (
	// CauseNodeUnschedulable: the node left the pool (NodeSpec.Unschedulable, or RemoveNode).
	CauseNodeUnschedulable RescindCause = iota + 1
	// CauseCapacity: the node's capacity (allocatable − other pods) shrank below what tasks
	// and offers hold on it (the newest offers go first, until the rest fit), or the node has
	// no pod slot left (every offer on it goes).
	CauseCapacity
	// CauseNodeIneligible: the node's labels, taints or GPUs changed, and the framework
	// holding the offer no longer passes its node selector, tolerations or GPU rule there.
	CauseNodeIneligible
	// CauseFrameworkChanged: the framework's spec changed (SetFramework): its node selector,
	// tolerations or capabilities no longer admit the node, or its lowered limits are below
	// what it holds.
	CauseFrameworkChanged
	// CauseOther: an explicit take-back by the caller (RescindOfferNode) or the framework
	// going away (RemoveFramework), whose reason the caller knows better.
	CauseOther
	// CausePreempted: a revocable offer part taken back to raise a role to its guarantee
	// (TakeReclaim).
	CausePreempted
)

var rescindCauseNames = [...]string{
	CauseNodeUnschedulable: "NodeUnschedulable",
	CauseCapacity:          "Capacity",
	CauseNodeIneligible:    "NodeIneligible",
	CauseFrameworkChanged:  "FrameworkChanged",
	CauseOther:             "Other",
	CausePreempted:         "Preempted",
}

// String returns the cause's name without its prefix, e.g. "Capacity".
func (c RescindCause) String() string {
	if c > 0 && int(c) < len(rescindCauseNames) {
		return rescindCauseNames[c]
	}
	return "RescindCause(" + strconv.Itoa(int(c)) + ")"
}

// Share is a dominant share, for Framework status and metrics.
type Share struct {
	// Dominant is max over resources of held/pool capacity (not weighted).
	Dominant float64
	// Weighted is Dominant divided by the weight: what DRF orders by. Roles weigh 1.
	Weighted float64
	// Resource is the resource that reaches the Dominant share.
	Resource ResourceName
	// Allocated is what the tasks hold.
	Allocated Resources
	// Offered is what outstanding offers hold.
	Offered Resources
}

// Stats are counts for metrics.
type Stats struct {
	Nodes, PoolNodes, Frameworks, Offers, Tasks int
	// Filters counts (framework, node) pairs under an unexpired decline filter.
	Filters int
	// Pool is the capacity that shares are measured against.
	Pool Resources
}

// Errors returned by Allocator methods; test with errors.Is.
var (
	ErrInvalid          = errors.New("invalid argument")
	ErrUnknownFramework = errors.New("unknown framework")
	ErrUnknownNode      = errors.New("unknown node")
	ErrUnknownOffer     = errors.New("unknown offer")
	ErrTaskExists       = errors.New("task already exists")
	ErrWrongFramework   = errors.New("offer belongs to another framework")
	ErrNodeNotInOffer   = errors.New("node not in offer")
	ErrDoesNotFit       = errors.New("does not fit")
	// ErrNotEligible: the framework may no longer be offered the node (node selector,
	// tolerations, GPU rule), so it may not launch there either.
	ErrNotEligible = errors.New("framework not eligible for node")
)
