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
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
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
			if o.GetNamespace() != agorav1alpha1.SystemNamespace || !strings.HasPrefix(o.GetName(), agorav1alpha1.ExecutorLeasePrefix) {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: strings.TrimPrefix(o.GetName(), agorav1alpha1.ExecutorLeasePrefix)}}}
		})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if n := o.(*corev1.Pod).Spec.NodeName; n != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: n}}}
			}
			return nil
		})).
		WatchesRawSource(c.nodeQueue.source()).
		Complete(&nodeReconciler{c})
}

func (r *nodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	return r.c.syncNode(ctx, req.Name)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// executorLeaseKey is the key of a node's executor Lease.
func executorLeaseKey(node string) types.NamespacedName {
	return types.NamespacedName{Namespace: agorav1alpha1.SystemNamespace, Name: agorav1alpha1.ExecutorLeaseName(node)}
}

// nodeView is what syncNode decided about one node, as a pure function of what it read.
type nodeView struct {
	spec allocator.NodeSpec
	// leaveReason is the rescind reason for offer parts taken back because the node left the
	// pool: NodeLost when it is NotReady or its executor is silent, NodeChanged when it was
	// cordoned or left the --node-selector.
	leaveReason string
	// executorSilent: the executor Lease is stale, deleted or missing; the node's tasks are
	// Unreachable while the Node is Ready.
	executorSilent bool
}

// taskPodOf reports which Task controls pod: the owner reference of kind Task (as agora-executor
// writes it) and the pod's name and namespace being the task's. A label alone proves nothing:
// anyone can set it.
func taskPodOf(p *corev1.Pod) (types.UID, bool) {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "Task" || ref.APIVersion != agorav1alpha1.GroupVersion.String() || ref.Name != p.Name {
		return "", false
	}
	return ref.UID, true
}

// syncNode brings the allocator's view of one node in line with its Node, its executor Lease
// and the pods on it. A node out of the pool keeps its tasks. A node whose executor is silent
// while the Node is Ready has its tasks Unreachable (their pods may well run on); a node deleted,
// or NotReady past NodeLostTimeout, is lost with its tasks.
func (c *Controller) syncNode(ctx context.Context, name string) (ctrl.Result, error) {
	now := c.clock.Now()
	node := &corev1.Node{}
	err := c.cache.Get(ctx, types.NamespacedName{Name: name}, node)
	if err != nil && !isNotFound(err) {
		return ctrl.Result{}, err
	}
	if isNotFound(err) || !node.DeletionTimestamp.IsZero() {
		c.nodeReadiness.forget(name)
		c.silences.end(name)
		return ctrl.Result{}, c.loseNode(ctx, name, "the Node was deleted")
	}
	// The informer's own handler (which times renewals) may not have run yet when this reconcile,
	// enqueued by another handler of the same event, reads the cache: what the cache holds wins,
	// a deletion included. Otherwise a deleted Lease still looked like the stale one of a
	// silence whose tasks were already marked, and they were never marked again.
	lease := &coordinationv1.Lease{}
	if err := c.cache.Get(ctx, executorLeaseKey(name), lease); err == nil {
		c.leases.observe(lease)
	} else if isNotFound(err) {
		c.leases.forget(executorLeaseKey(name))
	} else {
		return ctrl.Result{}, err
	}
	expiry, _, hasLease := c.leases.expiry(executorLeaseKey(name))
	leaseFresh := hasLease && now.Before(expiry)
	ready := nodeReady(node)
	var result ctrl.Result
	requeue := func(at time.Time) {
		if d := at.Sub(now) + 10*time.Millisecond; d > 0 && (result.RequeueAfter == 0 || d < result.RequeueAfter) {
			result.RequeueAfter = d
		}
	}
	if ready {
		c.nodeReadiness.forget(name)
	} else {
		since := c.nodeReadiness.notReadySince(name, now)
		lostAt := since.Add(c.opts.NodeLostTimeout)
		if !now.Before(lostAt) {
			return ctrl.Result{}, c.loseNode(ctx, name, fmt.Sprintf("it stayed NotReady from %s (as this controller observed) past --node-lost-timeout (%s)", since.UTC().Format(time.RFC3339), c.opts.NodeLostTimeout))
		}
		requeue(lostAt)
	}
	if leaseFresh {
		requeue(expiry)
	}

	var pods corev1.PodList
	if err := c.cache.List(ctx, &pods, client.MatchingFields{indexPodNode: name}); err != nil {
		return ctrl.Result{}, err
	}
	var used allocator.Resources
	var podsByOthers int64
	m := c.m
	m.mu.Lock()
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		// A task's pod is counted through its task's charge, but only while the model charges
		// that task: the pod of an ended or lost task still runs until it is gone, and until
		// then what it uses is not free.
		if uid, ok := taskPodOf(p); ok {
			if ts := m.tasks[uid]; ts != nil && ts.node == name && ts.key.Namespace == p.Namespace {
				continue
			}
		}
		used = used.Add(podRequests(p))
		podsByOthers++
	}
	m.mu.Unlock()
	alloc, _ := toResources(node.Status.Allocatable)
	view := nodeView{
		spec: allocator.NodeSpec{
			Name:         name,
			Allocatable:  alloc,
			UsedByOthers: used,
			PodsByOthers: podsByOthers,
			MaxPods:      node.Status.Allocatable.Pods().Value(),
			Labels:       node.Labels,
		},
		executorSilent: !leaseFresh,
	}
	selected := c.opts.NodeSelector.Matches(labels.Set(node.Labels))
	switch {
	case !ready || !leaseFresh:
		view.spec.Unschedulable, view.leaveReason = true, agorav1alpha1.ReasonNodeLost
	case node.Spec.Unschedulable || !selected:
		view.spec.Unschedulable, view.leaveReason = true, agorav1alpha1.ReasonNodeChanged
	}
	for _, t := range node.Spec.Taints {
		if t.Key == agorav1alpha1.TaintPool {
			continue // it keeps foreign pods out; frameworks are the pool's own
		}
		view.spec.Taints = append(view.spec.Taints, allocator.Taint{Key: t.Key, Value: t.Value, Effect: allocator.TaintEffect(t.Effect)})
	}
	m.mu.Lock()
	if m.lostNodes[name] {
		delete(m.lostNodes, name)
		m.changed = true
	}
	rs, err := m.setNodeLocked(view.spec)
	follow := m.applyRescinded(rs, view.leaveReason)
	m.mu.Unlock()
	if err != nil {
		log.FromContext(ctx).Error(err, "node not accepted", "node", name)
		return ctrl.Result{}, nil
	}
	c.enqueueOffers(follow...)
	switch {
	case !view.executorSilent:
		c.silences.end(name)
	case ready && c.silences.begin(name, expiry):
		// Once per silence: the executor, back, may restore its tasks before this controller
		// sees its Lease renewed; marking them again would undo what it just wrote.
		if err := c.markUnreachable(ctx, name, hasLease); err != nil {
			c.silences.end(name)
			return ctrl.Result{}, err
		}
	}
	return result, nil
}

