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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	staged    = agorav1alpha1.TaskStaging
	starting  = agorav1alpha1.TaskStarting
	runningP  = agorav1alpha1.TaskRunning
	finished  = agorav1alpha1.TaskFinished
	failed    = agorav1alpha1.TaskFailed
	killed    = agorav1alpha1.TaskKilled
	lost      = agorav1alpha1.TaskLost
	errPhase  = agorav1alpha1.TaskError
	completes = func(after string) map[string]string { return map[string]string{"agora.dev/complete-after": after} }
)

// A Task goes Staging -> Running -> Finished when kwok completes its pod (no Starting: the pod
// ran within StartingDelay); the pod is what the contract says; the Lease is there.
func TestTaskFinishes(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	stageTask(t, ns, "ok", taskSpec{annotations: completes("2s")})
	task := waitSettled(t, ns, "ok", finished)

	if diff := cmp.Diff([]agorav1alpha1.TaskPhase{staged, runningP, finished}, rec.get("ok")); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if task.Status.ExitCode == nil || *task.Status.ExitCode != 0 || task.Status.Reason != agorav1alpha1.ReasonCompleted {
		t.Errorf("status %s exit %v", describe(task), task.Status.ExitCode)
	}
	if task.Status.PodName != "ok" || task.Status.StartTime == nil || task.Status.CompletionTime == nil ||
		task.Status.CompletionTime.Before(task.Status.StartTime) {
		t.Errorf("podName %q start %v completion %v", task.Status.PodName, task.Status.StartTime, task.Status.CompletionTime)
	}
	if task.Status.Framework != "fw" || len(task.Status.Conditions) != 1 {
		t.Errorf("the controller's part of the status was not kept: framework %q conditions %v", task.Status.Framework, task.Status.Conditions)
	}

	pod, ok := getPod(t, ns, "ok")
	if !ok {
		t.Fatal("the finished task's pod is gone; it should stay until the Task is deleted")
	}
	if task.Status.PodUID != string(pod.UID) {
		t.Errorf("status.podUID %q, pod UID %q", task.Status.PodUID, pod.UID)
	}
	// Its end is recorded: the pod is released (it stays, for its logs, but nothing holds it).
	if hasPodFinalizer(pod) {
		t.Errorf("the finished task's pod still carries %s", agorav1alpha1.PodFinalizer)
	}
	if pod.Spec.NodeName != "kwok-node-0" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod nodeName %q restartPolicy %q", pod.Spec.NodeName, pod.Spec.RestartPolicy)
	}
	if !metav1.IsControlledBy(pod, task) {
		t.Errorf("pod owner references %+v", pod.OwnerReferences)
	}
	// (The API server may add more, e.g. the node's zone: PodTopologyLabels admission.)
	for k, v := range map[string]string{"app": "test", agorav1alpha1.LabelTask: "ok", agorav1alpha1.LabelFramework: "fw"} {
		if pod.Labels[k] != v {
			t.Errorf("pod label %s = %q, want %q (labels %v)", k, pod.Labels[k], v, pod.Labels)
		}
	}
	res := pod.Spec.Containers[0].Resources
	if res.Requests.Cpu().String() != "500m" || res.Limits.Memory().String() != "256Mi" || pod.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("pod resources %v, QoS %s", res, pod.Status.QOSClass)
	}

	lease, err := cluster.Kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).Get(context.Background(), agorav1alpha1.ExecutorLeaseName("kwok-node-0"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node Lease: %v", err)
	}
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil || *lease.Spec.LeaseDurationSeconds != 5 || lease.Spec.HolderIdentity == nil {
		t.Errorf("lease spec %+v", lease.Spec)
	}

	// Deleting a finished Task needs no executor (no finalizer), and its pod does not linger
	// (no garbage collector runs here: the executor deletes it).
	if err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Delete(context.Background(), "ok", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "ok")
	waitPodGone(t, ns, "ok")
}

// A failing pod: Failed with its exit code and reason.
func TestTaskFails(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	stageTask(t, ns, "exit42", taskSpec{annotations: map[string]string{"agora.dev/fail-after": "2s", "agora.dev/exit-code": "42"}})
	stageTask(t, ns, "oom", taskSpec{annotations: map[string]string{
		"agora.dev/fail-after": "1s", "agora.dev/exit-code": "137", "agora.dev/fail-reason": "OOMKilled"}})

	task := waitSettled(t, ns, "exit42", failed)
	if task.Status.ExitCode == nil || *task.Status.ExitCode != 42 || task.Status.Reason != "Error" ||
		!strings.Contains(task.Status.Message, `container "main" exited with code 42`) {
		t.Errorf("exit42: %s exit %v", describe(task), task.Status.ExitCode)
	}
	if diff := cmp.Diff([]agorav1alpha1.TaskPhase{staged, runningP, failed}, rec.get("exit42")); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	task = waitSettled(t, ns, "oom", failed)
	if task.Status.ExitCode == nil || *task.Status.ExitCode != 137 || task.Status.Reason != "OOMKilled" || task.Status.CompletionTime == nil {
		t.Errorf("oom: %s exit %v", describe(task), task.Status.ExitCode)
	}
}

