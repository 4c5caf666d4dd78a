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

package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// newNamespace creates a namespace for one test, so tests never see each other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "agora-it-"}}
	if err := k8sClient.Create(testContext(t), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func quantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func resources(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
	}
}

func framework(ns, name string) *agorav1alpha1.Framework {
	return &agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func offer(ns, name string) *agorav1alpha1.Offer {
	return &agorav1alpha1.Offer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: agorav1alpha1.OfferSpec{
			Framework: "fw",
			Nodes: []agorav1alpha1.OfferNode{{
				NodeName:   "node-1",
				Resources:  resources("8", "32Gi"),
				Attributes: map[string]string{"topology.kubernetes.io/zone": "zone-a"},
			}},
			ExpireTime: metav1.NewTime(time.Now().Add(time.Minute).Truncate(time.Second)),
		},
	}
}

func task(ns, name string) *agorav1alpha1.Task {
	return &agorav1alpha1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: agorav1alpha1.TaskSpec{
			OfferName: "offer-1",
			NodeName:  "node-1",
			Resources: resources("1", "4Gi"),
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
			},
		},
	}
}

func TestCRDsInstalled(t *testing.T) {
	ctx := testContext(t)
	for _, list := range []client.ObjectList{&agorav1alpha1.FrameworkList{}, &agorav1alpha1.OfferList{}, &agorav1alpha1.TaskList{}, &agorav1alpha1.RoleQuotaList{}} {
		if err := k8sClient.List(ctx, list); err != nil {
			t.Errorf("list %T: %v", list, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)

	revived := metav1.NewTime(time.Now().Truncate(time.Second))
	fw := framework(ns, "spark")
	fw.Spec = agorav1alpha1.FrameworkSpec{
		Role:            "analytics/batch",
		Weight:          quantity("2.5"),
		SuppressOffers:  true,
		RevivedAt:       &revived,
		OfferTimeout:    &metav1.Duration{Duration: 30 * time.Second},
		RefuseDuration:  &metav1.Duration{Duration: 10 * time.Second},
		FailoverTimeout: &metav1.Duration{Duration: time.Hour},
		NodeSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"type": "kwok"}},
		Tolerations:     []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule}},
		Capabilities:    []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityGPUResources},
		Limits:          resources("100", "400Gi"),
	}
	of := offer(ns, "offer-1")
	tk := task(ns, "task-1")
	tk.Spec.Template.Labels = map[string]string{"app": "demo"}

	for _, obj := range []client.Object{fw, of, tk} {
		want := obj.DeepCopyObject().(client.Object)
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
		got := want.DeepCopyObject().(client.Object)
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			t.Fatalf("get %T: %v", obj, err)
		}
		if diff := cmp.Diff(specOf(want), specOf(got)); diff != "" {
			t.Errorf("%T spec changed in a round trip (-sent +read):\n%s", obj, diff)
		}
	}

	// Status round-trips through the status subresource.
	exit := int32(137)
	tk.Status = agorav1alpha1.TaskStatus{
		Phase: agorav1alpha1.TaskFailed, Reason: "OOMKilled", Message: "container main was OOM-killed",
		Framework: "spark", PodName: "task-1", ExitCode: &exit,
		Conditions: []metav1.Condition{{Type: agorav1alpha1.TaskConditionAdmitted, Status: metav1.ConditionTrue,
			Reason: agorav1alpha1.ReasonAdmitted, LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))}},
	}
	if err := k8sClient.Status().Update(ctx, tk); err != nil {
		t.Fatalf("update task status: %v", err)
	}
	got := &agorav1alpha1.Task{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tk), got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk.Status, got.Status); diff != "" {
		t.Errorf("task status changed in a round trip (-sent +read):\n%s", diff)
	}
}

// specOf picks the spec to compare; quantities compare by value (resource.Quantity.Equal).
func specOf(obj client.Object) any {
	switch o := obj.(type) {
	case *agorav1alpha1.Framework:
		return o.Spec
	case *agorav1alpha1.Offer:
		return o.Spec
	case *agorav1alpha1.Task:
		return o.Spec
	}
	return nil
}

