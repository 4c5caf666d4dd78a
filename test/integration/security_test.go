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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
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
func eventuallyErr(t *testing.T, call func(i int) error, check func(error) bool) error {
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
	if err := eventuallyErr(t, call, isForbiddenWith(want)); !isForbiddenWith(want)(err) {
		t.Errorf("%s: got %v; want Forbidden mentioning %q", what, err, want)
	}
}

// expectAllowed retries call until it succeeds (a refusal the policy has not yet caught up on).
func expectAllowed(t *testing.T, what string, call func(i int) error) {
	t.Helper()
	if err := eventuallyErr(t, call, func(err error) bool { return err == nil }); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func TestTaskPodRightsPolicy(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	// A framework's user may create Tasks and nothing else (as with the agora-framework role).
	grant(t, ctx, ns, "tasks", "framework", rbacv1.PolicyRule{APIGroups: []string{agorav1alpha1.GroupVersion.Group}, Resources: []string{"tasks"}, Verbs: []string{"create"}})
	fw := impersonating(t, "framework", []string{"system:authenticated"}, nil)

	create := func(c client.Client, mutate func(*corev1.PodTemplateSpec)) func(int) error {
		return func(i int) error {
			tk := task(ns, "t-"+itoa(i))
			tk.GenerateName, tk.Name = "t-", ""
			mutate(&tk.Spec.Template)
			return c.Create(ctx, tk)
		}
	}
	plain := func(*corev1.PodTemplateSpec) {}
	runAs := func(sa string) func(*corev1.PodTemplateSpec) {
		return func(p *corev1.PodTemplateSpec) { p.Spec.ServiceAccountName = sa }
	}
	secure := func(edit func(*corev1.SecurityContext)) func(*corev1.PodTemplateSpec) {
		return func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{}
			edit(p.Spec.Containers[0].SecurityContext)
		}
	}
	// What Pod Security's baseline profile forbids, by the words the refusal uses for it.
	privileged := map[string]func(*corev1.PodTemplateSpec){
		"privileged container main": secure(func(s *corev1.SecurityContext) { s.Privileged = ptr.To(true) }),
		"privileged container init": func(p *corev1.PodTemplateSpec) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		},
		"hostNetwork": func(p *corev1.PodTemplateSpec) { p.Spec.HostNetwork = true },
		"hostPID":     func(p *corev1.PodTemplateSpec) { p.Spec.HostPID = true },
		"hostIPC":     func(p *corev1.PodTemplateSpec) { p.Spec.HostIPC = true },
		"hostPath volume root": func(p *corev1.PodTemplateSpec) {
			p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		},
		"hostPort in container main": func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		},
		"added capabilities in container main": secure(func(s *corev1.SecurityContext) {
			s.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"CHOWN", "SYS_ADMIN"}}
		}),
		"an unmasked /proc in container main": secure(func(s *corev1.SecurityContext) { s.ProcMount = ptr.To(corev1.UnmaskedProcMount) }),
		"seccomp Unconfined": func(p *corev1.PodTemplateSpec) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		},
		"AppArmor Unconfined": secure(func(s *corev1.SecurityContext) {
			s.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}),
		"AppArmor unconfined (container.apparmor.security.beta.kubernetes.io/main)": func(p *corev1.PodTemplateSpec) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
		},
		"custom SELinux options": secure(func(s *corev1.SecurityContext) { s.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"} }),
		"sysctl kernel.msgmax": func(p *corev1.PodTemplateSpec) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "kernel.msgmax", Value: "1"}}}
		},
		"a Windows host process": secure(func(s *corev1.SecurityContext) {
			s.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
		}),
		"a probe or lifecycle hook with a host in container main": func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Host: "169.254.169.254", Path: "/", Port: intstr.FromInt32(80)}}}
		},
	}
	// What a creator without Pod rights may not reach through a Task.
	volume := func(name string, src corev1.VolumeSource) func(*corev1.PodTemplateSpec) {
		return func(p *corev1.PodTemplateSpec) { p.Spec.Volumes = []corev1.Volume{{Name: name, VolumeSource: src}} }
	}
	reaching := map[string]func(*corev1.PodTemplateSpec){
		"refers to Secret creds": volume("v", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}),
		"refers to Secret token": volume("v", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "token"}}}}}}),
		"refers to Secret env": func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "env"}, Key: "k"}}}}
		},
		"refers to ConfigMap settings": func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
		},
		"refers to PersistentVolumeClaim data": volume("v", corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}),
		"has volumes share of a type":          volume("share", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}}),
		"has volumes clone of a type": volume("clone", corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				DataSource:  &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "data"},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}}),
		"refers to Secret registry": func(p *corev1.PodTemplateSpec) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
		},
	}

	// Not in a system namespace, whoever asks.
	expectForbidden(t, "a Task in kube-system", "Agora runs no Tasks in the system namespace kube-system", func(i int) error {
		tk := task("kube-system", "t-"+itoa(i))
		return k8sClient.Create(ctx, tk)
	})

	// Without Pod rights: the namespace's default ServiceAccount only, nothing privileged, only
	// what the creator may read.
	expectForbidden(t, "a Task running as another ServiceAccount",
		"create role agora-run-as-runner --verb=impersonate --resource=serviceaccounts --resource-name=runner && kubectl -n "+ns+
			" create rolebinding agora-run-as-runner --role=agora-run-as-runner --user=framework", create(fw, runAs("runner")))
	expectAllowed(t, "a plain Task", create(fw, plain))
	for what, mutate := range privileged {
		expectForbidden(t, "a Task with "+what, "asks for "+what+", which namespace "+ns+" does not allow", create(fw, mutate))
	}
	for what, mutate := range reaching {
		expectForbidden(t, "a Task that "+what, what, create(fw, mutate))
	}

	// A namespace admin lets it impersonate a ServiceAccount (the command of the refusal), or
	// reads a Secret: then it may.
	grant(t, ctx, ns, "agora-run-as-runner", "framework", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"},
		ResourceNames: []string{"runner"}, Verbs: []string{"impersonate"}})
	expectAllowed(t, "a Task running as a ServiceAccount it may impersonate", create(fw, runAs("runner")))
	grant(t, ctx, ns, "read-creds", "framework", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
		ResourceNames: []string{"creds"}, Verbs: []string{"get"}})
	expectAllowed(t, "a Task mounting a Secret it may read", create(fw, reaching["refers to Secret creds"]))
	// Several references to it (three authorizer checks would go over an expression's cost limit).
	expectAllowed(t, "a Task reading a Secret it may read three times", create(fw, func(p *corev1.PodTemplateSpec) {
		for _, k := range []string{"user", "password", "host"} {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: k}}})
		}
	}))
	// Three distinct ones need the right to get every Secret of the namespace.
	threeSecrets := func(p *corev1.PodTemplateSpec) {
		for _, n := range []string{"creds", "a", "b"} {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: n, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: n}}})
		}
	}
	expectForbidden(t, "a Task mounting three Secrets", "every object of that kind in the namespace", create(fw, threeSecrets))
	// A framework's ServiceAccount may run its Tasks as itself.
	fwSA := impersonating(t, "system:serviceaccount:"+ns+":fw", []string{"system:serviceaccounts", "system:authenticated"}, nil)
	grant(t, ctx, ns, "sa-tasks", "system:serviceaccount:"+ns+":fw", rbacv1.PolicyRule{APIGroups: []string{agorav1alpha1.GroupVersion.Group}, Resources: []string{"tasks"}, Verbs: []string{"create"}})
	expectAllowed(t, "a Task running as its creator's own ServiceAccount", create(fwSA, runAs("fw")))

	// The namespace names the ServiceAccounts every Task may use: exactly those.
	patchNamespace(t, ctx, ns, `{"metadata":{"annotations":{"agora.dev/task-service-accounts":" batch, other "}}}`)
	expectAllowed(t, "a Task running as a ServiceAccount the namespace lists", create(fw, runAs("batch")))
	expectForbidden(t, "a Task as default when the annotation leaves it out", "lets every Task use only batch, other", create(fw, plain))

	// A requester who may create Pods may use any ServiceAccount, volume and Secret, as with Pods;
	// not privileged.
	grant(t, ctx, ns, "pods", "framework", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})
	expectAllowed(t, "a Task of a Pod creator running as any ServiceAccount", create(fw, runAs("powerful")))
	for what, mutate := range reaching {
		expectAllowed(t, "a Task of a Pod creator that "+what, create(fw, mutate))
	}
	expectForbidden(t, "a privileged Task of a Pod creator", "privileged container main", create(fw, privileged["privileged container main"]))
	expectForbidden(t, "a privileged Task of a cluster admin", "privileged container main", create(k8sClient, privileged["privileged container main"]))

	// The namespace labelled for privileged Tasks.
	patchNamespace(t, ctx, ns, `{"metadata":{"labels":{"agora.dev/privileged-tasks":"true"}}}`)
	for what, mutate := range privileged {
		expectAllowed(t, "a Task with "+what+" in a namespace labelled for it", create(fw, mutate))
	}
}

