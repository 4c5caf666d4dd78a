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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Bounds of the waits in these tests. A pod on a kwok node runs within a second; these leave
// room for a loaded machine, and are never slept through.
const (
	waitTimeout = 30 * time.Second
	pollEvery   = 50 * time.Millisecond
)

func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a control plane (run without -short)")
	}
}

// runningExecutor is an executor under test, stopped with stop (or at cleanup).
type runningExecutor struct {
	*Executor
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// stop cancels Run and waits for it to return: the in-process equivalent of the executor
// dying (it writes nothing on the way out).
func (r *runningExecutor) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("executor Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("executor did not stop within 30s")
		}
	})
}

// startExecutor runs an executor as the agora-executor user and waits until it is Ready.
func startExecutor(t *testing.T, opts Options) *runningExecutor {
	t.Helper()
	if opts.RenewInterval == 0 {
		opts.RenewInterval, opts.LeaseDuration = time.Second, 5*time.Second
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.StartingDelay == 0 {
		// kwok runs a pod at once, so a task goes Staging -> Running with no Starting between;
		// a delay this long keeps it so on a loaded machine too.
		opts.StartingDelay = 30 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	cfg := executorCfg
	if opts.NodeName != "" {
		cfg = daemonSetConfig(opts.NodeName)
	}
	refused := &refusals{}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(refused.wrap)
	ex, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if first, n := refused.get(); n > 0 {
			t.Errorf("the executor was refused %d requests for want of rights (RBAC or agora-executor-node-restriction); the first: %s", n, first)
		}
	})
	logger, _ := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	r := &runningExecutor{Executor: ex, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- ex.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	eventually(t, waitTimeout, "executor Ready", func() (bool, string) {
		select {
		case err := <-r.done:
			t.Fatalf("executor exited early: %v", err)
		default:
		}
		return ex.Ready(), ""
	})
	return r
}

// daemonSetConfig is the identity of node's executor in a DaemonSet: its ServiceAccount, with
// the node the API server names in a token bound to the executor's pod (impersonated here), so
// that the policy agora-executor-node-restriction judges its writes as on a cluster.
func daemonSetConfig(node string) *rest.Config {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = executorCfg.QPS, executorCfg.Burst
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + agorav1alpha1.SystemNamespace + ":" + executorServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + agorav1alpha1.SystemNamespace, "system:authenticated"},
		Extra:    map[string][]string{"authentication.kubernetes.io/node-name": {node}},
	}
	return cfg
}

// refusals counts the executor's requests refused for want of rights: RBAC's or an admission
// policy's Forbidden (not Pod Security's, which a test may provoke on purpose).
type refusals struct {
	mu    sync.Mutex
	n     int
	first string
}

func (r *refusals) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			return resp, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if msg := string(body); strings.Contains(msg, "ValidatingAdmissionPolicy") || strings.Contains(msg, " cannot ") {
			r.mu.Lock()
			if r.n++; r.n == 1 {
				r.first = req.Method + " " + req.URL.Path + ": " + strings.Map(func(c rune) rune {
					if unicode.IsPrint(c) {
						return c
					}
					return -1
				}, msg) // the body may be protobuf
			}
			r.mu.Unlock()
		}
		return resp, nil
	})
}

func (r *refusals) get() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first, r.n
}

// eventually polls cond until it holds or timeout passes; then the test fails with what cond
// said last.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), pollEvery, timeout, true, func(context.Context) (bool, error) {
		ok, msg := cond()
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
	}
}

// newNamespace makes a namespace for one test. At cleanup (after the test's executor has
// stopped) its tasks and pods are removed by force, so that no later test's executor finds them:
// nothing deletes namespaces' contents here (no kube-controller-manager).
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns, err := cluster.CreateNamespace(context.Background(), "exec-", labels)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		tasks := cluster.Agora.SchedulingV1alpha1().Tasks(ns)
		list, err := tasks.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for i := range list.Items {
			task := &list.Items[i]
			if len(task.Finalizers) > 0 {
				patch := []byte(`{"metadata":{"finalizers":null}}`)
				if _, err := tasks.Patch(ctx, task.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("cleanup: %v", err)
				}
			}
			if err := tasks.Delete(ctx, task.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("cleanup: %v", err)
			}
		}
		zero := int64(0)
		if err := cluster.Kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return ns
}

