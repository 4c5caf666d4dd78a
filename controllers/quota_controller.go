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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// quotaStatusInterval is how often a RoleQuota's status is refreshed while nothing else
// reconciles it: what its role holds moves with every task, and a write per change would
// cost the API server one write per task per quota.
const quotaStatusInterval = 5 * time.Second

type quotaReconciler struct{ c *Controller }

func (c *Controller) setupQuotas(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("rolequota").
		For(&agorav1alpha1.RoleQuota{}).
		WatchesRawSource(c.quotaQueue.source()).
		Complete(&quotaReconciler{c})
}

// quotaName is the name of the RoleQuota of role: the role with each / replaced by a dot.
func quotaName(role string) string { return strings.ReplaceAll(role, "/", ".") }

// allocatorQuota turns a RoleQuota into what the allocator needs.
func allocatorQuota(q *agorav1alpha1.RoleQuota) allocator.Quota {
	out := allocator.Quota{Role: q.Spec.Role, Weight: 1, Limit: limitMap(q.Spec.Limit)}
	out.Guarantee, _ = toResources(q.Spec.Guarantee)
	if q.Spec.Weight != nil {
		out.Weight = q.Spec.Weight.AsApproximateFloat64()
	}
	return out
}

// setQuota puts a RoleQuota into the allocator when it changed. Call with mu held.
func (c *Controller) setQuota(q *agorav1alpha1.RoleQuota) error {
	want := allocatorQuota(q)
	if old, ok := c.m.quotas[q.Name]; ok && equality.Semantic.DeepEqual(old, want) {
		return nil
	}
	if old, ok := c.m.quotas[q.Name]; ok && old.Role != want.Role {
		c.m.alloc.RemoveQuota(old.Role)
	}
	if err := c.m.alloc.SetQuota(want); err != nil {
		delete(c.m.quotas, q.Name)
		c.m.alloc.RemoveQuota(want.Role)
		return err
	}
	c.m.quotas[q.Name] = want
	c.m.changed = true
	return nil
}

// removeQuota forgets a deleted RoleQuota. Call with mu held.
func (c *Controller) removeQuota(name string) {
	if old, ok := c.m.quotas[name]; ok {
		c.m.alloc.RemoveQuota(old.Role)
		delete(c.m.quotas, name)
		c.m.changed = true
	}
}

