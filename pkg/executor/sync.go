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
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/klog/v2"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Event reasons the executor records on Tasks (warnings only: the happy path writes no Events).
const (
	eventPodRejected     = agorav1alpha1.ReasonPodRejected
	eventInvalidTemplate = agorav1alpha1.ReasonInvalidTemplate
	eventPodDeleted      = agorav1alpha1.ReasonPodDeleted
)

// sync brings one task on one node to where its Task and Pod say it should be. It is the whole
// state machine; everything it knows it reads from the caches (and, where a cache may lag
// behind a write, from the API), so it is safe to run at any time, any number of times, and
// after a restart.
//
//	Task gone                          -> delete a pod it left behind
//	being deleted (kill)               -> delete the pod; once gone: Killed; drop the finalizer
//	phase "" or Error                  -> not admitted: not ours, nothing to do
//	terminal                           -> make sure the pod is stopped; drop the finalizer
//	Staging, no pod                    -> build the pod (Error if the template cannot fit),
//	                                      add the finalizer, create the pod, Starting
//	has its pod                        -> mirror the pod into the status (Starting, Running,
//	                                      Finished, Failed)
//	Starting/Running, pod gone         -> Lost (PodDeleted)
func (e *Executor) sync(ctx context.Context, key taskKey) error {
	a := e.agentFor(key.node)
	if a == nil {
		return nil // node no longer served (simulation mode), or shutting down
	}
	cached, err := a.tasks.Tasks(key.namespace).Get(key.name)
	if apierrors.IsNotFound(err) {
		e.forget(key)
		return e.deleteOrphan(ctx, a, key)
	}
	if err != nil {
		return err
	}
	task := e.freshest(key, cached)
	if task.Spec.NodeName != a.node {
		return nil // the field selector already guarantees this; never touch another node's task
	}
	pod, err := a.pods.Pods(key.namespace).Get(PodName(task))
	if apierrors.IsNotFound(err) {
		pod = nil
	} else if err != nil {
		return err
	}
	if pod != nil && !metav1.IsControlledBy(pod, task) {
		if e.isStale(pod, task) {
			return e.clearStalePod(ctx, task, pod)
		}
		pod = nil // not this task's pod
	}

	if task.DeletionTimestamp != nil {
		return e.kill(ctx, key, task, pod)
	}
	phase := task.Status.Phase
	switch {
	case phase == "" || phase == agorav1alpha1.TaskError && !hasFinalizer(task):
		return nil // not admitted (yet): the controller decides
	case phase.IsTerminal():
		return e.finish(ctx, key, task, pod)
	case pod != nil:
		return e.mirror(ctx, key, task, pod)
	case phase == agorav1alpha1.TaskStaging:
		return e.launch(ctx, key, task)
	default: // Starting or Running, and the cache has no pod
		return e.podMissing(ctx, key, task)
	}
}

// launch starts a Staging task: build the pod, hold the Task with the finalizer, create the pod
// and say Starting. The finalizer goes on before the pod exists, so that a pod never runs for a
// Task that could vanish without the executor stopping it.
func (e *Executor) launch(ctx context.Context, key taskKey, task *agorav1alpha1.Task) error {
	logger := klog.FromContext(ctx).WithValues("task", klog.KObj(task), "node", key.node)
	pod, err := BuildPod(task)
	if err != nil {
		var inv *InvalidTemplateError
		if !errors.As(err, &inv) {
			return err
		}
		logger.Info("Invalid pod template", "reason", inv.Error())
		e.recorder.Event(task, corev1.EventTypeWarning, eventInvalidTemplate, inv.Error())
		st := *task.Status.DeepCopy()
		st.Phase = agorav1alpha1.TaskError
		st.Reason = agorav1alpha1.ReasonInvalidTemplate
		st.Message = truncate("the pod template cannot run within the task: "+inv.Error(), maxMessageLen)
		e.terminalTimes(&st)
		task, err = e.writeStatus(ctx, key, task, st)
		if err != nil {
			return err
		}
		return e.finish(ctx, key, task, nil)
	}

	if !hasFinalizer(task) {
		if task, err = e.setFinalizer(ctx, key, task, true); err != nil {
			return err
		}
	}

	created, err := e.kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
		e.metrics.podsCreated.Inc()
		logger.V(2).Info("Created pod", "pod", klog.KObj(created))
		pod = created
	case apierrors.IsAlreadyExists(err):
		// Created by an earlier attempt whose answer was lost, by this executor before a
		// restart, or by someone else: adopt it only if it is this task's.
		existing, gerr := e.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		switch {
		case metav1.IsControlledBy(existing, task):
			logger.V(2).Info("Adopted existing pod", "pod", klog.KObj(existing))
			pod = existing
		case e.isStale(existing, task):
			return e.clearStalePod(ctx, task, existing)
		default:
			return e.rejected(ctx, key, task, fmt.Sprintf(
				"a pod named %s that does not belong to this task already exists in namespace %s; rename the task or delete that pod",
				pod.Name, pod.Namespace))
		}
	case isPermanent(err):
		// Refused by the API server: Pod Security admission, validation, quota, a terminating
		// namespace. Retrying would not help; say exactly what the API server said.
		return e.rejected(ctx, key, task, "the API server refused the task's pod: "+err.Error())
	default:
		return err // transient: retried with back-off; the stable name keeps it idempotent
	}
	return e.mirror(ctx, key, task, pod)
}

