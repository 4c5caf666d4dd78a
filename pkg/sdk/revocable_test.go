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

package sdk

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
)

func TestRevocable(t *testing.T) {
	o := offer("o", "n1", "n2")
	o.Spec.Nodes[1].Revocable = true
	for node, want := range map[string]bool{"n1": false, "n2": true, "elsewhere": false} {
		if got := Revocable(o, node); got != want {
			t.Errorf("Revocable(o, %s) = %v, want %v", node, got, want)
		}
	}
}

func TestPreempted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		phase  agorav1alpha1.TaskPhase
		reason string
		want   bool
	}{
		{"preempted", agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted, true},
		{"killed", agorav1alpha1.TaskKilled, agorav1alpha1.ReasonTaskKilled, false},
		{"framework torn down", agorav1alpha1.TaskKilled, agorav1alpha1.ReasonFrameworkTeardown, false},
		// The reason alone is no preemption: only a kill is.
		{"not killed", agorav1alpha1.TaskFailed, agorav1alpha1.ReasonPreempted, false},
		{"running", agorav1alpha1.TaskRunning, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := task("t", tc.phase, "uid-1")
			tk.Status.Reason = tc.reason
			if got := Preempted(tk); got != tc.want {
				t.Errorf("Preempted = %v, want %v", got, tc.want)
			}
		})
	}
}

// The framework hears of a preemption as Killed, reason Preempted: as the executor wrote it, or,
// when the task went without the executor's last word (its node was lost), from the controller's
// Preempted condition.
func TestDriverDeliversPreemption(t *testing.T) {
	r := &recorder{}
	r.onStatus = func(_ *Driver, tk *agorav1alpha1.Task) {
		if Preempted(tk) {
			r.add("preempted " + tk.Name + ": " + tk.Status.Message)
		}
	}
	_, agora, _ := run(t, r)
	ctx := context.Background()
	api := agora.SchedulingV1alpha1().Tasks("ns")
	why := "preempted to raise role prod to its guarantee"
	for _, name := range []string{"by-executor", "without-executor"} {
		tk := task(name, agorav1alpha1.TaskRunning, "uid-1")
		tk.Status.Revocable = true
		if _, err := api.Create(ctx, tk, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r.waitFor(t, "status "+name+" Running")
		meta.SetStatusCondition(&tk.Status.Conditions, metav1.Condition{Type: agorav1alpha1.TaskConditionPreempted,
			Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonPreempted, Message: why})
		if name == "by-executor" {
			tk.Status.Phase, tk.Status.Reason = agorav1alpha1.TaskKilled, agorav1alpha1.ReasonPreempted
			tk.Status.Message = why + ": the Task was deleted; its pod by-executor was stopped"
		}
		if _, err := api.UpdateStatus(ctx, tk, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor(t,
		"status by-executor Killed", "preempted by-executor: "+why+": the Task was deleted; its pod by-executor was stopped",
		"status without-executor Killed", "preempted without-executor: "+why+": task ns/without-executor was deleted in phase Running")
}

// A framework asks for revocable offers as for any capability, in Config.Spec: registering
// creates the Framework with it, or adds it to the existing one (and a config without it takes
// it away again).
func TestRegisterAsksForRevocableResources(t *testing.T) {
	revocable := []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}
	existing := &agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fw", UID: "uid-1"}}
	withIt := existing.DeepCopy()
	withIt.Spec.Capabilities = revocable
	for _, tc := range []struct {
		name string
		objs []*agorav1alpha1.Framework
		ask  []agorav1alpha1.FrameworkCapability
	}{
		{"created", nil, revocable},
		{"added", []*agorav1alpha1.Framework{existing}, revocable},
		{"taken away", []*agorav1alpha1.Framework{withIt}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agora := agorafake.NewSimpleClientset()
			for _, o := range tc.objs {
				if err := agora.Tracker().Add(o.DeepCopy()); err != nil {
					t.Fatal(err)
				}
			}
			cfg := Config{Namespace: "ns", Name: "fw", LeaseDuration: -1, Spec: agorav1alpha1.FrameworkSpec{Capabilities: tc.ask}}
			d, err := New(agora, kubefake.NewSimpleClientset(), cfg, &recorder{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.register(context.Background()); err != nil {
				t.Fatal(err)
			}
			fw, err := agora.SchedulingV1alpha1().Frameworks("ns").Get(context.Background(), "fw", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.ask, fw.Spec.Capabilities); diff != "" {
				t.Errorf("spec.capabilities (-want +got):\n%s", diff)
			}
		})
	}
}
