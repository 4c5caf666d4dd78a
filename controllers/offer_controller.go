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
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// offerReconciler keeps each Offer object in line with the model and admits the Tasks that
// name it. Reconciles of one Offer never run at once, so admission is serialized per offer.
type offerReconciler struct{ c *Controller }

func (c *Controller) setupOffers(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("offer").
		For(&agorav1alpha1.Offer{}).
		Watches(&agorav1alpha1.Task{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			t := o.(*agorav1alpha1.Task)
			if t.Status.Phase != "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}}}
		})).
		WatchesRawSource(c.offerQueue.source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(&offerReconciler{c})
}

// decision is the admission outcome of one task.
type decision struct {
	task   *agorav1alpha1.Task
	phase  agorav1alpha1.TaskPhase
	reason string
	msg    string
	// framework is the offer's framework, when the offer is known.
	framework string
	// revocable: admitted on a revocable slice of the offer (status.revocable).
	revocable bool
}

func (r *offerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := r.c
	if err := c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	offer := &agorav1alpha1.Offer{}
	if err := c.cache.Get(ctx, req.NamespacedName, offer); err != nil {
		if !isNotFound(err) {
			return ctrl.Result{}, err
		}
		offer = nil
	}
	known, creating, live, expiring := c.offerLiveness(req.NamespacedName)
	if offer == nil && creating {
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil // its create has not returned yet
	}
	if offer == nil && known {
		// The model has this offer but the cache has not seen it yet: a Task's watch event can
		// arrive before its Offer's, and a create that landed after a rescind may not be in the
		// cache yet. Ask the API before treating the offer as gone, or a task on a brand-new
		// offer would be rejected and the offer given back, or a rescinded offer's resources
		// offered again while its object is still there.
		o := &agorav1alpha1.Offer{}
		if err := c.reader.Get(ctx, req.NamespacedName, o); err == nil {
			offer = o
		} else if !isNotFound(err) {
			return ctrl.Result{}, err
		}
	}
	releasing := offer != nil && !offer.DeletionTimestamp.IsZero()

	// Pending tasks: from the API when the offer is being released or is expiring (the cache
	// may not have the tasks created just before the delete or the expiry yet, and those are
	// admitted), from the cache otherwise.
	var tasks agorav1alpha1.TaskList
	var reader client.Reader = c.cache
	if releasing || (live && expiring) {
		reader = c.reader
	}
	if err := reader.List(ctx, &tasks, client.InNamespace(req.Namespace), client.MatchingFields{indexTaskOffer: req.Name}); err != nil {
		return ctrl.Result{}, err
	}
	pending := make([]*agorav1alpha1.Task, 0, len(tasks.Items))
	for i := range tasks.Items {
		t := &tasks.Items[i]
		switch {
		case t.Status.Phase != "":
		case t.DeletionTimestamp.IsZero():
			pending = append(pending, t)
		default:
			// Deleted before admission: it never ran and never will, so the executor's
			// finalizer (set at create by a framework) has nothing to wait for. The patch is
			// guarded by the resourceVersion read here: a task admitted meanwhile is the
			// executor's to finish.
			if _, err := c.removeFinalizer(ctx, t, agorav1alpha1.TaskFinalizer); err != nil && !apierrors.IsConflict(err) {
				return ctrl.Result{}, err
			}
		}
	}
	sort.Slice(pending, func(i, j int) bool {
		a, b := pending[i], pending[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})

	now := c.clock.Now()
	decisions := c.admit(offer, req.NamespacedName, pending)
	if err := c.writeDecisions(ctx, offer, req.NamespacedName, decisions); err != nil {
		return ctrl.Result{}, err
	}
	if offer == nil {
		c.m.mu.Lock()
		if st := c.m.offers[req.NamespacedName]; st != nil {
			// Deleted behind our finalizer's back: give it back.
			if st.gone == "" {
				_ = c.m.alloc.RescindOffer(st.id)
				c.m.forgetOffer(st, agorav1alpha1.ReasonReleased)
			}
			c.m.rescindWritten(st) // the object is gone: nothing left to write
			delete(c.m.offers, req.NamespacedName)
		}
		c.m.mu.Unlock()
		return ctrl.Result{}, nil
	}
	if releasing {
		return ctrl.Result{}, c.release(ctx, offer)
	}
	return c.syncOffer(ctx, offer, now)
}

// offerLiveness reports what the model knows of the Offer under key: whether it has a record
// of it at all, whether the cycle's create of it is in flight, whether it holds the offer and
// has not seen it go, and whether it has reached its expireTime.
func (c *Controller) offerLiveness(key types.NamespacedName) (known, creating, live, expiring bool) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	st := c.m.offers[key]
	if st == nil {
		return false, false, false, false
	}
	if st.gone != "" {
		return true, st.creating, false, false
	}
	return true, st.creating, true, !c.clock.Now().Before(st.expire)
}

