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

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/internal/cli"
	"github.com/agora-sched/agora/examples/internal/job"
	"github.com/agora-sched/agora/examples/report"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
	"github.com/agora-sched/agora/pkg/sdk"
)

// The batch framework on a Driver over fake clientsets: the test plays the controller and the
// executor (offers, task statuses).
type harness struct {
	t     *testing.T
	b     *batch
	d     *sdk.Driver
	agora *agorafake.Clientset
	done  chan error
}

func start(t *testing.T, tasks int, revocable bool) *harness {
	t.Helper()
	b := &batch{flags: cli.Flags{Namespace: "ns", Name: "job", Weight: "1"}, tasks: tasks, cpu: "1", mem: "1Gi",
		duration: time.Second, revocable: revocable}
	b.jobFlags.Report = filepath.Join(t.TempDir(), "report.json")
	b.init()
	spec, err := b.flags.Spec()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, b: b, agora: agorafake.NewSimpleClientset(), done: make(chan error, 1)}
	h.d, err = sdk.New(h.agora, kubefake.NewSimpleClientset(), sdk.Config{Namespace: "ns", Name: "job", Spec: spec, LeaseDuration: -1}, b)
	if err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	ctx, b.stop = context.WithCancel(context.Background())
	go func() { h.done <- h.d.Run(ctx) }()
	t.Cleanup(func() {
		b.stop()
		select {
		case err := <-h.done:
			if err != nil && !errors.Is(err, sdk.ErrFrameworkDeleted) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the Driver did not stop")
		}
	})
	h.eventually("the framework registered", func() bool { return h.d.Framework() != nil })
	return h
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// onCallbacks reports f's result, run on the Driver's callback goroutine (which owns the batch's
// state) after the callbacks already queued.
func (h *harness) onCallbacks(f func() bool) bool {
	out := make(chan bool, 1)
	h.d.AfterFunc(0, func(*sdk.Driver) { out <- f() })
	select {
	case ok := <-out:
		return ok
	case <-time.After(10 * time.Second):
		h.t.Fatal("the callback goroutine is stuck")
		return false
	}
}

// slice is one node's part of an offer, with room for slots tasks.
type slice struct {
	node      string
	slots     int
	revocable bool
}

// offer makes an offer to the framework and waits until the framework answered it (launching
// releases it, as declining does).
func (h *harness) offer(name string, slices ...slice) {
	h.t.Helper()
	o := &agorav1alpha1.Offer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:       agorav1alpha1.OfferSpec{Framework: "job", ExpireTime: metav1.NewTime(time.Now().Add(time.Minute))},
	}
	for _, s := range slices {
		o.Spec.Nodes = append(o.Spec.Nodes, agorav1alpha1.OfferNode{NodeName: s.node, Revocable: s.revocable,
			Resources: sdk.Resources("cpu", strconv.Itoa(s.slots), "memory", strconv.Itoa(s.slots)+"Gi")})
	}
	if _, err := h.agora.SchedulingV1alpha1().Offers("ns").Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	h.eventually("offer "+name+" answered", func() bool {
		_, err := h.agora.SchedulingV1alpha1().Offers("ns").Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// placement is every task of the framework and its node.
func (h *harness) placement() map[string]string {
	h.t.Helper()
	list, err := h.agora.SchedulingV1alpha1().Tasks("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, tk := range list.Items {
		out[tk.Name] = tk.Spec.NodeName
	}
	return out
}

// end writes a task's status as the executor would.
func (h *harness) end(name string, phase agorav1alpha1.TaskPhase, reason string) {
	h.t.Helper()
	api := h.agora.SchedulingV1alpha1().Tasks("ns")
	tk, err := api.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	tk.Status.Phase, tk.Status.Reason, tk.Status.Message = phase, reason, "test"
	if _, err := api.UpdateStatus(context.Background(), tk, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

// capabilities are those the framework registered with.
func (h *harness) capabilities() []agorav1alpha1.FrameworkCapability {
	h.t.Helper()
	fw, err := h.agora.SchedulingV1alpha1().Frameworks("ns").Get(context.Background(), "job", metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return fw.Spec.Capabilities
}

// Without --revocable the framework does not ask for revocable resources, and a revocable slice
// it is offered anyway goes back unused.
func TestWithoutRevocableSlicesAreDeclined(t *testing.T) {
	h := start(t, 3, false)
	if got := h.capabilities(); len(got) != 0 {
		t.Errorf("spec.capabilities %v, want none", got)
	}
	h.offer("o1", slice{"n-rev", 2, true}, slice{"n1", 1, false})
	if diff := cmp.Diff(map[string]string{"job-0-0": "n1"}, h.placement()); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

// With --revocable it asks for them and fills regular slices first, then revocable ones. A
// preempted task is relaunched without using up a retry (--max-retries 0 here), and the report
// counts the preemption apart from the failures.
func TestRevocablePreemptedTasksAreRetried(t *testing.T) {
	h := start(t, 3, true)
	if diff := cmp.Diff([]agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}, h.capabilities()); diff != "" {
		t.Errorf("spec.capabilities (-want +got):\n%s", diff)
	}
	h.offer("o1", slice{"n-rev", 2, true}, slice{"n1", 1, false})
	if diff := cmp.Diff(map[string]string{"job-0-0": "n1", "job-1-0": "n-rev", "job-2-0": "n-rev"}, h.placement()); diff != "" {
		t.Fatalf("tasks (-want +got):\n%s", diff)
	}

	h.end("job-0-0", agorav1alpha1.TaskFinished, agorav1alpha1.ReasonCompleted)
	h.end("job-1-0", agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted)
	h.end("job-2-0", agorav1alpha1.TaskFailed, "Error")
	h.eventually("the preempted task pending again, the failed one given up", func() bool {
		return h.onCallbacks(func() bool { return h.b.job.State(1) == job.Pending && h.b.job.State(2) == job.GaveUp })
	})
	h.offer("o2", slice{"n2", 1, false})
	if got := h.placement()["job-1-1"]; got != "n2" {
		t.Fatalf("the preempted task's next attempt is on %q, want n2 (tasks %v)", got, h.placement())
	}
	h.end("job-1-1", agorav1alpha1.TaskFinished, agorav1alpha1.ReasonCompleted)

	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		if !errors.Is(err, sdk.ErrFrameworkDeleted) {
			t.Fatalf("Run: %v, want the teardown of a finished job", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not end")
	}
	r, err := report.Read(h.b.jobFlags.Report)
	if err != nil {
		t.Fatal(err)
	}
	r.Seconds = 0
	one := 1
	want := report.Report{Framework: "job", Tasks: 3, Finished: 2, Launched: 4, Relaunched: 1, Preempted: &one, GaveUp: 1}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}