func TestExecutorNodeRestrictionPolicy(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	mustCreate(t, ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})
	system := "agora-system" // the Lease policy matches there only
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: system}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
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
	expectAllowed(t, "add a finalizer to a task on its node", func(int) error {
		return onA.Patch(ctx, onNode("task-a", "node-a"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":["`+agorav1alpha1.TaskFinalizer+`"]}}`)))
	})
	expectForbidden(t, "label a task on its node", "may change only the finalizers of a Task", func(int) error {
		return onA.Patch(ctx, onNode("task-a", "node-a"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
	})
	expectAllowed(t, "create its Lease", func(int) error { return client.IgnoreAlreadyExists(onA.Create(ctx, lease("executor-node-a"))) })
	expectAllowed(t, "renew its Lease", func(int) error {
		return onA.Patch(ctx, lease("executor-node-a"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"renewTime":"`+metav1.NowMicro().Format(metav1.RFC3339Micro)+`"}}`)))
	})
	expectAllowed(t, "delete a pod on its node", func(int) error { return client.IgnoreNotFound(onA.Delete(ctx, pod("pod-a-0", ""))) })

	expectForbidden(t, "create a pod on no node", "is on no node", func(i int) error { return onA.Create(ctx, pod("pod-y-"+itoa(i), "")) })
	// Only pods of Tasks, as the executor makes them, and only their finalizers.
	notOfTask := "the executor writes only the pods of Tasks"
	expectForbidden(t, "create a pod of no Task on its node", notOfTask, func(i int) error {
		p := pod("pod-w-"+itoa(i), "node-a")
		p.OwnerReferences = nil
		return onA.Create(ctx, p)
	})
	expectForbidden(t, "create a pod owned by a Task of another name", notOfTask, func(i int) error {
		p := pod("pod-v-"+itoa(i), "node-a")
		p.OwnerReferences[0].Name = "other"
		return onA.Create(ctx, p)
	})
	foreign := pod("foreign", "node-a")
	foreign.OwnerReferences = nil
	mustCreate(t, ctx, foreign)
	expectForbidden(t, "delete a pod of no Task on its node", notOfTask, func(int) error { return onA.Delete(ctx, pod("foreign", "")) })
	mustCreate(t, ctx, pod("pod-own", "node-a"))
	expectAllowed(t, "add a finalizer to a Task's pod on its node", func(int) error {
		return onA.Patch(ctx, pod("pod-own", ""), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":["`+agorav1alpha1.PodFinalizer+`"]}}`)))
	})
	expectForbidden(t, "label a Task's pod on its node", "may change only the finalizers of a pod", func(int) error {
		return onA.Patch(ctx, pod("pod-own", ""), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"other"}}}`)))
	})
	expectForbidden(t, "annotate a Task's pod on its node", "may change only the finalizers of a pod", func(int) error {
		return onA.Patch(ctx, pod("pod-own", ""), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"x":"y"}}}`)))
	})
	expectForbidden(t, "change the image of a Task's pod on its node", "may change only the finalizers of a pod", func(int) error {
		return onA.Patch(ctx, pod("pod-own", ""), client.RawPatch(types.StrategicMergePatchType, []byte(`{"spec":{"containers":[{"name":"main","image":"evil"}]}}`)))
	})
	if err := k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "default"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	expectForbidden(t, "create a Task's pod in kube-system", "the executor writes no pods in the system namespace kube-system", func(i int) error {
		p := pod("pod-s-"+itoa(i), "node-a")
		p.Namespace = "kube-system"
		return onA.Create(ctx, p)
	})
	expectForbidden(t, "renew another node's Lease", "may write only its own Lease executor-node-a, not executor-node-b", func(int) error {
		return onA.Patch(ctx, lease("executor-node-b"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"holderIdentity":"me"}}`)))
	})
	expectForbidden(t, "create another node's Lease", "not executor-node-c", func(int) error { return onA.Create(ctx, lease("executor-node-c")) })

	// Leases outside agora-system are not the Lease policy's (RBAC keeps the executor out of them).
	other := lease("executor-node-z")
	other.Namespace = ns
	expectAllowed(t, "a Lease outside agora-system", func(int) error { return client.IgnoreAlreadyExists(onA.Create(ctx, other)) })

	// A token that names no node (not bound to a Pod), and the simulation identity (the chart
	// lifts the rule for it only on request): no writes at all.
	for who, c := range map[string]client.Client{
		"an executor token bound to no pod": impersonating(t, user, groups, nil),
		"the simulation identity":           impersonating(t, "system:serviceaccount:agora-system:agora-executor-simulation", groups, nil),
	} {
		expectForbidden(t, who+" creating a pod", "this token names none", func(i int) error { return c.Create(ctx, pod("pod-z-"+itoa(i), "node-a")) })
		expectForbidden(t, who+" creating a Lease", "this token names none", func(int) error { return c.Create(ctx, lease("executor-node-a")) })
	}

	// Anyone else is not concerned: the admin writes node-b's objects.
	if err := k8sClient.Delete(ctx, pod("pod-b", "")); err != nil {
		t.Errorf("the admin deleting node-b's pod: %v", err)
	}
}

// grant gives user the rule in namespace ns through a Role and RoleBinding named name.
func grant(t *testing.T, ctx context.Context, ns, name, user string, rule rbacv1.PolicyRule) {
	t.Helper()
	mustCreate(t, ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: []rbacv1.PolicyRule{rule}})
	mustCreate(t, ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
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

// TestTaskDeleteCascades: a Task cannot be deleted with its pod orphaned (the pod would keep
// running on resources offered again); the default and foreground deletions go through.
func TestTaskDeleteCascades(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	for _, name := range []string{"orphan", "default", "foreground"} {
		mustCreate(t, ctx, task(ns, name))
	}
	expectForbidden(t, "delete a Task orphaning its pod", "cannot be deleted with propagationPolicy Orphan", func(int) error {
		return k8sClient.Delete(ctx, task(ns, "orphan"), client.PropagationPolicy(metav1.DeletePropagationOrphan))
	})
	if err := k8sClient.Delete(ctx, task(ns, "default")); err != nil {
		t.Errorf("default delete: %v", err)
	}
	if err := k8sClient.Delete(ctx, task(ns, "foreground"), client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Errorf("foreground delete: %v", err)
	}
}
