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

package job

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// An Unreachable task may still run: relaunching it would run the work twice. It stays in
// flight until it comes back or ends.
func TestUnreachableIsNotRelaunched(t *testing.T) {
	j := New("b", 1, 3)
	for _, step := range []struct {
		phase agorav1alpha1.TaskPhase
		want  State
	}{
		{agorav1alpha1.TaskRunning, InFlight},
		{agorav1alpha1.TaskUnreachable, InFlight},
		{agorav1alpha1.TaskRunning, InFlight},
		{agorav1alpha1.TaskUnreachable, InFlight},
		{agorav1alpha1.TaskFinished, Done},
	} {
		tk := &agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Name: j.Name(0, 0)}}
		tk.Status.Phase = step.phase
		if i, st := j.Observe(tk); i != 0 || st != step.want {
			t.Fatalf("after %s: index %d state %v, want 0 %v", step.phase, i, st, step.want)
		}
	}
	if j.relaunched != 0 {
		t.Errorf("%d relaunches", j.relaunched)
	}
}

// A launch the Driver refused created nothing: the index is pending again, under the same name.
func TestNotLaunched(t *testing.T) {
	j := New("b", 2, 3)
	name := j.Launching(1, "n1")
	if got := j.Pending(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("pending after Launching(1): %v", got)
	}
	j.NotLaunched(name)
	if got := j.Pending(); len(got) != 2 || j.Launched() != 0 || j.Launching(1, "n2") != name {
		t.Errorf("after NotLaunched: pending %v, launched %d", got, j.Launched())
	}
}
