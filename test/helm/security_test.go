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

package helm

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// The chart's security policies (docs/install.md, "Security model") on the local cluster, with
// real ServiceAccount tokens: test/integration covers their every case with impersonated users.

// taskRunner is the ServiceAccount team A's namespace lets Tasks run as (besides default).
const taskRunner = "task-runner"

// daemonSetPod creates the pod the DaemonSet controller would create for the executor on node
// (no DaemonSet controller runs on the local cluster; kwok "runs" the pod).
func daemonSetPod(t *testing.T, ctx context.Context, admin clients, ds *appsv1.DaemonSet, node string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: ds.Name + "-", Namespace: namespace, Labels: ds.Spec.Template.Labels},
		Spec:       *ds.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = node
	pod, err := admin.kube.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the executor's DaemonSet pod on %s: %v", node, err)
	}
	return pod
}

// checkNodeInToken: the API server names the node of the pod a token is bound to in the token's
// user info, which is what the executor policy reads.
func checkNodeInToken(t *testing.T, ctx context.Context, exe clients, node string) {
	t.Helper()
	r, err := exe.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("who is the executor: %v", err)
	}
	if got := r.Status.UserInfo.Extra["authentication.kubernetes.io/node-name"]; !slices.Equal(got, authenticationv1.ExtraValue{node}) {
		t.Fatalf("the executor's pod-bound token names node %q, want %s (user info %+v)", got, node, r.Status.UserInfo)
	}
}

// checkTaskPodRights: team A's framework, which may create Tasks but not Pods, cannot create a
// Task that runs as another ServiceAccount than default, nor a privileged one, nor one that
// mounts a Secret it may not read; the refusal's own commands, run by the namespace's admin, let
// it run Tasks as task-runner (the sample task of runFramework then runs as it).
func checkTaskPodRights(t *testing.T, ctx context.Context, c *cluster, fw clients, node string) {
	t.Helper()
	c.mustKubectl(ctx, "create", "serviceaccount", taskRunner, "--namespace", teamA)
	c.mustKubectl(ctx, "create", "serviceaccount", "privileged-sa", "--namespace", teamA)
	if out, _ := c.kubectl(ctx, "auth", "can-i", "create", "pods", "-n", teamA, "--as=system:serviceaccount:"+teamA+":"+frameworkSA); strings.TrimSpace(out) != "no" {
		t.Fatalf("team A's framework may create pods (%q): the test needs one that may not", out)
	}
	// Dry runs: admission runs, nothing is stored.
	probe := func(mutate func(*corev1.PodSpec)) func() error {
		return func() error {
			task := sampleTask(t, teamA, "offer", node)
			task.GenerateName, task.Name = "probe-", ""
			mutate(&task.Spec.Template.Spec)
			_, err := fw.agora.SchedulingV1alpha1().Tasks(teamA).Create(ctx, task, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}
	}
	runAs := func(sa string) func(*corev1.PodSpec) { return func(p *corev1.PodSpec) { p.ServiceAccountName = sa } }
	// refused waits for call's Forbidden mentioning want and returns its message.
	refused := func(what, want string, call func() error) string {
		var err error
		eventually(t, ctx, 30*time.Second, what+" to be refused", nil, func() (bool, string) {
			err = call()
			return apierrors.IsForbidden(err) && strings.Contains(err.Error(), want), fmt.Sprintf("%v", err)
		})
		return err.Error()
	}

	mayNot := "may not use in namespace " + teamA + ": it may not create Pods there nor impersonate"
	refused("a Task running as privileged-sa", mayNot, probe(runAs("privileged-sa")))
	refused("a privileged Task", "asks for privileged container main", probe(func(p *corev1.PodSpec) {
		p.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}))
	refused("a Task on the host's network", "asks for hostNetwork", probe(func(p *corev1.PodSpec) { p.HostNetwork = true }))
	refused("a Task mounting a Secret", "refers to Secret "+taskRunner+"-token", probe(func(p *corev1.PodSpec) {
		p.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: taskRunner + "-token"}}}}
	}))
	if err := probe(func(*corev1.PodSpec) {})(); err != nil {
		t.Errorf("a plain Task (ServiceAccount default) of team A's framework: %v", err)
	}

	// team A's namespace admin (the built-in admin role, no cluster rights) runs the commands the
	// refusal gives.
	c.mustKubectl(ctx, "create", "rolebinding", "team-a-admin", "--clusterrole=admin", "--user=team-a-admin", "--namespace", teamA)
	msg := refused("a Task running as "+taskRunner, "create role agora-run-as-"+taskRunner, probe(runAs(taskRunner)))
	m := regexp.MustCompile(`with: (kubectl .*)$`).FindStringSubmatch(strings.TrimSuffix(msg, `"`))
	if m == nil {
		t.Fatalf("no kubectl commands in %q", msg)
	}
	for _, cmd := range strings.Split(m[1], " && ") {
		args := strings.Fields(strings.TrimPrefix(cmd, "kubectl "))
		if out, err := c.kubectl(ctx, append(args, "--as=team-a-admin")...); err != nil {
			t.Fatalf("the namespace admin running %q: %v\n%s", cmd, err, out)
		}
	}
	eventually(t, ctx, 30*time.Second, "a Task running as "+taskRunner+" to be allowed", nil, func() (bool, string) {
		err := probe(runAs(taskRunner))()
		return err == nil, fmt.Sprintf("%v", err)
	})
	refused("privileged-sa, still", mayNot, probe(runAs("privileged-sa")))
}

