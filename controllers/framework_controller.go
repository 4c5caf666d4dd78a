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
	"context"
	"fmt"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

type frameworkReconciler struct{ c *Controller }

func (c *Controller) setupFrameworks(mgr ctrl.Manager) error {
	sameName := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
	})
	// Executor and leader-election Leases live in agora-system; they are no Framework's.
	notSystem := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() != SystemNamespace })
	// Task changes reach the framework through c.counts, which enqueues it when its counts move.
	return ctrl.NewControllerManagedBy(mgr).
		Named("framework").
		For(&agorav1alpha1.Framework{}).
		Watches(&coordinationv1.Lease{}, sameName, builder.WithPredicates(notSystem)).
		Watches(&agorav1alpha1.Offer{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.(*agorav1alpha1.Offer).Spec.Framework}}}
		})).
		WatchesRawSource(c.fwQueue.source()).
		Complete(&frameworkReconciler{c})
}

// allocatorSpec turns a Framework into what the allocator needs.
func allocatorSpec(fw *agorav1alpha1.Framework) allocator.FrameworkSpec {
	s := allocator.FrameworkSpec{
		ID:         frameworkID(fw.Namespace, fw.Name),
		Role:       fw.Spec.Role,
		Weight:     1,
		Suppressed: fw.Spec.SuppressOffers,
	}
	if fw.Spec.Weight != nil {
		s.Weight = fw.Spec.Weight.AsApproximateFloat64()
	}
	if sel := fw.Spec.NodeSelector; sel != nil {
		s.NodeSelector = &allocator.LabelSelector{MatchLabels: sel.MatchLabels}
		for _, e := range sel.MatchExpressions {
			s.NodeSelector.MatchExpressions = append(s.NodeSelector.MatchExpressions, allocator.LabelSelectorRequirement{
				Key: e.Key, Operator: allocator.SelectorOperator(e.Operator), Values: e.Values,
			})
		}
	}
	for _, t := range fw.Spec.Tolerations {
		s.Tolerations = append(s.Tolerations, allocator.Toleration{
			Key: t.Key, Operator: allocator.TolerationOperator(t.Operator), Value: t.Value, Effect: allocator.TaintEffect(t.Effect),
		})
	}
	for _, cp := range fw.Spec.Capabilities {
		s.Capabilities = append(s.Capabilities, allocator.Capability(cp))
	}
	s.Limits = limitMap(fw.Spec.Limits)
	return s
}

// limitMap turns a ResourceList of limits into the allocator's, naming only the resources
// the list names (the others are unlimited); nil for none.
func limitMap(rl corev1.ResourceList) map[allocator.ResourceName]int64 {
	if len(rl) == 0 {
		return nil
	}
	out := map[allocator.ResourceName]int64{}
	r, _ := toResources(rl)
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			out[allocator.CPU] = r[allocator.CPU]
		case corev1.ResourceMemory:
			out[allocator.Memory] = r[allocator.Memory]
		case corev1.ResourceEphemeralStorage:
			out[allocator.EphemeralStorage] = r[allocator.EphemeralStorage]
		case GPUResourceName:
			out[allocator.GPU] = q.Value()
		}
	}
	return out
}

// setFramework puts a framework into the allocator, and takes back what it may no longer hold
// under its new rules (limits, nodeSelector, tolerations, capabilities): the offer parts to
// follow are returned. Call with mu held.
func (c *Controller) setFramework(fw *agorav1alpha1.Framework) ([]types.NamespacedName, error) {
	spec := allocatorSpec(fw)
	fs := c.m.frameworks[spec.ID]
	if fs == nil {
		fs = &frameworkState{}
	} else if equality.Semantic.DeepEqual(fs.spec, spec) {
		return nil, nil // a Lease renewal or a status change: nothing new to offer
	}
	rs, err := c.m.alloc.SetFramework(spec)
	if err != nil {
		return nil, err
	}
	fs.spec = spec
	fs.why = nil // explained again for the new spec: its bits in the cycle may not change
	fs.offerTimeout = 0
	if fw.Spec.OfferTimeout != nil {
		fs.offerTimeout = fw.Spec.OfferTimeout.Duration
	}
	c.m.frameworks[spec.ID] = fs
	c.m.changed = true
	return c.m.applyRescinded(rs, agorav1alpha1.ReasonFrameworkChanged), nil
}