// silences remembers, per node, the executor silence whose tasks were already marked
// Unreachable: the expiry of the last renewal observed before it (zero if the Lease is gone).
type silences struct {
	mu     sync.Mutex
	marked map[string]time.Time
}

// begin reports whether the silence that began at expiry is new for node, and records it.
func (s *silences) begin(node string, expiry time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marked == nil {
		s.marked = map[string]time.Time{}
	}
	if at, ok := s.marked[node]; ok && at.Equal(expiry) {
		return false
	}
	s.marked[node] = expiry
	return true
}

// end forgets node's silence: its executor renewed its Lease (or a mark has to be retried).
func (s *silences) end(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.marked, node)
}

// nodeReadiness remembers since when this controller has seen each node NotReady (by its own
// clock: the Node's lastTransitionTime is another host's).
type nodeReadiness struct {
	mu    sync.Mutex
	since map[string]time.Time
}

func (r *nodeReadiness) notReadySince(node string, now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.since == nil {
		r.since = map[string]time.Time{}
	}
	if t, ok := r.since[node]; ok {
		return t
	}
	r.since[node] = now
	return now
}

func (r *nodeReadiness) forget(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.since, node)
}

// markUnreachable sets the node's admitted, non-terminal tasks Unreachable: the executor is
// silent but the Node is Ready, so their pods may well run on under the kubelet. They keep their
// charges; the executor puts each back to its real phase when it returns. Marking them Lost would
// make frameworks run them a second time.
func (c *Controller) markUnreachable(ctx context.Context, node string, hadLease bool) error {
	var tasks agorav1alpha1.TaskList
	if err := c.cache.List(ctx, &tasks, client.MatchingFields{indexTaskNode: node}); err != nil {
		return err
	}
	why := "its executor Lease " + agorav1alpha1.SystemNamespace + "/" + agorav1alpha1.ExecutorLeaseName(node) + " is stale"
	if !hadLease {
		why = "its executor Lease " + agorav1alpha1.SystemNamespace + "/" + agorav1alpha1.ExecutorLeaseName(node) + " is gone"
	}
	fws := map[string]bool{}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		switch t.Status.Phase {
		case agorav1alpha1.TaskStaging, agorav1alpha1.TaskStarting, agorav1alpha1.TaskRunning:
		default:
			continue
		}
		if !c.m.charged(t.UID) {
			continue
		}
		msg := fmt.Sprintf("node %s is Ready but %s: the task was %s and its pod may still run; it keeps its resources and returns to its real phase when the executor is back (Lost only if the Node is deleted or NotReady past --node-lost-timeout)", node, why, t.Status.Phase)
		_, gone, err := c.writeTaskPhase(ctx, t, agorav1alpha1.TaskUnreachable, agorav1alpha1.ReasonExecutorUnreachable, msg)
		if err != nil {
			if apierrors.IsConflict(err) {
				continue // the executor wrote first: it is back, or the task moved on
			}
			return err
		}
		if !gone {
			fws[frameworkID(t.Namespace, t.Status.Framework)] = true
		}
	}
	for id := range fws {
		c.enqueueFrameworks(id)
	}
	return nil
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
		lost, rs = m.removeNodeLocked(name)
		follow = m.applyRescinded(rs, agorav1alpha1.ReasonNodeLost)
		for _, id := range lost {
			if ts := m.tasks[types.UID(id)]; ts != nil {
				m.forgetTaskLocked(types.UID(id), ts)
			}
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
			if c.m.charged(t.UID) {
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
		if err := c.releaseLostPod(ctx, t); err != nil {
			return err
		}
	}
	if err := c.releaseOrphanPods(ctx, name); err != nil {
		return err
	}
	for id := range fws {
		c.enqueueFrameworks(id)
	}
	return nil
}