// Kill a running task: the pod goes away, and the Task reads Killed before it disappears.
func TestKillRunningTask(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	grace := int64(3)
	stageTask(t, ns, "svc", taskSpec{edit: func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = &grace }})
	task := waitPhase(t, ns, "svc", runningP)
	if !hasFinalizer(task) {
		t.Fatalf("a running task must carry %s: %v", agorav1alpha1.TaskFinalizer, task.Finalizers)
	}
	if pod, _ := getPod(t, ns, "svc"); pod == nil || !hasPodFinalizer(pod) {
		t.Fatalf("a running task's pod must carry %s", agorav1alpha1.PodFinalizer)
	}
	if err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Delete(context.Background(), "svc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "svc")
	if _, ok := getPod(t, ns, "svc"); ok {
		t.Error("the pod of a killed task still exists after the Task is gone")
	}
	eventually(t, waitTimeout, "the watch to see the deletion", func() (bool, string) {
		_, ok := rec.deletedIn("svc")
		return ok, fmt.Sprint(rec.get("svc"))
	})
	if p, _ := rec.deletedIn("svc"); p != killed {
		t.Errorf("the Task disappeared in phase %q, want Killed", p)
	}
	if diff := cmp.Diff([]agorav1alpha1.TaskPhase{staged, runningP, killed}, rec.get("svc")); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if reason := rec.lastReason("svc"); reason != agorav1alpha1.ReasonTaskKilled {
		t.Errorf("Killed with reason %q, want %s", reason, agorav1alpha1.ReasonTaskKilled)
	}
}

// Framework teardown: the Framework is gone and its dependent tasks are being deleted; the kill
// says why.
func TestKillOnFrameworkTeardown(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	ctx := context.Background()
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	fw, err := cluster.Agora.SchedulingV1alpha1().Frameworks(ns).Create(ctx, &agorav1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "fw", Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createTask(t, ns, "worker", taskSpec{})
	mergePatch(t, ns, "worker", map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{
		*metav1.NewControllerRef(fw, agorav1alpha1.SchemeGroupVersion.WithKind("Framework"))}}})
	task, _ := getTask(t, ns, "worker")
	admit(t, task)
	waitPhase(t, ns, "worker", runningP)

	// What garbage collection does after a Framework is deleted (no kube-controller-manager here).
	if err := cluster.Agora.SchedulingV1alpha1().Frameworks(ns).Delete(ctx, "fw", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Delete(ctx, "worker", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "worker")
	eventually(t, waitTimeout, "the watch to see the deletion", func() (bool, string) {
		_, ok := rec.deletedIn("worker")
		return ok, ""
	})
	if p, _ := rec.deletedIn("worker"); p != killed || rec.lastReason("worker") != agorav1alpha1.ReasonFrameworkTeardown {
		t.Errorf("deleted in phase %q reason %q, want Killed %s", p, rec.lastReason("worker"), agorav1alpha1.ReasonFrameworkTeardown)
	}
}