// taskSpec is what a test varies about a Task.
type taskSpec struct {
	node        string
	resources   corev1.ResourceList
	annotations map[string]string // on the pod template: kwok's agora.dev/* stage triggers
	finalizers  []string          // on the Task, as the SDK sets TaskFinalizer at create
	edit        func(*corev1.PodSpec)
}

// stageTask creates a Task and admits it, as the controller would: phase Staging through the
// status subresource. It returns the admitted Task.
func stageTask(t *testing.T, ns, name string, s taskSpec) *agorav1alpha1.Task {
	t.Helper()
	ctx := context.Background()
	task := createTask(t, ns, name, s)
	admit(t, task)
	out, err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func createTask(t *testing.T, ns, name string, s taskSpec) *agorav1alpha1.Task {
	t.Helper()
	if s.node == "" {
		s.node = "kwok-node-0"
	}
	if s.resources == nil {
		s.resources = rl("cpu", "500m", "memory", "256Mi")
	}
	task := &agorav1alpha1.Task{
		TypeMeta:   metav1.TypeMeta{APIVersion: agorav1alpha1.SchemeGroupVersion.String(), Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Finalizers: s.finalizers},
		Spec: agorav1alpha1.TaskSpec{
			OfferName: "offer-1",
			NodeName:  s.node,
			Resources: s.resources,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: s.annotations, Labels: map[string]string{"app": "test"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
			},
		},
	}
	if s.edit != nil {
		s.edit(&task.Spec.Template.Spec)
	}
	// Posted as kubectl would: without the empty fields ("resources": {}, "creationTimestamp":
	// null, ...) the Go types add, so that anything that sends the spec back through the Go types
	// (and so changes it, for the API server) trips the CRD's immutability rule here too.
	out := &agorav1alpha1.Task{}
	err := cluster.Agora.SchedulingV1alpha1().RESTClient().Post().Namespace(ns).Resource("tasks").
		Body(compactJSON(t, task)).Do(context.Background()).Into(out)
	if err != nil {
		t.Fatalf("create task %s/%s: %v", ns, name, err)
	}
	return out
}

// compactJSON is v as JSON without nulls and empty objects, like a hand-written manifest.
func compactJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var compact func(any) (any, bool)
	compact = func(x any) (any, bool) {
		switch x := x.(type) {
		case nil:
			return nil, false
		case map[string]any:
			for k, v := range x {
				if c, keep := compact(v); keep {
					x[k] = c
				} else {
					delete(x, k)
				}
			}
			return x, len(x) > 0
		case []any:
			for i, v := range x {
				c, _ := compact(v)
				x[i] = c
			}
			return x, true
		}
		return x, true
	}
	tree, _ = compact(tree)
	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mergePatch applies a JSON merge patch to a Task as the admin (never an Update: see
// createTask).
func mergePatch(t *testing.T, ns, name string, patch map[string]any) {
	t.Helper()
	b, err := json.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Patch(context.Background(), name, types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch task %s/%s: %v", ns, name, err)
	}
}

// admit writes the controller's admission: Staging, framework, Admitted condition.
func admit(t *testing.T, task *agorav1alpha1.Task) {
	t.Helper()
	task = task.DeepCopy()
	task.Status.Phase = agorav1alpha1.TaskStaging
	task.Status.Reason = agorav1alpha1.ReasonAdmitted
	task.Status.Message = "admitted on offer " + task.Spec.OfferName
	task.Status.Framework = "fw"
	meta.SetStatusCondition(&task.Status.Conditions, metav1.Condition{
		Type: agorav1alpha1.TaskConditionAdmitted, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonAdmitted,
	})
	if _, err := cluster.Agora.SchedulingV1alpha1().Tasks(task.Namespace).UpdateStatus(context.Background(), task, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("admit task %s/%s: %v", task.Namespace, task.Name, err)
	}
}

func getTask(t *testing.T, ns, name string) (*agorav1alpha1.Task, bool) {
	t.Helper()
	task, err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return task, true
}

func getPod(t *testing.T, ns, name string) (*corev1.Pod, bool) {
	t.Helper()
	pod, err := cluster.Kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return pod, true
}

func describe(task *agorav1alpha1.Task) string {
	if task == nil {
		return "task gone"
	}
	return fmt.Sprintf("phase=%q reason=%q message=%q finalizers=%v deleting=%v", task.Status.Phase, task.Status.Reason,
		task.Status.Message, task.Finalizers, task.DeletionTimestamp != nil)
}

// waitPhase waits until the task is in phase and returns it.
func waitPhase(t *testing.T, ns, name string, phase agorav1alpha1.TaskPhase) *agorav1alpha1.Task {
	t.Helper()
	var task *agorav1alpha1.Task
	eventually(t, waitTimeout, fmt.Sprintf("task %s/%s in phase %s", ns, name, phase), func() (bool, string) {
		task, _ = getTask(t, ns, name)
		return task != nil && task.Status.Phase == phase, describe(task)
	})
	return task
}

// waitSettled waits until the task is terminal and the executor let go of it (no finalizer).
func waitSettled(t *testing.T, ns, name string, phase agorav1alpha1.TaskPhase) *agorav1alpha1.Task {
	t.Helper()
	var task *agorav1alpha1.Task
	eventually(t, waitTimeout, fmt.Sprintf("task %s/%s %s without finalizer", ns, name, phase), func() (bool, string) {
		task, _ = getTask(t, ns, name)
		return task != nil && task.Status.Phase == phase && !hasFinalizer(task), describe(task)
	})
	return task
}

func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, waitTimeout, fmt.Sprintf("task %s/%s gone", ns, name), func() (bool, string) {
		task, ok := getTask(t, ns, name)
		return !ok, describe(task)
	})
}

func waitPodGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, waitTimeout, fmt.Sprintf("pod %s/%s gone", ns, name), func() (bool, string) {
		pod, ok := getPod(t, ns, name)
		if !ok {
			return true, ""
		}
		return false, fmt.Sprintf("pod phase %s deleting=%v", pod.Status.Phase, pod.DeletionTimestamp != nil)
	})
}

// taskPods lists the pods that claim to run the task (by label), however many there are.
func taskPods(t *testing.T, ns, name string) []corev1.Pod {
	t.Helper()
	sel := labels.SelectorFromSet(labels.Set{agorav1alpha1.LabelTask: LabelValue(name)}).String()
	list, err := cluster.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// phaseRecorder records, from a watch opened before the tasks exist, every phase each task of a
// namespace went through, and whether it was deleted.
type phaseRecorder struct {
	mu      sync.Mutex
	phases  map[string][]agorav1alpha1.TaskPhase
	deleted map[string]agorav1alpha1.TaskPhase // phase in the DELETED event
	reason  map[string]string                  // last reason seen
	message map[string]string                  // last message seen
	endRV   map[string]string                  // resourceVersion of the first terminal phase seen
}

func recordPhases(t *testing.T, ns string) *phaseRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cluster.Agora.SchedulingV1alpha1().Tasks(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &phaseRecorder{phases: map[string][]agorav1alpha1.TaskPhase{}, deleted: map[string]agorav1alpha1.TaskPhase{},
		reason: map[string]string{}, message: map[string]string{}, endRV: map[string]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			task, ok := ev.Object.(*agorav1alpha1.Task)
			if !ok {
				continue
			}
			r.mu.Lock()
			ps := r.phases[task.Name]
			if p := task.Status.Phase; p != "" && (len(ps) == 0 || ps[len(ps)-1] != p) {
				r.phases[task.Name] = append(ps, p)
			}
			r.reason[task.Name] = task.Status.Reason
			r.message[task.Name] = task.Status.Message
			if _, ok := r.endRV[task.Name]; !ok && task.Status.Phase.IsTerminal() {
				r.endRV[task.Name] = task.ResourceVersion
			}
			if ev.Type == watch.Deleted {
				r.deleted[task.Name] = task.Status.Phase
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

func (r *phaseRecorder) get(name string) []agorav1alpha1.TaskPhase {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]agorav1alpha1.TaskPhase(nil), r.phases[name]...)
}

func (r *phaseRecorder) deletedIn(name string) (agorav1alpha1.TaskPhase, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.deleted[name]
	return p, ok
}

// ended is the resourceVersion at which the task's end (its first terminal phase) was written.
func (r *phaseRecorder) ended(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rv, ok := r.endRV[name]
	return rv, ok
}

func (r *phaseRecorder) lastReason(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason[name]
}

func (r *phaseRecorder) lastMessage(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.message[name]
}