// checkExecutorNodeRestriction: the executor's token, bound to its pod on node, cannot write
// another node's pods, tasks or Lease; a token of its ServiceAccount bound to no pod writes
// nothing. (Its own node's work is the rest of the test, which the running executor does with
// that token.)
func checkExecutorNodeRestriction(t *testing.T, ctx context.Context, c *cluster, exe, admin clients, node, otherNode, otherTask string) {
	t.Helper()
	// pod is a Task's pod, as the executor makes it (the Task need not exist: nothing is created).
	pod := func(name, on string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: teamB, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Task", Name: name, UID: "0000", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: on, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "executor-" + otherNode, Namespace: namespace},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("someone"), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: ptr.To(metav1.NowMicro())}}
	// The pod the executor must not delete is owned by a Task that exists (otherTask): owned by
	// none, kube-controller-manager's garbage collector may delete it first, and the check then
	// meets NotFound instead of the policy (seen once in CI).
	other, err := admin.agora.SchedulingV1alpha1().Tasks(teamB).Get(ctx, otherTask, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	victim := pod("on-"+otherNode, otherNode)
	victim.OwnerReferences[0].Name, victim.OwnerReferences[0].UID = other.Name, other.UID
	if _, err := admin.kube.CoreV1().Pods(teamB).Create(ctx, victim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = admin.kube.CoreV1().Pods(teamB).Delete(ctx, "on-"+otherNode, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()
	own := "the executor of node " + node + " may write only"
	// renew updates a Lease's renewTime, as the executor does (it may get and update Leases).
	renew := func(as clients, name string) error {
		l, err := as.kube.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			l.Spec.RenewTime = ptr.To(metav1.NowMicro())
			_, err = as.kube.CoordinationV1().Leases(namespace).Update(ctx, l, metav1.UpdateOptions{})
		}
		return err
	}
	unbound := c.clients(t, c.serviceAccountKubeconfig(ctx, namespace, "agora-executor"))
	for what, call := range map[string]func() (string, error){
		"create a pod on " + otherNode: func() (string, error) {
			_, err := exe.kube.CoreV1().Pods(teamB).Create(ctx, pod("forged", otherNode), metav1.CreateOptions{})
			return own + " pods on its own node", err
		},
		"delete a pod on " + otherNode: func() (string, error) {
			return own + " pods on its own node", exe.kube.CoreV1().Pods(teamB).Delete(ctx, "on-"+otherNode, metav1.DeleteOptions{})
		},
		"write the status of a task on " + otherNode: func() (string, error) {
			tk, err := exe.agora.SchedulingV1alpha1().Tasks(teamB).Get(ctx, otherTask, metav1.GetOptions{})
			if err == nil {
				tk.Status.Phase, tk.Status.Reason = agorav1alpha1.TaskFailed, "Forged"
				_, err = exe.agora.SchedulingV1alpha1().Tasks(teamB).UpdateStatus(ctx, tk, metav1.UpdateOptions{})
			}
			return own + " tasks on its own node", err
		},
		"remove the finalizer of a task on " + otherNode: func() (string, error) {
			_, err := exe.agora.SchedulingV1alpha1().Tasks(teamB).Patch(ctx, otherTask, types.MergePatchType,
				[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			return own + " tasks on its own node", err
		},
		"create the Lease of " + otherNode: func() (string, error) {
			_, err := exe.kube.CoordinationV1().Leases(namespace).Create(ctx, lease.DeepCopy(), metav1.CreateOptions{})
			return own + " its own Lease executor-" + node, err
		},
		"create a pod on its node with a token bound to no pod": func() (string, error) {
			_, err := unbound.kube.CoreV1().Pods(teamB).Create(ctx, pod("unbound", node), metav1.CreateOptions{})
			return "this token names none", err
		},
		"renew the Lease of " + node + " with a token bound to no pod": func() (string, error) {
			return "this token names none", renew(unbound, "executor-"+node)
		},
		"create a pod of no Task on its node": func() (string, error) {
			p := pod("no-task", node)
			p.OwnerReferences = nil
			_, err := exe.kube.CoreV1().Pods(teamB).Create(ctx, p, metav1.CreateOptions{})
			return "the executor writes only the pods of Tasks", err
		},
	} {
		want, err := call()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("the executor's ServiceAccount could %s: got %v, want Forbidden mentioning %q", what, err, want)
		}
	}

	// Renewing another node's Lease: it exists for a moment (the controller would offer that node
	// while it is fresh).
	if _, err := admin.kube.CoordinationV1().Leases(namespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = renew(exe, lease.Name)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not executor-"+otherNode) {
		t.Errorf("the executor of %s could renew %s: %v", node, lease.Name, err)
	}
	if err := admin.kube.CoordinationV1().Leases(namespace).Delete(ctx, lease.Name, metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
	if tk, err := admin.agora.SchedulingV1alpha1().Tasks(teamB).Get(ctx, otherTask, metav1.GetOptions{}); err != nil || tk.Status.Reason == "Forged" {
		t.Errorf("team B's task: %v %v", tk, err)
	}
}

// checkPoliciesTypeChecked: kube-controller-manager type-checks each policy's expressions against
// the schemas of what it matches; a warning is an expression that would fail at admission.
func checkPoliciesTypeChecked(t *testing.T, ctx context.Context, admin clients) {
	t.Helper()
	for _, name := range []string{"agora-task-spec-immutable", "agora-task-delete-cascades", "agora-task-pod-rights",
		"agora-executor-node-restriction", "agora-executor-lease-restriction"} {
		eventually(t, ctx, time.Minute, name+" to be type-checked", nil, func() (bool, string) {
			p, err := admin.kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
			if err != nil || p.Status.TypeChecking == nil {
				return false, fmt.Sprintf("%v", err)
			}
			for _, w := range p.Status.TypeChecking.ExpressionWarnings {
				t.Errorf("%s: %s: %s", name, w.FieldRef, w.Warning)
			}
			return true, ""
		})
	}
}
