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
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
	if offer == nil && c.liveOffer(req.NamespacedName) {
		// The model made this offer but the cache has not seen it yet: a Task's watch event can
		// arrive before its Offer's. Ask the API before treating the offer as gone, or a task
		// on a brand-new offer would be rejected and the offer given back.
		o := &agorav1alpha1.Offer{}
		if err := c.reader.Get(ctx, req.NamespacedName, o); err == nil {
			offer = o
		} else if !isNotFound(err) {
			return ctrl.Result{}, err
		}
	}
	releasing := offer != nil && !offer.DeletionTimestamp.IsZero()

	// Pending tasks: from the API when the offer is being released (the cache may not have
	// the tasks created just before the delete yet), from the cache otherwise.
	var tasks agorav1alpha1.TaskList
	var reader client.Reader = c.cache
	if releasing {
		reader = c.reader
	}
	if err := reader.List(ctx, &tasks, client.InNamespace(req.Namespace), client.MatchingFields{indexTaskOffer: req.Name}); err != nil {
		return ctrl.Result{}, err
	}
	pending := make([]*agorav1alpha1.Task, 0, len(tasks.Items))
	for i := range tasks.Items {
		if tasks.Items[i].Status.Phase == "" && tasks.Items[i].DeletionTimestamp.IsZero() {
			pending = append(pending, &tasks.Items[i])
		}
	}
	sort.Slice(pending, func(i, j int) bool {
		a, b := pending[i], pending[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})

	now := time.Now()
	decisions := c.admit(offer, req.NamespacedName, pending, now)
	if err := c.writeDecisions(ctx, offer, decisions); err != nil {
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

// liveOffer reports whether the model holds an offer under key that it has not seen go.
func (c *Controller) liveOffer(key types.NamespacedName) bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	st := c.m.offers[key]
	return st != nil && st.gone == ""
}

// admissionWriters bounds the Task status writes one offer's reconcile has in flight at once.
const admissionWriters = 16

// writeDecisions writes each admission decision into its Task's status (one write a task). The
// decisions were taken in order, and what they charged is already charged, so the writes need no
// order: they go out admissionWriters at a time, so that a framework that launched a hundred
// tasks on one offer waits for about a hundred/admissionWriters API round trips, not a hundred.
// A write that fails fails the reconcile; the retry finds the task charged and writes it again.
func (c *Controller) writeDecisions(ctx context.Context, offer *agorav1alpha1.Offer, decisions []decision) error {
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
				if d.framework != "" {
					t = t.DeepCopy()
					t.Status.Framework = d.framework
				}
				gone, err := c.setTaskPhase(ctx, t, d.phase, d.reason, d.msg)
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
					c.finishTask(d.task.Namespace + "/" + d.task.Name)
					continue
				}
				if d.phase == agorav1alpha1.TaskStaging {
					c.m.mu.Lock()
					if ts, ok := c.m.tasks[d.task.Namespace+"/"+d.task.Name]; ok {
						ts.admittedWritten = true
						c.m.tasks[d.task.Namespace+"/"+d.task.Name] = ts
					}
					c.m.mu.Unlock()
					metricTasksAdmitted.Inc()
					mu.Lock()
					fws[frameworkID(d.task.Namespace, offer.Spec.Framework)] = true
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

// admit decides on the pending tasks of one offer in order, charging the admitted ones.
func (c *Controller) admit(offer *agorav1alpha1.Offer, key types.NamespacedName, pending []*agorav1alpha1.Task, now time.Time) []decision {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.offers[key]
	fwName := ""
	if offer != nil && st != nil {
		fwName = offer.Spec.Framework
	}
	var out []decision
	for _, t := range pending {
		taskID := t.Namespace + "/" + t.Name
		if ts, ok := m.tasks[taskID]; ok {
			if ts.uid == t.UID {
				if ts.admittedWritten {
					continue // admitted and written; the cache has not caught up yet
				}
				// Charged already; an earlier status write did not land.
				out = append(out, decision{t, agorav1alpha1.TaskStaging, agorav1alpha1.ReasonAdmitted, admittedMsg(t, ts.offer), splitID(ts.framework).Name})
				continue
			}
			// A Task of the same name that is gone still holds its charge: free it.
			m.alloc.FinishTask(taskID)
			delete(m.tasks, taskID)
			m.changed = true
		}
		reject := func(reason, format string, args ...any) {
			out = append(out, decision{t, agorav1alpha1.TaskError, reason, fmt.Sprintf(format, args...), fwName})
		}
		asked, unknown := toResources(t.Spec.Resources)
		switch {
		case offer == nil || st == nil || st.gone != "":
			if tomb, ok := m.gone[key]; ok {
				switch tomb.reason {
				case agorav1alpha1.ReasonExpired:
					reject(agorav1alpha1.ReasonOfferExpired, "offer %s expired before task %s was admitted; nothing was charged: create the task again against a current offer", t.Spec.OfferName, t.Name)
				case agorav1alpha1.ReasonReleased:
					reject(agorav1alpha1.ReasonOfferNotFound, "offer %s was released (deleted) before task %s was created; nothing was charged: create the task against a current offer", t.Spec.OfferName, t.Name)
				default:
					reject(agorav1alpha1.ReasonOfferRescinded, "offer %s was rescinded (%s) before task %s was admitted; nothing was charged: create the task against a current offer", t.Spec.OfferName, tomb.reason, t.Name)
				}
				continue
			}
			reject(agorav1alpha1.ReasonOfferNotFound, "no Offer %q in namespace %s: a task can use only an open offer of its own namespace; list them with `kubectl get offers -n %s`", t.Spec.OfferName, t.Namespace, t.Namespace)
		// Timestamps have one-second resolution: a task created in the same second as the delete
		// counts as created before it (the usual "create tasks, then delete the offer" step lands
		// in one second). release reads the API after the delete, so this errs only toward a
		// task created a split second after it.
		case !offer.DeletionTimestamp.IsZero() && t.CreationTimestamp.After(offer.DeletionTimestamp.Time):
			reject(agorav1alpha1.ReasonOfferNotFound, "offer %s was released at %s, before task %s was created; nothing was charged: create the task against a current offer", t.Spec.OfferName, offer.DeletionTimestamp.UTC().Format(time.RFC3339), t.Name)
		case !m.frameworks[st.framework]:
			reject(agorav1alpha1.ReasonFrameworkNotFound, "offer %s names framework %q, which does not exist in namespace %s", t.Spec.OfferName, offer.Spec.Framework, t.Namespace)
		case !now.Before(st.expire):
			reject(agorav1alpha1.ReasonOfferExpired, "offer %s expired at %s; nothing was charged: create the task against a current offer", t.Spec.OfferName, st.expire.UTC().Format(time.RFC3339))
		case st.rescindedNodes[t.Spec.NodeName] != "":
			reject(agorav1alpha1.ReasonOfferRescinded, "offer %s's part on node %s was rescinded (%s); nothing was charged", t.Spec.OfferName, t.Spec.NodeName, st.rescindedNodes[t.Spec.NodeName])
		case !slices.ContainsFunc(offer.Spec.Nodes, func(n agorav1alpha1.OfferNode) bool { return n.NodeName == t.Spec.NodeName }):
			reject(agorav1alpha1.ReasonNodeNotInOffer, "node %q is not in offer %s, which offers %s", t.Spec.NodeName, t.Spec.OfferName, shortList(offerNodeNames(offer)))
		case t.Spec.Resources.Cpu().Sign() <= 0 || t.Spec.Resources.Memory().Sign() <= 0:
			reject(agorav1alpha1.ReasonInvalidTemplate, "task asks for cpu %s and memory %s: spec.resources needs both greater than 0 (they bound its pod, which would otherwise run unbounded); nothing was charged", t.Spec.Resources.Cpu(), t.Spec.Resources.Memory())
		case len(unknown) > 0:
			reject(agorav1alpha1.ReasonInsufficientResources, "task asks for %s, which offer %s does not offer on node %s", strings.Join(unknown, ", "), t.Spec.OfferName, t.Spec.NodeName)
		case !templateRequests(&t.Spec.Template.Spec).Fits(asked):
			reject(agorav1alpha1.ReasonInvalidTemplate, "the pod template's containers request %v, more than spec.resources %v; lower the containers' requests or raise spec.resources", templateRequests(&t.Spec.Template.Spec), asked)
		default:
			err := m.alloc.LaunchTask(st.id, allocator.Task{ID: taskID, Framework: st.framework, Node: t.Spec.NodeName, Resources: asked})
			switch {
			case err == nil:
				m.tasks[taskID] = taskState{framework: st.framework, offer: t.Spec.OfferName, node: t.Spec.NodeName, uid: t.UID}
				st.admitted++
				out = append(out, decision{t, agorav1alpha1.TaskStaging, agorav1alpha1.ReasonAdmitted, admittedMsg(t, t.Spec.OfferName), fwName})
			case errors.Is(err, allocator.ErrDoesNotFit):
				var left allocator.Resources
				if o, ok := m.alloc.Offer(st.id); ok {
					for _, n := range o.Nodes {
						if n.Node == t.Spec.NodeName {
							left = n.Resources
						}
					}
				}
				reject(agorav1alpha1.ReasonInsufficientResources, "task asks for %v on node %s, but only %v of offer %s remains there; nothing was charged: ask for less or use another node or offer", asked, t.Spec.NodeName, left, t.Spec.OfferName)
			case errors.Is(err, allocator.ErrNodeNotInOffer):
				reject(agorav1alpha1.ReasonOfferRescinded, "offer %s no longer holds node %s; nothing was charged", t.Spec.OfferName, t.Spec.NodeName)
			default:
				reject(agorav1alpha1.ReasonOfferRescinded, "offer %s cannot take the task: %v", t.Spec.OfferName, err)
			}
		}
	}
	return out
}

func admittedMsg(t *agorav1alpha1.Task, offer string) string {
	return fmt.Sprintf("admitted on node %s from offer %s", t.Spec.NodeName, offer)
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
		if err := m.alloc.ReleaseOffer(st.id, refuse); err == nil {
			released = true
		}
		admitted = st.admitted
		m.forgetOffer(st, agorav1alpha1.ReasonReleased)
	}
	m.mu.Unlock()
	if released {
		metricOffersReleased.Inc()
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
	var remaining []agorav1alpha1.OfferNodeRemaining
	rescinded := map[string]string{}
	if gone == "" {
		if o, ok := m.alloc.Offer(st.id); ok {
			for _, n := range o.Nodes {
				remaining = append(remaining, agorav1alpha1.OfferNodeRemaining{NodeName: n.Node, Resources: toResourceList(n.Resources)})
			}
		}
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
			patch := client.MergeFrom(offer.DeepCopy())
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
		m.mu.Unlock()
	}
	status := offer.Status.DeepCopy()
	sort.Slice(remaining, func(i, j int) bool { return remaining[i].NodeName < remaining[j].NodeName })
	status.Remaining = remaining
	status.AdmittedTasks = admitted
	if !equality.Semantic.DeepEqual(&offer.Status, status) {
		o := offer.DeepCopy()
		o.Status = *status
		if err := c.client.Status().Update(ctx, o); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		c.enqueueFrameworks(fwID)
	}
	return ctrl.Result{RequeueAfter: max(time.Until(expire), 0) + 10*time.Millisecond}, nil
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
		return "the resources were taken back for a framework below its fair share"
	}
	return "the offer was taken back: " + reason
}
