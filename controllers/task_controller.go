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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// taskReconciler frees what a task held once it is terminal (the executor writes Finished,
// Failed, Killed or Lost) or gone. Admission is the Offer reconciler's.
type taskReconciler struct {
	c *Controller
	// cache is where the reconciler reads Tasks first (the manager's cache; a test gives it a
	// lagging one).
	cache client.Reader
}

func (c *Controller) setupTasks(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("task").
		For(&agorav1alpha1.Task{}).
		Complete(&taskReconciler{c: c, cache: c.cache})
}

func (r *taskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := r.c
	if err := c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	t := &agorav1alpha1.Task{}
	err := r.cache.Get(ctx, req.NamespacedName, t)
	if err != nil && !isNotFound(err) {
		return ctrl.Result{}, err
	}
	if isNotFound(err) {
		t = nil
	}
	if t != nil && t.Status.Phase != "" && (!t.Status.Phase.IsTerminal() || controllerutil.ContainsFinalizer(t, agorav1alpha1.TaskFinalizer)) {
		// An admitted task whose node is lost is Lost, and loses the executor's finalizer; the
		// node's reconcile does that when the node goes, this catches what it could not see (a
		// controller that restarted after the Node was deleted, a task that became terminal
		// later).
		if lost, why, err := c.nodeLost(ctx, t.Spec.NodeName); err != nil {
			return ctrl.Result{}, err
		} else if lost {
			if err := c.loseNode(ctx, t.Spec.NodeName, why); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	// Free the charge of every incarnation of this name that has ended. Only evidence about
	// that incarnation itself counts: the cache showing it terminal, or the API showing it gone
	// (or replaced by another UID). A cache that lags behind a delete and a create under the
	// same name must never free the newer task's charge.
	for _, uid := range c.m.chargedUnder(req.NamespacedName) {
		if t != nil && t.UID == uid {
			if t.Status.Phase.IsTerminal() {
				c.finishTask(uid)
			}
			continue
		}
		live := &agorav1alpha1.Task{}
		err := c.reader.Get(ctx, req.NamespacedName, live)
		if err != nil && !isNotFound(err) {
			return ctrl.Result{}, err
		}
		if err == nil && live.UID == uid && !live.Status.Phase.IsTerminal() {
			continue // the cache lags: this incarnation is alive
		}
		c.finishTask(uid)
	}
	return ctrl.Result{}, nil
}

// nodeLost reports whether a node is gone for good as far as its tasks are concerned: its Node
// deleted, or lost after staying NotReady.
func (c *Controller) nodeLost(ctx context.Context, name string) (bool, string, error) {
	c.m.mu.Lock()
	lost := c.m.lostNodes[name]
	c.m.mu.Unlock()
	if lost {
		return true, "it stayed NotReady past --node-lost-timeout", nil
	}
	err := c.cache.Get(ctx, types.NamespacedName{Name: name}, &corev1.Node{})
	if isNotFound(err) {
		return true, "the Node was deleted", nil
	}
	return false, "", err
}

// finishTask frees what task uid held, if the model charged it, and has its node counted again:
// the task's pod, if it still runs, now counts against the node until it is gone.
func (c *Controller) finishTask(uid types.UID) {
	m := c.m
	m.mu.Lock()
	ts, charged := m.finishTaskLocked(uid)
	m.mu.Unlock()
	if charged {
		c.enqueueFrameworks(ts.framework)
		c.enqueueNodes(ts.node)
	}
}
