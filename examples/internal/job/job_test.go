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

// A preempted attempt (Killed, reason Preempted) is relaunched however often it happens: it did
// nothing wrong, so it uses up no retry. It counts as a relaunch and as a preemption; a real
// failure still counts against the limit.
func TestPreemptionUsesNoRetry(t *testing.T) {
	j := New("b", 1, 0)
	end := func(a int, phase agorav1alpha1.TaskPhase, reason string) State {
		tk := &agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Name: j.Name(0, a)}}
		tk.Status.Phase, tk.Status.Reason = phase, reason
		_, st := j.Observe(tk)
		return st
	}
	for a := 0; a < 3; a++ {
		if st := end(a, agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted); st != Pending {
			t.Fatalf("attempt %d preempted: state %v, want Pending", a, st)
		}
		if got := j.Pending(); len(got) != 1 || j.Launching(0, "n") != j.Name(0, a+1) {
			t.Fatalf("after preemption %d: pending %v", a, got)
		}
	}
	if j.Preempted() != 3 || j.Relaunched() != 3 {
		t.Errorf("%d preempted, %d relaunched, want 3 and 3", j.Preempted(), j.Relaunched())
	}
	// Observing the same end again changes nothing.
	if i, _ := j.Observe(&agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Name: j.Name(0, 2)},
		Status: agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskKilled, Reason: agorav1alpha1.ReasonPreempted}}); i != -1 || j.Preempted() != 3 {
		t.Errorf("a repeated status was counted again: index %d, %d preempted", i, j.Preempted())
	}
	// Killed for any other reason is a failure: with no retries left, the task is given up.
	if st := end(3, agorav1alpha1.TaskKilled, agorav1alpha1.ReasonTaskKilled); st != GaveUp {
		t.Errorf("killed: state %v, want GaveUp", st)
	}
}