func TestDefaults(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	fw := framework(ns, "plain")
	if err := k8sClient.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	want := agorav1alpha1.FrameworkSpec{
		Role:           agorav1alpha1.DefaultRole,
		Weight:         quantity("1"),
		RefuseDuration: &metav1.Duration{Duration: 5 * time.Second},
	}
	if diff := cmp.Diff(want, fw.Spec); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if fw.Spec.OfferTimeout != nil || fw.Spec.FailoverTimeout != nil {
		t.Errorf("offerTimeout and failoverTimeout must stay unset (controller flag / never): %+v", fw.Spec)
	}
}

func TestInvalidObjectsRejected(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)

	cases := []struct {
		name string
		obj  client.Object
		want string // part of the API server's message
	}{
		{"framework name too long for a label value", framework(ns, strings.Repeat("f", 64)), "name must be at most 63 characters"},
		{"framework weight 0", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.Weight = quantity("0") }), "weight must be greater than 0"},
		{"framework negative weight", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.Weight = quantity("-1") }), "weight must be greater than 0"},
		{"framework negative refuseDuration", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.RefuseDuration = &metav1.Duration{Duration: -time.Second} }), "refuseDuration must not be negative"},
		{"framework negative offerTimeout", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.OfferTimeout = &metav1.Duration{Duration: -time.Minute} }), "offerTimeout must not be negative"},
		{"framework negative failoverTimeout", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.FailoverTimeout = &metav1.Duration{Duration: -time.Hour} }), "failoverTimeout must not be negative"},
		{"framework unknown capability", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) {
			f.Capabilities = []agorav1alpha1.FrameworkCapability{"TPUResources"}
		}), `Unsupported value: "TPUResources"`},
		{"framework negative limit", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.Limits = resources("-1", "1Gi") }), "limits must not be negative"},
		{"framework role with empty segment", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.Role = "a//b" }), "spec.role"},
		{"framework role upper case", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) { f.Role = "Analytics" }), "spec.role"},
		{"framework too many tolerations", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) {
			for i := 0; i < 33; i++ {
				f.Tolerations = append(f.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
			}
		}), "must have at most 32 items"},
		{"task without offerName", withTask(ns, func(s *agorav1alpha1.TaskSpec) { s.OfferName = "" }), "spec.offerName"},
		{"task without nodeName", withTask(ns, func(s *agorav1alpha1.TaskSpec) { s.NodeName = "" }), "spec.nodeName"},
		{"task without resources", withTask(ns, func(s *agorav1alpha1.TaskSpec) { s.Resources = nil }), "spec.resources"},
		{"task negative cpu", withTask(ns, func(s *agorav1alpha1.TaskSpec) { s.Resources = resources("-500m", "1Gi") }), "resources must not be negative"},
		{"framework selector operator", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) {
			f.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: "Foo", Values: []string{"a"}}}}
		}), "operator must be In, NotIn, Exists or DoesNotExist"},
		{"framework selector In without values", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) {
			f.NodeSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: metav1.LabelSelectorOpIn}}}
		}), "In and NotIn need values"},
		{"framework toleration operator", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) {
			f.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Foo"}}
		}), "operator must be Exists or Equal"},
		{"framework toleration effect", withFw(ns, func(f *agorav1alpha1.FrameworkSpec) {
			f.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Bar"}}
		}), "effect must be NoSchedule, PreferNoSchedule or NoExecute"},
		{"task template without containers", withTask(ns, func(s *agorav1alpha1.TaskSpec) { s.Template.Spec.Containers = nil }), "spec.template.spec.containers"},
		{"offer without framework", withOffer(ns, func(s *agorav1alpha1.OfferSpec) { s.Framework = "" }), "spec.framework"},
		{"offer without nodes", withOffer(ns, func(s *agorav1alpha1.OfferSpec) { s.Nodes = nil }), "spec.nodes"},
		{"offer negative memory", withOffer(ns, func(s *agorav1alpha1.OfferSpec) { s.Nodes[0].Resources = resources("1", "-1Gi") }), "resources must not be negative"},
		{"offer duplicate node", withOffer(ns, func(s *agorav1alpha1.OfferSpec) { s.Nodes = append(s.Nodes, s.Nodes[0]) }), "Duplicate value"},
		{"offer over 500 nodes", withOffer(ns, func(s *agorav1alpha1.OfferSpec) {
			s.Nodes = nil
			for i := 0; i <= agorav1alpha1.MaxOfferNodes; i++ {
				s.Nodes = append(s.Nodes, agorav1alpha1.OfferNode{NodeName: "node-" + itoa(i), Resources: resources("1", "1Gi")})
			}
		}), "must have at most 500 items"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.obj.GetName() == "" {
				tc.obj.SetName("invalid-" + itoa(i))
			}
			err := k8sClient.Create(ctx, tc.obj)
			if err == nil {
				t.Fatalf("created %T; want a rejection mentioning %q", tc.obj, tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestUpdatesRejected(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)

	tk := task(ns, "immutable")
	if err := k8sClient.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	changed := tk.DeepCopy()
	changed.Spec.NodeName = "node-2"
	expectInvalid(t, k8sClient.Update(ctx, changed), "spec is immutable")

	// The pod template is immutable too: the CRD's own rule does not look at it (it runs on
	// status writes as well, where comparing a template is costly); the admission policy
	// agora-task-spec-immutable does. The API server enforces a policy a moment after it is
	// created, so the first attempts may still find it absent; each attempt changes the image.
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		retemplated := tk.DeepCopy()
		if err = k8sClient.Get(ctx, client.ObjectKeyFromObject(tk), retemplated); err != nil {
			t.Fatal(err)
		}
		retemplated.Spec.Template.Spec.Containers[0].Image = fmt.Sprintf("busybox:%d", i)
		if err = k8sClient.Update(ctx, retemplated); err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	expectInvalid(t, err, "spec is immutable")
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tk), tk); err != nil {
		t.Fatal(err)
	}
	// A status write goes through: the policy does not match tasks/status.
	staged := tk.DeepCopy()
	staged.Status.Phase = agorav1alpha1.TaskStaging
	if err := k8sClient.Status().Update(ctx, staged); err != nil {
		t.Errorf("status write with the policy installed: %v", err)
	} else {
		tk = staged
	}

	// Metadata stays mutable: a framework labels its tasks after the fact.
	labelled := tk.DeepCopy()
	labelled.Labels = map[string]string{"wave": "2"}
	if err := k8sClient.Update(ctx, labelled); err != nil {
		t.Errorf("label a task: %v", err)
	}

	bad := labelled.DeepCopy()
	bad.Status.Phase = "Sleeping"
	expectInvalid(t, k8sClient.Status().Update(ctx, bad), `Unsupported value: "Sleeping"`)

	of := offer(ns, "offer-1")
	if err := k8sClient.Create(ctx, of); err != nil {
		t.Fatal(err)
	}
	moved := of.DeepCopy()
	moved.Spec.Framework = "other"
	expectInvalid(t, k8sClient.Update(ctx, moved), "framework is immutable")

	revived := metav1.NewTime(time.Now().Truncate(time.Second))
	fw := framework(ns, "reviver")
	fw.Spec.RevivedAt = &revived
	if err := k8sClient.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	back := fw.DeepCopy()
	earlier := metav1.NewTime(revived.Add(-time.Hour))
	back.Spec.RevivedAt = &earlier
	expectInvalid(t, k8sClient.Update(ctx, back), "revivedAt may only move forward")
}

func expectInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("update accepted; want a rejection mentioning %q", want)
		return
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q: want Invalid mentioning %q", err, want)
	}
}

func TestTaskFieldSelectorOnNodeName(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	for _, n := range []struct{ task, node string }{{"a", "node-1"}, {"b", "node-2"}, {"c", "node-1"}} {
		tk := task(ns, n.task)
		tk.Spec.NodeName = n.node
		if err := k8sClient.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	var list agorav1alpha1.TaskList
	if err := k8sClient.List(ctx, &list, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", "node-1")}); err != nil {
		t.Fatalf("list by spec.nodeName: %v", err)
	}
	var names []string
	for _, tk := range list.Items {
		names = append(names, tk.Name)
	}
	if diff := cmp.Diff([]string{"a", "c"}, names); diff != "" {
		t.Errorf("tasks on node-1 (-want +got):\n%s", diff)
	}

	of := offer(ns, "mine")
	of.Spec.Framework = "fw-a"
	other := offer(ns, "theirs")
	other.Spec.Framework = "fw-b"
	for _, o := range []*agorav1alpha1.Offer{of, other} {
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var offers agorav1alpha1.OfferList
	if err := k8sClient.List(ctx, &offers, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.framework", "fw-a")}); err != nil {
		t.Fatalf("list by spec.framework: %v", err)
	}
	if len(offers.Items) != 1 || offers.Items[0].Name != "mine" {
		t.Errorf("offers of fw-a: %+v", offers.Items)
	}
}

func TestKubectlPrinterColumnsAndExplain(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	fw := framework(ns, "spark")
	fw.Spec.Weight = quantity("2")
	if err := k8sClient.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	fw.Status.DominantShare = "0.6667"
	fw.Status.Tasks.Active = 3
	fw.Status.Conditions = []metav1.Condition{{Type: agorav1alpha1.FrameworkConditionActive, Status: metav1.ConditionTrue,
		Reason: agorav1alpha1.ReasonNoLease, LastTransitionTime: metav1.Now()}}
	if err := k8sClient.Status().Update(ctx, fw); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, offer(ns, "offer-1")); err != nil {
		t.Fatal(err)
	}
	tk := task(ns, "task-1")
	if err := k8sClient.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	tk.Status.Phase = agorav1alpha1.TaskRunning
	if err := k8sClient.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}

	out := kubectl(t, "get", "fw,ofr,tk", "-n", ns)
	for _, want := range []string{
		"ROLE", "WEIGHT", "SHARE", "TASKS", "ACTIVE", "READY", "AGE", // Framework
		"framework.scheduling.agora.dev/spark", "default", "0.6667", "True",
		"FRAMEWORK", "EXPIRES", // Offer
		"NODE", "PHASE", "REASON", "CPU", "MEMORY", "Running", "4Gi", // Task
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get fw,ofr,tk lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, "get", "agora", "-n", ns); !strings.Contains(out, "task.scheduling.agora.dev/task-1") {
		t.Errorf("category agora does not list the task:\n%s", out)
	}

	explain := kubectl(t, "explain", "task.spec")
	for _, want := range []string{"offerName", "nodeName", "resources", "template", "Immutable"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain task.spec lacks %q:\n%s", want, explain)
		}
	}
	if out := kubectl(t, "explain", "framework.spec.refuseDuration"); !strings.Contains(out, "decline filter") {
		t.Errorf("kubectl explain framework.spec.refuseDuration:\n%s", out)
	}
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func withFw(ns string, mutate func(*agorav1alpha1.FrameworkSpec)) client.Object {
	f := framework(ns, "")
	mutate(&f.Spec)
	return f
}

func withTask(ns string, mutate func(*agorav1alpha1.TaskSpec)) client.Object {
	tk := task(ns, "")
	mutate(&tk.Spec)
	return tk
}

func withOffer(ns string, mutate func(*agorav1alpha1.OfferSpec)) client.Object {
	o := offer(ns, "")
	mutate(&o.Spec)
	return o
}

func itoa(i int) string { return strconv.Itoa(i) }
