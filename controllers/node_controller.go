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
	"encoding/json"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

type nodeReconciler struct{ c *Controller }

func (c *Controller) setupNodes(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("node").
		For(&corev1.Node{}).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if o.GetNamespace() != SystemNamespace || !strings.HasPrefix(o.GetName(), ExecutorLeasePrefix) {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: strings.TrimPrefix(o.GetName(), ExecutorLeasePrefix)}}}
		})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if n := o.(*corev1.Pod).Spec.NodeName; n != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: n}}}
			}
			return nil
		})).
		Complete(&nodeReconciler{c})
}

func (r *nodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	return r.c.syncNode(ctx, req.Name)
}

// leaseExpiry is when a Lease stops being fresh; ok is false when it was never renewed.
func leaseExpiry(l *coordinationv1.Lease) (time.Time, bool) {
	var renew *metav1.MicroTime
	if l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime
	} else if l.Spec.AcquireTime != nil {
		renew = l.Spec.AcquireTime
	}
	if renew == nil {
		return time.Time{}, false
	}
	d := 15 * time.Second
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return renew.Add(d), true
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// syncNode brings the allocator's view of one node in line with its Node, its executor Lease
// and the foreign pods on it. A node out of the pool keeps its tasks; a lost one (deleted, or
// its Lease stale past NodeLostTimeout) loses them.
func (c *Controller) syncNode(ctx context.Context, name string) (ctrl.Result, error) {
	now := time.Now()
	node := &corev1.Node{}
	err := c.cache.Get(ctx, types.NamespacedName{Name: name}, node)
	if err != nil && !isNotFound(err) {
		return ctrl.Result{}, err
	}
	if isNotFound(err) || !node.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, c.loseNode(ctx, name, "the Node was deleted")
	}
	lease := &coordinationv1.Lease{}
	var leaseFresh, hasLease bool
	var expiry time.Time
	if err := c.cache.Get(ctx, types.NamespacedName{Namespace: SystemNamespace, Name: ExecutorLeasePrefix + name}, lease); err == nil {
		expiry, hasLease = leaseExpiry(lease)
		leaseFresh = hasLease && now.Before(expiry)
	} else if !isNotFound(err) {
		return ctrl.Result{}, err
	}
	var result ctrl.Result
	if hasLease && !leaseFresh {
		lostAt := expiry.Add(c.opts.NodeLostTimeout)
		if !now.Before(lostAt) {
			return ctrl.Result{}, c.loseNode(ctx, name, fmt.Sprintf("its executor Lease %s/%s%s was last renewed at %s and stayed stale past --node-lost-timeout", SystemNamespace, ExecutorLeasePrefix, name, expiry.UTC().Format(time.RFC3339)))
		}
		result.RequeueAfter = lostAt.Sub(now) + 10*time.Millisecond
	} else if leaseFresh {
		result.RequeueAfter = expiry.Sub(now) + 10*time.Millisecond
	}

	var pods corev1.PodList
	if err := c.cache.List(ctx, &pods, client.MatchingFields{indexPodNode: name}); err != nil {
		return ctrl.Result{}, err
	}
	var used allocator.Resources
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Labels[agorav1alpha1.LabelTask] != "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		used = used.Add(podRequests(&p.Spec))
	}
	alloc, _ := toResources(node.Status.Allocatable)
	spec := allocator.NodeSpec{
		Name:         name,
		Allocatable:  alloc,
		UsedByOthers: used,
		Labels:       node.Labels,
		Unschedulable: !nodeReady(node) || node.Spec.Unschedulable || !leaseFresh ||
			!c.opts.NodeSelector.Matches(labels.Set(node.Labels)),
	}
	for _, t := range node.Spec.Taints {
		spec.Taints = append(spec.Taints, allocator.Taint{Key: t.Key, Value: t.Value, Effect: allocator.TaintEffect(t.Effect)})
	}
	m := c.m
	m.mu.Lock()
	delete(m.lostNodes, name)
	rs, err := m.alloc.SetNode(spec)
	follow := m.applyRescinded(rs, agorav1alpha1.ReasonNodeLost)
	m.changed = true
	m.mu.Unlock()
	if err != nil {
		log.FromContext(ctx).Error(err, "node not accepted", "node", name)
		return ctrl.Result{}, nil
	}
	c.enqueueOffers(follow...)
	return result, nil
}

