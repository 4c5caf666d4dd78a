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
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// ---- builders ---------------------------------------------------------------------------------

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func newTask(resources corev1.ResourceList, containers ...corev1.Container) *agorav1alpha1.Task {
	return &agorav1alpha1.Task{
		TypeMeta:   metav1.TypeMeta{APIVersion: agorav1alpha1.SchemeGroupVersion.String(), Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{Name: "t1", Namespace: "ns", UID: "uid-1"},
		Spec: agorav1alpha1.TaskSpec{
			OfferName: "offer-1",
			NodeName:  "node-a",
			Resources: resources,
			Template:  corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}},
		},
		Status: agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskStaging, Framework: "fw"},
	}
}

var quantityCmp = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// ---- BuildPod: resources ----------------------------------------------------------------------

func TestBuildPodResources(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	type res struct{ req, lim corev1.ResourceList }
	cases := []struct {
		name string
		task *agorav1alpha1.Task
		// edit changes the task before building (init containers, pod-level resources).
		edit    func(*agorav1alpha1.Task)
		want    []res // containers, in order
		wantIn  []res // init containers, in order
		wantPod *res  // pod-level resources
		wantErr string
	}{
		{
			name: "template says nothing: Guaranteed with all of the task",
			task: newTask(rl("cpu", "1", "memory", "1Gi"), ctr("main", nil, nil)),
			want: []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")}},
		},
		{
			name: "two silent containers share evenly",
			task: newTask(rl("cpu", "1", "memory", "1Gi"), ctr("a", nil, nil), ctr("b", nil, nil)),
			want: []res{
				{rl("cpu", "500m", "memory", "512Mi"), rl("cpu", "500m", "memory", "512Mi")},
				{rl("cpu", "500m", "memory", "512Mi"), rl("cpu", "500m", "memory", "512Mi")},
			},
		},
		{
			name: "remainder goes to the first container",
			task: newTask(rl("cpu", "1"), ctr("a", nil, nil), ctr("b", nil, nil), ctr("c", nil, nil)),
			want: []res{{rl("cpu", "334m"), rl("cpu", "334m")}, {rl("cpu", "333m"), rl("cpu", "333m")}, {rl("cpu", "333m"), rl("cpu", "333m")}},
		},
		{
			name: "a whole GPU is not split; a zero share stays unset",
			task: newTask(rl("nvidia.com/gpu", "1"), ctr("a", nil, nil), ctr("b", nil, nil)),
			want: []res{{rl("nvidia.com/gpu", "1"), rl("nvidia.com/gpu", "1")}, {}},
		},
		{
			name: "a request alone becomes the limit; other resources filled from the task",
			task: newTask(rl("cpu", "1", "memory", "1Gi"), ctr("main", rl("cpu", "250m"), nil)),
			want: []res{{rl("cpu", "250m", "memory", "1Gi"), rl("cpu", "250m", "memory", "1Gi")}},
		},
		{
			name: "a limit alone becomes the request",
			task: newTask(rl("cpu", "1"), ctr("main", nil, rl("cpu", "300m"))),
			want: []res{{rl("cpu", "300m"), rl("cpu", "300m")}},
		},
		{
			name: "what is left after explicit containers goes to silent ones",
			task: newTask(rl("cpu", "1"), ctr("a", rl("cpu", "400m"), nil), ctr("b", nil, nil)),
			want: []res{{rl("cpu", "400m"), rl("cpu", "400m")}, {rl("cpu", "600m"), rl("cpu", "600m")}},
		},
		{
			name: "request below limit within the task is kept",
			task: newTask(rl("cpu", "1"), ctr("main", rl("cpu", "100m"), rl("cpu", "500m"))),
			want: []res{{rl("cpu", "100m"), rl("cpu", "500m")}},
		},
		{
			name:    "one container asks for more cpu than the task has",
			task:    newTask(rl("cpu", "1"), ctr("main", rl("cpu", "2"), nil)),
			wantErr: `container "main" asks for 2 cpu but the task's spec.resources has only 1`,
		},
		{
			name:    "a limit above the task counts even with a small request",
			task:    newTask(rl("cpu", "1"), ctr("main", rl("cpu", "100m"), rl("cpu", "1500m"))),
			wantErr: `asks for 1500m cpu`,
		},
		{
			name:    "containers together ask for more than the task",
			task:    newTask(rl("cpu", "1"), ctr("a", rl("cpu", "600m"), nil), ctr("b", rl("cpu", "600m"), nil)),
			wantErr: `the containers that run together (container "a" 600m, container "b" 600m) ask for 1200m cpu`,
		},
		{
			name:    "a resource the task does not have",
			task:    newTask(rl("cpu", "1"), ctr("main", nil, rl("nvidia.com/gpu", "1"))),
			wantErr: `the task's spec.resources has no nvidia.com/gpu`,
		},
		{
			name: "task resources that are not container resources stay off the containers",
			task: newTask(rl("cpu", "1", "pods", "1"), ctr("main", nil, nil)),
			want: []res{{rl("cpu", "1"), rl("cpu", "1")}},
		},
		{
			name: "an init container runs alone and may use all of the task",
			task: newTask(rl("cpu", "1")),
			edit: func(tk *agorav1alpha1.Task) {
				tk.Spec.Template.Spec.InitContainers = []corev1.Container{ctr("init", nil, nil)}
				tk.Spec.Template.Spec.Containers = []corev1.Container{ctr("main", nil, nil)}
			},
			want:   []res{{rl("cpu", "1"), rl("cpu", "1")}},
			wantIn: []res{{rl("cpu", "1"), rl("cpu", "1")}},
		},
		{
			name: "a sidecar runs with the containers; an init container gets what the sidecar leaves",
			task: newTask(rl("cpu", "1")),
			edit: func(tk *agorav1alpha1.Task) {
				side := ctr("side", nil, nil)
				side.RestartPolicy = &always
				tk.Spec.Template.Spec.InitContainers = []corev1.Container{ctr("init", nil, nil), side}
				tk.Spec.Template.Spec.Containers = []corev1.Container{ctr("main", nil, nil)}
			},
			want:   []res{{rl("cpu", "500m"), rl("cpu", "500m")}},
			wantIn: []res{{rl("cpu", "500m"), rl("cpu", "500m")}, {rl("cpu", "500m"), rl("cpu", "500m")}},
		},
		{
			name: "an init container asking for more than the sidecars leave",
			task: newTask(rl("cpu", "1")),
			edit: func(tk *agorav1alpha1.Task) {
				side := ctr("side", rl("cpu", "800m"), nil)
				side.RestartPolicy = &always
				tk.Spec.Template.Spec.InitContainers = []corev1.Container{ctr("init", rl("cpu", "500m"), nil), side}
				tk.Spec.Template.Spec.Containers = []corev1.Container{ctr("main", nil, nil)}
			},
			wantErr: `init container "init" asks for 500m cpu but the task's spec.resources has only 200m`,
		},
		{
			name: "pod-level resources bound the pod; containers are left to share them",
			task: newTask(rl("cpu", "1", "memory", "1Gi"), ctr("main", nil, nil)),
			edit: func(tk *agorav1alpha1.Task) {
				tk.Spec.Template.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("cpu", "500m")}
			},
			want:    []res{{}},
			wantPod: &res{rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "500m", "memory", "1Gi")},
		},
		{
			name: "pod-level resources above the task",
			task: newTask(rl("cpu", "1"), ctr("main", nil, nil)),
			edit: func(tk *agorav1alpha1.Task) {
				tk.Spec.Template.Spec.Resources = &corev1.ResourceRequirements{Limits: rl("cpu", "2")}
			},
			wantErr: `the pod (spec.resources) asks for 2 cpu`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.edit != nil {
				tc.edit(tc.task)
			}
			before := tc.task.DeepCopy()
			pod, err := BuildPod(tc.task)
			if diff := cmp.Diff(before, tc.task); diff != "" {
				t.Errorf("BuildPod changed the task (-before +after):\n%s", diff)
			}
			if tc.wantErr != "" {
				var inv *InvalidTemplateError
				if !errors.As(err, &inv) {
					t.Fatalf("err = %v, want an InvalidTemplateError", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got []corev1.Container, want []res) {
				if len(got) != len(want) {
					t.Fatalf("%s: %d, want %d", what, len(got), len(want))
				}
				for i, w := range want {
					g := got[i].Resources
					if diff := cmp.Diff(w.req, g.Requests, quantityCmp, emptyList); diff != "" {
						t.Errorf("%s %q requests (-want +got):\n%s", what, got[i].Name, diff)
					}
					if diff := cmp.Diff(w.lim, g.Limits, quantityCmp, emptyList); diff != "" {
						t.Errorf("%s %q limits (-want +got):\n%s", what, got[i].Name, diff)
					}
				}
			}
			check("container", pod.Spec.Containers, tc.want)
			check("init container", pod.Spec.InitContainers, tc.wantIn)
			if tc.wantPod != nil {
				g := pod.Spec.Resources
				if diff := cmp.Diff(tc.wantPod.req, g.Requests, quantityCmp); diff != "" {
					t.Errorf("pod requests (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantPod.lim, g.Limits, quantityCmp); diff != "" {
					t.Errorf("pod limits (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// emptyList treats a nil and an empty ResourceList alike.
var emptyList = cmp.FilterValues(func(a, b corev1.ResourceList) bool { return len(a) == 0 && len(b) == 0 }, cmp.Comparer(func(_, _ corev1.ResourceList) bool { return true }))

// ---- BuildPod: everything else ----------------------------------------------------------------

func TestBuildPodShape(t *testing.T) {
	grace := int64(7)
	task := newTask(rl("cpu", "1"), ctr("main", nil, nil))
	task.Spec.Template.Labels = map[string]string{"app": "web", agorav1alpha1.LabelTask: "forged"}
	task.Spec.Template.Annotations = map[string]string{"agora.dev/complete-after": "5s"}
	task.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	task.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace

	pod, err := BuildPod(task)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", pod.Name, "t1"},
		{"namespace", pod.Namespace, "ns"},
		{"nodeName", pod.Spec.NodeName, "node-a"},
		{"restartPolicy", pod.Spec.RestartPolicy, corev1.RestartPolicyNever},
		{"grace", *pod.Spec.TerminationGracePeriodSeconds, int64(7)},
		{"labels", pod.Labels, map[string]string{"app": "web", agorav1alpha1.LabelTask: "t1", agorav1alpha1.LabelFramework: "fw"}},
		{"annotations", pod.Annotations, map[string]string{"agora.dev/complete-after": "5s"}},
		{"finalizers", pod.Finalizers, []string{agorav1alpha1.PodFinalizer}},
		{"tolerations", pod.Spec.Tolerations, []corev1.Toleration{{Key: agorav1alpha1.TaintPool, Operator: corev1.TolerationOpExists}}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.what, diff)
		}
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Task" || ref.Name != "t1" || ref.UID != "uid-1" || ref.APIVersion != "scheduling.agora.dev/v1alpha1" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller reference %+v", ref)
	}
	if task.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Error("BuildPod changed the task's template")
	}
}

// TestBuildPodRevocableLabel: a revocable task's pod carries LabelRevocable=true, so that the pods
// that may be preempted can be selected; no other pod carries it, whatever its template says.
func TestBuildPodRevocableLabel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		revocable bool
		template  map[string]string
		want      map[string]string
	}{
		{"not revocable", false, map[string]string{"app": "web"},
			map[string]string{"app": "web", agorav1alpha1.LabelTask: "t1", agorav1alpha1.LabelFramework: "fw"}},
		{"revocable", true, map[string]string{"app": "web"},
			map[string]string{"app": "web", agorav1alpha1.LabelTask: "t1", agorav1alpha1.LabelFramework: "fw", agorav1alpha1.LabelRevocable: "true"}},
		{"forged by a template", false, map[string]string{agorav1alpha1.LabelRevocable: "true"},
			map[string]string{agorav1alpha1.LabelTask: "t1", agorav1alpha1.LabelFramework: "fw"}},
		{"template says otherwise", true, map[string]string{agorav1alpha1.LabelRevocable: "false"},
			map[string]string{agorav1alpha1.LabelTask: "t1", agorav1alpha1.LabelFramework: "fw", agorav1alpha1.LabelRevocable: "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(rl("cpu", "1"), ctr("main", nil, nil))
			task.Spec.Template.Labels = tc.template
			task.Status.Revocable = tc.revocable
			pod, err := BuildPod(task)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, pod.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildPodPoolToleration: the dedicated pool's toleration is added once, and not where the
// template already tolerates every taint of its key (or every taint).
func TestBuildPodPoolToleration(t *testing.T) {
	pool := corev1.Toleration{Key: agorav1alpha1.TaintPool, Operator: corev1.TolerationOpExists}
	gpu := corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "yes", Effect: corev1.TaintEffectNoSchedule}
	poolNoExecuteOnly := corev1.Toleration{Key: agorav1alpha1.TaintPool, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
	all := corev1.Toleration{Operator: corev1.TolerationOpExists}
	for name, tc := range map[string]struct{ template, want []corev1.Toleration }{
		"none":                  {nil, []corev1.Toleration{pool}},
		"others kept":           {[]corev1.Toleration{gpu}, []corev1.Toleration{gpu, pool}},
		"already there":         {[]corev1.Toleration{pool}, []corev1.Toleration{pool}},
		"everything tolerated":  {[]corev1.Toleration{all}, []corev1.Toleration{all}},
		"one effect is not all": {[]corev1.Toleration{poolNoExecuteOnly}, []corev1.Toleration{poolNoExecuteOnly, pool}},
	} {
		t.Run(name, func(t *testing.T) {
			task := newTask(rl("cpu", "1"), ctr("main", nil, nil))
			task.Spec.Template.Spec.Tolerations = tc.template
			pod, err := BuildPod(task)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, pod.Spec.Tolerations); diff != "" {
				t.Errorf("tolerations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildPodInvalid(t *testing.T) {
	cases := map[string]struct {
		edit    func(*agorav1alpha1.Task)
		wantErr string
	}{
		"no containers": {
			edit:    func(tk *agorav1alpha1.Task) { tk.Spec.Template.Spec.Containers = nil },
			wantErr: "no containers",
		},
		"template bound to another node": {
			edit:    func(tk *agorav1alpha1.Task) { tk.Spec.Template.Spec.NodeName = "node-b" },
			wantErr: `sets spec.nodeName "node-b" but the task runs on node "node-a"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			task := newTask(rl("cpu", "1"), ctr("main", nil, nil))
			tc.edit(task)
			_, err := BuildPod(task)
			var inv *InvalidTemplateError
			if !errors.As(err, &inv) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want InvalidTemplateError containing %q", err, tc.wantErr)
			}
		})
	}
	// The same node spelled out is fine.
	task := newTask(rl("cpu", "1"), ctr("main", nil, nil))
	task.Spec.Template.Spec.NodeName = "node-a"
	if _, err := BuildPod(task); err != nil {
		t.Errorf("template naming the task's own node: %v", err)
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("a", 60) + ".example-" + strings.Repeat("b", 100)
	cases := map[string]struct {
		in       string
		want     string // "" means: any valid value other than the input
		distinct string // another input whose value must differ
	}{
		"short name kept":   {in: "task-1", want: "task-1"},
		"63 chars kept":     {in: strings.Repeat("x", 63), want: strings.Repeat("x", 63)},
		"long name hashed":  {in: long, distinct: long + "c"},
		"64 chars hashed":   {in: strings.Repeat("y", 64), distinct: strings.Repeat("y", 65)},
		"separator trimmed": {in: strings.Repeat("z", 51) + "." + strings.Repeat("w", 20)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := LabelValue(tc.in)
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Fatalf("LabelValue(%q) = %q, invalid: %v", tc.in, got, errs)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("LabelValue(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.distinct != "" && LabelValue(tc.distinct) == got {
				t.Errorf("LabelValue(%q) == LabelValue(%q)", tc.in, tc.distinct)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		method, url, verb, resource string
	}{
		{"POST", "/api/v1/namespaces/ns/pods", "create", "pods"},
		{"GET", "/api/v1/namespaces/ns/pods/p", "get", "pods"},
		{"GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn", "list", "pods"},
		{"GET", "/api/v1/pods?watch=true", "watch", "pods"},
		{"DELETE", "/api/v1/namespaces/ns/pods/p", "delete", "pods"},
		{"PUT", "/apis/scheduling.agora.dev/v1alpha1/namespaces/ns/tasks/t/status", "update", "tasks/status"},
		{"PUT", "/apis/scheduling.agora.dev/v1alpha1/namespaces/ns/tasks/t", "update", "tasks"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/agora-system/leases/executor-n", "update", "leases"},
		{"PATCH", "/api/v1/namespaces/ns/events/e", "patch", "events"},
		{"GET", "/api/v1/nodes", "list", "nodes"},
		{"GET", "/version", "get", "other"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		verb, res := classify(&http.Request{Method: tc.method, URL: u})
		if verb != tc.verb || res != tc.resource {
			t.Errorf("%s %s = %s %s, want %s %s", tc.method, tc.url, verb, res, tc.verb, tc.resource)
		}
	}
}
