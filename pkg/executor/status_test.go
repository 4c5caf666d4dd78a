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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

var (
	t0 = metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	t1 = metav1.NewTime(t0.Add(5 * time.Second))
	t2 = metav1.NewTime(t0.Add(9 * time.Second))
	// now carries nanoseconds, as the clock does; mirrorStatus must drop them.
	now    = metav1.NewTime(t0.Add(time.Minute + 123*time.Millisecond))
	nowSec = metav1.NewTime(t0.Add(time.Minute))
)

type podOpt func(*corev1.Pod)

func testPod(phase corev1.PodPhase, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "t1", Namespace: "ns", UID: "pod-uid-1"},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "main"}, {Name: "side"}}},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withState(name string, st corev1.ContainerState) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: name, State: st})
	}
}

func running(at metav1.Time) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}}
}

func exited(code int32, reason string, started, finished metav1.Time) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: started, FinishedAt: finished}}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func staging() agorav1alpha1.TaskStatus {
	return agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskStaging, Reason: agorav1alpha1.ReasonAdmitted, Framework: "fw",
		Message: "admitted on offer o1",
		Conditions: []metav1.Condition{{Type: agorav1alpha1.TaskConditionAdmitted, Status: metav1.ConditionTrue,
			Reason: agorav1alpha1.ReasonAdmitted, LastTransitionTime: t0}}}
}

func status(phase agorav1alpha1.TaskPhase, edit func(*agorav1alpha1.TaskStatus)) agorav1alpha1.TaskStatus {
	s := staging()
	s.Phase = phase
	s.Reason, s.Message = "", ""
	s.PodName, s.PodUID = "t1", "pod-uid-1"
	if edit != nil {
		edit(&s)
	}
	return s
}

