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

package controllers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/clock"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// GPUResourceName is the extended resource the allocator counts as GPUs.
const GPUResourceName corev1.ResourceName = "nvidia.com/gpu"

// tombstoneTTL is how long the model remembers why an Offer went away, so that a Task naming
// it afterwards is told "expired" or "rescinded" rather than only "not found".
const tombstoneTTL = 10 * time.Minute

// offerState is the model's view of one Offer object the controller made or restored.
type offerState struct {
	key       types.NamespacedName
	id        allocator.OfferID
	framework string // allocator framework ID, namespace/name
	expire    time.Time
	// nodes are the nodes still in the Offer object's spec, with the amount first offered.
	nodes map[string]allocator.Resources
	// rescindedNodes are nodes the allocator took back that the object still lists, by reason.
	rescindedNodes map[string]string
	// gone is the reason the whole offer was taken back, or "" while it is outstanding.
	gone string
	// admitted counts the tasks charged to the offer.
	admitted int32
	// admittedRes is, per node, what tasks took of the offer: written to the Offer's
	// status.admitted before those tasks' admission, so a restart restores exactly the rest.
	admittedRes map[string]allocator.Resources
	// instance is the framework instance (Lease holder) the offer was made to.
	instance string
	// creating is true while the cycle's create of the Offer object is in flight: a reconcile
	// that finds no object then must wait, not conclude the object is gone.
	creating bool
	// unwrittenSince is when the model first took back something the Offer object still shows
	// (a rescind or an expiry not yet written); zero while the object is up to date. Until it is
	// written, what was taken back is not offered again (see rescindsUnwrittenLocked).
	unwrittenSince time.Time
}

// takenBack records that the model took back part of st that the Offer object still shows.
func (st *offerState) takenBack(now time.Time) {
	if st.unwrittenSince.IsZero() {
		st.unwrittenSince = now
	}
}

type tombstone struct {
	reason string
	at     time.Time
}

// taskState is one charged task. Charges are keyed by the Task's UID, never its name: a name
// outlives its objects (a Task deleted and created again under the same name is another task),
// and a reconcile that still sees an earlier incarnation must never free a later one's charge.
type taskState struct {
	key       types.NamespacedName
	framework string // allocator framework ID
	offer     string
	node      string
	// revocable: admitted on a revocable offer slice (status.revocable).
	revocable bool
	// admittedWritten is set once the task's Staging status is in the API server: a reconcile
	// that still finds it pending in a lagging cache must not write it again (with the old
	// resourceVersion, a conflict).
	admittedWritten bool
}

// model is the controller's in-memory state: the allocator plus what the allocator does not
// keep (which Offer object is which offer ID, why offers went away, which tasks it charged).
// Every field, and every call into the allocator, is guarded by mu, so a reconciler sees the
// allocator and the maps agree. Task charges change only through chargeTaskLocked and
// finishTaskLocked, which keep tasks and names in step with the allocator.
type model struct {
	mu     sync.Mutex
	clock  clock.PassiveClock
	alloc  *allocator.Allocator
	offers map[types.NamespacedName]*offerState
	byID   map[allocator.OfferID]*offerState
	gone   map[types.NamespacedName]tombstone
	// tasks are the tasks charged in the allocator, by UID (the allocator's task ID).
	tasks map[types.UID]*taskState
	// names indexes tasks by namespace/name: the UIDs charged under a name (more than one only
	// while an ended incarnation's end has not been seen yet).
	names map[types.NamespacedName][]types.UID
	// lostNodes are nodes removed from the allocator as lost, until they come back.
	lostNodes map[string]bool
	// nodeSpecs are the node specs last given to the allocator: a sync that changes nothing
	// (an executor Lease renewal, most of the time) does not re-arm the cycle.
	nodeSpecs map[string]allocator.NodeSpec
	// nodeAttrs are the attributes each node's Offer slices carry, from its labels.
	nodeAttrs map[string]map[string]string
	// frameworks holds the frameworks known to the allocator, by ID.
	frameworks map[string]*frameworkState
	// quotas are the RoleQuotas given to the allocator, by object name.
	quotas map[string]allocator.Quota
	// preemptionsUnwritten counts, per role, the tasks this controller preempted that its
	// RoleQuota's status.preemptions does not count yet.
	preemptionsUnwritten map[string]int64
	// changed is set by anything that may let a cycle offer something new.
	changed bool
	ready   chan struct{}
	// kick asks the allocation loop for a cycle now (a rescind it waited for was written).
	kick chan struct{}
}