func (r *quotaReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := r.c
	if err := c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	q := &agorav1alpha1.RoleQuota{}
	if err := c.cache.Get(ctx, req.NamespacedName, q); err != nil {
		if !isNotFound(err) {
			return ctrl.Result{}, err
		}
		c.m.mu.Lock()
		c.removeQuota(req.Name)
		c.m.mu.Unlock()
		return ctrl.Result{}, nil
	}
	var all agorav1alpha1.RoleQuotaList
	if err := c.cache.List(ctx, &all); err != nil {
		return ctrl.Result{}, err
	}
	c.m.mu.Lock()
	setErr := c.setQuota(q)
	usage, known := c.m.alloc.Quotas()[q.Spec.Role]
	pool := c.m.alloc.Pool()
	unwritten := c.m.preemptionsUnwritten[q.Spec.Role]
	c.m.mu.Unlock()
	if setErr != nil {
		// The API's validation keeps this from happening; say so on the object if it does.
		c.recorder.Eventf(q, nil, corev1.EventTypeWarning, "Invalid", "SetQuota", "quota not applied: %v", setErr)
		log.FromContext(ctx).Error(setErr, "quota not applied", "rolequota", q.Name)
	}
	if unwritten > 0 {
		// Add to what the API holds, not to a cache that may not show the last write yet;
		// the write is conditional on that version, so no increment is lost or counted twice
		// (a failover loses the increments not written yet: the count is a lower bound).
		if err := c.reader.Get(ctx, req.NamespacedName, q); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	st := quotaStatus(q, usage, known && setErr == nil, pool, all.Items)
	st.Preemptions = q.Status.Preemptions + unwritten
	if equality.Semantic.DeepEqual(st, q.Status) {
		return ctrl.Result{RequeueAfter: quotaStatusInterval}, nil
	}
	patch := client.MergeFromWithOptions(q.DeepCopy(), client.MergeFromWithOptimisticLock{})
	q.Status = st
	if err := c.client.Status().Patch(ctx, q, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if unwritten > 0 {
		c.m.mu.Lock()
		c.m.preemptionsUnwritten[q.Spec.Role] -= unwritten
		c.m.mu.Unlock()
	}
	return ctrl.Result{RequeueAfter: quotaStatusInterval}, nil
}

// quotaStatus is what a RoleQuota's status should say: what its role's subtree holds, whether
// it holds its guarantee, and whether the guarantees fit (the top-level roles' in the pool, its
// children's in its own). Conditions keep their transition times when unchanged.
func quotaStatus(q *agorav1alpha1.RoleQuota, u allocator.RoleUsage, known bool, pool allocator.Resources, all []agorav1alpha1.RoleQuota) agorav1alpha1.RoleQuotaStatus {
	st := agorav1alpha1.RoleQuotaStatus{
		ObservedGeneration: q.Generation,
		Conditions:         append([]metav1.Condition(nil), q.Status.Conditions...),
		Allocated:          toResourceList(u.Allocated),
		Offered:            toResourceList(u.Offered),
		Revocable:          toResourceList(u.Revocable),
	}
	guarantee, _ := toResources(q.Spec.Guarantee)
	sat := metav1.Condition{Type: agorav1alpha1.RoleQuotaConditionSatisfied, ObservedGeneration: q.Generation}
	held := u.Allocated.Add(u.Offered)
	switch {
	case !known:
		sat.Status, sat.Reason = metav1.ConditionUnknown, agorav1alpha1.ReasonBelowGuarantee
		sat.Message = "the quota is not applied yet"
	case guarantee.IsZero():
		sat.Status, sat.Reason = metav1.ConditionTrue, agorav1alpha1.ReasonNoGuarantee
		sat.Message = "no guarantee: the quota sets a limit or a weight only"
	case u.Satisfied():
		sat.Status, sat.Reason = metav1.ConditionTrue, agorav1alpha1.ReasonGuaranteeMet
		sat.Message = fmt.Sprintf("role %s holds %v (tasks and offers) of its guaranteed %v", q.Spec.Role, held, guarantee)
	case u.Wanting:
		sat.Status, sat.Reason = metav1.ConditionFalse, agorav1alpha1.ReasonBelowGuarantee
		sat.Message = fmt.Sprintf("role %s holds %v of its guaranteed %v and its frameworks want offers: it is offered free resources first", q.Spec.Role, held, guarantee)
		if !u.Pending.IsZero() {
			sat.Message += fmt.Sprintf("; %v of preempted revocable tasks is on its way back to it", u.Pending)
		}
	default:
		sat.Status, sat.Reason = metav1.ConditionFalse, agorav1alpha1.ReasonIdle
		sat.Message = fmt.Sprintf("role %s holds %v of its guaranteed %v, but none of its frameworks wants offers: the %v it lacks is held back, lent to others only as revocable resources", q.Spec.Role, held, guarantee, u.Unmet)
	}
	meta.SetStatusCondition(&st.Conditions, sat)
	meta.SetStatusCondition(&st.Conditions, fitsCondition(q, pool, all))
	return st
}

// fitsCondition says whether the guarantees can all be met: a top-level role's with the other
// top-level roles' in the pool, and the guarantees of its children in its own.
func fitsCondition(q *agorav1alpha1.RoleQuota, pool allocator.Resources, all []agorav1alpha1.RoleQuota) metav1.Condition {
	roles := map[string]allocator.Resources{}
	for i := range all {
		roles[all[i].Spec.Role], _ = toResources(all[i].Spec.Guarantee)
	}
	parentOf := func(role string) (string, bool) {
		for p := role; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return "", false
			}
			p = p[:i]
			if _, ok := roles[p]; ok {
				return p, true
			}
		}
	}
	var top, children allocator.Resources
	var childNames []string
	for role, g := range roles {
		p, nested := parentOf(role)
		switch {
		case !nested:
			top = top.Add(g)
		case p == q.Spec.Role:
			children = children.Add(g)
			childNames = append(childNames, role)
		}
	}
	own := roles[q.Spec.Role]
	c := metav1.Condition{Type: agorav1alpha1.RoleQuotaConditionFits, ObservedGeneration: q.Generation,
		Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonFits, Message: "the guarantees fit"}
	if _, nested := parentOf(q.Spec.Role); !nested && !top.Fits(pool) {
		c.Status, c.Reason = metav1.ConditionFalse, agorav1alpha1.ReasonGuaranteesExceedPool
		c.Message = fmt.Sprintf("the top-level roles' guarantees add up to %v, more than the pool's %v: not all can be met at once. A role below its guarantee is offered what is free first and takes back revocable resources, never ordinary tasks; lower the guarantees or add nodes", top, pool)
		return c
	}
	if !children.Fits(own) {
		c.Status, c.Reason = metav1.ConditionFalse, agorav1alpha1.ReasonGuaranteesExceedParent
		c.Message = fmt.Sprintf("the guarantees of its child roles (%s) add up to %v, more than its own %v: a child's guarantee counts inside its parent's, so the parent holds back at least the children's sum", shortList(childNames), children, own)
	}
	return c
}