// setFrameworkActive tells the allocator whether the framework is live. Call with mu held.
func (c *Controller) setFrameworkActive(id string, active bool) {
	fs := c.m.frameworks[id]
	if fs == nil || (fs.activeKnown && fs.active == active) {
		return
	}
	if err := c.m.alloc.SetFrameworkActive(id, active); err == nil {
		fs.active, fs.activeKnown = active, true
		c.m.changed = true
	}
}

// rescindFrameworkOffers takes back every outstanding offer of a framework. Call with mu held.
func (c *Controller) rescindFrameworkOffers(id, reason string) []types.NamespacedName {
	return c.rescindFrameworkOffersExcept(id, reason, nil)
}

// rescindFrameworkOffersExcept is rescindFrameworkOffers sparing the offers in keep. Call with mu
// held.
func (c *Controller) rescindFrameworkOffersExcept(id, reason string, keep map[types.NamespacedName]bool) []types.NamespacedName {
	var out []types.NamespacedName
	for _, st := range c.m.byID {
		if st.framework != id || keep[st.key] {
			continue
		}
		_ = c.m.alloc.RescindOffer(st.id)
		c.m.forgetOffer(st, reason)
		metricOffersRescinded.WithLabelValues(reason).Inc()
		out = append(out, st.key)
	}
	return out
}

// releasingOffers returns the outstanding offers of a framework that the framework already
// released (deleted). SUPPRESS or a stale Lease does not rescind those: their release admits the
// tasks created before the delete, as the framework meant when it answered ("launch these, then
// decline", and suppress right after, is the usual last step). The API is asked, not the cache:
// the Framework change that brought us here may have overtaken the Offer's delete in the watches.
func (c *Controller) releasingOffers(ctx context.Context, id string) (map[types.NamespacedName]bool, error) {
	var keys []types.NamespacedName
	c.m.mu.Lock()
	for _, st := range c.m.byID {
		if st.framework == id {
			keys = append(keys, st.key)
		}
	}
	c.m.mu.Unlock()
	out := map[types.NamespacedName]bool{}
	for _, k := range keys {
		o := &agorav1alpha1.Offer{}
		if err := c.reader.Get(ctx, k, o); err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		if !o.DeletionTimestamp.IsZero() {
			out[k] = true
		}
	}
	return out, nil
}

// liveness reads the framework's Lease: whether it is active, why, when that may change, since
// when it has been stale, and its holder (the framework instance). Freshness is judged by when
// this controller observed the Lease's last renewal, never by the framework host's clock.
func (c *Controller) liveness(ctx context.Context, fw *agorav1alpha1.Framework, now time.Time) (l frameworkLiveness, err error) {
	lease := &coordinationv1.Lease{}
	if err := c.cache.Get(ctx, client.ObjectKeyFromObject(fw), lease); err != nil {
		if isNotFound(err) {
			return frameworkLiveness{active: true, reason: agorav1alpha1.ReasonNoLease}, nil
		}
		return l, err
	}
	c.leases.observe(lease) // the informer's handler may not have run yet
	expiry, holder, ok := c.leases.expiry(client.ObjectKeyFromObject(fw))
	l.holder = holder
	if ok && now.Before(expiry) {
		l.active, l.reason, l.next = true, agorav1alpha1.ReasonLeaseRenewed, expiry.Sub(now)
		return l, nil
	}
	if !ok {
		expiry = now
	}
	l.reason, l.staleSince = agorav1alpha1.ReasonLeaseExpired, expiry
	return l, nil
}

// frameworkLiveness is what a framework's Lease says.
type frameworkLiveness struct {
	active     bool
	reason     string
	next       time.Duration
	staleSince time.Time
	holder     string
}