func TestMirrorStatus(t *testing.T) {
	cases := []struct {
		name string
		cur  agorav1alpha1.TaskStatus
		pod  *corev1.Pod
		want agorav1alpha1.TaskStatus
	}{
		{
			name: "pod created: Starting",
			cur:  staging(),
			pod:  testPod(corev1.PodPending),
			want: status(agorav1alpha1.TaskStarting, func(s *agorav1alpha1.TaskStatus) {
				s.Message = "pod t1 is on node node-a, waiting for its containers to start"
			}),
		},
		{
			name: "container waiting: its reason shows",
			cur:  staging(),
			pod:  testPod(corev1.PodPending, withState("main", waiting("ContainerCreating", ""))),
			want: status(agorav1alpha1.TaskStarting, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = "ContainerCreating"
				s.Message = `container "main" of pod t1 is waiting (ContainerCreating)`
			}),
		},
		{
			name: "image cannot be pulled: Failed",
			cur:  status(agorav1alpha1.TaskStarting, nil),
			pod:  testPod(corev1.PodPending, withState("main", waiting("ImagePullBackOff", `Back-off pulling image "nope"`))),
			want: status(agorav1alpha1.TaskFailed, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = "ImagePullBackOff"
				s.Message = `container "main" of pod t1 cannot start (ImagePullBackOff): Back-off pulling image "nope"`
				s.CompletionTime = &nowSec
			}),
		},
		{
			name: "running: start time from the first container",
			cur:  status(agorav1alpha1.TaskStarting, nil),
			pod:  testPod(corev1.PodRunning, withState("main", running(t1)), withState("side", running(t0))),
			want: status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime, s.Message = &t0, "pod t1 is running on node node-a" }),
		},
		{
			name: "straight from Staging to Running (the pod ran before the executor looked)",
			cur:  staging(),
			pod:  testPod(corev1.PodRunning, withState("main", running(t1))),
			want: status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime, s.Message = &t1, "pod t1 is running on node node-a" }),
		},
		{
			name: "running without container statuses: pod start time",
			cur:  status(agorav1alpha1.TaskStarting, nil),
			pod:  testPod(corev1.PodRunning, func(p *corev1.Pod) { p.Status.StartTime = &t2 }),
			want: status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime, s.Message = &t2, "pod t1 is running on node node-a" }),
		},
		{
			name: "succeeded: Finished, exit 0, completion from the last container",
			cur:  status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
			pod: testPod(corev1.PodSucceeded,
				withState("main", exited(0, "Completed", t0, t2)), withState("side", exited(0, "Completed", t0, t1))),
			want: status(agorav1alpha1.TaskFinished, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = agorav1alpha1.ReasonCompleted
				s.Message = "every container of pod t1 exited 0"
				s.ExitCode = ptr(int32(0))
				s.StartTime = &t0
				s.CompletionTime = &t2
			}),
		},
		{
			name: "failed: exit code and reason of the failed container",
			cur:  status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
			pod: testPod(corev1.PodFailed,
				withState("main", exited(3, "Error", t0, t1)), withState("side", exited(0, "Completed", t0, t1))),
			want: status(agorav1alpha1.TaskFailed, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = "Error"
				s.Message = `container "main" exited with code 3 (Error)`
				s.ExitCode = ptr(int32(3))
				s.StartTime = &t0
				s.CompletionTime = &t1
			}),
		},
		{
			name: "failed: the first failed container in spec order, whatever the status order",
			cur:  status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
			pod: testPod(corev1.PodFailed,
				withState("side", exited(2, "Error", t0, t1)), withState("main", exited(137, "OOMKilled", t0, t1))),
			want: status(agorav1alpha1.TaskFailed, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = "OOMKilled"
				s.Message = `container "main" exited with code 137 (OOMKilled)`
				s.ExitCode = ptr(int32(137))
				s.StartTime = &t0
				s.CompletionTime = &t1
			}),
		},
		{
			name: "kubelet rejected the pod: its reason, no exit code",
			cur:  status(agorav1alpha1.TaskStarting, nil),
			pod: testPod(corev1.PodFailed, func(p *corev1.Pod) {
				p.Status.Reason = "OutOfcpu"
				p.Status.Message = "Pod was rejected: Node didn't have enough resource: cpu"
			}),
			want: status(agorav1alpha1.TaskFailed, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = "OutOfcpu"
				s.Message = "Pod was rejected: Node didn't have enough resource: cpu"
				s.CompletionTime = &nowSec
			}),
		},
		{
			name: "terminal is terminal",
			cur:  status(agorav1alpha1.TaskKilled, func(s *agorav1alpha1.TaskStatus) { s.Reason = agorav1alpha1.ReasonTaskKilled }),
			pod:  testPod(corev1.PodRunning, withState("main", running(t1))),
			want: status(agorav1alpha1.TaskKilled, func(s *agorav1alpha1.TaskStatus) { s.Reason = agorav1alpha1.ReasonTaskKilled }),
		},
		{
			name: "never backwards",
			cur:  status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
			pod:  testPod(corev1.PodPending),
			want: status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
		},
		{
			name: "Unreachable, the executor back: Running again, start time kept",
			cur: status(agorav1alpha1.TaskUnreachable, func(s *agorav1alpha1.TaskStatus) {
				s.Reason, s.Message, s.StartTime = agorav1alpha1.ReasonExecutorUnreachable, "the executor Lease is stale", &t0
			}),
			pod:  testPod(corev1.PodRunning, withState("main", running(t1))),
			want: status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime, s.Message = &t0, "pod t1 is running on node node-a" }),
		},
		{
			name: "Unreachable, the pod still pending: Starting",
			cur: status(agorav1alpha1.TaskUnreachable, func(s *agorav1alpha1.TaskStatus) {
				s.Reason, s.Message = agorav1alpha1.ReasonExecutorUnreachable, "the executor Lease is stale"
			}),
			pod: testPod(corev1.PodPending),
			want: status(agorav1alpha1.TaskStarting, func(s *agorav1alpha1.TaskStatus) {
				s.Message = "pod t1 is on node node-a, waiting for its containers to start"
			}),
		},
		{
			name: "Unreachable, the pod ended meanwhile: Finished",
			cur: status(agorav1alpha1.TaskUnreachable, func(s *agorav1alpha1.TaskStatus) {
				s.Reason, s.Message, s.StartTime = agorav1alpha1.ReasonExecutorUnreachable, "the executor Lease is stale", &t0
			}),
			pod: testPod(corev1.PodSucceeded, withState("main", exited(0, "Completed", t0, t2))),
			want: status(agorav1alpha1.TaskFinished, func(s *agorav1alpha1.TaskStatus) {
				s.Reason = agorav1alpha1.ReasonCompleted
				s.Message = "every container of pod t1 exited 0"
				s.ExitCode = ptr(int32(0))
				s.StartTime = &t0
				s.CompletionTime = &t2
			}),
		},
		{
			name: "unknown pod phase changes nothing",
			cur:  status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
			pod:  testPod(corev1.PodUnknown),
			want: status(agorav1alpha1.TaskRunning, func(s *agorav1alpha1.TaskStatus) { s.StartTime = &t0 }),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cur.DeepCopy()
			got := mirrorStatus(tc.cur, tc.pod, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mirrorStatus (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(*before, tc.cur); diff != "" {
				t.Errorf("mirrorStatus changed its input:\n%s", diff)
			}
			// Mirroring the same pod again, later, changes nothing: no second write.
			again := mirrorStatus(got, tc.pod, metav1.NewTime(now.Add(time.Hour)))
			if !statusEqual(&got, &again) {
				t.Errorf("not idempotent:\n%s", cmp.Diff(got, again))
			}
		})
	}
}

func TestPodStopped(t *testing.T) {
	at := metav1.NewTime(t0.Time)
	deleting := func(grace int64) podOpt {
		return func(p *corev1.Pod) { p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &at, &grace }
	}
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"running":                               {testPod(corev1.PodRunning), false},
		"succeeded":                             {testPod(corev1.PodSucceeded), true},
		"failed":                                {testPod(corev1.PodFailed), true},
		"being deleted, grace period running":   {testPod(corev1.PodRunning, deleting(30)), false},
		"deletion final (grace 0), held by us":  {testPod(corev1.PodRunning, deleting(0)), true},
		"being deleted, containers ended":       {testPod(corev1.PodFailed, deleting(30)), true},
		"pending, deletion final (kwok, force)": {testPod(corev1.PodPending, deleting(0)), true},
	} {
		if got := podStopped(tc.pod); got != tc.want {
			t.Errorf("%s: podStopped = %v, want %v", name, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("short", 10); got != "short" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("x", 50)
	if got := truncate(long, 10); got != "xxxxxxx..." {
		t.Errorf("got %q", got)
	}
}
