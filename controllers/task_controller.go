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

	ctrl "sigs.k8s.io/controller-runtime"

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
	if err == nil && !t.Status.Phase.IsTerminal() {
		return ctrl.Result{}, nil
	}
	c.finishTask(id)
	return ctrl.Result{}, nil
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