// rejected ends a task whose pod cannot be created: Failed, reason PodRejected.
func (e *Executor) rejected(ctx context.Context, key taskKey, task *agorav1alpha1.Task, msg string) error {
	klog.FromContext(ctx).Info("Pod rejected", "task", klog.KObj(task), "message", msg)
	e.recorder.Event(task, corev1.EventTypeWarning, eventPodRejected, truncate(msg, 1024))
	st := *task.Status.DeepCopy()
	st.Phase = agorav1alpha1.TaskFailed
	st.Reason = agorav1alpha1.ReasonPodRejected
	st.Message = truncate(msg, maxMessageLen)
	st.ExitCode = nil
	e.terminalTimes(&st)
	task, err := e.writeStatus(ctx, key, task, st)
	if err != nil {
		return err
	}
	return e.finish(ctx, key, task, nil)
}

// mirror writes what the pod says into the Task, and once that is terminal, finishes it.
func (e *Executor) mirror(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	var err error
	if !hasFinalizer(task) && !task.Status.Phase.IsTerminal() {
		// A live pod always has its Task held (someone may have removed the finalizer by hand).
		if task, err = e.setFinalizer(ctx, key, task, true); err != nil {
			return err
		}
	}
	st := mirrorStatus(task.Status, pod, metav1.NewTime(e.clock.Now()))
	task, err = e.writeStatus(ctx, key, task, st)
	if err != nil {
		return err
	}
	if task.Status.Phase.IsTerminal() {
		return e.finish(ctx, key, task, pod)
	}
	return nil
}

// podMissing handles a Starting or Running task whose pod the cache does not have. The cache may
// just lag behind the create; the API decides. A pod really gone was deleted behind the
// executor's back: the task is Lost.
func (e *Executor) podMissing(ctx context.Context, key taskKey, task *agorav1alpha1.Task) error {
	pod, err := e.livePod(ctx, task)
	if err != nil {
		return err
	}
	if pod != nil {
		return e.mirror(ctx, key, task, pod)
	}
	name := task.Status.PodName
	if name == "" {
		name = PodName(task)
	}
	msg := fmt.Sprintf("pod %s was deleted by someone other than agora-executor while the task was %s; the task did not finish",
		name, task.Status.Phase)
	e.recorder.Event(task, corev1.EventTypeWarning, eventPodDeleted, msg)
	st := *task.Status.DeepCopy()
	st.Phase = agorav1alpha1.TaskLost
	st.Reason = agorav1alpha1.ReasonPodDeleted
	st.Message = msg
	st.ExitCode = nil
	e.terminalTimes(&st)
	task, err = e.writeStatus(ctx, key, task, st)
	if err != nil {
		return err
	}
	return e.finish(ctx, key, task, nil)
}

// finish handles a task in a terminal phase: its pod must not run on (a task the controller
// declared Lost has had its resources returned to the pool), then the finalizer goes.
func (e *Executor) finish(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	if pod != nil && !podDone(pod) {
		if pod.DeletionTimestamp == nil {
			return e.deletePod(ctx, task, pod)
		}
		return nil // going; its delete event brings the task back here
	}
	if hasFinalizer(task) {
		_, err := e.setFinalizer(ctx, key, task, false)
		return err
	}
	return nil
}

