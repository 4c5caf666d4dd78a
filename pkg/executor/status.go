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
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Limits of the Task status fields (api/v1alpha1 validation).
const (
	maxReasonLen  = 128
	maxMessageLen = 32768
)

// fatalWaitingReasons are container waiting reasons after which a task's container will not
// start without someone changing the world: the task fails (Mesos fails a task whose image
// cannot be fetched) and its pod is deleted, rather than the pod waiting forever.
var fatalWaitingReasons = map[string]bool{
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"ImagePullBackOff":           true, // kubelet has already failed to pull at least once
	"CreateContainerConfigError": true, // e.g. a missing ConfigMap or Secret
}

// phaseRank orders the non-terminal phases so that mirroring never moves a task backwards.
// Unreachable says nothing about the pod (the controller wrote it because the executor was away),
// so any phase the pod shows replaces it.
func phaseRank(p agorav1alpha1.TaskPhase) int {
	switch p {
	case agorav1alpha1.TaskUnreachable:
		return 0
	case agorav1alpha1.TaskStaging:
		return 1
	case agorav1alpha1.TaskStarting:
		return 2
	case agorav1alpha1.TaskRunning:
		return 3
	case "":
		return 0
	}
	return 4 // terminal
}

// mirrorStatus returns the status the task should have given its pod. cur is the current status;
// now stamps times the pod does not supply. Times already set are kept, so mirroring the same pod
// twice yields the same status (and the executor writes nothing the second time). A terminal cur
// is returned unchanged: terminal is terminal.
func mirrorStatus(cur agorav1alpha1.TaskStatus, pod *corev1.Pod, now metav1.Time) agorav1alpha1.TaskStatus {
	out := *cur.DeepCopy()
	if cur.Phase.IsTerminal() {
		return out
	}
	now = metav1.NewTime(now.Rfc3339Copy().Time) // the API keeps seconds; compare like with like
	out.PodName = pod.Name
	out.PodUID = string(pod.UID)

	switch pod.Status.Phase {
	case corev1.PodPending, "":
		if name, w := fatalWaiting(pod); w != nil {
			out.Phase = agorav1alpha1.TaskFailed
			out.Reason = w.Reason
			out.Message = fmt.Sprintf("container %q of pod %s cannot start (%s): %s", name, pod.Name, w.Reason, w.Message)
			out.ExitCode = nil
			break
		}
		out.Phase = agorav1alpha1.TaskStarting
		out.Reason, out.Message = "", fmt.Sprintf("pod %s is on node %s, waiting for its containers to start", pod.Name, pod.Spec.NodeName)
		if name, w := firstWaiting(pod); w != nil && w.Reason != "" {
			out.Reason = w.Reason
			out.Message = fmt.Sprintf("container %q of pod %s is waiting (%s)", name, pod.Name, w.Reason)
			if w.Message != "" {
				out.Message += ": " + w.Message
			}
		}
	case corev1.PodRunning:
		out.Phase = agorav1alpha1.TaskRunning
		out.Reason, out.Message = "", fmt.Sprintf("pod %s is running on node %s", pod.Name, pod.Spec.NodeName)
		if out.StartTime == nil {
			out.StartTime = startTime(pod, &now)
		}
	case corev1.PodSucceeded:
		out.Phase = agorav1alpha1.TaskFinished
		out.Reason = agorav1alpha1.ReasonCompleted
		out.Message = fmt.Sprintf("every container of pod %s exited 0", pod.Name)
		out.ExitCode = ptr(int32(0))
		if out.StartTime == nil {
			out.StartTime = startTime(pod, nil)
		}
	case corev1.PodFailed:
		out.Phase = agorav1alpha1.TaskFailed
		name, term := firstFailed(pod)
		var parts []string
		out.Reason = pod.Status.Reason // kubelet-level: Evicted, OutOfcpu, DeadlineExceeded, ...
		if pod.Status.Message != "" {
			parts = append(parts, pod.Status.Message)
		}
		if term != nil {
			out.ExitCode = ptr(term.ExitCode)
			if out.Reason == "" {
				out.Reason = term.Reason
			}
			s := fmt.Sprintf("container %q exited with code %d", name, term.ExitCode)
			if term.Reason != "" {
				s += " (" + term.Reason + ")"
			}
			if term.Message != "" {
				s += ": " + term.Message
			}
			parts = append(parts, s)
		}
		if out.Reason == "" {
			out.Reason = "Error"
		}
		if len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("pod %s failed", pod.Name))
		}
		out.Message = strings.Join(parts, "; ")
		if out.StartTime == nil {
			out.StartTime = startTime(pod, nil) // nil if nothing ever ran
		}
	default: // Unknown: the node is not reporting; the controller decides about Lost.
		return out
	}

	if phaseRank(out.Phase) < phaseRank(cur.Phase) {
		return *cur.DeepCopy()
	}
	if out.Phase.IsTerminal() && out.CompletionTime == nil {
		out.CompletionTime = completionTime(pod, now)
	}
	out.Reason = truncate(out.Reason, maxReasonLen)
	out.Message = truncate(out.Message, maxMessageLen)
	return out
}