// admissionWriters bounds the Task status writes one offer's reconcile has in flight at once.
const admissionWriters = 16

// writeDecisions writes each admission decision into its Task's status (one write a task). The
// decisions were taken in order, and what they charged is already charged, so the writes need no
// order: they go out admissionWriters at a time, so that a framework that launched a hundred
// tasks on one offer waits for about a hundred/admissionWriters API round trips, not a hundred.
//
// Write-ahead: before any task is told it is admitted, the Offer's status records what admitted
// tasks took of it (status.admitted), so a controller that restarts restores exactly what is
// left of the offer, even after those tasks ended and were deleted. A write that fails fails the
// reconcile; the retry finds the tasks charged and writes them again.
func (c *Controller) writeDecisions(ctx context.Context, offer *agorav1alpha1.Offer, key types.NamespacedName, decisions []decision) error {
	admits := false
	for _, d := range decisions {
		admits = admits || d.phase == agorav1alpha1.TaskStaging
	}
	if admits && offer != nil {
		if err := c.writeOfferUsage(ctx, offer); err != nil {
			return err
		}
	}
	var (
		mu       sync.Mutex
		firstErr error
		fws      = map[string]bool{}
		wg       sync.WaitGroup
		work     = make(chan decision)
	)
	for range min(admissionWriters, len(decisions)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				t := d.task
				if d.framework != "" || d.revocable {
					t = t.DeepCopy()
					t.Status.Framework = d.framework
					t.Status.Revocable = t.Status.Revocable || d.revocable
				}
				written, gone, err := c.writeTaskPhase(ctx, t, d.phase, d.reason, d.msg)
				if err == nil && !gone && d.phase == agorav1alpha1.TaskError {
					// A rejected task runs nowhere: nothing is left for the executor's finalizer
					// (which a framework may set at create) to wait for, and the node may have
					// no executor to remove it.
					_, err = c.removeFinalizer(ctx, written, agorav1alpha1.TaskFinalizer)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				if gone && d.phase == agorav1alpha1.TaskStaging {
					// Deleted while being admitted: the Task reconciler may have run already.
					c.finishTask(d.task.UID)
					continue
				}
				if d.phase == agorav1alpha1.TaskStaging {
					c.m.mu.Lock()
					if ts := c.m.tasks[d.task.UID]; ts != nil {
						ts.admittedWritten = true
					}
					c.m.mu.Unlock()
					metricTasksAdmitted.Inc()
					mu.Lock()
					fws[frameworkID(d.task.Namespace, d.framework)] = true
					mu.Unlock()
					continue
				}
				metricTasksRejected.WithLabelValues(d.reason).Inc()
				var related runtime.Object
				if offer != nil {
					related = offer
				}
				c.recorder.Eventf(d.task, related, corev1.EventTypeWarning, d.reason, "Admit", "%s", d.msg)
			}
		}()
	}
	for _, d := range decisions {
		work <- d
	}
	close(work)
	wg.Wait()
	for id := range fws {
		c.enqueueFrameworks(id)
	}
	return firstErr
}

