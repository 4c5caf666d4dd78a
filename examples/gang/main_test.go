package main

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// A group whose attempts end without running (the SDK did not create a member: NameInUse,
// OfferExpired; or a member was preempted) runs again without using a retry; a member that
// failed by itself uses one. Review: a job run again under its name met the previous run's
// tasks, still being deleted, and gave up after --max-retries NameInUse attempts.
func TestBlamelessEndsUseNoRetry(t *testing.T) {
	g := &gang{size: 2, maxRetries: 1}
	g.flags.Name = "gang"
	g.g = []*group{{phases: map[int]agorav1alpha1.TaskPhase{}}}
	end := func(a int, phase agorav1alpha1.TaskPhase, reason string) {
		g.observe(&agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Name: g.name(0, a, 0)},
			Status: agorav1alpha1.TaskStatus{Phase: phase, Reason: reason}})
	}
	end(0, agorav1alpha1.TaskError, agorav1alpha1.ReasonNameInUse)
	end(1, agorav1alpha1.TaskError, agorav1alpha1.ReasonOfferExpired)
	end(2, agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted)
	if gr := g.g[0]; gr.done || gr.failures != 0 || gr.attempt != 3 {
		t.Fatalf("after three blameless ends: done %v, failures %d, attempt %d; want running attempt 3 with no failure", gr.done, gr.failures, gr.attempt)
	}
	end(3, agorav1alpha1.TaskFailed, "")
	end(4, agorav1alpha1.TaskError, agorav1alpha1.ReasonInvalidTemplate)
	if gr := g.g[0]; !gr.done || gr.failures != 2 {
		t.Fatalf("after two failures with --max-retries 1: done %v, failures %d; want given up", gr.done, gr.failures)
	}
}
