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
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/watch"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// podRecorder records, from a watch opened before the pods exist, the UID of every pod each
// task ever had (so a second run cannot hide by being short), the resourceVersion at which
// each pod lost the executor's finalizer (or disappeared), and the grace period it was deleted
// with.
type podRecorder struct {
	mu       sync.Mutex
	uids     map[string][]types.UID // by pod name, in order of creation
	released map[types.UID]string   // resourceVersion of the first event without PodFinalizer
	grace    map[types.UID]int64    // deletionGracePeriodSeconds when its deletion was first seen
}

func recordPods(t *testing.T, ns string) *podRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cluster.Kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &podRecorder{uids: map[string][]types.UID{}, released: map[types.UID]string{}, grace: map[types.UID]int64{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			r.mu.Lock()
			if !slices.Contains(r.uids[pod.Name], pod.UID) {
				r.uids[pod.Name] = append(r.uids[pod.Name], pod.UID)
			}
			if _, seen := r.released[pod.UID]; !seen && (ev.Type == watch.Deleted || !heldByExecutor(pod)) {
				r.released[pod.UID] = pod.ResourceVersion
			}
			if _, seen := r.grace[pod.UID]; !seen && pod.DeletionGracePeriodSeconds != nil {
				r.grace[pod.UID] = *pod.DeletionGracePeriodSeconds
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return r
}

func heldByExecutor(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, agorav1alpha1.PodFinalizer)
}

// runs is every pod the task named name ever had.
func (r *podRecorder) runs(name string) []types.UID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]types.UID(nil), r.uids[name]...)
}

// deletedWith is the grace period the pod was deleted with, once its deletion was seen.
func (r *podRecorder) deletedWith(uid types.UID) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.grace[uid]
	return g, ok
}

func (r *podRecorder) releasedAt(uid types.UID) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rv, ok := r.released[uid]
	return rv, ok
}

// recordedBefore fails the test unless the task's end was written before its pod lost the
// executor's finalizer: resourceVersions are etcd revisions, one sequence for Tasks and Pods.
func recordedBefore(t *testing.T, tasks *phaseRecorder, name string, pods *podRecorder, uid types.UID) {
	t.Helper()
	var taskRV, podRV string
	eventually(t, waitTimeout, "the task's end and the pod's release to be seen", func() (bool, string) {
		var ended, released bool
		taskRV, ended = tasks.ended(name)
		podRV, released = pods.releasedAt(uid)
		return ended && released, fmt.Sprintf("ended %v released %v", ended, released)
	})
	c, err := resourceversion.CompareResourceVersion(taskRV, podRV)
	if err != nil {
		t.Fatal(err)
	}
	if c >= 0 {
		t.Errorf("the pod lost its finalizer (resourceVersion %s) before the task's end was written (%s)", podRV, taskRV)
	}
}