// statusEqual reports whether writing b over a would change nothing.
func statusEqual(a, b *agorav1alpha1.TaskStatus) bool {
	return apiequality.Semantic.DeepEqual(a, b)
}

func fatalWaiting(pod *corev1.Pod) (string, *corev1.ContainerStateWaiting) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && fatalWaitingReasons[w.Reason] {
				return cs.Name, w
			}
		}
	}
	return "", nil
}

func firstWaiting(pod *corev1.Pod) (string, *corev1.ContainerStateWaiting) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Waiting != nil {
				return cs.Name, cs.State.Waiting
			}
		}
	}
	return "", nil
}

// firstFailed returns the first container, in the pod's order (init containers, then
// containers), that terminated with a non-zero exit code.
func firstFailed(pod *corev1.Pod) (string, *corev1.ContainerStateTerminated) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		byName := make(map[string]*corev1.ContainerStateTerminated, len(list))
		for i := range list {
			if t := list[i].State.Terminated; t != nil && t.ExitCode != 0 {
				byName[list[i].Name] = t
			}
		}
		if len(byName) == 0 {
			continue
		}
		for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
			if t := byName[c.Name]; t != nil {
				return c.Name, t
			}
		}
		for i := range list { // statuses of containers not in the spec: take them in order
			if t := list[i].State.Terminated; t != nil && t.ExitCode != 0 {
				return list[i].Name, t
			}
		}
	}
	return "", nil
}

// startTime is when the first container started, else when the kubelet took the pod, else
// fallback (which may be nil).
func startTime(pod *corev1.Pod, fallback *metav1.Time) *metav1.Time {
	var first *metav1.Time
	consider := func(t metav1.Time) {
		if !t.IsZero() && (first == nil || t.Before(first)) {
			t := t
			first = &t
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			consider(cs.State.Running.StartedAt)
		case cs.State.Terminated != nil:
			consider(cs.State.Terminated.StartedAt)
		}
	}
	if first == nil && pod.Status.StartTime != nil {
		consider(*pod.Status.StartTime)
	}
	if first == nil {
		first = fallback
	}
	if first == nil {
		return nil
	}
	t := metav1.NewTime(first.Rfc3339Copy().Time)
	return &t
}

// completionTime is when the last container finished, else now.
func completionTime(pod *corev1.Pod, now metav1.Time) *metav1.Time {
	var last *metav1.Time
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && !t.FinishedAt.IsZero() && (last == nil || last.Before(&t.FinishedAt)) {
			ft := t.FinishedAt
			last = &ft
		}
	}
	if last == nil {
		last = &now
	}
	t := metav1.NewTime(last.Rfc3339Copy().Time)
	return &t
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "..."
	return s[:n-len(ellipsis)] + ellipsis
}

func ptr[T any](v T) *T { return &v }
