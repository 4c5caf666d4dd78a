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
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/klog/v2"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Event reasons the executor records on Tasks (the happy path writes no Events): warnings, and
// NameHeld (Normal) when a task waits for the pod of an earlier Task of its name to go.
const (
	eventPodRejected     = agorav1alpha1.ReasonPodRejected
	eventInvalidTemplate = agorav1alpha1.ReasonInvalidTemplate
	eventPodDeleted      = agorav1alpha1.ReasonPodDeleted
	eventPodNotFound     = agorav1alpha1.ReasonPodNotFound
	eventNameHeld        = "NameHeld"
)

// sync brings one task on one node to where its Task and Pod say it should be. It is the whole
// state machine; everything it knows it reads from the caches (and, where a cache may lag
// behind a write, from the API), so it is safe to run at any time, any number of times, and
// after a restart.
//
//	Task gone                          -> release and delete a pod it left behind
//	being deleted (kill)               -> delete the pod; once it stopped: Killed; release the
//	                                      pod; drop the Task finalizer
//	phase "" (deleted or not), or
//	Error without the finalizer        -> not admitted: the controller's, nothing to do
//	terminal                           -> make sure the pod is stopped; release it; drop the
//	                                      Task finalizer
//	has its pod, being deleted         -> someone else deletes it: Lost (PodDeleted), or
//	                                      Finished/Failed if it had ended; then release it
//	has its pod                        -> mirror the pod into the status (Starting, Running,
//	                                      Finished, Failed); Unreachable goes back to that
//	Staging (or Unreachable before any
//	pod was recorded), no pod          -> build the pod (Error if the template cannot fit),
//	                                      add the finalizer (unless the framework created the
//	                                      Task with it), create the pod; Running + podUID once
//	                                      it runs, or Starting + podUID if it has not run
//	                                      within Options.StartingDelay
//	Starting/Running/Unreachable,
//	pod not in the API                 -> Lost (PodNotFound); never a second pod
//
// "Its pod" is the pod named after the task whose controller is this Task and, once
// status.podUID is set, whose UID is that one: a task runs in one pod and no other.
//
// Why a task never runs twice: every pod the executor creates carries PodFinalizer, which the
// executor removes only once the pod's end is in the Task (a terminal phase, written first) or
// the Task is gone. So a pod of a Task that is not terminal is always in the API, terminating
// perhaps, but there; and a Staging task whose pod create does not meet AlreadyExists never had
// a pod. The one way around it is someone removing the finalizer by hand (or a pod made by an
// executor older than the finalizer); a Starting or Running task then finds no pod and ends
// Lost rather than being started again.
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
	if pod != nil && !runsTask(pod, task) {
		if claimsTask(pod, task) {
			return e.waitForName(ctx, key, task, pod)
		}
		pod = nil // not this task's pod
	}

	phase := task.Status.Phase
	if phase == "" {
		// Not admitted (yet): the controller decides, and it also lets go of a task deleted
		// before admission (a framework may have created it with the finalizer on).
		return nil
	}
	if task.DeletionTimestamp != nil {
		return e.kill(ctx, key, task, pod)
	}
	switch {
	case phase == agorav1alpha1.TaskError && !hasFinalizer(task):
		return nil // rejected at admission: the controller's
	case phase.IsTerminal():
		return e.finish(ctx, key, task, pod)
	case pod != nil:
		return e.mirror(ctx, key, task, pod)
	case phase == agorav1alpha1.TaskStaging,
		phase == agorav1alpha1.TaskUnreachable && task.Status.PodName == "" && task.Status.PodUID == "":
		return e.launch(ctx, key, task)
	default: // Starting, Running, or Unreachable with a pod recorded, and the cache has no pod
		return e.podMissing(ctx, key, task)
	}
}

