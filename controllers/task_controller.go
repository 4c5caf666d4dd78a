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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// taskReconciler frees what a task held once it is terminal (the executor writes Finished,
// Failed, Killed or Lost) or gone. Admission is the Offer reconciler's.
type taskReconciler struct{ c *Controller }

func (c *Controller) setupTasks(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("task").
		For(&agorav1alpha1.Task{}).
		Complete(&taskReconciler{c})
}

func (r *taskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	c := r.c
	if err := c.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	id := req.Namespace + "/" + req.Name
	t := &agorav1alpha1.Task{}
	err := c.cache.Get(ctx, req.NamespacedName, t)
	if err != nil && !isNotFound(err) {
		return ctrl.Result{}, err
	}
	if err == nil && t.Status.Phase != "" {
		// An admitted task whose node is lost is Lost, and loses the executor's finalizer; the
		// node's reconcile does that when the node goes, this catches what it could not see (a
		// controller that restarted after the Node was deleted, a task that became terminal
		// later).
		if lost, why, err := c.nodeLost(ctx, t.Spec.NodeName); err != nil {
			return ctrl.Result{}, err
		} else if lost && (!t.Status.Phase.IsTerminal() || controllerutil.ContainsFinalizer(t, agorav1alpha1.TaskFinalizer)) {
			if err := c.loseNode(ctx, t.Spec.NodeName, why); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if err == nil && !t.Status.Phase.IsTerminal() && !c.chargedToOther(id, t.UID) {
		return ctrl.Result{}, nil
	}
	c.finishTask(id)
	return ctrl.Result{}, nil
}

// nodeLost reports whether a node is gone for good as far as its tasks are concerned: its Node
// deleted, or lost to a stale executor Lease.
func (c *Controller) nodeLost(ctx context.Context, name string) (bool, string, error) {
	c.m.mu.Lock()
	lost := c.m.lostNodes[name]
	c.m.mu.Unlock()
	if lost {
		return true, "its executor Lease stayed stale past --node-lost-timeout", nil
	}
	err := c.cache.Get(ctx, types.NamespacedName{Name: name}, &corev1.Node{})
	if isNotFound(err) {
		return true, "the Node was deleted", nil
	}
	return false, "", err
}

// chargedToOther reports whether the model holds the charge of task id for another Task than
// the one with this uid: an earlier Task of the same name, deleted and created again before this
// reconciler saw the delete. That charge is freed like a finished task's.
func (c *Controller) chargedToOther(id string, uid types.UID) bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	ts, ok := c.m.tasks[id]
	return ok && ts.uid != uid
}

// finishTask frees what a task held, if the model charged it.
func (c *Controller) finishTask(id string) {
	m := c.m
	m.mu.Lock()
	ts, charged := m.tasks[id]
	if charged {
		m.alloc.FinishTask(id)
		delete(m.tasks, id)
		m.changed = true
	}
	m.mu.Unlock()
	if charged {
		c.enqueueFrameworks(ts.framework)
	}
}