// frameworkState is what the model keeps of a framework beyond the allocator's spec.
type frameworkState struct {
	// instance is the holderIdentity of the framework's Lease as last seen ("" without one):
	// offers are made to this instance, and a change of holder takes back the earlier one's.
	instance string
	// offerTimeout is its spec.offerTimeout (0: the controller's default).
	offerTimeout time.Duration
	// spec is what the allocator was last given, and active whether it was told the framework
	// is live: a reconcile that changes neither does not re-arm the cycle.
	spec                allocator.FrameworkSpec
	active, activeKnown bool
	// why is the allocator's last explanation of why the framework got nothing, and when it
	// was made: Ready is written from it until the cycle's outcome for the framework changes
	// (WhyChanged) or whyRefresh passes, so a reconcile for another reason (a Lease renewal
	// every few seconds) neither walks the pool nor rewrites the status.
	why   *allocator.Explanation
	whyAt time.Time
}

func newModel(a *allocator.Allocator, clk clock.PassiveClock) *model {
	m := &model{clock: clk, ready: make(chan struct{}), kick: make(chan struct{}, 1)}
	m.resetLocked(a)
	return m
}

// reset empties the model onto allocator a, as before a rebuild: what a failed rebuild put in
// it is forgotten. Only before ready is closed: the reconcilers wait for it, so nothing else
// holds what is dropped.
func (m *model) reset(a *allocator.Allocator) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked(a)
}

func (m *model) resetLocked(a *allocator.Allocator) {
	m.alloc = a
	m.offers = map[types.NamespacedName]*offerState{}
	m.byID = map[allocator.OfferID]*offerState{}
	m.gone = map[types.NamespacedName]tombstone{}
	m.tasks = map[types.UID]*taskState{}
	m.names = map[types.NamespacedName][]types.UID{}
	m.lostNodes = map[string]bool{}
	m.nodeSpecs = map[string]allocator.NodeSpec{}
	m.nodeAttrs = map[string]map[string]string{}
	m.frameworks = map[string]*frameworkState{}
	m.quotas = map[string]allocator.Quota{}
	m.preemptionsUnwritten = map[string]int64{}
	m.changed = true
}

// unwrittenHold bounds how long an unwritten rescind holds the cycle back: a write that has not
// succeeded by then (the API server is unreachable, so no Offer could be created either) stops
// blocking new offers, and the controller logs it.
const unwrittenHold = 30 * time.Second

// rescindsUnwrittenLocked reports whether some rescind or expiry is not yet written to its
// Offer. The allocator has already freed what it took back; offering it again before the old
// Offer shows the rescind would put the same resources in two live Offers in the API, which
// every framework and observer reads. Call with mu held.
func (m *model) rescindsUnwrittenLocked(now time.Time) (blocking bool, stale []types.NamespacedName) {
	for key, st := range m.offers {
		if st.unwrittenSince.IsZero() {
			continue
		}
		if now.Sub(st.unwrittenSince) < unwrittenHold {
			blocking = true
		} else {
			stale = append(stale, key)
		}
	}
	return blocking, stale
}