// Preemption: the controller admitted the task on a revocable slice (status.revocable), later
// marks it Preempted and deletes it. Its pod carried the revocable label, is stopped with the
// template's grace period like any kill, and the task ends Killed with reason Preempted and a
// message that keeps the condition's.
func TestKillOnPreemption(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	pods := recordPods(t, ns)
	ctx := context.Background()
	tasks := cluster.Agora.SchedulingV1alpha1().Tasks(ns)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	grace := int64(2)
	task := createTask(t, ns, "borrower", taskSpec{edit: func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = &grace }})
	task.Status.Revocable = true
	admit(t, task)
	waitPhase(t, ns, "borrower", runningP)
	pod, ok := getPod(t, ns, "borrower")
	if !ok {
		t.Fatal("the running task has no pod")
	}
	if pod.Labels[agorav1alpha1.LabelRevocable] != "true" {
		t.Errorf("pod labels %v, want %s=true", pod.Labels, agorav1alpha1.LabelRevocable)
	}

	// What the controller does to preempt: the condition, then the delete.
	why := "preempted to raise role prod to its guarantee"
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := tasks.Get(ctx, "borrower", metav1.GetOptions{})
		if err != nil {
			return err
		}
		meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: agorav1alpha1.TaskConditionPreempted,
			Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonPreempted, Message: why})
		_, err = tasks.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := tasks.Delete(ctx, "borrower", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "borrower")
	eventually(t, waitTimeout, "the watch to see the deletion", func() (bool, string) {
		_, ok := rec.deletedIn("borrower")
		return ok, fmt.Sprint(rec.get("borrower"))
	})
	if p, _ := rec.deletedIn("borrower"); p != killed || rec.lastReason("borrower") != agorav1alpha1.ReasonPreempted {
		t.Errorf("deleted in phase %q reason %q, want Killed %s", p, rec.lastReason("borrower"), agorav1alpha1.ReasonPreempted)
	}
	if want := why + ": the Task was deleted; its pod borrower was stopped"; rec.lastMessage("borrower") != want {
		t.Errorf("message %q, want %q", rec.lastMessage("borrower"), want)
	}
	if g, ok := pods.deletedWith(pod.UID); !ok || g != grace {
		t.Errorf("pod deleted with grace period %d (seen %v), want the template's %d", g, ok, grace)
	}
}