// launch starts a Staging task: build the pod, hold the Task with the finalizer, create the pod
// and say Starting. The finalizer goes on before the pod exists, so that a pod never runs for a
// Task that could vanish without the executor stopping it.
//
// The create is the check against the API that no pod exists: the cache may lag, the API
// server does not. A pod that exists is this task's from an earlier attempt (a create whose
// answer was lost, an executor that died before writing Starting), held by its finalizer even
// if it has been deleted since: it is adopted, never replaced.
func (e *Executor) launch(ctx context.Context, key taskKey, task *agorav1alpha1.Task) error {
	logger := klog.FromContext(ctx).WithValues("task", klog.KObj(task), "node", key.node)
	if e.createdPod(key) {
		// This process created the pod a moment ago and the pod cache has not caught up (the
		// task stays Staging until the pod runs): the pod's event brings the task back. Creating
		// again would only meet AlreadyExists, at a price to the API server.
		e.queue.AddAfter(key, time.Second)
		return nil
	}
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
		e.nameFree(key)
		e.recordCreated(key, created.UID)
		e.metrics.podsCreated.Inc()
		logger.V(2).Info("Created pod", "pod", klog.KObj(created))
		pod = created
	case apierrors.IsAlreadyExists(err):
		existing, gerr := e.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr // NotFound included: it went meanwhile; try again
		}
		switch {
		case runsTask(existing, task):
			logger.V(2).Info("Adopted existing pod", "pod", klog.KObj(existing))
			pod = existing
		case claimsTask(existing, task):
			return e.waitForName(ctx, key, task, existing)
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

// mirror writes what the task's pod says into the Task (podName and podUID included, with the
// first write, Starting), and once that is terminal, finishes it.
func (e *Executor) mirror(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	var st agorav1alpha1.TaskStatus
	if pod.DeletionTimestamp != nil {
		st = e.podDeleted(task, pod)
	} else {
		st = mirrorStatus(task.Status, pod, metav1.NewTime(e.clock.Now()))
	}
	if wait := e.startingWait(key, task, pod, st); wait > 0 {
		e.queue.AddAfter(key, wait) // unless the pod's next event brings the task back sooner
		return nil
	}
	var err error
	if !hasFinalizer(task) && !st.Phase.IsTerminal() {
		// A live pod always has its Task held (someone may have removed the finalizer by hand).
		if task, err = e.setFinalizer(ctx, key, task, true); err != nil {
			return err
		}
	}
	task, err = e.writeStatus(ctx, key, task, st)
	if err != nil {
		return err
	}
	if task.Status.Phase.IsTerminal() {
		return e.finish(ctx, key, task, pod)
	}
	if !hasPodFinalizer(pod) && pod.DeletionTimestamp == nil {
		// A pod made by an executor older than the pod finalizer (or stripped of it by hand):
		// hold it from now on, so that its end cannot go unseen either.
		return e.holdPod(ctx, pod)
	}
	return nil
}

// startingWait is how much longer the Starting write of a Staging task waits for its pod to run
// (Options.StartingDelay from the pod's creation): a pod that runs by then is reported Running
// at once, with no Starting in between. Zero when there is nothing to wait for.
func (e *Executor) startingWait(key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod, st agorav1alpha1.TaskStatus) time.Duration {
	if task.Status.Phase != agorav1alpha1.TaskStaging || st.Phase != agorav1alpha1.TaskStarting ||
		pod.DeletionTimestamp != nil || e.opts.StartingDelay <= 0 {
		return 0
	}
	return e.opts.StartingDelay - e.clock.Since(e.podCreatedAt(key, pod))
}

// holdPod adds PodFinalizer to a live pod that lacks it: a strategic merge patch, which merges
// finalizers as a set (a second add, from a cache that has not seen the first, changes nothing),
// with the pod's UID in it, which the API server checks. It refuses new finalizers on a pod being
// deleted, and the task then goes round again.
func (e *Executor) holdPod(ctx context.Context, pod *corev1.Pod) error {
	patch := fmt.Sprintf(`{"metadata":{"uid":%q,"finalizers":[%q]}}`, pod.UID, agorav1alpha1.PodFinalizer)
	_, err := e.kube.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil // gone: its delete event brings the task back
	}
	if err == nil {
		e.metrics.podFinalizerWrites.Inc()
		klog.FromContext(ctx).V(2).Info("Holding a pod made without the pod finalizer", "pod", klog.KObj(pod))
	}
	return err
}