// The executor crashed after creating a task's pod and before writing Starting; while it was
// down, the pod was deleted (eviction, pod GC, a person). Restarted, it finds a Staging task with
// the finalizer and must not run the task a second time: the pod's finalizer kept the deleted
// pod in the API, so the executor sees it ended and records that instead.
func TestRestartNeverRunsTaskTwice(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	pods := recordPods(t, ns)
	tasks := recordPhases(t, ns)
	ctx := context.Background()

	first := startExecutor(t, Options{NodeName: "kwok-node-0"})
	admitted := stageTask(t, ns, "once", taskSpec{})
	waitPhase(t, ns, "once", runningP)
	first.stop(t)

	// What a crash between the pod's create and the Starting write leaves: the Task as admitted,
	// plus the executor's finalizer; a pod nobody has recorded.
	task, _ := getTask(t, ns, "once")
	task.Status = *admitted.Status.DeepCopy()
	if _, err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).UpdateStatus(ctx, task, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if task, _ := getTask(t, ns, "once"); task.Status.Phase != staged || !hasFinalizer(task) || task.Status.PodName != "" {
		t.Fatalf("setting up the crashed state: %s podName %q", describe(task), task.Status.PodName)
	}
	if err := cluster.Kube.CoreV1().Pods(ns).Delete(ctx, "once", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if pod, ok := getPod(t, ns, "once"); !ok || pod.DeletionTimestamp == nil || !heldByExecutor(pod) {
		t.Errorf("the executor's finalizer must keep the deleted pod in the API while the executor is down (pod there: %v)", ok)
	}

	startExecutor(t, Options{NodeName: "kwok-node-0"})
	// Either the task's end is recorded, or a second pod is made (the bug); stop at whichever
	// comes first.
	eventually(t, waitTimeout, "the task to end, or a second pod", func() (bool, string) {
		task, _ := getTask(t, ns, "once")
		return len(pods.runs("once")) > 1 || task.Status.Phase.IsTerminal() && !hasFinalizer(task),
			fmt.Sprintf("%s; pods %v", describe(task), pods.runs("once"))
	})
	if runs := pods.runs("once"); len(runs) != 1 {
		t.Fatalf("the task ran in %d pods %v, want 1: restarted, the executor ran it again", len(runs), runs)
	}
	task = waitSettled(t, ns, "once", lost)
	if task.Status.Reason != agorav1alpha1.ReasonPodDeleted || !strings.Contains(task.Status.Message, "not run again") {
		t.Errorf("%s", describe(task))
	}
	recordedBefore(t, tasks, "once", pods, pods.runs("once")[0])
	waitPodGone(t, ns, "once")
	if runs := pods.runs("once"); len(runs) != 1 {
		t.Errorf("the task ran in %d pods %v, want 1", len(runs), runs)
	}
}

// setStatus writes a Task's status as another component would (the controller, or a test
// standing in for a crash).
func setStatus(t *testing.T, ns, name string, edit func(*agorav1alpha1.TaskStatus)) {
	t.Helper()
	task, ok := getTask(t, ns, name)
	if !ok {
		t.Fatalf("task %s/%s not found", ns, name)
	}
	edit(&task.Status)
	if _, err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).UpdateStatus(context.Background(), task, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status of task %s/%s: %v", ns, name, err)
	}
}

// forceRemovePod takes a pod out of the API past the executor: its finalizers stripped by hand,
// then deleted.
func forceRemovePod(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cluster.Kube.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if err := cluster.Kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitPodGone(t, ns, name)
}