// A Task that holds the finalizer but has no pod yet (the executor died right after adding it)
// is Killed at once when deleted; no pod is ever made for it. One deleted before any executor saw
// it simply goes.
func TestKillTaskThatNeverStarted(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	ctx := context.Background()
	tasks := cluster.Agora.SchedulingV1alpha1().Tasks(ns)

	// Never seen by an executor: no finalizer, gone at once.
	stageTask(t, ns, "unseen", taskSpec{node: "kwok-node-2"})
	if err := tasks.Delete(ctx, "unseen", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := getTask(t, ns, "unseen"); ok {
		t.Error("a Task no executor held is still there right after its delete")
	}

	// Held but not started.
	stageTask(t, ns, "held", taskSpec{})
	mergePatch(t, ns, "held", map[string]any{"metadata": map[string]any{"finalizers": []string{agorav1alpha1.TaskFinalizer}}})
	if err := tasks.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startExecutor(t, Options{NodeName: "kwok-node-0"})
	waitGone(t, ns, "held")
	if p, _ := rec.deletedIn("held"); p != killed {
		t.Errorf("deleted in phase %q, want Killed (phases %v)", p, rec.get("held"))
	}
	if got := rec.get("held"); len(got) != 2 || got[1] != killed {
		t.Errorf("phases %v, want [Staging Killed]", got)
	}
	if pods := taskPods(t, ns, "held"); len(pods) != 0 {
		t.Errorf("a pod was made for a task killed before it started: %v", pods[0].Name)
	}
}

// A Task admitted for another node is never touched by this node's executor.
func TestOtherNodesTaskUntouched(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	other := stageTask(t, ns, "elsewhere", taskSpec{node: "kwok-node-1"})
	t.Cleanup(func() {
		_ = cluster.Agora.SchedulingV1alpha1().Tasks(ns).Delete(context.Background(), "elsewhere", metav1.DeleteOptions{})
	})
	// A later task on the executor's own node running proves the executor has been at work
	// (its watch delivers in order, and it acts on every task it sees).
	stageTask(t, ns, "here", taskSpec{})
	waitPhase(t, ns, "here", runningP)

	now, _ := getTask(t, ns, "elsewhere")
	if now.ResourceVersion != other.ResourceVersion || len(now.Finalizers) != 0 || now.Status.Phase != staged {
		t.Errorf("another node's task was touched: rv %s -> %s, %s", other.ResourceVersion, now.ResourceVersion, describe(now))
	}
	if pods := taskPods(t, ns, "elsewhere"); len(pods) != 0 {
		t.Errorf("a pod was made for another node's task: %s on %s", pods[0].Name, pods[0].Spec.NodeName)
	}
}

// The executor dies mid-run and comes back: nothing is launched twice, nothing is forgotten, and
// what happened meanwhile is reported.
func TestRestart(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	ctx := context.Background()
	tasks := cluster.Agora.SchedulingV1alpha1().Tasks(ns)

	first := startExecutor(t, Options{NodeName: "kwok-node-0"})
	stageTask(t, ns, "svc", taskSpec{})
	stageTask(t, ns, "batch", taskSpec{annotations: completes("3s")})
	stageTask(t, ns, "doomed", taskSpec{})
	for _, name := range []string{"svc", "batch", "doomed"} {
		waitPhase(t, ns, name, runningP)
	}
	svcPod, _ := getPod(t, ns, "svc")
	first.stop(t)

	// While it is down: one task finishes, one is killed, one is admitted.
	eventually(t, waitTimeout, "batch's pod to complete while the executor is down", func() (bool, string) {
		pod, ok := getPod(t, ns, "batch")
		return ok && pod.Status.Phase == corev1.PodSucceeded, fmt.Sprint(ok)
	})
	if err := tasks.Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	stageTask(t, ns, "late", taskSpec{})
	if task, _ := getTask(t, ns, "doomed"); task == nil || task.DeletionTimestamp == nil {
		t.Fatalf("the finalizer should hold the killed task while no executor runs: %s", describe(task))
	}

	startExecutor(t, Options{NodeName: "kwok-node-0"})
	waitSettled(t, ns, "batch", finished)
	waitGone(t, ns, "doomed")
	waitPodGone(t, ns, "doomed")
	waitPhase(t, ns, "late", runningP)
	svc := waitPhase(t, ns, "svc", runningP)

	for _, name := range []string{"svc", "batch", "late"} {
		if pods := taskPods(t, ns, name); len(pods) != 1 {
			t.Errorf("task %s has %d pods, want 1", name, len(pods))
		}
	}
	if pod, _ := getPod(t, ns, "svc"); pod == nil || pod.UID != svcPod.UID {
		t.Error("svc's pod was replaced across the restart; it should have been adopted")
	}
	if !hasFinalizer(svc) {
		t.Error("svc lost its finalizer")
	}
}

// Someone else deletes a running task's pod: the task says so, and the pod leaves the API only
// after that is written (its finalizer holds it until then).
func TestPodDeletedBehindOurBack(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	rec := recordPhases(t, ns)
	pods := recordPods(t, ns)
	startExecutor(t, Options{NodeName: "kwok-node-0"})
	stageTask(t, ns, "victim", taskSpec{})
	waitPhase(t, ns, "victim", runningP)

	if err := cluster.Kube.CoreV1().Pods(ns).Delete(context.Background(), "victim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	task := waitSettled(t, ns, "victim", lost)
	if task.Status.Reason != agorav1alpha1.ReasonPodDeleted || !strings.Contains(task.Status.Message, "deleted by someone other than agora-executor") {
		t.Errorf("%s", describe(task))
	}
	recordedBefore(t, rec, "victim", pods, types.UID(task.Status.PodUID))
	waitPodGone(t, ns, "victim")
	if task.Status.CompletionTime == nil {
		t.Error("no completionTime")
	}
	eventually(t, waitTimeout, "a PodDeleted event on the task", func() (bool, string) {
		evs, err := cluster.Kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ev := range evs.Items {
			if ev.Reason == agorav1alpha1.ReasonPodDeleted && ev.InvolvedObject.Name == "victim" && ev.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
	if runs := pods.runs("victim"); len(runs) != 1 {
		t.Errorf("the task ran in %d pods, want 1: the executor made a new pod for a lost task", len(runs))
	}
}

// A template that asks for more than the Task has is an Error, clearly explained; the
// namespace's other tasks run.
func TestTemplateAsksTooMuch(t *testing.T) {
	integration(t)
	ns := newNamespace(t, nil)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	stageTask(t, ns, "greedy", taskSpec{
		resources: rl("cpu", "100m", "memory", "64Mi"),
		edit: func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Requests = rl("cpu", "2")
		},
	})
	stageTask(t, ns, "modest", taskSpec{})

	task := waitSettled(t, ns, "greedy", errPhase)
	if task.Status.Reason != agorav1alpha1.ReasonInvalidTemplate ||
		!strings.Contains(task.Status.Message, `container "main" asks for 2 cpu but the task's spec.resources has only 100m`) {
		t.Errorf("%s", describe(task))
	}
	if _, ok := getPod(t, ns, "greedy"); ok {
		t.Error("a pod was created for an invalid template")
	}
	waitPhase(t, ns, "modest", runningP)
}

// A hostile template (hostNetwork, privileged) in a namespace whose Pod Security level is
// restricted: the API server refuses the pod; the task fails with its words; a compliant task in
// the same namespace and a task elsewhere run. (The namespace admits privileged Tasks, so that the
// policy agora-task-pod-rights lets the Task be created: Pod Security still judges its pod.)
func TestHostileTemplateRejected(t *testing.T) {
	integration(t)
	restricted := newNamespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "agora.dev/privileged-tasks": "true"})
	plain := newNamespace(t, nil)
	startExecutor(t, Options{NodeName: "kwok-node-0"})

	yes, no := true, false
	stageTask(t, restricted, "hostile", taskSpec{edit: func(s *corev1.PodSpec) {
		s.HostNetwork = true
		s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	}})
	stageTask(t, restricted, "compliant", taskSpec{edit: func(s *corev1.PodSpec) {
		uid := int64(1000)
		s.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot: &yes, RunAsUser: &uid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
		s.Containers[0].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}})
	stageTask(t, plain, "bystander", taskSpec{})

	task := waitSettled(t, restricted, "hostile", failed)
	msg := task.Status.Message
	if task.Status.Reason != agorav1alpha1.ReasonPodRejected || !strings.Contains(msg, "the API server refused the task's pod") ||
		!strings.Contains(msg, `violates PodSecurity "restricted`) || !strings.Contains(msg, "host namespaces") ||
		!strings.Contains(msg, "privileged") {
		t.Errorf("%s", describe(task))
	}
	if task.Status.ExitCode != nil || task.Status.CompletionTime == nil {
		t.Errorf("exitCode %v completionTime %v", task.Status.ExitCode, task.Status.CompletionTime)
	}
	if _, ok := getPod(t, restricted, "hostile"); ok {
		t.Error("the hostile pod exists")
	}
	waitPhase(t, restricted, "compliant", runningP)
	waitPhase(t, plain, "bystander", runningP)
}

// Simulation mode: one executor serves every kwok node, each with its own Lease; nodes that come
// later are served, nodes that go are dropped (and their Lease with them).
func TestSimulationMode(t *testing.T) {
	integration(t)
	t.Run("per-node watches", func(t *testing.T) { testSimulation(t, false) })
	t.Run("shared watches", func(t *testing.T) { testSimulation(t, true) })
}

func testSimulation(t *testing.T, shared bool) {
	ns := newNamespace(t, nil)
	ctx := context.Background()
	leases := cluster.Kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace)

	sel := labels.SelectorFromSet(labels.Set{testcluster.KwokNodeLabel: testcluster.KwokNodeLabelValue})
	ex := startExecutor(t, Options{NodeSelector: sel, Identity: "sim-test", SharedWatches: shared})
	nodes := kwokNodes(t)
	for _, node := range nodes {
		stageTask(t, ns, "on-"+node, taskSpec{node: node})
	}
	for _, node := range nodes {
		waitPhase(t, ns, "on-"+node, runningP)
		eventually(t, waitTimeout, "lease of "+node, func() (bool, string) {
			l, err := leases.Get(ctx, agorav1alpha1.ExecutorLeaseName(node), metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "sim-test", fmt.Sprint(l.Spec.HolderIdentity)
		})
	}
	before, err := leases.Get(ctx, agorav1alpha1.ExecutorLeaseName("kwok-node-0"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, "a lease renewal", func() (bool, string) {
		l, err := leases.Get(ctx, agorav1alpha1.ExecutorLeaseName("kwok-node-0"), metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime.After(before.Spec.RenewTime.Time), l.Spec.RenewTime.String()
	})

	added, err := cluster.AddNodes(ctx, 1, testcluster.NodeShape{CPU: "2", Memory: "4Gi"})
	if err != nil {
		t.Fatal(err)
	}
	node := added[0]
	stageTask(t, ns, "on-new-node", taskSpec{node: node})
	waitPhase(t, ns, "on-new-node", runningP)
	eventually(t, waitTimeout, "the new node served", func() (bool, string) {
		return len(ex.Nodes()) == len(kwokNodes(t)), fmt.Sprint(ex.Nodes())
	})

	// The node stops matching the selector: not served any more, Lease deleted.
	n, err := cluster.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels[testcluster.KwokNodeLabel] = "retired"
	if _, err := cluster.Kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, "the retired node's lease deleted", func() (bool, string) {
		_, err := leases.Get(ctx, agorav1alpha1.ExecutorLeaseName(node), metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if len(ex.Nodes()) != len(kwokNodes(t)) {
		t.Errorf("serving %v", ex.Nodes())
	}

}

// kwokNodes are the nodes an executor in simulation mode with the default selector serves now.
func kwokNodes(t *testing.T) []string {
	t.Helper()
	list, err := cluster.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{
		LabelSelector: testcluster.KwokNodeLabel + "=" + testcluster.KwokNodeLabelValue})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range list.Items {
		out = append(out, n.Name)
	}
	return out
}