// writeOfferUsage writes what the offer has given (status.admitted, admittedTasks) and what
// remains, as the model holds it, with a merge patch of the status.
func (c *Controller) writeOfferUsage(ctx context.Context, offer *agorav1alpha1.Offer) error {
	key := client.ObjectKeyFromObject(offer)
	c.m.mu.Lock()
	st := c.m.offers[key]
	if st == nil {
		c.m.mu.Unlock()
		return nil
	}
	admitted := admittedList(st)
	count := st.admitted
	remaining := c.remainingLocked(st)
	c.m.mu.Unlock()
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"admitted": admitted, "admittedTasks": count, "remaining": remaining,
	}})
	if err != nil {
		return err
	}
	return c.client.Status().Patch(ctx, offer.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
}

// admittedList is what tasks took of the offer, per node, sorted (nil when nothing). Call with
// mu held.
func admittedList(st *offerState) []agorav1alpha1.OfferNodeRemaining {
	var out []agorav1alpha1.OfferNodeRemaining
	for n, r := range st.admittedRes {
		out = append(out, agorav1alpha1.OfferNodeRemaining{NodeName: n, Resources: toResourceList(r)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeName < out[j].NodeName })
	return out
}

// remainingLocked is what is left of an outstanding offer, per node, sorted. Call with mu held.
func (c *Controller) remainingLocked(st *offerState) []agorav1alpha1.OfferNodeRemaining {
	var out []agorav1alpha1.OfferNodeRemaining
	if st.gone != "" {
		return out
	}
	if o, ok := c.m.alloc.Offer(st.id); ok {
		for _, n := range o.Nodes {
			out = append(out, agorav1alpha1.OfferNodeRemaining{NodeName: n.Node, Resources: toResourceList(n.Resources)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeName < out[j].NodeName })
	return out
}

// offerView is what admission needs to know of an offer: the object (nil when it is gone), the
// model's record of it (nil when the model has none), and why it went, if it did.
type offerView struct {
	obj       *agorav1alpha1.Offer
	st        *offerState
	tombstone string
	// fwKnown: the offer's framework is in the allocator.
	fwKnown bool
	// holder is the framework's current Lease holder ("" without a Lease).
	holder string
}

// admissionCheck decides, as a pure function of the task and what is known of its offer,
// whether the task may be charged: ok, or the Error reason and a message a person can act on.
// What remains of the offer, and whether the framework may still use the node, is the
// allocator's to check when it charges the task.
func admissionCheck(t *agorav1alpha1.Task, v offerView) (reason, msg string, ok bool) {
	reject := func(reason, format string, args ...any) (string, string, bool) {
		return reason, fmt.Sprintf(format, args...), false
	}
	offer, st := v.obj, v.st
	_, unknown := toResources(t.Spec.Resources)
	switch {
	case offer == nil || st == nil || st.gone != "":
		switch v.tombstone {
		case "":
			return reject(agorav1alpha1.ReasonOfferNotFound, "no Offer %q in namespace %s: a task can use only an open offer of its own namespace; list them with `kubectl get offers -n %s`", t.Spec.OfferName, t.Namespace, t.Namespace)
		case agorav1alpha1.ReasonExpired:
			return reject(agorav1alpha1.ReasonOfferExpired, "offer %s expired before task %s was created; nothing was charged: create the task again against a current offer", t.Spec.OfferName, t.Name)
		case agorav1alpha1.ReasonReleased:
			return reject(agorav1alpha1.ReasonOfferNotFound, "offer %s was released (deleted) before task %s was created; nothing was charged: create the task against a current offer", t.Spec.OfferName, t.Name)
		default:
			return reject(agorav1alpha1.ReasonOfferRescinded, "offer %s was rescinded (%s) before task %s was admitted; nothing was charged: create the task against a current offer", t.Spec.OfferName, v.tombstone, t.Name)
		}
	// Timestamps have one-second resolution: a task created in the same second as the delete
	// counts as created before it (the usual "create tasks, then delete the offer" step lands
	// in one second). release reads the API after the delete, so this errs only toward a
	// task created a split second after it, while the offer still holds its resources.
	case !offer.DeletionTimestamp.IsZero() && t.CreationTimestamp.After(offer.DeletionTimestamp.Time):
		return reject(agorav1alpha1.ReasonOfferNotFound, "offer %s was released at %s, before task %s was created; nothing was charged: create the task against a current offer", t.Spec.OfferName, offer.DeletionTimestamp.UTC().Format(time.RFC3339), t.Name)
	case !v.fwKnown:
		return reject(agorav1alpha1.ReasonFrameworkNotFound, "offer %s names framework %q, which does not exist in namespace %s", t.Spec.OfferName, offer.Spec.Framework, t.Namespace)
	// Expiry is judged by when the task was created, not when the controller got to it: the
	// offer still holds its resources (expiry is processed after the tasks created before it).
	case !t.CreationTimestamp.Time.Before(st.expire):
		return reject(agorav1alpha1.ReasonOfferExpired, "offer %s expired at %s, before task %s was created; nothing was charged: create the task against a current offer", t.Spec.OfferName, st.expire.UTC().Format(time.RFC3339), t.Name)
	case declaredFramework(t) != "" && declaredFramework(t) != offer.Spec.Framework:
		return reject(agorav1alpha1.ReasonFrameworkMismatch, "task %s belongs to framework %q but offer %s was made to framework %q: a task is charged to its own framework only; launch it on an offer of %s", t.Name, declaredFramework(t), t.Spec.OfferName, offer.Spec.Framework, declaredFramework(t))
	case t.Annotations[agorav1alpha1.AnnotationInstance] != "" && st.instance != "" && t.Annotations[agorav1alpha1.AnnotationInstance] != st.instance:
		return reject(agorav1alpha1.ReasonInstanceFenced, "task %s was created by framework instance %q, but offer %s was made to instance %q: only the instance holding the framework's Lease launches", t.Name, t.Annotations[agorav1alpha1.AnnotationInstance], t.Spec.OfferName, st.instance)
	case t.Annotations[agorav1alpha1.AnnotationInstance] != "" && v.holder != "" && t.Annotations[agorav1alpha1.AnnotationInstance] != v.holder:
		return reject(agorav1alpha1.ReasonInstanceFenced, "task %s was created by framework instance %q, which no longer holds the framework's Lease (held by %q): a superseded instance cannot launch", t.Name, t.Annotations[agorav1alpha1.AnnotationInstance], v.holder)
	case st.rescindedNodes[t.Spec.NodeName] != "":
		return reject(agorav1alpha1.ReasonOfferRescinded, "offer %s's part on node %s was rescinded (%s); nothing was charged", t.Spec.OfferName, t.Spec.NodeName, st.rescindedNodes[t.Spec.NodeName])
	case !slices.ContainsFunc(offer.Spec.Nodes, func(n agorav1alpha1.OfferNode) bool { return n.NodeName == t.Spec.NodeName }):
		return reject(agorav1alpha1.ReasonNodeNotInOffer, "node %q is not in offer %s, which offers %s", t.Spec.NodeName, t.Spec.OfferName, shortList(offerNodeNames(offer)))
	case t.Spec.Resources.Cpu().Sign() <= 0 || t.Spec.Resources.Memory().Sign() <= 0:
		return reject(agorav1alpha1.ReasonInvalidTemplate, "task asks for cpu %s and memory %s: spec.resources needs both greater than 0 (they bound its pod, which would otherwise run unbounded); nothing was charged", t.Spec.Resources.Cpu(), t.Spec.Resources.Memory())
	case len(unknown) > 0:
		return reject(agorav1alpha1.ReasonInsufficientResources, "task asks for %s, which offer %s does not offer on node %s", strings.Join(unknown, ", "), t.Spec.OfferName, t.Spec.NodeName)
	}
	asked, _ := toResources(t.Spec.Resources)
	if tr := templateRequests(&t.Spec.Template.Spec); !tr.Fits(asked) {
		return reject(agorav1alpha1.ReasonInvalidTemplate, "the pod template's containers request %v, more than spec.resources %v; lower the containers' requests or raise spec.resources", tr, asked)
	}
	return "", "", true
}

// declaredFramework is the framework a Task says it belongs to: its framework label, else the
// name in its owner reference to a Framework, else "".
func declaredFramework(t *agorav1alpha1.Task) string {
	if fw := t.Labels[agorav1alpha1.LabelFramework]; fw != "" {
		return fw
	}
	for _, ref := range t.OwnerReferences {
		if ref.Kind == "Framework" && strings.HasPrefix(ref.APIVersion, agorav1alpha1.GroupName+"/") {
			return ref.Name
		}
	}
	return ""
}

// admit decides on the pending tasks of one offer in order, charging the admitted ones.
func (c *Controller) admit(offer *agorav1alpha1.Offer, key types.NamespacedName, pending []*agorav1alpha1.Task) []decision {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	v := offerView{obj: offer, st: m.offers[key]}
	if tomb, ok := m.gone[key]; ok {
		v.tombstone = tomb.reason
	}
	fwName := ""
	if offer != nil && v.st != nil {
		fwName = offer.Spec.Framework
		if fs := m.frameworks[v.st.framework]; fs != nil {
			v.fwKnown, v.holder = true, fs.instance
		}
	}
	var out []decision
	for _, t := range pending {
		if ts, ok := m.tasks[t.UID]; ok {
			if ts.admittedWritten {
				continue // admitted and written; the cache has not caught up yet
			}
			// Charged already; an earlier status write did not land.
			out = append(out, decision{t, agorav1alpha1.TaskStaging, agorav1alpha1.ReasonAdmitted, admittedMsg(t, ts.offer, ts.revocable), splitID(ts.framework).Name, ts.revocable})
			continue
		}
		reason, msg, ok := admissionCheck(t, v)
		if !ok {
			out = append(out, decision{t, agorav1alpha1.TaskError, reason, msg, fwName, false})
			continue
		}
		st := v.st
		asked, _ := toResources(t.Spec.Resources)
		err := m.alloc.LaunchTask(st.id, allocator.Task{ID: string(t.UID), Framework: st.framework, Node: t.Spec.NodeName, Resources: asked})
		switch {
		case err == nil:
			rev := revocableSlice(offer, t.Spec.NodeName)
			m.chargeTaskLocked(t.UID, &taskState{key: types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, framework: st.framework, offer: t.Spec.OfferName, node: t.Spec.NodeName, revocable: rev})
			st.admitted++
			if st.admittedRes == nil {
				st.admittedRes = map[string]allocator.Resources{}
			}
			st.admittedRes[t.Spec.NodeName] = st.admittedRes[t.Spec.NodeName].Add(asked)
			out = append(out, decision{t, agorav1alpha1.TaskStaging, agorav1alpha1.ReasonAdmitted, admittedMsg(t, t.Spec.OfferName, rev), fwName, rev})
		case errors.Is(err, allocator.ErrDoesNotFit):
			var left allocator.Resources
			if o, ok := m.alloc.Offer(st.id); ok {
				for _, n := range o.Nodes {
					if n.Node == t.Spec.NodeName {
						left = n.Resources
					}
				}
			}
			out = append(out, decision{t, agorav1alpha1.TaskError, agorav1alpha1.ReasonInsufficientResources, fmt.Sprintf("task asks for %v on node %s, but only %v of offer %s remains there (or the node has no pod slot left); nothing was charged: ask for less or use another node or offer", asked, t.Spec.NodeName, left, t.Spec.OfferName), fwName, false})
		case errors.Is(err, allocator.ErrNotEligible):
			out = append(out, decision{t, agorav1alpha1.TaskError, agorav1alpha1.ReasonOfferRescinded, fmt.Sprintf("framework %s may no longer use node %s (its nodeSelector, tolerations or capabilities, or the node's labels or taints, changed): %v; nothing was charged", fwName, t.Spec.NodeName, err), fwName, false})
		case errors.Is(err, allocator.ErrNodeNotInOffer):
			out = append(out, decision{t, agorav1alpha1.TaskError, agorav1alpha1.ReasonOfferRescinded, fmt.Sprintf("offer %s no longer holds node %s; nothing was charged", t.Spec.OfferName, t.Spec.NodeName), fwName, false})
		default:
			out = append(out, decision{t, agorav1alpha1.TaskError, agorav1alpha1.ReasonOfferRescinded, fmt.Sprintf("offer %s cannot take the task: %v", t.Spec.OfferName, err), fwName, false})
		}
	}
	return out
}

func admittedMsg(t *agorav1alpha1.Task, offer string, revocable bool) string {
	if revocable {
		return fmt.Sprintf("admitted on node %s from offer %s, on revocable resources: it may be preempted to raise another role to its guarantee", t.Spec.NodeName, offer)
	}
	return fmt.Sprintf("admitted on node %s from offer %s", t.Spec.NodeName, offer)
}

// revocableSlice reports whether the offer's slice of node is revocable.
func revocableSlice(offer *agorav1alpha1.Offer, node string) bool {
	if offer == nil {
		return false
	}
	for _, n := range offer.Spec.Nodes {
		if n.NodeName == node {
			return n.Revocable
		}
	}
	return false
}

func offerNodeNames(o *agorav1alpha1.Offer) []string {
	out := make([]string, 0, len(o.Spec.Nodes))
	for _, n := range o.Spec.Nodes {
		out = append(out, n.NodeName)
	}
	return out
}

// release returns what the released offer's tasks did not take, with the framework's decline
// filter, and lets the Offer go.
func (c *Controller) release(ctx context.Context, offer *agorav1alpha1.Offer) error {
	key := client.ObjectKeyFromObject(offer)
	refuse := 5 * time.Second
	fw := &agorav1alpha1.Framework{}
	if err := c.cache.Get(ctx, types.NamespacedName{Namespace: offer.Namespace, Name: offer.Spec.Framework}, fw); err == nil && fw.Spec.RefuseDuration != nil {
		refuse = fw.Spec.RefuseDuration.Duration
	}
	m := c.m
	m.mu.Lock()
	st := m.offers[key]
	released := false
	var returned int
	var admitted int32
	if st != nil && st.gone == "" {
		if o, ok := m.alloc.Offer(st.id); ok {
			for _, n := range o.Nodes {
				if !n.Resources.IsZero() {
					returned++
				}
			}
		}
		// A revive the framework asked for at or after the release clears its filter: a
		// release and a revive go through different reconcilers, in either order.
		if err := m.alloc.ReleaseOffer(st.id, refuse, offer.DeletionTimestamp.Time); err == nil {
			released = true
		}
		admitted = st.admitted
		m.forgetOffer(st, agorav1alpha1.ReasonReleased)
	}
	m.mu.Unlock()
	if released {
		metricOffersReleased.WithLabelValues(releaseKind(admitted, returned)).Inc()
		c.enqueueFrameworks(st.framework)
		// The Offer goes in a moment, so the release is told by an Event (reason Released), not
		// by a condition nobody could read.
		var related runtime.Object
		if fw.UID != "" {
			related = fw
		}
		c.recorder.Eventf(offer, related, corev1.EventTypeNormal, agorav1alpha1.ReasonReleased, "Release",
			"released by framework %s: %d task(s) admitted from it; what no task took on %d node(s) went back to the pool and is not offered to %s again for %s (spec.refuseDuration) unless it revives",
			offer.Spec.Framework, admitted, returned, offer.Spec.Framework, refuse)
	}
	if err := c.removeOfferFinalizer(ctx, offer); err != nil {
		return err
	}
	m.mu.Lock()
	if st := m.offers[key]; st != nil {
		m.rescindWritten(st) // deleted by its framework: no longer shown as outstanding
	}
	delete(m.offers, key)
	m.mu.Unlock()
	return nil
}

func (c *Controller) removeOfferFinalizer(ctx context.Context, offer *agorav1alpha1.Offer) error {
	if !controllerutil.ContainsFinalizer(offer, agorav1alpha1.OfferFinalizer) {
		return nil
	}
	patch := client.MergeFrom(offer.DeepCopy())
	controllerutil.RemoveFinalizer(offer, agorav1alpha1.OfferFinalizer)
	return client.IgnoreNotFound(c.client.Patch(ctx, offer, patch))
}

// syncOffer expires, rescinds, and writes the status of an open Offer.
func (c *Controller) syncOffer(ctx context.Context, offer *agorav1alpha1.Offer, now time.Time) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(offer)
	m := c.m
	m.mu.Lock()
	st := m.offers[key]
	if st == nil {
		// Not an offer of this model (made by a leader whose offer could not be restored).
		st = &offerState{key: key, gone: agorav1alpha1.ReasonNodeLost}
		m.offers[key] = st
	}
	if st.gone == "" && !now.Before(st.expire) {
		_ = m.alloc.RescindOffer(st.id)
		m.forgetOffer(st, agorav1alpha1.ReasonExpired)
		metricOffersRescinded.WithLabelValues(agorav1alpha1.ReasonExpired).Inc()
	}
	gone := st.gone
	remaining := c.remainingLocked(st)
	admittedRes := admittedList(st)
	rescinded := map[string]string{}
	if gone == "" {
		for n, why := range st.rescindedNodes {
			rescinded[n] = why
		}
	}
	admitted := st.admitted
	expire := st.expire
	fwID := st.framework
	m.mu.Unlock()

	if gone != "" {
		return ctrl.Result{}, c.finishRescind(ctx, offer, gone)
	}
	if len(rescinded) > 0 {
		var keep []agorav1alpha1.OfferNode
		var why []string
		for _, n := range offer.Spec.Nodes {
			if r, ok := rescinded[n.NodeName]; ok {
				why = append(why, n.NodeName+": "+r)
				continue
			}
			keep = append(keep, n)
		}
		if len(keep) < len(offer.Spec.Nodes) {
			// The list is replaced whole, so the patch is conditional on the version it was
			// computed from: from a cache that missed an earlier partial rescind it would put a
			// node back that was already taken out (and perhaps offered to someone else).
			patch := client.MergeFromWithOptions(offer.DeepCopy(), client.MergeFromWithOptimisticLock{})
			offer.Spec.Nodes = keep
			if err := c.client.Patch(ctx, offer, patch); err != nil {
				return ctrl.Result{}, client.IgnoreNotFound(err)
			}
			reason := rescinded[strings.SplitN(why[0], ": ", 2)[0]]
			c.recorder.Eventf(offer, nil, corev1.EventTypeNormal, reason, "Rescind", "rescinded part of the offer on %s", shortList(why))
			meta.SetStatusCondition(&offer.Status.Conditions, metav1.Condition{Type: agorav1alpha1.OfferConditionRescinded, Status: metav1.ConditionTrue, Reason: reason, Message: "rescinded on " + shortList(why)})
		}
		m.mu.Lock()
		for n := range rescinded {
			delete(st.rescindedNodes, n)
		}
		if len(st.rescindedNodes) == 0 && st.gone == "" {
			m.rescindWritten(st)
		}
		m.mu.Unlock()
	}
	status := offer.Status.DeepCopy()
	status.Remaining = remaining
	status.AdmittedTasks = admitted
	status.Admitted = admittedRes
	if !equality.Semantic.DeepEqual(&offer.Status, status) {
		o := offer.DeepCopy()
		o.Status = *status
		if err := c.client.Status().Update(ctx, o); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		c.enqueueFrameworks(fwID)
	}
	return ctrl.Result{RequeueAfter: max(expire.Sub(now), 0) + 10*time.Millisecond}, nil
}

// finishRescind tells the framework why its offer was taken back (condition and Event), then
// deletes the Offer and lets it go.
func (c *Controller) finishRescind(ctx context.Context, offer *agorav1alpha1.Offer, reason string) error {
	if cond := meta.FindStatusCondition(offer.Status.Conditions, agorav1alpha1.OfferConditionRescinded); cond == nil || cond.Status != metav1.ConditionTrue {
		o := offer.DeepCopy()
		o.Status.Remaining = nil
		meta.SetStatusCondition(&o.Status.Conditions, metav1.Condition{Type: agorav1alpha1.OfferConditionRescinded, Status: metav1.ConditionTrue, Reason: reason, Message: rescindMessage(reason)})
		if err := c.client.Status().Update(ctx, o); err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		c.recorder.Eventf(offer, nil, corev1.EventTypeNormal, reason, "Rescind", "%s", rescindMessage(reason))
		offer = o
	}
	if err := c.removeOfferFinalizer(ctx, offer); err != nil {
		return err
	}
	if err := c.client.Delete(ctx, offer); client.IgnoreNotFound(err) != nil {
		return err
	}
	log.FromContext(ctx).V(1).Info("offer rescinded", "offer", client.ObjectKeyFromObject(offer), "reason", reason)
	c.m.mu.Lock()
	if st := c.m.offers[client.ObjectKeyFromObject(offer)]; st != nil {
		c.m.rescindWritten(st)
	}
	delete(c.m.offers, client.ObjectKeyFromObject(offer))
	c.m.mu.Unlock()
	return nil
}

func rescindMessage(reason string) string {
	switch reason {
	case agorav1alpha1.ReasonExpired:
		return "the offer reached spec.expireTime; what no task took went back to the pool"
	case agorav1alpha1.ReasonNodeLost:
		return "the offer's nodes left the pool (NotReady, cordoned, deleted, no executor, or no longer eligible)"
	case agorav1alpha1.ReasonFrameworkInactive:
		return "the framework is not active (its Lease is stale or it is being deleted)"
	case agorav1alpha1.ReasonCapacityChanged:
		return "what the offer's nodes can give shrank (a pod of another scheduler landed, allocatable shrank, or pods of ended tasks still run)"
	case agorav1alpha1.ReasonNodeChanged:
		return "the offer's nodes were cordoned, tainted or relabelled so that the framework may no longer use them"
	case agorav1alpha1.ReasonFrameworkChanged:
		return "the framework's limits, nodeSelector, tolerations or capabilities changed so that it may no longer hold the offer"
	case agorav1alpha1.ReasonFrameworkFailedOver:
		return "another instance of the framework took over its Lease; the offer was made to the earlier instance"
	case agorav1alpha1.ReasonPreempted:
		return "the revocable resources were taken back to raise a role to its guarantee (RoleQuota)"
	}
	return "the offer was taken back: " + reason
}

// releaseKind says what a framework took of an offer it released, for the released metric.
func releaseKind(admitted int32, returned int) string {
	switch {
	case admitted == 0:
		return "Declined"
	case returned > 0:
		return "PartlyUsed"
	}
	return "Used"
}
