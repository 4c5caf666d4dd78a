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
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

// The names of the README's "Install on a cluster" commands, which this test runs as written.
const (
	teamA       = "team-a"
	teamB       = "team-b"
	frameworkSA = "my-framework"
)

// testNamespaces are created by the test; whatever is in them is the test's, not the chart's.
var testNamespaces = []string{teamA, teamB, "demo"}

// TestInstallOnLocalCluster installs the chart into a local cluster's API server, runs the real
// controller (two replicas, leader-elected) and executor with exactly the rights of the chart's
// ServiceAccounts (their own tokens) and the flags of the chart's Deployment and DaemonSet, lets
// a framework whose ServiceAccount holds only agora-framework in its namespace run a task to
// Finished, shows that framework is Forbidden everywhere else, then upgrades and uninstalls and
// finds no orphans.
func TestInstallOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a local cluster (hack/local-cluster.sh)")
	}
	helm, kubectl := tool(t, "helm"), tool(t, "kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// The binaries build while the cluster comes up (into a temporary directory: bin/agora-* may
	// be running a developer's local cluster).
	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() {
		_, err := run(ctx, nil, nil, "go", "build", "-o", binDir+"/", "./cmd/agora-controller", "./cmd/agora-executor", "./examples/batch")
		built <- err
	}()
	c := upCluster(t, ctx, kubectl)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	before := c.snapshot(ctx)

	// The kustomize bases are accepted by the API server too (server-side dry run, nothing stays).
	c.mustKubectl(ctx, "apply", "--server-side", "--dry-run=server", "-k", "config/default")

	// helm install, as written in the README.
	helmEnv := []string{"KUBECONFIG=" + c.kubeconfig, "HELM_CACHE_HOME=" + filepath.Join(c.dir, "helm-cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(c.dir, "helm-config"), "HELM_DATA_HOME=" + filepath.Join(c.dir, "helm-data")}
	if out, err := run(ctx, helmEnv, nil, helm, "install", "agora", "charts/agora", "--namespace", "agora-system", "--create-namespace"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	manifest := c.checkReleaseLive(ctx, helm, helmEnv)
	c.mustKubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/frameworks.scheduling.agora.dev", "crd/offers.scheduling.agora.dev", "crd/tasks.scheduling.agora.dev",
		"crd/rolequotas.scheduling.agora.dev")
	c.mustKubectl(ctx, "create", "namespace", "demo")
	c.mustKubectl(ctx, "apply", "--dry-run=server", "-k", "config/samples")
	c.mustKubectl(ctx, "delete", "namespace", "demo", "--wait=false")

	// The components, with the chart's flags and their ServiceAccounts' tokens.
	deploy := typed[appsv1.Deployment](t, find(manifest, "Deployment", "agora-controller"))
	daemon := typed[appsv1.DaemonSet](t, find(manifest, "DaemonSet", "agora-executor"))
	controllerKC := c.serviceAccountKubeconfig(ctx, namespace, deploy.Spec.Template.Spec.ServiceAccountName)
	admin := c.clients(t, c.kubeconfig)
	// The executor's token is bound to its DaemonSet pod on node A, as the kubelet mounts it there;
	// the API server then names node A in the token (the chart's executor policy relies on it).
	node, otherNode := "kwok-node-0", "kwok-node-1"
	executorPod := daemonSetPod(t, ctx, admin, daemon, node)
	executorKC := c.serviceAccountKubeconfig(ctx, namespace, daemon.Spec.Template.Spec.ServiceAccountName,
		"--bound-object-kind=Pod", "--bound-object-name="+executorPod.Name)
	checkNodeInToken(t, ctx, c.clients(t, executorKC), node)
	var procs []*proc
	var readyz []string
	for i := range 2 { // the chart runs two replicas; one leads
		probe := freePort(t)
		args := withFlags(deploy.Spec.Template.Spec.Containers[0].Args, "--kubeconfig="+controllerKC,
			"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address="+probe)
		procs = append(procs, startProc(t, c.dir, fmt.Sprintf("agora-controller-%d", i), filepath.Join(binDir, "agora-controller"), nil, args))
		readyz = append(readyz, "http://"+probe+"/readyz")
	}
	metrics := freePort(t)
	args := withFlags(daemon.Spec.Template.Spec.Containers[0].Args, "--kubeconfig="+executorKC, "--metrics-bind-address="+metrics)
	// NODE_NAME is what the DaemonSet's downward API gives the pod on that node.
	procs = append(procs, startProc(t, c.dir, "agora-executor", filepath.Join(binDir, "agora-executor"), []string{"NODE_NAME=" + node}, args))
	readyz = append(readyz, "http://"+metrics+"/readyz") // caches synced: it could list and watch

	for _, u := range readyz {
		eventually(t, ctx, time.Minute, u, procs, func() (bool, string) {
			resp, err := http.Get(u)
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status
		})
	}
	eventually(t, ctx, time.Minute, "a controller replica to lead and the executor to register its node", procs, func() (bool, string) {
		l, err := admin.kube.CoordinationV1().Leases(namespace).Get(ctx, "agora-controller", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return false, fmt.Sprintf("leader lease: %v", err)
		}
		_, err = admin.kube.CoordinationV1().Leases(namespace).Get(ctx, "executor-"+node, metav1.GetOptions{})
		return err == nil, fmt.Sprintf("executor lease: %v", err)
	})

	// A namespace admin grants the framework its rights (the README's command).
	for _, ns := range []string{teamA, teamB} {
		c.mustKubectl(ctx, "create", "namespace", ns)
		c.mustKubectl(ctx, "create", "serviceaccount", frameworkSA, "--namespace", ns)
		c.mustKubectl(ctx, "create", "rolebinding", "my-framework-agora", "--clusterrole=agora-framework",
			"--serviceaccount="+ns+":"+frameworkSA, "--namespace", ns)
	}
	// The check docs/install.md suggests, through impersonation.
	as := "--as=system:serviceaccount:" + teamA + ":" + frameworkSA
	if out, err := c.kubectl(ctx, "auth", "can-i", "create", "tasks", "-n", teamA, as); err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("kubectl auth can-i create tasks -n %s %s: %q %v", teamA, as, out, err)
	}
	if out, _ := c.kubectl(ctx, "auth", "can-i", "list", "offers", "-n", teamB, as); strings.TrimSpace(out) != "no" {
		t.Errorf("kubectl auth can-i list offers -n %s %s: %q", teamB, as, out)
	}
	fw := c.clients(t, c.serviceAccountKubeconfig(ctx, teamA, frameworkSA))
	otherFW := c.clients(t, c.serviceAccountKubeconfig(ctx, teamB, frameworkSA))
	checkTaskPodRights(t, ctx, c, fw, node)

	// Team B has a Framework (suppressed: node A is for team A; node B has no executor) and a Task
	// on node B to aim at.
	if _, err := otherFW.agora.SchedulingV1alpha1().Frameworks(teamB).Create(ctx, &agorav1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: teamB},
		Spec:       agorav1alpha1.FrameworkSpec{SuppressOffers: true},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("team B's framework creating its own Framework: %v", err)
	}
	taskB := sampleTask(t, teamB, "no-such-offer", otherNode)
	if _, err := otherFW.agora.SchedulingV1alpha1().Tasks(teamB).Create(ctx, taskB, metav1.CreateOptions{}); err != nil {
		t.Fatalf("team B's framework creating its own Task: %v", err)
	}

	runFramework(t, ctx, c, fw, admin, node, procs)
	checkForbidden(t, ctx, fw, teamA, teamB, taskB.Name, node)
	checkComponentLimits(t, ctx, c, controllerKC, executorKC)
	checkLeaderElectionPriority(t, ctx, c, controllerKC, admin)

	// A framework program on the SDK (pkg/sdk, examples/batch) with only agora-framework: it
	// registers, renews its Lease, launches, and tears itself down when its job is done.
	batch := startProc(t, c.dir, "batch", filepath.Join(binDir, "batch"), nil, []string{
		"--kubeconfig=" + c.serviceAccountKubeconfig(ctx, teamA, frameworkSA), "--namespace=" + teamA,
		"--tasks=3", "--cpu=500m", "--memory=256Mi", "--duration=1s"})
	eventually(t, ctx, 2*time.Minute, "examples/batch to run its job and tear down", procs, func() (bool, string) {
		return batch.exited(), "running"
	})
	b, _ := os.ReadFile(batch.log)
	if batch.err != nil {
		t.Errorf("examples/batch as %s:%s: %v\n%s", teamA, frameworkSA, batch.err, tail(b, 30))
	} else {
		t.Logf("examples/batch as %s:%s:\n%s", teamA, frameworkSA, tail(b, 12))
	}
	procs = append(procs, batch) // its log is checked for Forbidden below too
	// Last, as it writes node B's Lease for a moment (the controller would offer node B).
	checkExecutorNodeRestriction(t, ctx, c, c.clients(t, executorKC), admin, node, otherNode, taskB.Name)
	checkPoliciesTypeChecked(t, ctx, admin)

	for _, p := range procs {
		p.stop(t)
		if b, _ := os.ReadFile(p.log); regexp.MustCompile(`(?i)forbidden`).Match(b) {
			t.Errorf("%s met a Forbidden (its RBAC is short of something); log %s:\n%s", p.name, p.log, grep(b, "forbidden"))
		}
	}
	if t.Failed() {
		return // the cluster goes down in cleanup; the rest would only repeat the failure
	}
	// The DaemonSet's pod goes with its executor (no DaemonSet controller runs here to do it).
	if err := admin.kube.CoreV1().Pods(namespace).Delete(ctx, executorPod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Errorf("deleting the executor's pod: %v", err)
	}

	// helm upgrade to one controller replica: the PDB goes, nothing is left behind.
	if out, err := run(ctx, helmEnv, nil, helm, "upgrade", "agora", "charts/agora", "--namespace", "agora-system",
		"--set", "controller.replicas=1", "--set", "executor.priorityClassName="); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	manifest = c.checkReleaseLive(ctx, helm, helmEnv)
	if find(manifest, "PodDisruptionBudget", "agora-controller") != nil {
		t.Error("the upgraded release still has a PDB")
	}
	if r := c.mustKubectl(ctx, "get", "deployment", "agora-controller", "-n", namespace, "-o", "jsonpath={.spec.replicas}"); r != "1" {
		t.Errorf("upgraded deployment has %s replicas", r)
	}

	// helm uninstall leaves the CRDs (crds.keep, the default) with the objects of the teams,
	// and nothing else of the chart.
	if out, err := run(ctx, helmEnv, nil, helm, "uninstall", "agora", "--namespace", "agora-system"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	after := c.snapshot(ctx)
	var left []string
	for obj := range after {
		kind, ns, _ := strings.Cut(obj, "/")
		ns, _, _ = strings.Cut(ns, "/")
		switch {
		case before[obj], kind == "Event", kind == "Lease": // runtime heartbeats and records
		case slices.Contains(testNamespaces, ns) || slices.Contains(testNamespaces, strings.TrimPrefix(obj, "Namespace//")):
			// the test's own (a namespace never finishes terminating without kube-controller-manager)
		case kind == "CustomResourceDefinition" && find(manifest, kind, strings.TrimPrefix(obj, "CustomResourceDefinition//")) != nil:
		case strings.HasPrefix(kind, "ValidatingAdmissionPolicy") && slices.Contains([]string{"agora-task-spec-immutable", "agora-task-delete-cascades"}, strings.TrimPrefix(obj, kind+"//")):
			// the CRDs' policies are kept with them (the security policies go with the release)
		case obj == "APIService//"+agorav1alpha1.GroupVersion.Version+"."+agorav1alpha1.GroupVersion.Group:
			// kube-apiserver registers it by itself while the group's CRDs exist
		default:
			left = append(left, obj)
		}
	}
	slices.Sort(left)
	if len(left) > 0 {
		t.Errorf("helm uninstall left behind: %v", left)
	}
	if crds := c.mustKubectl(ctx, "get", "crd", "-l", "app.kubernetes.io/instance=agora", "-o", "name"); strings.Count(crds, "\n") != 4 {
		t.Errorf("want the 4 CRDs (Framework, Offer, Task, RoleQuota) kept after uninstall, got:\n%s", crds)
	}
	if fws, err := admin.agora.SchedulingV1alpha1().Frameworks(teamB).List(ctx, metav1.ListOptions{}); err != nil || len(fws.Items) != 1 {
		t.Errorf("team B's Framework must survive helm uninstall: %v %v", fws, err)
	}
}

// runFramework: as the framework's ServiceAccount, register the sample Framework, accept its
// offer with the sample Task, release the rest, see the task finish; renew a Lease and record an
// Event.
func runFramework(t *testing.T, ctx context.Context, c *cluster, fw, admin clients, node string, procs []*proc) {
	t.Helper()
	var framework agorav1alpha1.Framework
	readSample(t, "config/samples/framework.yaml", &framework)
	framework.Namespace = teamA
	if _, err := fw.agora.SchedulingV1alpha1().Frameworks(teamA).Create(ctx, &framework, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating its Framework: %v", err)
	}
	var offer *agorav1alpha1.Offer
	eventually(t, ctx, time.Minute, "an Offer to team A's framework", procs, func() (bool, string) {
		offers, err := fw.agora.SchedulingV1alpha1().Offers(teamA).List(ctx, metav1.ListOptions{})
		if err != nil || len(offers.Items) == 0 {
			return false, fmt.Sprintf("%v", err)
		}
		offer = &offers.Items[0]
		return true, ""
	})
	if offer.Spec.Nodes[0].NodeName != node {
		t.Fatalf("offer %s is on %+v, want %s", offer.Name, offer.Spec.Nodes, node)
	}
	task := sampleTask(t, teamA, offer.Name, node)
	task.Spec.Template.Spec.ServiceAccountName = taskRunner // allowed by checkTaskPodRights
	if _, err := fw.agora.SchedulingV1alpha1().Tasks(teamA).Create(ctx, task, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Task: %v", err)
	}
	if err := fw.agora.SchedulingV1alpha1().Offers(teamA).Delete(ctx, offer.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("releasing the offer: %v", err)
	}
	eventually(t, ctx, 90*time.Second, "the task to finish", procs, func() (bool, string) {
		tk, err := fw.agora.SchedulingV1alpha1().Tasks(teamA).Get(ctx, task.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if tk.Status.Phase.IsTerminal() && tk.Status.Phase != agorav1alpha1.TaskFinished {
			t.Fatalf("task ended %s: %s: %s", tk.Status.Phase, tk.Status.Reason, tk.Status.Message)
		}
		return tk.Status.Phase == agorav1alpha1.TaskFinished, fmt.Sprintf("%s %s %s", tk.Status.Phase, tk.Status.Reason, tk.Status.Message)
	})
	pod, err := admin.kube.CoreV1().Pods(teamA).Get(ctx, task.Name, metav1.GetOptions{})
	if err != nil || pod.Spec.NodeName != node || pod.Status.Phase != corev1.PodSucceeded || pod.Spec.ServiceAccountName != taskRunner {
		t.Errorf("task pod: %v %v", pod, err)
	}
	// Its spec is immutable, the pod template included, even for a cluster admin (the chart's
	// agora-task-spec-immutable policy; the CRD's own rule covers offerName, nodeName and
	// resources; a framework may not update Tasks at all).
	eventually(t, ctx, 30*time.Second, "a change of the task's template to be refused", procs, func() (bool, string) {
		tk, err := admin.agora.SchedulingV1alpha1().Tasks(teamA).Get(ctx, task.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		tk.Spec.Template.Spec.Containers[0].Image += "-changed"
		_, err = admin.agora.SchedulingV1alpha1().Tasks(teamA).Update(ctx, tk, metav1.UpdateOptions{})
		if err == nil {
			return false, "the template change was accepted"
		}
		return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "spec is immutable"), err.Error()
	})
	// Deleting a finished Task (kill) is the framework's to do.
	if err := fw.agora.SchedulingV1alpha1().Tasks(teamA).Delete(ctx, task.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting its Task: %v", err)
	}

	// SUPPRESS: the framework updates its own Framework's spec.
	if _, err := fw.agora.SchedulingV1alpha1().Frameworks(teamA).Patch(ctx, framework.Name, types.MergePatchType,
		[]byte(`{"spec":{"suppressOffers":true}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("suppressing: %v", err)
	}

	// Liveness Lease named like the Framework: create, renew, delete.
	now := metav1.NowMicro()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: framework.Name, Namespace: teamA},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To[int32](300), RenewTime: &now}}
	lease, err = fw.kube.CoordinationV1().Leases(teamA).Create(ctx, lease, metav1.CreateOptions{})
	if err == nil {
		lease.Spec.RenewTime = ptr.To(metav1.NowMicro())
		_, err = fw.kube.CoordinationV1().Leases(teamA).Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err == nil {
		err = fw.kube.CoordinationV1().Leases(teamA).Delete(ctx, lease.Name, metav1.DeleteOptions{})
	}
	if err != nil {
		t.Errorf("its Lease: %v", err)
	}
	if _, err := fw.kube.CoreV1().Events(teamA).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "demo-", Namespace: teamA},
		InvolvedObject: corev1.ObjectReference{APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Framework", Name: framework.Name, Namespace: teamA},
		Reason:         "Registered", Message: "framework registered", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{}); err != nil {
		t.Errorf("recording an Event: %v", err)
	}
}

// checkForbidden: a framework bound with agora-framework in its namespace can do nothing in
// another namespace, nothing cluster-wide, and not write what the controller and the executor own.
func checkForbidden(t *testing.T, ctx context.Context, fw clients, own, other, otherTask, node string) {
	t.Helper()
	a := fw.agora.SchedulingV1alpha1()
	del := metav1.DeleteOptions{}
	for what, call := range map[string]func() error{
		"list the other namespace's offers": func() error { _, err := a.Offers(other).List(ctx, metav1.ListOptions{}); return err },
		"watch the other namespace's offers": func() error {
			w, err := a.Offers(other).Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
		"delete an offer of the other namespace": func() error { return a.Offers(other).Delete(ctx, "any", del) },
		"list the other namespace's tasks":       func() error { _, err := a.Tasks(other).List(ctx, metav1.ListOptions{}); return err },
		"get a task of the other namespace": func() error {
			_, err := a.Tasks(other).Get(ctx, otherTask, metav1.GetOptions{})
			return err
		},
		"create a task in the other namespace": func() error {
			_, err := a.Tasks(other).Create(ctx, sampleTask(t, other, "x", node), metav1.CreateOptions{})
			return err
		},
		"delete a task of the other namespace": func() error { return a.Tasks(other).Delete(ctx, otherTask, del) },
		"list the other namespace's frameworks": func() error {
			_, err := a.Frameworks(other).List(ctx, metav1.ListOptions{})
			return err
		},
		"create a lease in the other namespace": func() error {
			_, err := fw.kube.CoordinationV1().Leases(other).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"list offers of all namespaces": func() error { _, err := a.Offers("").List(ctx, metav1.ListOptions{}); return err },
		"list tasks of all namespaces":  func() error { _, err := a.Tasks("").List(ctx, metav1.ListOptions{}); return err },
		"create an offer (the controller's)": func() error {
			_, err := a.Offers(own).Create(ctx, &agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Name: "forged"}}, metav1.CreateOptions{})
			return err
		},
		"write its Framework's status": func() error {
			_, err := a.Frameworks(own).Patch(ctx, "demo", types.MergePatchType, []byte(`{"status":{"dominantShare":"0"}}`), metav1.PatchOptions{}, "status")
			return err
		},
		"write a Task's status": func() error {
			_, err := a.Tasks(own).Patch(ctx, "hello", types.MergePatchType, []byte(`{"status":{"phase":"Finished"}}`), metav1.PatchOptions{}, "status")
			return err
		},
		"read pods": func() error { _, err := fw.kube.CoreV1().Pods(own).List(ctx, metav1.ListOptions{}); return err },
		"bind roles in its namespace": func() error {
			_, err := fw.kube.RbacV1().RoleBindings(own).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}}, metav1.CreateOptions{})
			return err
		},
		"create a namespace": func() error {
			_, err := fw.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"label a node": func() error {
			_, err := fw.kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
			return err
		},
		"create a ClusterRole": func() error {
			_, err := fw.kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"create a ClusterRoleBinding": func() error {
			_, err := fw.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "agora-framework"}}, metav1.CreateOptions{})
			return err
		},
		"delete a CRD": func() error {
			return fw.kube.Discovery().RESTClient().Delete().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tasks.scheduling.agora.dev").Do(ctx).Error()
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("framework of %s could %s: want Forbidden, got %v", own, what, err)
		}
	}
}

// checkLeaderElectionPriority: kube-apiserver puts the controller's leader-election Lease requests
// in the priority level the chart's FlowSchema names (it says which in the response headers of
// API Priority and Fairness), and its other requests elsewhere.
func checkLeaderElectionPriority(t *testing.T, ctx context.Context, c *cluster, controllerKC string, admin clients) {
	t.Helper()
	pl, err := admin.kube.FlowcontrolV1().PriorityLevelConfigurations().Get(ctx, "leader-election", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the built-in priority level leader-election: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", controllerKC)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	level := func(path string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s as the controller: %v", path, err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Kubernetes-PF-PriorityLevel-UID")
	}
	lease := "/apis/coordination.k8s.io/v1/namespaces/" + namespace + "/leases/agora-controller"
	eventually(t, ctx, 30*time.Second, "the controller's Lease requests in priority level leader-election", nil, func() (bool, string) {
		got := level(lease)
		return got == string(pl.UID), fmt.Sprintf("priority level UID %q, want leader-election's %s", got, pl.UID)
	})
	if got := level("/apis/scheduling.agora.dev/v1alpha1/namespaces/" + teamA + "/tasks"); got == string(pl.UID) {
		t.Error("the controller's task list is in priority level leader-election too: the FlowSchema matches too much")
	}
}

// checkComponentLimits: each component's rights stop where its job does.
func checkComponentLimits(t *testing.T, ctx context.Context, c *cluster, controllerKC, executorKC string) {
	t.Helper()
	ctl, exe := c.clients(t, controllerKC), c.clients(t, executorKC)
	for what, call := range map[string]func() error{
		"controller creates a pod": func() error {
			_, err := ctl.kube.CoreV1().Pods(teamA).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
			return err
		},
		"controller creates a task": func() error {
			_, err := ctl.agora.SchedulingV1alpha1().Tasks(teamA).Create(ctx, sampleTask(t, teamA, "x", "x"), metav1.CreateOptions{})
			return err
		},
		"executor creates an offer": func() error {
			_, err := exe.agora.SchedulingV1alpha1().Offers(teamA).Create(ctx, &agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"executor patches a framework": func() error {
			_, err := exe.agora.SchedulingV1alpha1().Frameworks(teamA).Patch(ctx, "demo", types.MergePatchType, []byte(`{"spec":{"suppressOffers":false}}`), metav1.PatchOptions{})
			return err
		},
		"executor writes a lease outside agora-system": func() error {
			_, err := exe.kube.CoordinationV1().Leases(teamA).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"executor reads secrets": func() error {
			_, err := exe.kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden, got %v", what, err)
		}
	}
}

func sampleTask(t *testing.T, ns, offer, node string) *agorav1alpha1.Task {
	t.Helper()
	var task agorav1alpha1.Task
	readSample(t, "config/samples/task.yaml", &task)
	task.Namespace, task.Spec.OfferName, task.Spec.NodeName = ns, offer, node
	// The sample's pod ends after 5 s on kwok; 1 s is enough here.
	task.Spec.Template.Annotations["agora.dev/complete-after"] = "1s"
	if task.Spec.Resources.Cpu().Cmp(resource.MustParse("1")) > 0 {
		t.Fatalf("the sample task asks for more than this test's node has: %v", task.Spec.Resources)
	}
	return &task
}

func readSample(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// ---- the local cluster ------------------------------------------------------------------------

type cluster struct {
	t          *testing.T
	dir        string // AGORA_LOCAL_DIR
	kubeconfig string // its admin kubeconfig
	kubectlBin string
}

// upCluster runs `hack/local-cluster.sh up` in a temporary directory, without Agora's processes
// (the test runs them under the chart's ServiceAccounts) and without CRDs (the chart installs
// them); down at cleanup, even after a failure.
func upCluster(t *testing.T, ctx context.Context, kubectl string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), kubectlBin: kubectl}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	script := func(timeout time.Duration, args ...string) (string, error) {
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return run(sctx, []string{"AGORA_LOCAL_DIR=" + c.dir}, nil, filepath.Join(root, "hack/local-cluster.sh"), args...)
	}
	var watchdog io.Closer
	t.Cleanup(func() {
		if out, err := script(3*time.Minute, "down"); err != nil {
			t.Errorf("local-cluster.sh down: %v\n%s", err, out)
		}
		if watchdog != nil {
			_ = watchdog.Close()
		}
	})
	if out, err := script(5*time.Minute, "up", "--no-agora", "--no-crds", "--nodes", "2"); err != nil {
		t.Fatalf("local-cluster.sh up: %v\n%s", err, out)
	}
	// A test timeout skips the clean-up above; the watchdog takes the cluster down then.
	var err error
	if watchdog, err = testcluster.LocalClusterWatchdog(root, c.dir); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, nil, nil, c.kubectlBin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

func (c *cluster) mustKubectl(ctx context.Context, args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(ctx, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// snapshot names every object of every listable kind: Kind/namespace/name.
func (c *cluster) snapshot(ctx context.Context) map[string]bool {
	c.t.Helper()
	kinds := strings.Fields(c.mustKubectl(ctx, "api-resources", "--verbs=list", "-o", "name"))
	out := c.mustKubectl(ctx, "get", strings.Join(kinds, ","), "--all-namespaces",
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
	set := map[string]bool{}
	for _, l := range strings.Fields(out) {
		set[l] = true
	}
	return set
}

// checkReleaseLive: every object of the release's manifest exists in the cluster, and every
// object labelled as the release's is in the manifest (an upgrade that dropped an object deleted
// it). Returns the manifest's objects.
func (c *cluster) checkReleaseLive(ctx context.Context, helm string, helmEnv []string) objects {
	c.t.Helper()
	out, err := run(ctx, helmEnv, nil, helm, "get", "manifest", "agora", "--namespace", namespace)
	if err != nil {
		c.t.Fatal(err)
	}
	manifest, err := decode(out)
	if err != nil {
		c.t.Fatal(err)
	}
	kinds := strings.Fields(c.mustKubectl(ctx, "api-resources", "--verbs=list", "-o", "name"))
	live := c.mustKubectl(ctx, "get", strings.Join(kinds, ","), "--all-namespaces", "-l", "app.kubernetes.io/instance=agora",
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
	got := strings.Fields(live)
	slices.Sort(got)
	if diff := cmp.Diff(keys(manifest), got); diff != "" {
		c.t.Errorf("the release's manifest (-) and the cluster's objects labelled as the release's (+) differ:\n%s", diff)
	}
	return manifest
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates with a token of that
// ServiceAccount (TokenRequest), so the holder has exactly the ServiceAccount's rights; tokenArgs
// go to `kubectl create token` (e.g. the object it is bound to).
func (c *cluster) serviceAccountKubeconfig(ctx context.Context, ns, sa string, tokenArgs ...string) string {
	c.t.Helper()
	token := strings.TrimSpace(c.mustKubectl(ctx, append([]string{"create", "token", sa, "--namespace", ns, "--duration=1h"}, tokenArgs...)...))
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		*ai = clientcmdapi.AuthInfo{Token: token}
	}
	f, err := os.CreateTemp(c.dir, ns+"-"+sa+"-*.kubeconfig")
	if err != nil {
		c.t.Fatal(err)
	}
	f.Close()
	if err := clientcmd.WriteToFile(*cfg, f.Name()); err != nil {
		c.t.Fatal(err)
	}
	return f.Name()
}

type clients struct {
	kube  kubernetes.Interface
	agora versioned.Interface
}

func (c *cluster) clients(t *testing.T, kubeconfig string) clients {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.WarningHandler = rest.NoWarnings{}
	return clients{kube: kubernetes.NewForConfigOrDie(cfg), agora: versioned.NewForConfigOrDie(cfg)}
}

// ---- processes ----------------------------------------------------------------------------

type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of Wait, once done is closed
}

func startProc(t *testing.T, dir, name, bin string, env, args []string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Killed with the test binary if it dies without cleanup (a test timeout).
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM, then SIGKILL after 15 s, and waits for the exit.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s ignored SIGTERM for 15s", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// eventually polls cond until it holds; it fails at the timeout, or at once when one of procs
// has exited, with the tails of their logs.
func eventually(t *testing.T, ctx context.Context, timeout time.Duration, what string, procs []*proc, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		dead := slices.IndexFunc(procs, (*proc).exited)
		if dead >= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			var logs strings.Builder
			for _, p := range procs {
				b, _ := os.ReadFile(p.log)
				fmt.Fprintf(&logs, "----- %s (exited: %v), last lines of %s:\n%s\n", p.name, p.exited(), p.log, tail(b, 15))
			}
			t.Fatalf("waiting for %s: gave up after %s; last seen: %s\n%s", what, timeout, last, logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func grep(b []byte, word string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(strings.ToLower(l), word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// withFlags replaces or adds --name=value flags in args.
func withFlags(args []string, flags ...string) []string {
	out := slices.Clone(args)
	for _, f := range flags {
		name, _, _ := strings.Cut(f, "=")
		if i := slices.IndexFunc(out, func(a string) bool { return a == name || strings.HasPrefix(a, name+"=") }); i >= 0 {
			out[i] = f
		} else {
			out = append(out, f)
		}
	}
	return out
}

// pickedPorts are the addresses freePort handed out: the kernel may offer a port again once its
// probe listener is closed, before the process it was meant for has bound it.
var pickedPorts = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// freePort returns a loopback address whose port was free a moment ago and that no earlier call
// returned.
func freePort(t *testing.T) string {
	t.Helper()
	pickedPorts.Lock()
	defer pickedPorts.Unlock()
	// Below the kernel's ephemeral range (as hack/local-cluster.sh does), so that no process
	// binding port 0 meanwhile can be given it.
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 20000 {
				lo = v
			}
		}
	}
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(lo-20000))
		if pickedPorts.m[addr] {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = l.Close()
		pickedPorts.m[addr] = true
		return addr
	}
	t.Fatal("no free loopback port that was not handed out already")
	return ""
}