// preemption is a revocable task the allocator chose to kill for a role's guarantee.
type preemption struct {
	key       types.NamespacedName
	uid       types.UID
	framework string
	role      string
	resources allocator.Resources
}

// preempt kills the preempted tasks: each gets the condition Preempted (naming the role) and
// status.preemptedFor, then is deleted, so that the executor stops its pod with the pod's
// grace period and reports it Killed with reason Preempted. The allocator keeps charging the
// task, and counts its resources as on their way to the role, until it ends; a restarted
// controller reads status.preemptedFor to do the same, and finishes a kill that was recorded
// but not yet deleted. A write that fails is retried until it lands or the task is gone.
func (c *Controller) preempt(ctx context.Context, kills []preemption) {
	for _, k := range kills {
		go c.preemptRetrying(ctx, k)
	}
}

// preemptRetrying kills one preempted task, retrying what may pass (conflicts, timeouts, an
// API server restarting). A kill the API server refuses for good (invalid, forbidden) is given
// up: the allocator takes the choice back, so that the task's node is offered again and its
// role may reclaim elsewhere.
func (c *Controller) preemptRetrying(ctx context.Context, k preemption) {
	for attempt := 0; ; attempt++ {
		done, err := c.preemptOne(ctx, k)
		if done || ctx.Err() != nil {
			return
		}
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) || attempt >= preemptAttempts {
			log.FromContext(ctx).Error(err, "cannot preempt task; giving up, it stays", "task", k.key, "role", k.role)
			c.m.mu.Lock()
			c.m.alloc.CancelPreemption(string(k.uid))
			c.m.changed = true
			c.m.mu.Unlock()
			return
		}
		log.FromContext(ctx).Error(err, "cannot preempt task; retrying", "task", k.key, "role", k.role)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second)):
		}
	}
}

// preemptAttempts bounds the retries of one kill (about 5 minutes at 5 s apart).
const preemptAttempts = 60

func (c *Controller) preemptOne(ctx context.Context, k preemption) (bool, error) {
	t := &agorav1alpha1.Task{}
	if err := c.reader.Get(ctx, k.key, t); err != nil {
		return isNotFound(err), err
	}
	if t.UID != k.uid || t.Status.Phase.IsTerminal() {
		return true, nil // gone, or ended on its own: its resources come back anyway
	}
	msg := fmt.Sprintf("preempted to raise role %s to its guarantee: the task ran on revocable resources (%v on node %s)", k.role, k.resources, t.Spec.NodeName)
	if t.Status.PreemptedFor == "" {
		t.Status.PreemptedFor = k.role
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: agorav1alpha1.TaskConditionPreempted, Status: metav1.ConditionTrue,
			Reason: agorav1alpha1.ReasonPreempted, Message: msg, ObservedGeneration: t.Generation})
		if err := c.client.Status().Update(ctx, t); err != nil {
			return isNotFound(err), err
		}
		metricTasksPreempted.WithLabelValues(k.role).Inc()
		c.m.mu.Lock()
		c.m.preemptionsUnwritten[k.role]++
		c.m.mu.Unlock()
		c.quotaQueue.add(types.NamespacedName{Name: quotaName(k.role)})
		fw := &agorav1alpha1.Framework{}
		if err := c.cache.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: splitID(k.framework).Name}, fw); err == nil {
			c.recorder.Eventf(fw, t, corev1.EventTypeNormal, agorav1alpha1.ReasonPreempted, "Preempt", "task %s: %s", t.Name, msg)
			c.recorder.Eventf(t, fw, corev1.EventTypeNormal, agorav1alpha1.ReasonPreempted, "Preempt", "%s", msg)
		} else {
			c.recorder.Eventf(t, nil, corev1.EventTypeNormal, agorav1alpha1.ReasonPreempted, "Preempt", "%s", msg)
		}
	}
	if t.DeletionTimestamp.IsZero() {
		uid := t.UID
		if err := c.client.Delete(ctx, t, client.Preconditions{UID: &uid}); err != nil && !isNotFound(err) {
			return false, err
		}
	}
	return true, nil
}