// releaseOrphanPods removes agora-executor's pod finalizer from the pods on a lost node whose
// Task is gone. releaseLostPod reaches a pod through its task; if that release failed (a
// conflict) and the Task was deleted before the retry, no task leads to the pod any more, and
// it would stay terminating for ever on a node nobody serves, holding its name: a new Task of
// that name would wait for it for ever. The node and the task are gone, so it runs nowhere.
func (c *Controller) releaseOrphanPods(ctx context.Context, node string) error {
	var pods corev1.PodList
	if err := c.cache.List(ctx, &pods, client.MatchingFields{indexPodNode: node}); err != nil {
		return err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		uid, ok := taskPodOf(pod)
		if !ok {
			continue
		}
		t := &agorav1alpha1.Task{}
		err := c.cache.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, t)
		if err == nil && t.UID == uid {
			continue // its task is on the node too, and released with it
		}
		if client.IgnoreNotFound(err) != nil {
			return err
		}
		// The cache keeps no finalizers (stripPod): read the pod itself.
		cur := &corev1.Pod{}
		if err := c.reader.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return err
			}
			continue
		}
		if cur.UID != pod.UID || cur.Spec.NodeName != node {
			continue
		}
		removed, err := c.removeFinalizer(ctx, cur, agorav1alpha1.PodFinalizer)
		if err != nil {
			return err
		}
		if removed {
			log.FromContext(ctx).Info("released the executor's finalizer of a pod on a lost node whose task is gone", "pod", client.ObjectKeyFromObject(pod), "node", node)
		}
	}
	return nil
}

// releaseLostPod removes agora-executor's pod finalizer from the pod of a task on a lost node:
// the task's end is recorded (Lost), and the node's executor, which would release it, is gone.
// Without this the pod would stay terminating for ever once deleted (and hold its namespace).
// A conflict (the garbage collector or pod GC wrote the pod meanwhile) is retried here, on a
// fresh read: the caller's retry may find the Task gone, and then no task leads to the pod
// (chaos seed 303: the next Task of that name waited for it for ever).
func (c *Controller) releaseLostPod(ctx context.Context, t *agorav1alpha1.Task) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := c.reader.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, pod); err != nil {
			return client.IgnoreNotFound(err)
		}
		if uid, ok := taskPodOf(pod); !ok || uid != t.UID {
			return nil
		}
		_, err := c.removeFinalizer(ctx, pod, agorav1alpha1.PodFinalizer)
		return err
	})
}

// dropTaskFinalizer removes agora-executor's finalizer from a terminal Task whose node is lost.
func (c *Controller) dropTaskFinalizer(ctx context.Context, t *agorav1alpha1.Task) error {
	removed, err := c.removeFinalizer(ctx, t.DeepCopy(), agorav1alpha1.TaskFinalizer)
	if removed {
		log.FromContext(ctx).V(1).Info("removed the executor's finalizer of a task on a lost node", "task", client.ObjectKeyFromObject(t), "node", t.Spec.NodeName)
	}
	return err
}

// removeFinalizer removes one finalizer of obj, if it holds it. Like the executor, it sends a
// merge patch of metadata.finalizers guarded by the object's resourceVersion, never a
// whole-object update (a Task written by kubectl does not survive a round trip through the Go
// types unchanged, and its spec is immutable). An object that is gone is no error.
func (c *Controller) removeFinalizer(ctx context.Context, obj client.Object, finalizer string) (removed bool, err error) {
	if !controllerutil.ContainsFinalizer(obj, finalizer) {
		return false, nil
	}
	var keep []string
	for _, f := range obj.GetFinalizers() {
		if f != finalizer {
			keep = append(keep, f)
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": obj.GetResourceVersion(),
		"finalizers":      keep, // nil: the field goes
	}})
	if err != nil {
		return false, err
	}
	err = c.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
	return err == nil, client.IgnoreNotFound(err)
}

// writeTaskPhase writes a terminal or admission phase into a Task's status and returns the Task
// as written. A Task that is gone is no error; gone reports it.
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