func (r *frameworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := r.c
	if err := c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	id := frameworkID(req.Namespace, req.Name)
	fw := &agorav1alpha1.Framework{}
	if err := c.cache.Get(ctx, req.NamespacedName, fw); err != nil {
		if !isNotFound(err) {
			return ctrl.Result{}, err
		}
		c.removeFramework(id)
		c.statusMu.Lock()
		delete(c.lastStatusWrite, req.NamespacedName)
		c.statusMu.Unlock()
		return ctrl.Result{}, nil
	}
	if !fw.DeletionTimestamp.IsZero() {
		return c.teardown(ctx, fw)
	}
	if !controllerutil.ContainsFinalizer(fw, agorav1alpha1.FrameworkFinalizer) {
		patch := client.MergeFrom(fw.DeepCopy())
		controllerutil.AddFinalizer(fw, agorav1alpha1.FrameworkFinalizer)
		if err := c.client.Patch(ctx, fw, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	now := c.clock.Now()
	lv, err := c.liveness(ctx, fw, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	active, activeReason, next, staleSince := lv.active, lv.reason, lv.next, lv.staleSince
	var result ctrl.Result
	if next > 0 {
		result.RequeueAfter = next + 10*time.Millisecond
	}
	failedOver := false
	if !active && fw.Spec.FailoverTimeout != nil {
		killAt := staleSince.Add(fw.Spec.FailoverTimeout.Duration)
		if now.Before(killAt) {
			result.RequeueAfter = killAt.Sub(now) + 10*time.Millisecond
		} else {
			failedOver = true
			activeReason = agorav1alpha1.ReasonFailoverTimeoutExceeded
		}
	}

	m := c.m
	var releasing map[types.NamespacedName]bool
	if !active {
		if releasing, err = c.releasingOffers(ctx, id); err != nil {
			return ctrl.Result{}, err
		}
	}
	m.mu.Lock()
	var follow []types.NamespacedName
	// SUPPRESS stops new offers only (as in Mesos): outstanding offers stay usable, so "launch,
	// then suppress" never drops a launch.
	follow, setErr := c.setFramework(fw)
	if setErr == nil {
		c.setFrameworkActive(id, active)
		if !active {
			follow = append(follow, c.rescindFrameworkOffersExcept(id, agorav1alpha1.ReasonFrameworkInactive, releasing)...)
		}
		// A new instance took the Lease over: what was offered to the earlier one is taken
		// back, and offers are made to the new one from now on.
		if fs := m.frameworks[id]; fs.instance != lv.holder {
			if fs.instance != "" {
				follow = append(follow, c.rescindFrameworkOffers(id, agorav1alpha1.ReasonFrameworkFailedOver)...)
			}
			fs.instance = lv.holder
		}
		if fw.Spec.RevivedAt != nil && (fw.Status.ObservedRevivedAt == nil || fw.Spec.RevivedAt.After(fw.Status.ObservedRevivedAt.Time)) {
			_ = m.alloc.Revive(id, fw.Spec.RevivedAt.Time)
			m.changed = true
			if fs := m.frameworks[id]; fs != nil {
				fs.why = nil // its filters are gone: "Declined" must not stay
			}
		}
	}
	m.mu.Unlock()
	c.enqueueOffers(follow...)

	if failedOver {
		if err := c.killTasks(ctx, fw, agorav1alpha1.ReasonFailoverTimeout); err != nil {
			return ctrl.Result{}, err
		}
	}

	status := fw.Status.DeepCopy()
	status.ObservedGeneration = fw.Generation
	if fw.Spec.RevivedAt != nil && setErr == nil {
		status.ObservedRevivedAt = fw.Spec.RevivedAt.DeepCopy()
	}
	activeStatus := metav1.ConditionTrue
	if !active {
		activeStatus = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: agorav1alpha1.FrameworkConditionActive, Status: activeStatus, Reason: activeReason, Message: activeMessage(activeReason, fw), ObservedGeneration: fw.Generation})
	c.fillUsage(fw, status)
	ready := metav1.Condition{Type: agorav1alpha1.FrameworkConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: fw.Generation}
	status.Why = nil
	switch {
	case setErr != nil:
		ready.Reason, ready.Message = agorav1alpha1.ReasonInvalid, setErr.Error()
	case !active:
		ready.Reason, ready.Message = agorav1alpha1.ReasonInactive, "the framework is not Active, so it gets no offers"
	case fw.Spec.SuppressOffers:
		ready.Reason, ready.Message = agorav1alpha1.ReasonSuppressed, "spec.suppressOffers is true; set it to false to receive offers again"
	default:
		var explained bool
		ready, status.Why, explained = c.offerReadiness(fw, status.OutstandingOffers)
		if explained && (result.RequeueAfter == 0 || whyRefresh < result.RequeueAfter) {
			// A change of the cycle's outcome for the framework (offered or not, eligible or
			// not) re-queues it at once. A change of cause within "not offered" (its nodes go
			// from offered to others to full, a node is cordoned, room seen here goes to
			// another framework) and the counts do not: they are explained again this often.
			result.RequeueAfter = whyRefresh
		}
	}
	meta.SetStatusCondition(&status.Conditions, ready)
	setReadyMetric(req.NamespacedName, ready.Reason)
	if equality.Semantic.DeepEqual(&fw.Status, status) {
		return result, nil
	}
	// Usage (shares, resources, counts) moves with every task and offer; it is written at most
	// once per allocation interval per framework, so a framework's status costs O(1) writes a
	// second however many tasks it launches. Conditions and observed fields are written at once.
	if wait := c.statusWait(req.NamespacedName, now); wait > 0 && usageOnly(&fw.Status, status) {
		if result.RequeueAfter == 0 || wait < result.RequeueAfter {
			result.RequeueAfter = wait
		}
		return result, nil
	}
	fw = fw.DeepCopy()
	fw.Status = *status
	if err := c.client.Status().Update(ctx, fw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	c.statusMu.Lock()
	c.lastStatusWrite[req.NamespacedName] = c.clock.Now()
	c.statusMu.Unlock()
	return result, nil
}

// statusWait is how long the framework's usage must wait before its next status write.
func (c *Controller) statusWait(key types.NamespacedName, now time.Time) time.Duration {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	last, ok := c.lastStatusWrite[key]
	if !ok {
		return 0
	}
	return max(last.Add(c.opts.AllocationInterval).Sub(now), 0)
}

// usageOnly reports whether two Framework statuses differ only in the usage fields: shares,
// resources and counts, and the Ready condition and status.why while they follow the
// allocation cycles (a framework in contention may go from WaitingForShare to
// ReceivingOffers and back every cycle). A Ready change caused by the spec or liveness
// (Suppressed, Inactive, Invalid) is written at once.
func usageOnly(a, b *agorav1alpha1.FrameworkStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	for _, s := range []*agorav1alpha1.FrameworkStatus{x, y} {
		s.DominantShare, s.DominantResource, s.Allocated, s.Offered = "", "", nil, nil
		s.OutstandingOffers, s.Tasks = 0, agorav1alpha1.TaskCounts{}
		s.Why = nil
		if r := meta.FindStatusCondition(s.Conditions, agorav1alpha1.FrameworkConditionReady); r != nil && cycleReason(r.Reason) {
			meta.RemoveStatusCondition(&s.Conditions, agorav1alpha1.FrameworkConditionReady)
		}
	}
	return equality.Semantic.DeepEqual(x, y)
}

// cycleReason reports whether a Ready reason comes from the allocation cycle.
func cycleReason(reason string) bool {
	switch reason {
	case agorav1alpha1.ReasonReceivingOffers, agorav1alpha1.ReasonAtLimit, agorav1alpha1.ReasonNoMatchingNodes,
		agorav1alpha1.ReasonDeclined, agorav1alpha1.ReasonPoolFull, agorav1alpha1.ReasonBelowMinAllocatable,
		agorav1alpha1.ReasonWaitingForShare, agorav1alpha1.ReasonAtRoleLimit, agorav1alpha1.ReasonHeldForGuarantees:
		return true
	}
	return false
}

// offerReadiness is the Ready condition and status.why of an active, unsuppressed, valid
// framework, from what the allocator found in its last cycle; explained says the last cycle
// gave it nothing and the reason came from an explanation, which is to be made again.
func (c *Controller) offerReadiness(fw *agorav1alpha1.Framework, outstanding int32) (ready metav1.Condition, why *agorav1alpha1.FrameworkWhy, explained bool) {
	var e allocator.Explanation // not in the allocator yet: no cycle has judged it
	if outstanding == 0 {
		id := frameworkID(fw.Namespace, fw.Name)
		m := c.m
		now := c.clock.Now()
		m.mu.Lock()
		// The detail costs a pass over the nodes and tasks: only for a framework that got
		// nothing, and at most once per change of the cycle's outcome or whyRefresh.
		if w, err := m.alloc.Why(id); err == nil && w != allocator.WhyOffered && w != allocator.WhyNoCycle {
			explained = true
			fs := m.frameworks[id]
			switch {
			case fs != nil && fs.why != nil && now.Sub(fs.whyAt) < whyRefresh*9/10: // the refresh re-queue may come a hair early
				e = *fs.why
			default:
				e, _ = m.alloc.Explain(id)
				if fs != nil {
					fs.why, fs.whyAt = &e, now
				}
			}
		}
		m.mu.Unlock()
	}
	ready, why = readyFromWhy(fw, e, outstanding)
	return ready, why, explained
}

func activeMessage(reason string, fw *agorav1alpha1.Framework) string {
	switch reason {
	case agorav1alpha1.ReasonNoLease:
		return "the framework has no Lease, so it is always active"
	case agorav1alpha1.ReasonLeaseRenewed:
		return fmt.Sprintf("Lease %s/%s is fresh", fw.Namespace, fw.Name)
	case agorav1alpha1.ReasonLeaseExpired:
		return fmt.Sprintf("Lease %s/%s was not renewed in time: offers are rescinded; renew it to receive offers again", fw.Namespace, fw.Name)
	case agorav1alpha1.ReasonFailoverTimeoutExceeded:
		return fmt.Sprintf("Lease %s/%s stayed stale past spec.failoverTimeout: the framework's tasks were killed", fw.Namespace, fw.Name)
	}
	return ""
}

// fillUsage writes shares, resources, offer and task counts into status.
func (c *Controller) fillUsage(fw *agorav1alpha1.Framework, status *agorav1alpha1.FrameworkStatus) {
	id := frameworkID(fw.Namespace, fw.Name)
	m := c.m
	m.mu.Lock()
	share, ok := m.alloc.FrameworkShare(id)
	var outstanding int32
	for _, st := range m.byID {
		if st.framework == id {
			outstanding++
		}
	}
	m.mu.Unlock()
	if ok {
		status.DominantShare = strconv.FormatFloat(share.Weighted, 'f', 4, 64)
		status.DominantResource = ""
		if share.Dominant > 0 {
			status.DominantResource = corev1.ResourceName(share.Resource.String())
			if share.Resource == allocator.GPU {
				status.DominantResource = GPUResourceName
			}
		}
		status.Allocated = toResourceList(share.Allocated)
		status.Offered = toResourceList(share.Offered)
		setShareMetrics(fw.Namespace, fw.Name, share)
	}
	status.OutstandingOffers = outstanding
	status.Tasks = c.counts.get(client.ObjectKeyFromObject(fw))
}

// killTasks deletes the framework's tasks that still hold resources; agora-executor stops
// their pods and reports them Killed.
func (c *Controller) killTasks(ctx context.Context, fw *agorav1alpha1.Framework, reason string) error {
	var tasks agorav1alpha1.TaskList
	if err := c.cache.List(ctx, &tasks, client.InNamespace(fw.Namespace), client.MatchingFields{indexTaskFramework: fw.Name}); err != nil {
		return err
	}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if !t.DeletionTimestamp.IsZero() || t.Status.Phase.IsTerminal() {
			continue
		}
		if err := c.client.Delete(ctx, t); client.IgnoreNotFound(err) != nil {
			return err
		}
		c.recorder.Eventf(t, fw, corev1.EventTypeNormal, reason, "Kill", "killing task %s of framework %s (%s)", t.Name, fw.Name, reason)
	}
	return nil
}

// deleteEndedTasks deletes the framework's tasks that already ended: TEARDOWN removes all of
// them. Garbage collection would take those the SDK made (they name the Framework as owner),
// but not a Task a person created with kubectl, which has no owner and would stay forever.
func (c *Controller) deleteEndedTasks(ctx context.Context, fw *agorav1alpha1.Framework) error {
	var tasks agorav1alpha1.TaskList
	if err := c.cache.List(ctx, &tasks, client.InNamespace(fw.Namespace), client.MatchingFields{indexTaskFramework: fw.Name}); err != nil {
		return err
	}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if !t.DeletionTimestamp.IsZero() || !t.Status.Phase.IsTerminal() {
			continue
		}
		if err := c.client.Delete(ctx, t); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// removeFramework forgets a framework that is gone and rescinds its offers.
func (c *Controller) removeFramework(id string) {
	m := c.m
	m.mu.Lock()
	if m.frameworks[id] == nil {
		m.mu.Unlock()
		return
	}
	delete(m.frameworks, id)
	follow := c.rescindFrameworkOffers(id, agorav1alpha1.ReasonFrameworkInactive)
	m.alloc.RemoveFramework(id)
	m.changed = true
	m.mu.Unlock()
	deleteShareMetrics(splitID(id))
	c.enqueueOffers(follow...)
}

// teardown is TEARDOWN: rescind the offers, kill the tasks, delete those that already ended, and
// let the Framework go once none of its Offers and Tasks holds resources.
func (c *Controller) teardown(ctx context.Context, fw *agorav1alpha1.Framework) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(fw, agorav1alpha1.FrameworkFinalizer) {
		return ctrl.Result{}, nil
	}
	c.removeFramework(frameworkID(fw.Namespace, fw.Name))
	if err := c.killTasks(ctx, fw, agorav1alpha1.ReasonFrameworkTeardown); err != nil {
		return ctrl.Result{}, err
	}
	if err := c.deleteEndedTasks(ctx, fw); err != nil {
		return ctrl.Result{}, err
	}
	cond := metav1.Condition{Type: agorav1alpha1.FrameworkConditionActive, Status: metav1.ConditionFalse, Reason: agorav1alpha1.ReasonTearingDown, Message: "the Framework is being deleted: its offers are rescinded and its tasks killed", ObservedGeneration: fw.Generation}
	if cur := meta.FindStatusCondition(fw.Status.Conditions, cond.Type); cur == nil || cur.Reason != cond.Reason {
		fw2 := fw.DeepCopy()
		meta.SetStatusCondition(&fw2.Status.Conditions, cond)
		if err := c.client.Status().Update(ctx, fw2); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		fw = fw2
	}
	var offers agorav1alpha1.OfferList
	if err := c.cache.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingFields{indexOfferFw: fw.Name}); err != nil {
		return ctrl.Result{}, err
	}
	var tasks agorav1alpha1.TaskList
	if err := c.cache.List(ctx, &tasks, client.InNamespace(fw.Namespace), client.MatchingFields{indexTaskFramework: fw.Name}); err != nil {
		return ctrl.Result{}, err
	}
	holding := 0
	for i := range tasks.Items {
		if !tasks.Items[i].Status.Phase.IsTerminal() {
			holding++
		}
	}
	if len(offers.Items) > 0 || holding > 0 {
		// The Offer and Task watches bring the framework back here as they go.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	patch := client.MergeFrom(fw.DeepCopy())
	controllerutil.RemoveFinalizer(fw, agorav1alpha1.FrameworkFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(c.client.Patch(ctx, fw, patch))
}