// podDeleted is the status of a task that is not terminal and not being deleted, whose pod is
// being deleted. The executor deletes a pod only once its task is terminal or being deleted, so
// someone else is deleting this one (a person, an eviction, the pod garbage collector, a
// namespace going away). A pod that had ended by itself is reported as it ended; any other is
// Lost: it did not finish, and it will not be started again.
func (e *Executor) podDeleted(task *agorav1alpha1.Task, pod *corev1.Pod) agorav1alpha1.TaskStatus {
	now := metav1.NewTime(e.clock.Now())
	if podDone(pod) {
		return mirrorStatus(task.Status, pod, now)
	}
	msg := fmt.Sprintf("pod %s was deleted by someone other than agora-executor while the task was %s; the task did not finish and is not run again",
		pod.Name, task.Status.Phase)
	e.recorder.Event(task, corev1.EventTypeWarning, eventPodDeleted, msg)
	st := *task.Status.DeepCopy()
	st.Phase = agorav1alpha1.TaskLost
	st.Reason = agorav1alpha1.ReasonPodDeleted
	st.Message = msg
	st.PodName, st.PodUID = pod.Name, string(pod.UID)
	st.ExitCode = nil
	e.terminalTimes(&st)
	return st
}

// podMissing handles a task that got a pod (Starting, Running, or Unreachable with podName or
// podUID recorded) but whose pod the cache does not have. The cache may just lag behind the
// create; the API decides. A pod really gone left without its finalizer being removed by this
// executor: someone removed it by hand, or an executor older than the finalizer made the pod.
// Whether it ran, and how it ended, is unknown: the task is Lost, and not run again.
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
	msg := fmt.Sprintf("pod %s is gone from the API while the task was %s, without agora-executor having seen it end "+
		"(its %s finalizer was removed by someone else, or an older agora-executor made it without one); "+
		"it may have run, so the task is not run again", name, task.Status.Phase, agorav1alpha1.PodFinalizer)
	e.recorder.Event(task, corev1.EventTypeWarning, eventPodNotFound, msg)
	st := *task.Status.DeepCopy()
	st.Phase = agorav1alpha1.TaskLost
	st.Reason = agorav1alpha1.ReasonPodNotFound
	st.Message = msg
	st.ExitCode = nil
	e.terminalTimes(&st)
	task, err = e.writeStatus(ctx, key, task, st)
	if err != nil {
		return err
	}
	return e.finish(ctx, key, task, nil)
}

// finish handles a task in a terminal phase, whose end is therefore recorded: its pod must not
// run on (a task the controller declared Lost has had its resources returned to the pool), its
// pod may go (the pod finalizer is removed; an ended pod stays, for its logs, until the Task is
// deleted), and once the pod no longer runs, the Task finalizer goes.
func (e *Executor) finish(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	if pod != nil {
		if pod.DeletionTimestamp == nil && !podDone(pod) {
			return e.deletePod(ctx, task, pod) // its next event brings the task back here
		}
		if err := e.releasePod(ctx, pod); err != nil {
			return err
		}
		if !podStopped(pod) {
			return nil // its containers are still stopping; its next event brings the task back
		}
	}
	if hasFinalizer(task) {
		_, err := e.setFinalizer(ctx, key, task, false)
		return err
	}
	return nil
}