// kill handles a Task being deleted: stop the pod with the template's grace period, wait until
// it is gone, write Killed, drop the finalizer. A task that never got a pod is Killed at once.
func (e *Executor) kill(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	if !hasFinalizer(task) {
		// Not held by this executor (it never launched it). Still never leave a pod behind.
		if pod != nil && pod.DeletionTimestamp == nil {
			return e.deletePod(ctx, task, pod)
		}
		return nil
	}
	if pod == nil {
		// The cache may not have a pod created a moment ago; the API decides.
		var err error
		if pod, err = e.livePod(ctx, task); err != nil {
			return err
		}
	}
	if pod != nil {
		if podDone(pod) && !task.Status.Phase.IsTerminal() {
			// It ended on its own before the kill came through: record how, not "Killed".
			st := mirrorStatus(task.Status, pod, metav1.NewTime(e.clock.Now()))
			var err error
			if task, err = e.writeStatus(ctx, key, task, st); err != nil {
				return err
			}
		}
		if pod.DeletionTimestamp == nil {
			return e.deletePod(ctx, task, pod)
		}
		return nil // terminating; its delete event brings the task back here
	}
	if !task.Status.Phase.IsTerminal() {
		st := *task.Status.DeepCopy()
		st.Phase = agorav1alpha1.TaskKilled
		st.Reason, st.Message = e.killReason(ctx, task)
		st.ExitCode = nil
		e.terminalTimes(&st)
		var err error
		if task, err = e.writeStatus(ctx, key, task, st); err != nil {
			return err
		}
	}
	_, err := e.setFinalizer(ctx, key, task, false)
	return err
}

// killReason says why a task was deleted: its framework was torn down, its framework stayed
// inactive past failoverTimeout, or someone deleted the Task.
func (e *Executor) killReason(ctx context.Context, task *agorav1alpha1.Task) (string, string) {
	what := "the Task was deleted"
	if task.Status.PodName != "" {
		what += fmt.Sprintf("; its pod %s was stopped", task.Status.PodName)
	} else {
		what += " before its pod was started"
	}
	if fw := FrameworkOf(task); fw != "" {
		f, err := e.agora.SchedulingV1alpha1().Frameworks(task.Namespace).Get(ctx, fw, metav1.GetOptions{})
		switch {
		case err == nil && f.DeletionTimestamp != nil,
			// Gone, and the Task was its dependent: garbage collection is deleting its tasks.
			apierrors.IsNotFound(err) && ownedByFramework(task, fw):
			return agorav1alpha1.ReasonFrameworkTeardown, fmt.Sprintf("framework %s was torn down: %s", fw, what)
		case err == nil:
			c := meta.FindStatusCondition(f.Status.Conditions, agorav1alpha1.FrameworkConditionActive)
			if c != nil && c.Status == metav1.ConditionFalse && c.Reason == agorav1alpha1.ReasonFailoverTimeoutExceeded {
				return agorav1alpha1.ReasonFailoverTimeout, fmt.Sprintf("framework %s stayed inactive past its failoverTimeout: %s", fw, what)
			}
		}
	}
	return agorav1alpha1.ReasonTaskKilled, what
}

func ownedByFramework(task *agorav1alpha1.Task, fw string) bool {
	for _, ref := range task.OwnerReferences {
		if ref.Kind == "Framework" && ref.Name == fw && ref.APIVersion == agorav1alpha1.SchemeGroupVersion.String() {
			return true
		}
	}
	return false
}

