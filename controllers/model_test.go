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
	"testing"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/agora-sched/agora/pkg/allocator"
)

// A rebuild that failed half way is retried on an empty model: nothing the failed attempt
// charged or recorded survives reset, so the retry charges each task once.
func TestModelResetForgetsAFailedRebuild(t *testing.T) {
	opts := Options{}
	opts.defaults()
	clk := clocktesting.NewFakeClock(opts.Clock.Now())
	opts.Clock = clk
	m := newModel(newAllocator(opts), clk)
	ready := m.ready

	m.mu.Lock()
	if _, err := m.alloc.AddTask(allocator.Task{ID: "uid-1", Framework: "ns/fw", Node: "n1",
		Resources: allocator.Resources{allocator.CPU: 1000}}); err != nil {
		t.Fatal(err)
	}
	m.chargeTaskLocked("uid-1", &taskState{key: types.NamespacedName{Namespace: "ns", Name: "t"}, framework: "ns/fw", node: "n1"})
	m.frameworks["ns/fw"] = &frameworkState{}
	m.lostNodes["n1"] = true
	old := m.alloc
	m.mu.Unlock()

	m.reset(newAllocator(opts))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.alloc == old || len(m.tasks) != 0 || len(m.names) != 0 || len(m.frameworks) != 0 || len(m.lostNodes) != 0 {
		t.Errorf("after reset: alloc replaced %v, tasks %v, names %v, frameworks %v, lostNodes %v",
			m.alloc != old, m.tasks, m.names, m.frameworks, m.lostNodes)
	}
	if st := m.alloc.Stats(); st.Offers != 0 {
		t.Errorf("the new allocator holds %d offers", st.Offers)
	}
	if m.ready != ready || !m.changed {
		t.Error("reset must keep the ready channel the reconcilers wait on and re-arm the cycle")
	}
	// The retry charges the same task again without a conflict.
	if _, err := m.alloc.AddTask(allocator.Task{ID: "uid-1", Framework: "ns/fw", Node: "n1",
		Resources: allocator.Resources{allocator.CPU: 1000}}); err != nil {
		t.Errorf("charging the task again after reset: %v", err)
	}
}