// rescindWritten records that st's Offer object shows what the model took back, and lets a
// cycle that waited for it run now. Call with mu held.
func (m *model) rescindWritten(st *offerState) {
	if st.unwrittenSince.IsZero() {
		return
	}
	st.unwrittenSince = time.Time{}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// chargeTaskLocked records a charge the allocator has just taken for task uid. Call with mu held.
// setNodeLocked gives the allocator a node's spec, unless it is the one it has, and reports
// what it took back. Call with mu held.
func (m *model) setNodeLocked(spec allocator.NodeSpec) ([]allocator.Rescinded, error) {
	if prev, ok := m.nodeSpecs[spec.Name]; ok && equality.Semantic.DeepEqual(prev, spec) {
		return nil, nil
	}
	rs, err := m.alloc.SetNode(spec)
	if err != nil {
		return nil, err
	}
	m.nodeSpecs[spec.Name] = spec
	m.nodeAttrs[spec.Name] = nodeAttributes(spec.Labels)
	m.changed = true
	return rs, nil
}

// removeNodeLocked takes a node out of the allocator, returning the tasks it held and what it
// took back. Call with mu held.
func (m *model) removeNodeLocked(name string) ([]string, []allocator.Rescinded) {
	delete(m.nodeSpecs, name)
	delete(m.nodeAttrs, name)
	m.changed = true
	return m.alloc.RemoveNode(name)
}

func (m *model) chargeTaskLocked(uid types.UID, st *taskState) {
	if _, ok := m.tasks[uid]; !ok {
		m.names[st.key] = append(m.names[st.key], uid)
	}
	m.tasks[uid] = st
}

// finishTaskLocked frees the charge of task uid, if the model holds one, and reports it. Call
// with mu held.
func (m *model) finishTaskLocked(uid types.UID) (*taskState, bool) {
	st, ok := m.tasks[uid]
	if !ok {
		return nil, false
	}
	m.alloc.FinishTask(string(uid))
	m.forgetTaskLocked(uid, st)
	m.changed = true
	return st, true
}

// forgetTaskLocked drops the model's record of a charge the allocator no longer holds (its node
// was removed). Call with mu held.
func (m *model) forgetTaskLocked(uid types.UID, st *taskState) {
	delete(m.tasks, uid)
	uids := slices.DeleteFunc(m.names[st.key], func(u types.UID) bool { return u == uid })
	if len(uids) == 0 {
		delete(m.names, st.key)
	} else {
		m.names[st.key] = uids
	}
}

// chargedUnder returns the UIDs charged under a task name.
func (m *model) chargedUnder(key types.NamespacedName) []types.UID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.names[key])
}

// charged reports whether task uid holds a charge.
func (m *model) charged(uid types.UID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.tasks[uid]
	return ok
}

// applyRescinded records what the allocator took back and returns the Offers whose objects
// must follow. leaving is the reason given when a node left the pool (NodeLost or NodeChanged,
// which only the caller can tell apart); the other causes name themselves. Call with mu held.
func (m *model) applyRescinded(rs []allocator.Rescinded, leaving string) []types.NamespacedName {
	var out []types.NamespacedName
	for _, r := range rs {
		st := m.byID[r.Offer]
		if st == nil {
			continue
		}
		reason := rescindReason(r.Cause, leaving)
		if r.OfferGone {
			m.forgetOffer(st, reason)
		} else {
			st.rescindedNodes[r.Node] = reason
			st.takenBack(m.clock.Now())
		}
		metricOffersRescinded.WithLabelValues(reason).Inc()
		out = append(out, st.key)
	}
	if len(rs) > 0 {
		m.changed = true
	}
	return out
}

// rescindReason names the Offer condition reason of an allocator rescind cause.
func rescindReason(cause allocator.RescindCause, leaving string) string {
	switch cause {
	case allocator.CauseCapacity:
		return agorav1alpha1.ReasonCapacityChanged
	case allocator.CauseNodeIneligible:
		return agorav1alpha1.ReasonNodeChanged
	case allocator.CauseFrameworkChanged:
		return agorav1alpha1.ReasonFrameworkChanged
	case allocator.CausePreempted:
		return agorav1alpha1.ReasonPreempted
	}
	if leaving == "" {
		return agorav1alpha1.ReasonNodeLost
	}
	return leaving
}

// forgetOffer drops an offer the allocator no longer holds; its object, if any, is removed by
// the Offer reconciler, which finds st.gone set. Call with mu held.
func (m *model) forgetOffer(st *offerState, reason string) {
	st.gone = reason
	if reason != agorav1alpha1.ReasonReleased {
		// A released Offer is already being deleted (it shows a deletionTimestamp); a rescinded
		// or expired one still looks outstanding until the Offer reconciler deletes it.
		st.takenBack(m.clock.Now())
	}
	delete(m.byID, st.id)
	m.gone[st.key] = tombstone{reason: reason, at: m.clock.Now()}
	m.changed = true
}