// loseNode removes a lost node from the allocator and marks its tasks Lost.
func (c *Controller) loseNode(ctx context.Context, name, why string) error {
	m := c.m
	m.mu.Lock()
	var lost []string
	var follow []types.NamespacedName
	if !m.lostNodes[name] {
		m.lostNodes[name] = true
		var rs []allocator.Rescinded
		lost, rs = m.alloc.RemoveNode(name)
		follow = m.applyRescinded(rs, agorav1alpha1.ReasonNodeLost)
		for _, id := range lost {
			delete(m.tasks, id)
		}
		m.changed = true
	}
	m.mu.Unlock()
	c.enqueueOffers(follow...)
	if len(lost) > 0 {
		log.FromContext(ctx).Info("node lost", "node", name, "tasks", len(lost), "why", why)
	}
	// Mark every non-terminal admitted task on the node Lost, including any the allocator no
	// longer held (a write that failed before). The node's executor is gone, so nobody else
	// would ever remove its finalizer from the node's terminal tasks: the controller does, or a
	// user's delete of such a Task would never complete.
	var tasks agorav1alpha1.TaskList
	if err := c.cache.List(ctx, &tasks, client.MatchingFields{indexTaskNode: name}); err != nil {
		return err
	}
	fws := map[string]bool{}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Status.Phase == "" {
			continue
		}
		if !t.Status.Phase.IsTerminal() {
			m.mu.Lock()
			_, charged := m.tasks[t.Namespace+"/"+t.Name]
			m.mu.Unlock()
			if charged {
				continue // charged again after the node came back
			}
			msg := fmt.Sprintf("node %s was lost: %s; the task's resources were freed, create a new Task to run it again", name, why)
			written, gone, err := c.writeTaskPhase(ctx, t, agorav1alpha1.TaskLost, agorav1alpha1.ReasonNodeLostTask, msg)
			if err != nil {
				return err
			}
			if gone {
				continue
			}
			metricTasksLost.Inc()
			fws[frameworkID(t.Namespace, t.Status.Framework)] = true
			t = written
		}
		if err := c.dropTaskFinalizer(ctx, t); err != nil {
			return err
		}
	}
	for id := range fws {
		c.enqueueFrameworks(id)
	}
	return nil
}

// dropTaskFinalizer removes agora-executor's finalizer from a terminal Task whose node is lost.
// Like the executor, it sends a merge patch of metadata.finalizers guarded by the Task's
// resourceVersion, never a whole-object update (a Task written by kubectl does not survive a
// round trip through the Go types unchanged, and its spec is immutable).
func (c *Controller) dropTaskFinalizer(ctx context.Context, t *agorav1alpha1.Task) error {
	if !controllerutil.ContainsFinalizer(t, agorav1alpha1.TaskFinalizer) {
		return nil
	}
	var keep []string
	for _, f := range t.Finalizers {
		if f != agorav1alpha1.TaskFinalizer {
			keep = append(keep, f)
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": t.ResourceVersion,
		"finalizers":      keep, // nil: the field goes
	}})
	if err != nil {
		return err
	}
	err = c.client.Patch(ctx, t.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
	if err == nil {
		log.FromContext(ctx).V(1).Info("removed the executor's finalizer of a task on a lost node", "task", client.ObjectKeyFromObject(t), "node", t.Spec.NodeName)
	}
	return client.IgnoreNotFound(err)
}

// setTaskPhase writes a terminal or admission phase into a Task's status. A Task that is gone
// is no error; gone reports it.
func (c *Controller) setTaskPhase(ctx context.Context, t *agorav1alpha1.Task, phase agorav1alpha1.TaskPhase, reason, msg string) (gone bool, err error) {
	_, gone, err = c.writeTaskPhase(ctx, t, phase, reason, msg)
	return gone, err
}

// writeTaskPhase is setTaskPhase returning the Task as written.
func (c *Controller) writeTaskPhase(ctx context.Context, t *agorav1alpha1.Task, phase agorav1alpha1.TaskPhase, reason, msg string) (written *agorav1alpha1.Task, gone bool, err error) {
	t = t.DeepCopy()
	t.Status.Phase, t.Status.Reason, t.Status.Message = phase, reason, msg
	if phase.IsTerminal() && t.Status.CompletionTime == nil {
		now := metav1.Now()
		t.Status.CompletionTime = &now
	}
	switch phase {
	case agorav1alpha1.TaskStaging:
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: agorav1alpha1.TaskConditionAdmitted, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: t.Generation})
	case agorav1alpha1.TaskError:
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: agorav1alpha1.TaskConditionAdmitted, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: t.Generation})
	}
	err = c.client.Status().Update(ctx, t)
	if isNotFound(err) {
		return nil, true, nil
	}
	return t, false, err
}