// While the executor is down: a running task's pod is taken out of the API by someone who
// strips its finalizer (the executor cannot know how it ended: Lost, PodNotFound, never run
// again); a running task is deleted by someone who strips the Task's finalizer (its pod is an
// orphan: released and deleted); a running pod loses its finalizer, as one made by an executor
// older than the finalizer never had it (it is held again).
func TestPodGoneBehindTheFinalizer(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	pods := recordPods(t, ns)
	ctx := context.Background()

	first := startExecutor(t, Options{NodeName: "kwok-node-0"})
	stageTask(t, ns, "stripped", taskSpec{})
	stageTask(t, ns, "orphaned", taskSpec{})
	stageTask(t, ns, "legacy", taskSpec{})
	for _, name := range []string{"stripped", "orphaned", "legacy"} {
		waitPhase(t, ns, name, runningP)
	}
	first.stop(t)

	if _, err := cluster.Kube.CoreV1().Pods(ns).Patch(ctx, "legacy", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	forceRemovePod(t, ns, "stripped")
	mergePatch(t, ns, "orphaned", map[string]any{"metadata": map[string]any{"finalizers": nil}})
	if err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Delete(ctx, "orphaned", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "orphaned")
	if pod, ok := getPod(t, ns, "orphaned"); !ok || !hasPodFinalizer(pod) {
		t.Fatalf("the orphaned pod should still be there, held by the executor's finalizer (there: %v)", ok)
	}

	startExecutor(t, Options{NodeName: "kwok-node-0"})
	task := waitSettled(t, ns, "stripped", lost)
	if task.Status.Reason != agorav1alpha1.ReasonPodNotFound || !strings.Contains(task.Status.Message, "not run again") {
		t.Errorf("%s", describe(task))
	}
	waitPodGone(t, ns, "orphaned")
	eventually(t, waitTimeout, "legacy's pod held again", func() (bool, string) {
		pod, ok := getPod(t, ns, "legacy")
		return ok && hasPodFinalizer(pod), fmt.Sprint(ok)
	})
	if task, _ := getTask(t, ns, "legacy"); task.Status.Phase != runningP {
		t.Errorf("legacy: %s", describe(task))
	}
	for _, name := range []string{"stripped", "orphaned", "legacy"} {
		if runs := pods.runs(name); len(runs) != 1 {
			t.Errorf("%s ran in %d pods, want 1", name, len(runs))
		}
	}
}

// The controller marks a node's tasks Unreachable when the node's executor Lease goes stale.
// The executor, back, puts each task where its pod says: Running for a running pod (the same
// pod), launched for a task that never got a pod, Lost for one whose pod is gone.
func TestUnreachableReturns(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	pods := recordPods(t, ns)

	first := startExecutor(t, Options{NodeName: "kwok-node-0"})
	stageTask(t, ns, "running", taskSpec{})
	stageTask(t, ns, "gone", taskSpec{})
	stageTask(t, ns, "done", taskSpec{annotations: completes("2s")})
	for _, name := range []string{"running", "gone", "done"} {
		waitPhase(t, ns, name, runningP)
	}
	runningPod, _ := getPod(t, ns, "running")
	first.stop(t)

	stageTask(t, ns, "unlaunched", taskSpec{})
	forceRemovePod(t, ns, "gone")
	eventually(t, waitTimeout, "done's pod to complete while the executor is down", func() (bool, string) {
		pod, ok := getPod(t, ns, "done")
		return ok && pod.Status.Phase == corev1.PodSucceeded, fmt.Sprint(ok)
	})
	for _, name := range []string{"running", "gone", "done", "unlaunched"} {
		setStatus(t, ns, name, func(st *agorav1alpha1.TaskStatus) {
			st.Phase = agorav1alpha1.TaskUnreachable
			st.Reason = agorav1alpha1.ReasonExecutorUnreachable
			st.Message = "the executor Lease of node kwok-node-0 is stale"
		})
	}

	startExecutor(t, Options{NodeName: "kwok-node-0"})
	task := waitPhase(t, ns, "running", runningP)
	if task.Status.Reason != "" || !strings.Contains(task.Status.Message, "is running on node kwok-node-0") || task.Status.PodUID != string(runningPod.UID) {
		t.Errorf("running: %s podUID %s, want the pod %s", describe(task), task.Status.PodUID, runningPod.UID)
	}
	if diff := cmp.Diff([]agorav1alpha1.TaskPhase{staged, runningP, agorav1alpha1.TaskUnreachable, runningP}, rec.get("running")); diff != "" {
		t.Errorf("running: phases (-want +got):\n%s", diff)
	}
	waitSettled(t, ns, "done", finished)
	waitPhase(t, ns, "unlaunched", runningP)
	task = waitSettled(t, ns, "gone", lost)
	if task.Status.Reason != agorav1alpha1.ReasonPodNotFound {
		t.Errorf("gone: %s", describe(task))
	}
	for _, name := range []string{"running", "gone", "done", "unlaunched"} {
		if runs := pods.runs(name); len(runs) != 1 {
			t.Errorf("%s ran in %d pods, want 1", name, len(runs))
		}
	}
}

// A Task is deleted and made again under the same name on another node while its earlier pod
// still holds the name (terminating: another finalizer, a slow kubelet). The new task's executor
// finds the name taken by a pod that claims the task and waits for it to go; that pod is on
// another node, so no event of it ever reaches this executor (chaos seed 5: 24 tasks stayed
// Unreachable after their executor came back, each waiting for a pod already gone). The
// executor must look again by itself and launch once the name is free.
func TestNameHeldByEarlierPodOnAnotherNode(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	ctx := context.Background()
	startExecutor(t, Options{NodeName: "kwok-node-0"})
	startExecutor(t, Options{NodeName: "kwok-node-1"})

	stageTask(t, ns, "reused", taskSpec{node: "kwok-node-0"})
	waitPhase(t, ns, "reused", runningP)
	const hold = "test.agora.dev/hold"
	if _, err := cluster.Kube.CoreV1().Pods(ns).Patch(ctx, "reused", types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":["`+agorav1alpha1.PodFinalizer+`","`+hold+`"]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Delete(ctx, "reused", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "reused")
	if pod, ok := getPod(t, ns, "reused"); !ok || pod.DeletionTimestamp == nil {
		t.Fatalf("setting up: the earlier pod must still hold the name, terminating (there: %v)", ok)
	}

	stageTask(t, ns, "reused", taskSpec{node: "kwok-node-1"})
	time.Sleep(2 * time.Second) // the new executor has met the earlier pod and is waiting
	if task, _ := getTask(t, ns, "reused"); task.Status.Phase != staged {
		t.Fatalf("launched while the earlier pod still holds the name: %s", describe(task))
	}
	if _, err := cluster.Kube.CoreV1().Pods(ns).Patch(ctx, "reused", types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	task := waitPhase(t, ns, "reused", runningP)
	if pod, ok := getPod(t, ns, "reused"); !ok || pod.Spec.NodeName != "kwok-node-1" || string(pod.UID) != task.Status.PodUID {
		t.Fatalf("the new task's pod: there %v, %+v", ok, pod)
	}
}

// The pod of an earlier Task of the same name is on another node whose executor is down: the new
// task's executor waits for that node's executor instead of releasing and deleting the pod itself
// (an executor writes only its own node's pods: agora-executor-node-restriction), and the task
// runs once the other executor is back and has cleared its pod.
func TestNameHeldByEarlierPodOfAnExecutorThatIsDown(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	ctx := context.Background()
	first := startExecutor(t, Options{NodeName: "kwok-node-0"})
	startExecutor(t, Options{NodeName: "kwok-node-1"})

	stageTask(t, ns, "reused", taskSpec{node: "kwok-node-0"})
	waitPhase(t, ns, "reused", runningP)
	first.stop(t)
	// The Task goes while its executor is down (the controller drops a lost executor's finalizer
	// so; here the test does); its pod stays, held by the pod finalizer.
	tasks := cluster.Agora.SchedulingV1alpha1().Tasks(ns)
	if err := tasks.Delete(ctx, "reused", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Patch(ctx, "reused", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	waitGone(t, ns, "reused")

	stageTask(t, ns, "reused", taskSpec{node: "kwok-node-1"})
	time.Sleep(3 * time.Second) // the new task's executor has met the earlier pod and is waiting
	if task, _ := getTask(t, ns, "reused"); task.Status.Phase != staged {
		t.Fatalf("launched while the earlier pod still holds the name: %s", describe(task))
	}
	if pod, ok := getPod(t, ns, "reused"); !ok || pod.Spec.NodeName != "kwok-node-0" || !slices.Contains(pod.Finalizers, agorav1alpha1.PodFinalizer) {
		t.Fatalf("the earlier pod must still be there, held (there: %v): %+v", ok, pod)
	}
	eventually(t, waitTimeout, "a NameHeld event naming the earlier pod's node", func() (bool, string) {
		evs, err := cluster.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ev := range evs.Items {
			if ev.Reason == "NameHeld" && ev.InvolvedObject.Name == "reused" && strings.Contains(ev.Message, "on node kwok-node-0") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})

	startExecutor(t, Options{NodeName: "kwok-node-0"})
	task := waitPhase(t, ns, "reused", runningP)
	if pod, ok := getPod(t, ns, "reused"); !ok || pod.Spec.NodeName != "kwok-node-1" || string(pod.UID) != task.Status.PodUID {
		t.Fatalf("the new task's pod: there %v, %+v", ok, pod)
	}
}