// pruneTombstones forgets old tombstones. Call with mu held.
func (m *model) pruneTombstones(now time.Time) {
	for k, t := range m.gone {
		if now.Sub(t.at) > tombstoneTTL {
			delete(m.gone, k)
		}
	}
}

// frameworkID is the allocator's ID of a Framework.
func frameworkID(namespace, name string) string { return namespace + "/" + name }

func splitID(id string) types.NamespacedName {
	ns, name, _ := strings.Cut(id, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

// offerName names the Offer object of an allocator offer: the framework's name and the offer
// ID, which the allocator hands out increasing from a wall-clock seed, so a name is never
// reused, even by a new leader.
func offerName(framework string, id allocator.OfferID) string {
	suffix := "-" + strconv.FormatUint(uint64(id), 10)
	if len(framework)+len(suffix) > 253 {
		framework = framework[:253-len(suffix)]
	}
	return framework + suffix
}

// offerIDFromName reads the offer ID back from an Offer name made by offerName.
func offerIDFromName(name string) (allocator.OfferID, error) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0, fmt.Errorf("offer name %q has no ID suffix", name)
	}
	id, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("offer name %q has no ID suffix", name)
	}
	return allocator.OfferID(id), nil
}

// ToResources converts a ResourceList into the allocator's units; see toResources.
func ToResources(rl corev1.ResourceList) (allocator.Resources, []string) { return toResources(rl) }

// toResources converts a ResourceList. Names the allocator does not model are returned in
// unknown; a non-zero request of one of them cannot be satisfied by any offer.
func toResources(rl corev1.ResourceList) (r allocator.Resources, unknown []string) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r[allocator.CPU] = q.MilliValue()
		case corev1.ResourceMemory:
			r[allocator.Memory] = q.Value()
		case corev1.ResourceEphemeralStorage:
			r[allocator.EphemeralStorage] = q.Value()
		case GPUResourceName:
			r[allocator.GPU] = q.Value()
		default:
			if !q.IsZero() {
				unknown = append(unknown, string(name))
			}
		}
	}
	return r, unknown
}

// toResourceList converts allocator resources; cpu and memory are always present, the others
// only when non-zero.
func toResourceList(r allocator.Resources) corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(r[allocator.CPU], resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(r[allocator.Memory], resource.BinarySI),
	}
	if r[allocator.EphemeralStorage] != 0 {
		rl[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(r[allocator.EphemeralStorage], resource.BinarySI)
	}
	if r[allocator.GPU] != 0 {
		rl[GPUResourceName] = *resource.NewQuantity(r[allocator.GPU], resource.DecimalSI)
	}
	return rl
}

// podRequests is what a pod asks of its node, counted exactly as kube-scheduler counts it, by
// the upstream helper: containers summed, init containers maxed except restartable (native
// sidecar) ones, which are summed; pod-level spec.resources; overhead; and, with in-place resize,
// the larger of what the spec asks and what the kubelet has allocated.
func podRequests(p *corev1.Pod) allocator.Resources {
	r, _ := toResources(resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{UseStatusResources: true}))
	return r
}

// templateRequests is what a task's pod template asks for (requests, or limits where a
// container sets only limits).
func templateRequests(spec *corev1.PodSpec) allocator.Resources {
	var sum allocator.Resources
	for i := range spec.Containers {
		c := &spec.Containers[i]
		rl := c.Resources.Requests
		if len(rl) == 0 {
			rl = c.Resources.Limits
		}
		r, _ := toResources(rl)
		sum = sum.Add(r)
	}
	return sum
}

// defaultAttributeKeys are the node labels every Offer passes on as attributes.
var defaultAttributeKeys = []string{
	corev1.LabelHostname, corev1.LabelTopologyZone, corev1.LabelTopologyRegion,
	corev1.LabelInstanceTypeStable, corev1.LabelArchStable, corev1.LabelOSStable,
}

// nodeAttributes picks the labels of a node a framework needs to place work: the well-known
// topology labels plus any label under an agora.dev domain, at most 32.
func nodeAttributes(labels map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range defaultAttributeKeys {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	for k, v := range labels {
		if len(out) >= 32 {
			break
		}
		if strings.Contains(k, "agora.dev/") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
