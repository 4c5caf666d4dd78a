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
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// These tests run the security policies of config/policy on a real API server with impersonated
// users; test/helm runs them as the chart installs them, with real ServiceAccount tokens.

// impersonating returns a client that acts as that user (the test's admin may impersonate anyone,
// extra user info included, which is how a token bound to a Pod names its node).
func impersonating(t *testing.T, user string, groups []string, extra map[string][]string) client.Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups, Extra: extra}
	cl, err := client.New(c, client.Options{Scheme: k8sClient.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// eventuallyErr retries call until check accepts its error: the API server enforces a policy,
// and sees a namespace's new labels, a moment after they were written. Each call must be
// repeatable (a create under a fresh name, say).
func eventuallyErr(t *testing.T, what string, call func(i int) error, check func(error) bool) error {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		err := call(i)
		if check(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func isForbiddenWith(want string) func(error) bool {
	return func(err error) bool { return apierrors.IsForbidden(err) && strings.Contains(err.Error(), want) }
}

// expectForbidden retries call until the API server refuses it as Forbidden with a message
// containing want.
func expectForbidden(t *testing.T, what, want string, call func(i int) error) {
	t.Helper()
	if err := eventuallyErr(t, what, call, isForbiddenWith(want)); !isForbiddenWith(want)(err) {
		t.Errorf("%s: got %v; want Forbidden mentioning %q", what, err, want)
	}
}

// expectAllowed retries call until it succeeds (a refusal the policy has not yet caught up on).
func expectAllowed(t *testing.T, what string, call func(i int) error) {
	t.Helper()
	if err := eventuallyErr(t, what, call, func(err error) bool { return err == nil }); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func TestTaskPodRightsPolicy(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	// A framework's user may create Tasks and nothing else (as with the agora-framework role).
	mustCreate(t, ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tasks"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{agorav1alpha1.GroupVersion.Group}, Resources: []string{"tasks"}, Verbs: []string{"create"}}}})
	mustCreate(t, ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tasks"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tasks"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "framework"}}})
	fw := impersonating(t, "framework", []string{"system:authenticated"}, nil)

	create := func(c client.Client, mutate func(*corev1.PodSpec)) func(int) error {
		return func(i int) error {
			tk := task(ns, "t-"+itoa(i))
			tk.GenerateName, tk.Name = "t-", ""
			mutate(&tk.Spec.Template.Spec)
			return c.Create(ctx, tk)
		}
	}
	plain := func(*corev1.PodSpec) {}
	runAs := func(sa string) func(*corev1.PodSpec) { return func(p *corev1.PodSpec) { p.ServiceAccountName = sa } }
	privileged := map[string]func(*corev1.PodSpec){
		"privileged container main": func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		},
		"privileged container init": func(p *corev1.PodSpec) {
			p.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		},
		"hostNetwork": func(p *corev1.PodSpec) { p.HostNetwork = true },
		"hostPID":     func(p *corev1.PodSpec) { p.HostPID = true },
		"hostIPC":     func(p *corev1.PodSpec) { p.HostIPC = true },
		"hostPath volume root": func(p *corev1.PodSpec) {
			p.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		},
		"hostPort in container main": func(p *corev1.PodSpec) {
			p.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		},
	}

	// Without Pod rights: the namespace's default ServiceAccount only, nothing privileged.
	expectForbidden(t, "a Task running as another ServiceAccount", `agora.dev/task-service-accounts=default,runner`, create(fw, runAs("runner")))
	expectAllowed(t, "a plain Task", create(fw, plain))
	for what, mutate := range privileged {
		expectForbidden(t, "a Task with a "+what, "asks for "+what+", which namespace "+ns+" does not allow", create(fw, mutate))
	}

	// The namespace admin names the ServiceAccounts Tasks may use: exactly those.
	patchNamespace(t, ctx, ns, `{"metadata":{"annotations":{"agora.dev/task-service-accounts":" runner, batch "}}}`)
	expectAllowed(t, "a Task running as an allowed ServiceAccount", create(fw, runAs("runner")))
	expectForbidden(t, "a Task as default when the annotation leaves it out", `(now " runner, batch ")`, create(fw, plain))

	// A requester who may create Pods may use any ServiceAccount, as with Pods; not privileged.
	mustCreate(t, ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pods"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}})
	mustCreate(t, ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pods"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pods"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "framework"}}})
	expectAllowed(t, "a Task of a Pod creator running as any ServiceAccount", create(fw, runAs("powerful")))
	expectForbidden(t, "a privileged Task of a Pod creator", "privileged container main", create(fw, privileged["privileged container main"]))
	expectForbidden(t, "a privileged Task of a cluster admin", "privileged container main", create(k8sClient, privileged["privileged container main"]))

	// The namespace labelled for privileged Tasks.
	patchNamespace(t, ctx, ns, `{"metadata":{"labels":{"agora.dev/privileged-tasks":"true"}}}`)
	for what, mutate := range privileged {
		expectAllowed(t, "a Task with a "+what+" in a namespace labelled for it", create(fw, mutate))
	}
}