// kill handles a Task being deleted: stop the pod with the template's grace period, wait until
// it stopped, write Killed, release the pod, drop the finalizer. A task that never got a pod is
// Killed at once.
func (e *Executor) kill(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	if !hasFinalizer(task) {
		// Not held by this executor (it never launched it, or someone removed the finalizer by
		// hand). Still never leave a pod behind.
		if pod != nil {
			return e.clearPod(ctx, pod)
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
	var err error
	if pod != nil {
		if pod.DeletionTimestamp == nil {
			if podDone(pod) && !task.Status.Phase.IsTerminal() {
				// It ended on its own before the kill came through: record how, not "Killed".
				st := mirrorStatus(task.Status, pod, metav1.NewTime(e.clock.Now()))
				if task, err = e.writeStatus(ctx, key, task, st); err != nil {
					return err
				}
			}
			return e.deletePod(ctx, task, pod) // its next event brings the task back here
		}
		if !podStopped(pod) {
			return nil // stopping; its next event brings the task back here
		}
	}
	if !task.Status.Phase.IsTerminal() {
		st := *task.Status.DeepCopy()
		st.Phase = agorav1alpha1.TaskKilled
		st.Reason, st.Message = e.killReason(ctx, task)
		st.ExitCode = nil
		e.terminalTimes(&st)
		if task, err = e.writeStatus(ctx, key, task, st); err != nil {
			return err
		}
	}
	if pod != nil {
		if err := e.releasePod(ctx, pod); err != nil {
			return err
		}
	}
	_, err = e.setFinalizer(ctx, key, task, false)
	return err
}

// killReason says why a task was deleted: the controller preempted it, its framework was torn
// down, its framework stayed inactive past failoverTimeout, or someone deleted the Task.
func (e *Executor) killReason(ctx context.Context, task *agorav1alpha1.Task) (string, string) {
	what := killedWhat(task)
	if msg, ok := preempted(task, what); ok {
		return agorav1alpha1.ReasonPreempted, msg
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

// killedWhat says what a kill did to the task's pod, the end of every Killed message.
func killedWhat(task *agorav1alpha1.Task) string {
	if task.Status.PodName != "" {
		return fmt.Sprintf("the Task was deleted; its pod %s was stopped", task.Status.PodName)
	}
	return "the Task was deleted before its pod was started"
}

// preempted returns the Killed message of a task the controller deleted to raise a role to its
// guarantee: it sets condition Preempted (its message names the role) just before the delete.
// The condition is the task's own, so it decides before the framework is looked at: a teardown
// racing the preemption does not change why this delete happened.
func preempted(task *agorav1alpha1.Task, what string) (string, bool) {
	c := meta.FindStatusCondition(task.Status.Conditions, agorav1alpha1.TaskConditionPreempted)
	if c == nil || c.Status != metav1.ConditionTrue {
		return "", false
	}
	why := c.Message
	if why == "" {
		why = "preempted to raise another role to its guarantee"
	}
	return why + ": " + what, true
}

func ownedByFramework(task *agorav1alpha1.Task, fw string) bool {
	for _, ref := range task.OwnerReferences {
		if ref.Kind == "Framework" && ref.Name == fw && ref.APIVersion == agorav1alpha1.SchemeGroupVersion.String() {
			return true
		}
	}
	return false
}

// deleteOrphan releases and deletes the pod of a Task that no longer exists. Garbage collection
// would delete it through the owner reference where kube-controller-manager runs, but only the
// executor removes its finalizer; the local cluster has no garbage collector at all, and a
// terminal task's finalizer is already gone when it is deleted.
func (e *Executor) deleteOrphan(ctx context.Context, a *agent, key taskKey) error {
	pod, err := a.pods.Pods(key.namespace).Get(key.name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ref := taskRef(pod)
	if ref == nil || pod.Spec.NodeName != a.node || pod.DeletionTimestamp != nil && !hasPodFinalizer(pod) {
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
	return e.clearPod(ctx, pod)
}

// runsTask reports whether pod is the one the task runs in: its controller is this Task and,
// once the executor recorded the pod's UID, it is that pod.
func runsTask(pod *corev1.Pod, task *agorav1alpha1.Task) bool {
	return metav1.IsControlledBy(pod, task) && (task.Status.PodUID == "" || string(pod.UID) == task.Status.PodUID)
}

// claimsTask reports whether pod, not the one the task runs in (runsTask is false), was made for
// a Task of this name: an earlier Task of the same name (deleted and made again), or a pod other
// than the one recorded in status.podUID. Either must not run, nor hold the name.
func claimsTask(pod *corev1.Pod, task *agorav1alpha1.Task) bool {
	ref := taskRef(pod)
	return ref != nil && ref.Name == task.Name
}

// nameHeldRecheck is how soon a task whose name a pod of an earlier Task still holds is looked at
// again the first time; the wait doubles up to 30 s.
const nameHeldRecheck = time.Second

// waitForName clears a pod that holds the task's name without running it (a pod of an earlier
// Task of that name) and looks at the task again in a moment. The pod's own events do not
// bring the task back: they go to the executor of the pod's node, which may be another node's
// (another process, in a DaemonSet), and this executor's cache may never have held that pod.
// A pod on a node this process does not serve is left to that node's executor (or, the node
// lost, to the controller and the garbage collector): an executor writes only its own node's
// pods (the policy agora-executor-node-restriction refuses the rest).
func (e *Executor) waitForName(ctx context.Context, key taskKey, task *agorav1alpha1.Task, pod *corev1.Pod) error {
	if e.agentFor(pod.Spec.NodeName) != nil {
		if err := e.clearPod(ctx, pod); err != nil {
			return err
		}
	}
	wait, first := e.nameWait(key)
	if first {
		klog.FromContext(ctx).Info("Waiting for a pod of an earlier Task of the same name to go", "pod", klog.KObj(pod), "node", pod.Spec.NodeName)
		e.recorder.Eventf(task, corev1.EventTypeNormal, eventNameHeld,
			"waiting for pod %s of an earlier Task of this name to go (on node %s, cleared by that node's executor); the task starts then",
			pod.Name, pod.Spec.NodeName)
	}
	e.queue.AddAfter(key, wait)
	return nil
}

// clearPod releases and deletes a pod that must not run: an orphan, or a pod that claims a task
// without being the one it runs in.
func (e *Executor) clearPod(ctx context.Context, pod *corev1.Pod) error {
	if err := e.releasePod(ctx, pod); err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		return nil
	}
	klog.FromContext(ctx).Info("Deleting a pod that no task runs in", "pod", klog.KObj(pod))
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

// releasePod removes PodFinalizer from exactly this pod (a JSON patch that tests the UID and
// the finalizer's position, so neither another pod of the name nor a concurrent change to the
// pod's finalizers is touched). Callers have recorded the pod's end in its Task first, or its
// Task is gone.
func (e *Executor) releasePod(ctx context.Context, pod *corev1.Pod) error {
	for try := 0; ; try++ {
		i := slices.Index(pod.Finalizers, agorav1alpha1.PodFinalizer)
		if i < 0 {
			return nil
		}
		patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/uid","value":%q},`+
			`{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`,
			pod.UID, i, agorav1alpha1.PodFinalizer, i)
		_, err := e.kube.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
		if err == nil {
			e.metrics.podFinalizerWrites.Inc()
			klog.FromContext(ctx).V(3).Info("Released pod", "pod", klog.KObj(pod))
			return nil
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if try > 0 {
			return err
		}
		// The cached pod may be behind (the finalizer removed already, or moved): read it.
		live, gerr := e.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			return nil
		}
		if gerr != nil {
			return err
		}
		if live.UID != pod.UID {
			return nil // that pod is gone; another has the name
		}
		pod = live
	}
}

// livePod reads the task's pod from the API; nil if there is none the task runs in (runsTask).
func (e *Executor) livePod(ctx context.Context, task *agorav1alpha1.Task) (*corev1.Pod, error) {
	pod, err := e.kube.CoreV1().Pods(task.Namespace).Get(ctx, PodName(task), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !runsTask(pod, task) {
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
	e.clearCreated(key) // no longer Staging: nothing waits on the pod's creation time
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
// appears on each container, for one), which the admission policy agora-task-spec-immutable
// (config/crd/policy) refuses as a spec change.
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

// podStopped: nothing of the pod runs any more. Either its containers ended, or its deletion
// is final: a grace period of 0 is what the kubelet sends once it has stopped the containers
// (kwok at once), or what a forced delete asks for; then only finalizers keep the pod in the
// API, where without them it would be gone.
func podStopped(pod *corev1.Pod) bool {
	return podDone(pod) || pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == 0
}

func hasPodFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, agorav1alpha1.PodFinalizer)
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
