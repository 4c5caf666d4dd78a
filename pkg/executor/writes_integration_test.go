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

package executor

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/test/testcluster"
)

// A pod that does not run within StartingDelay (here: on a node kwok does not manage, so it
// stays Pending) is reported Starting, with its UID recorded.
func TestStartingWhenPodDoesNotRun(t *testing.T) {
	integration(t)
	ctx := context.Background()
	node, err := testcluster.KwokNode("unmanaged-0", "zone-a", testcluster.NodeShape{})
	if err != nil {
		t.Fatal(err)
	}
	delete(node.Annotations, testcluster.KwokNodeAnnotation) // kwok leaves its pods Pending
	if _, err := cluster.Kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Kube.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{})
	})
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	startExecutor(t, Options{NodeName: node.Name, StartingDelay: 500 * time.Millisecond})

	start := time.Now() // before the pod's creation
	stageTask(t, ns, "slow", taskSpec{node: node.Name})
	task := waitPhase(t, ns, "slow", starting)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("Starting written %s after the task was staged, before StartingDelay (500ms) had passed", d)
	}
	pod, ok := getPod(t, ns, "slow")
	if !ok {
		t.Fatal("no pod")
	}
	if pod.Status.Phase != corev1.PodPending && pod.Status.Phase != "" {
		t.Fatalf("pod is %s, want Pending", pod.Status.Phase)
	}
	if task.Status.PodUID != string(pod.UID) || task.Status.PodName != pod.Name {
		t.Errorf("status podName/podUID %s/%s, want %s/%s", task.Status.PodName, task.Status.PodUID, pod.Name, pod.UID)
	}
	if diff := cmp.Diff([]agorav1alpha1.TaskPhase{staged, starting}, rec.get("slow")); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}

// A Task created with the executor's finalizer already on (as the SDK creates them) costs the
// executor no Task write before its pod: the pod create, Running, Finished, the pod's release
// and the finalizer's removal are all it writes.
func TestFinalizerSetAtCreate(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	m := NewMetrics()
	startExecutor(t, Options{NodeName: "kwok-node-0", Metrics: m})

	stageTask(t, ns, "sdk", taskSpec{annotations: completes("1s"), finalizers: []string{agorav1alpha1.TaskFinalizer}})
	waitSettled(t, ns, "sdk", finished)
	eventually(t, 30*time.Second, "finalizer removed", func() (bool, string) {
		task, ok := getTask(t, ns, "sdk")
		return ok && !hasFinalizer(task), describe(task)
	})
	if diff := cmp.Diff([]agorav1alpha1.TaskPhase{staged, runningP, finished}, rec.get("sdk")); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	status := func(p agorav1alpha1.TaskPhase) float64 {
		return counterValue(t, m.statusWrites.WithLabelValues(string(p)))
	}
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"pod creates", counterValue(t, m.podsCreated), 1},
		{"Task finalizer writes (the removal)", counterValue(t, m.finalizerWrites), 1},
		{"pod finalizer releases", counterValue(t, m.podFinalizerWrites), 1},
		{"Starting writes", status(starting), 0},
		{"Running writes", status(runningP), 1},
		{"Finished writes", status(finished), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