func TestExecutorNodeRestrictionPolicy(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	mustCreate(t, ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})
	system := newNamespace(t) // stands for agora-system: the policy names the Lease, not its namespace
	const nodeName = "authentication.kubernetes.io/node-name"
	const user = "system:serviceaccount:agora-system:agora-executor"
	// system:masters: RBAC lets everything through, so what is refused is the policy's doing.
	groups := []string{"system:masters", "system:serviceaccounts", "system:authenticated"}
	onA := impersonating(t, user, groups, map[string][]string{nodeName: {"node-a"}})

	// A Task's pod, as the executor makes it (the owner need not exist here: no garbage collector).
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Task", Name: name, UID: "0000", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
	}
	onNode := func(name, node string) *agorav1alpha1.Task {
		tk := task(ns, name)
		tk.Spec.NodeName = node
		return tk
	}
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: system, Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To[int32](40)}}
	}
	// node-b's objects, made by the admin.
	mustCreate(t, ctx, pod("pod-b", "node-b"))
	mustCreate(t, ctx, onNode("task-b", "node-b"))
	mustCreate(t, ctx, lease("executor-node-b"))

	// Another node's (the first refusal also waits for the policy to be in force).
	for what, call := range map[string]func(int) error{
		"create a pod on another node": func(i int) error { return onA.Create(ctx, pod("pod-x-"+itoa(i), "node-b")) },
		"delete a pod of another node": func(int) error { return onA.Delete(ctx, pod("pod-b", "")) },
		"patch a pod of another node": func(int) error {
			return onA.Patch(ctx, pod("pod-b", ""), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
		},
		"write the status of a task on another node": func(int) error {
			return onA.Status().Patch(ctx, onNode("task-b", ""), client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Failed"}}`)))
		},
		"patch a task on another node": func(int) error {
			return onA.Patch(ctx, onNode("task-b", ""), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
		},
		"delete a task on another node": func(int) error { return onA.Delete(ctx, onNode("task-b", "")) },
	} {
		expectForbidden(t, what, "the executor of node node-a may write only", call)
	}
	// Its own node's work.
	expectAllowed(t, "create a pod on its node", func(i int) error { return onA.Create(ctx, pod("pod-a-"+itoa(i), "node-a")) })
	mustCreate(t, ctx, onNode("task-a", "node-a"))
	expectAllowed(t, "write the status of a task on its node", func(int) error {
		return onA.Status().Patch(ctx, onNode("task-a", "node-a"), client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Starting"}}`)))
	})
	expectAllowed(t, "patch a task on its node", func(int) error {
		return onA.Patch(ctx, onNode("task-a", "node-a"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
	})
	expectAllowed(t, "create its Lease", func(int) error { return client.IgnoreAlreadyExists(onA.Create(ctx, lease("executor-node-a"))) })
	expectAllowed(t, "renew its Lease", func(int) error {
		return onA.Patch(ctx, lease("executor-node-a"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"renewTime":"`+metav1.NowMicro().Format(metav1.RFC3339Micro)+`"}}`)))
	})
	expectAllowed(t, "delete a pod on its node", func(int) error { return client.IgnoreNotFound(onA.Delete(ctx, pod("pod-a-0", ""))) })

	expectForbidden(t, "create a pod on no node", "is on no node", func(i int) error { return onA.Create(ctx, pod("pod-y-"+itoa(i), "")) })
	expectForbidden(t, "create a pod of no Task on its node", "creates only the pods of Tasks", func(i int) error {
		p := pod("pod-w-"+itoa(i), "node-a")
		p.OwnerReferences = nil
		return onA.Create(ctx, p)
	})
	expectForbidden(t, "renew another node's Lease", "may write only its own Lease executor-node-a, not executor-node-b", func(int) error {
		return onA.Patch(ctx, lease("executor-node-b"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"holderIdentity":"me"}}`)))
	})
	expectForbidden(t, "create another node's Lease", "not executor-node-c", func(int) error { return onA.Create(ctx, lease("executor-node-c")) })

	// A token that names no node (not bound to a Pod), and the simulation identity (the chart
	// lifts the rule for it only on request): no writes at all.
	for who, c := range map[string]client.Client{
		"an executor token bound to no pod": impersonating(t, user, groups, nil),
		"the simulation identity":           impersonating(t, "system:serviceaccount:agora-system:agora-executor-simulation", groups, nil),
	} {
		expectForbidden(t, who+" creating a pod", "this token names no node", func(i int) error { return c.Create(ctx, pod("pod-z-"+itoa(i), "node-a")) })
		expectForbidden(t, who+" creating a Lease", "this token names no node", func(int) error { return c.Create(ctx, lease("executor-node-a")) })
	}

	// Anyone else is not concerned: the admin writes node-b's objects.
	if err := k8sClient.Delete(ctx, pod("pod-b", "")); err != nil {
		t.Errorf("the admin deleting node-b's pod: %v", err)
	}
}

func mustCreate(t *testing.T, ctx context.Context, obj client.Object) {
	t.Helper()
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func patchNamespace(t *testing.T, ctx context.Context, ns, patch string) {
	t.Helper()
	if err := k8sClient.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}
