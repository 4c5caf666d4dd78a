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
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// taskCounter keeps each Framework's task counts by phase (status.tasks) up to date from the
// Task informer's events, one adjustment per event, instead of counting the framework's tasks
// again on every event (which costs O(tasks) per task change, O(tasks²) over a framework's
// life). A task counts for the framework in its status.framework from the moment admission
// writes it there.
type taskCounter struct {
	mu     sync.Mutex
	counts map[types.NamespacedName]*agorav1alpha1.TaskCounts
	// changed is told which framework's counts moved.
	changed func(ids ...string)
}

func newTaskCounter(changed func(ids ...string)) *taskCounter {
	return &taskCounter{counts: map[types.NamespacedName]*agorav1alpha1.TaskCounts{}, changed: changed}
}

// get returns a framework's counts, with Active filled in.
func (tc *taskCounter) get(fw types.NamespacedName) agorav1alpha1.TaskCounts {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var n agorav1alpha1.TaskCounts
	if c := tc.counts[fw]; c != nil {
		n = *c
	}
	n.Active = n.Staging + n.Starting + n.Running + n.Unreachable
	return n
}

// counted is what one Task contributes: its framework and phase, or ok false for nothing.
func counted(obj any) (fw types.NamespacedName, phase agorav1alpha1.TaskPhase, ok bool) {
	if d, isTombstone := obj.(toolscache.DeletedFinalStateUnknown); isTombstone {
		obj = d.Obj
	}
	t, isTask := obj.(*agorav1alpha1.Task)
	if !isTask || t.Status.Framework == "" || t.Status.Phase == "" {
		return fw, "", false
	}
	return types.NamespacedName{Namespace: t.Namespace, Name: t.Status.Framework}, t.Status.Phase, true
}

func (tc *taskCounter) move(old, cur any) {
	oldFw, oldPhase, hadOld := counted(old)
	fw, phase, hasCur := counted(cur)
	if hadOld == hasCur && oldFw == fw && oldPhase == phase {
		return
	}
	var ids []string
	tc.mu.Lock()
	if hadOld {
		tc.add(oldFw, oldPhase, -1)
		ids = append(ids, frameworkID(oldFw.Namespace, oldFw.Name))
	}
	if hasCur {
		tc.add(fw, phase, 1)
		if !hadOld || fw != oldFw {
			ids = append(ids, frameworkID(fw.Namespace, fw.Name))
		}
	}
	tc.mu.Unlock()
	tc.changed(ids...)
}

// add changes one phase count. Call with mu held.
func (tc *taskCounter) add(fw types.NamespacedName, phase agorav1alpha1.TaskPhase, d int32) {
	c := tc.counts[fw]
	if c == nil {
		c = &agorav1alpha1.TaskCounts{}
		tc.counts[fw] = c
	}
	switch phase {
	case agorav1alpha1.TaskStaging:
		c.Staging += d
	case agorav1alpha1.TaskStarting:
		c.Starting += d
	case agorav1alpha1.TaskRunning:
		c.Running += d
	case agorav1alpha1.TaskUnreachable:
		c.Unreachable += d
	case agorav1alpha1.TaskFinished:
		c.Finished += d
	case agorav1alpha1.TaskFailed:
		c.Failed += d
	case agorav1alpha1.TaskKilled:
		c.Killed += d
	case agorav1alpha1.TaskLost:
		c.Lost += d
	case agorav1alpha1.TaskError:
		c.Error += d
	}
	if *c == (agorav1alpha1.TaskCounts{}) {
		delete(tc.counts, fw)
	}
}

func (tc *taskCounter) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { tc.move(nil, obj) },
		UpdateFunc: func(old, cur any) { tc.move(old, cur) },
		DeleteFunc: func(obj any) { tc.move(obj, nil) },
	}
}