// deleteOrphan deletes the pod of a Task that no longer exists. Garbage collection would do it
// through the owner reference where kube-controller-manager runs; the local cluster has none,
// and a terminal task's finalizer is already gone when it is deleted.
func (e *Executor) deleteOrphan(ctx context.Context, a *agent, key taskKey) error {
	pod, err := a.pods.Pods(key.namespace).Get(key.name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ref := taskRef(pod)
	if ref == nil || pod.DeletionTimestamp != nil || pod.Spec.NodeName != a.node {
		return nil
	}
	// The Task cache may lag behind; only the API can say the owner is gone.
	live, err := e.agora.SchedulingV1alpha1().Tasks(key.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err == nil && live.UID == ref.UID {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Deleting the pod of a deleted task", "pod", klog.KObj(pod))
	return e.deletePodNow(ctx, pod, gracePeriod(pod))
}

// isStale reports whether pod belongs to an earlier Task of the same name (deleted and made
// again).
func (e *Executor) isStale(pod *corev1.Pod, task *agorav1alpha1.Task) bool {
	ref := taskRef(pod)
	return ref != nil && ref.Name == task.Name && ref.UID != task.UID
}

// clearStalePod deletes the pod of an earlier incarnation of the task; its delete event brings
// the task back to be launched.
func (e *Executor) clearStalePod(ctx context.Context, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	klog.FromContext(ctx).Info("Deleting the pod of an earlier task of the same name", "pod", klog.KObj(pod))
	return e.deletePodNow(ctx, pod, gracePeriod(pod))
}

func (e *Executor) deletePod(ctx context.Context, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	grace := task.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil {
		grace = gracePeriod(pod)
	}
	if podDone(pod) {
		grace = ptr(int64(0)) // nothing runs any more
	}
	return e.deletePodNow(ctx, pod, grace)
}

// deletePodNow deletes exactly this pod (UID precondition), with the given grace period.
func (e *Executor) deletePodNow(ctx context.Context, pod *corev1.Pod, grace *int64) error {
	uid := pod.UID
	err := e.kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: grace,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or a different pod now has the name
	}
	if err == nil {
		e.metrics.podsDeleted.Inc()
	}
	return err
}

// livePod reads the task's pod from the API; nil if there is none that belongs to the task.
func (e *Executor) livePod(ctx context.Context, task *agorav1alpha1.Task) (*corev1.Pod, error) {
	pod, err := e.kube.CoreV1().Pods(task.Namespace).Get(ctx, PodName(task), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !metav1.IsControlledBy(pod, task) {
		return nil, nil
	}
	return pod, nil
}

// writeStatus writes st as the task's status unless nothing would change. Optimistic
// concurrency (the Task's resourceVersion) keeps a concurrent write by the controller, e.g.
// Lost, from being overwritten: the conflict sends the task round again.
func (e *Executor) writeStatus(ctx context.Context, key taskKey, task *agorav1alpha1.Task, st agorav1alpha1.TaskStatus) (*agorav1alpha1.Task, error) {
	if statusEqual(&task.Status, &st) {
		return task, nil
	}
	t := task.DeepCopy()
	t.Status = st
	out, err := e.agora.SchedulingV1alpha1().Tasks(t.Namespace).UpdateStatus(ctx, t, metav1.UpdateOptions{})
	if err != nil {
		return task, err
	}
	e.metrics.statusWrites.WithLabelValues(string(st.Phase)).Inc()
	klog.FromContext(ctx).V(3).Info("Task status", "task", klog.KObj(t), "phase", st.Phase, "reason", st.Reason)
	e.remember(key, out)
	return out, nil
}

// setFinalizer adds or removes TaskFinalizer with a merge patch of metadata.finalizers guarded
// by the Task's resourceVersion (a precondition: a concurrent change is a conflict, and the task
// goes round again).
//
// Not an Update: an Update sends the whole Task back, and the spec of a Task written by kubectl
// does not survive the round trip through the Go types byte for byte (an empty `resources: {}`
// appears on each container, for one), which the CRD's `self == oldSelf` rule on spec refuses as
// a spec change.
func (e *Executor) setFinalizer(ctx context.Context, key taskKey, task *agorav1alpha1.Task, on bool) (*agorav1alpha1.Task, error) {
	if hasFinalizer(task) == on {
		return task, nil
	}
	var finalizers []string
	if on {
		finalizers = append(append(finalizers, task.Finalizers...), agorav1alpha1.TaskFinalizer)
	} else {
		for _, f := range task.Finalizers {
			if f != agorav1alpha1.TaskFinalizer {
				finalizers = append(finalizers, f)
			}
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": task.ResourceVersion,
		"finalizers":      finalizers, // nil: the field goes
	}})
	if err != nil {
		return task, err
	}
	out, err := e.agora.SchedulingV1alpha1().Tasks(task.Namespace).Patch(ctx, task.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		if !on && apierrors.IsNotFound(err) {
			return task, nil
		}
		return task, err
	}
	e.metrics.finalizerWrites.Inc()
	e.remember(key, out)
	return out, nil
}

// terminalTimes stamps completionTime on a status entering a terminal phase.
func (e *Executor) terminalTimes(st *agorav1alpha1.TaskStatus) {
	if st.CompletionTime == nil {
		t := metav1.NewTime(e.clock.Now()).Rfc3339Copy()
		st.CompletionTime = &t
	}
}

func hasFinalizer(task *agorav1alpha1.Task) bool {
	for _, f := range task.Finalizers {
		if f == agorav1alpha1.TaskFinalizer {
			return true
		}
	}
	return false
}

// podDone: the pod's containers have all ended; it holds nothing any more.
func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func gracePeriod(pod *corev1.Pod) *int64 {
	if podDone(pod) {
		return ptr(int64(0))
	}
	return pod.Spec.TerminationGracePeriodSeconds
}

// isPermanent: the API server refused the request for a reason a retry would not change.
func isPermanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) ||
		apierrors.IsRequestEntityTooLargeError(err)
}

func isConflict(err error) bool {
	return apierrors.IsConflict(err) || strings.Contains(err.Error(), "the object has been modified")
}

// newerThan compares resourceVersions (comparable since Kubernetes 1.35; an unparsable pair is
// treated as not newer, which only costs a conflict and a retry).
func newerThan(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c > 0
}
