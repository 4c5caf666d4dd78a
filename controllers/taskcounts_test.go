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
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

func countedTask(name, fw string, phase agorav1alpha1.TaskPhase) *agorav1alpha1.Task {
	t := &agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	t.Status.Framework, t.Status.Phase = fw, phase
	return t
}

// TestTaskCounter replays informer events and compares the counts, and the frameworks told of
// a change, with what counting the tasks afresh gives.
func TestTaskCounter(t *testing.T) {
	type event struct{ old, cur *agorav1alpha1.Task }
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	for name, tc := range map[string]struct {
		events   []event
		want     map[types.NamespacedName]agorav1alpha1.TaskCounts
		notified []string
	}{
		"pending tasks count for nobody": {
			events: []event{{nil, countedTask("t1", "", "")}, {countedTask("t1", "", ""), countedTask("t1", "", "")}},
			want:   map[types.NamespacedName]agorav1alpha1.TaskCounts{a: {}},
		},
		"admission, then the executor's phases": {
			events: []event{
				{nil, countedTask("t1", "", "")},
				{countedTask("t1", "", ""), countedTask("t1", "a", agorav1alpha1.TaskStaging)},
				{countedTask("t1", "a", agorav1alpha1.TaskStaging), countedTask("t1", "a", agorav1alpha1.TaskStarting)},
				{countedTask("t1", "a", agorav1alpha1.TaskStarting), countedTask("t1", "a", agorav1alpha1.TaskRunning)},
				{nil, countedTask("t2", "a", agorav1alpha1.TaskError)},
			},
			want:     map[types.NamespacedName]agorav1alpha1.TaskCounts{a: {Active: 1, Running: 1, Error: 1}},
			notified: []string{"ns/a", "ns/a", "ns/a", "ns/a"},
		},
		"an update that changes nothing counted notifies nobody": {
			events: []event{
				{nil, countedTask("t1", "a", agorav1alpha1.TaskRunning)},
				{countedTask("t1", "a", agorav1alpha1.TaskRunning), countedTask("t1", "a", agorav1alpha1.TaskRunning)},
			},
			want:     map[types.NamespacedName]agorav1alpha1.TaskCounts{a: {Active: 1, Running: 1}},
			notified: []string{"ns/a"},
		},
		"delete, also as a tombstone, and relist of a known task": {
			events: []event{
				{nil, countedTask("t1", "a", agorav1alpha1.TaskFinished)},
				{nil, countedTask("t2", "b", agorav1alpha1.TaskLost)},
				{countedTask("t1", "a", agorav1alpha1.TaskFinished), nil},
				{countedTask("t2", "b", agorav1alpha1.TaskLost), nil},
				{nil, countedTask("t3", "b", agorav1alpha1.TaskKilled)},
			},
			want:     map[types.NamespacedName]agorav1alpha1.TaskCounts{a: {}, b: {Killed: 1}},
			notified: []string{"ns/a", "ns/b", "ns/a", "ns/b", "ns/b"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var notified []string
			tc2 := newTaskCounter(func(ids ...string) { notified = append(notified, ids...) })
			h := tc2.handler()
			for i, ev := range tc.events {
				switch {
				case ev.old == nil:
					h.OnAdd(ev.cur, false)
				case ev.cur == nil && i%2 == 1:
					h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/" + ev.old.Name, Obj: ev.old})
				case ev.cur == nil:
					h.OnDelete(ev.old)
				default:
					h.OnUpdate(ev.old, ev.cur)
				}
			}
			for fw, want := range tc.want {
				if diff := cmp.Diff(want, tc2.get(fw)); diff != "" {
					t.Errorf("counts of %s (-want +got):\n%s", fw, diff)
				}
			}
			sort.Strings(notified)
			sort.Strings(tc.notified)
			if diff := cmp.Diff(tc.notified, notified); diff != "" {
				t.Errorf("frameworks notified (-want +got):\n%s", diff)
			}
			if len(tc2.counts) > 2 {
				t.Errorf("%d entries kept, want only frameworks with tasks", len(tc2.counts))
			}
		})
	}
}
