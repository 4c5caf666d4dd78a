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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// nonDefaultValues turns every switch away from its default at once (helm lint and the
// rendering tests below use it).
const nonDefaultValues = "testdata/nondefault-values.yaml"

func TestHelmLint(t *testing.T) {
	for name, args := range map[string][]string{
		"default values":     nil,
		"non-default values": {"--values", filepath.Join("test/helm", nonDefaultValues)},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := run(ctx, nil, nil, tool(t, "helm"), append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// TestHelmSyncUpToDate: the chart's CRDs and RBAC are what `make helm` makes of config/ now.
func TestHelmSyncUpToDate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := run(ctx, nil, nil, "go", "run", "./hack/helmsync", "-check"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// configRoles reads the roles of config/rbac: file -> objects.
func configRoles(t *testing.T) map[string]objects {
	t.Helper()
	out := map[string]objects{}
	for _, f := range []string{"role.yaml", "executor_role.yaml", "framework_role.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "config/rbac", f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(string(b))
		if err != nil {
			t.Fatalf("config/rbac/%s: %v", f, err)
		}
		out[f] = objs
	}
	return out
}

// defaultObjects is what the chart installs with default values: fixed objects plus every role
// that config/rbac holds, each component role with a binding of the same name.
func defaultObjects(t *testing.T) []string {
	want := []string{
		"CustomResourceDefinition//frameworks.scheduling.agora.dev",
		"CustomResourceDefinition//offers.scheduling.agora.dev",
		"CustomResourceDefinition//rolequotas.scheduling.agora.dev",
		"CustomResourceDefinition//tasks.scheduling.agora.dev",
		"ValidatingAdmissionPolicy//agora-task-spec-immutable",
		"ValidatingAdmissionPolicyBinding//agora-task-spec-immutable",
		"ValidatingAdmissionPolicy//agora-task-pod-rights",
		"ValidatingAdmissionPolicyBinding//agora-task-pod-rights",
		"ValidatingAdmissionPolicy//agora-executor-node-restriction",
		"ValidatingAdmissionPolicyBinding//agora-executor-node-restriction",
		"ValidatingAdmissionPolicy//agora-executor-lease-restriction",
		"ValidatingAdmissionPolicyBinding//agora-executor-lease-restriction",
		"ValidatingAdmissionPolicy//agora-task-delete-cascades",
		"ValidatingAdmissionPolicyBinding//agora-task-delete-cascades",
		"ServiceAccount/agora-system/agora-controller",
		"ServiceAccount/agora-system/agora-executor",
		"Deployment/agora-system/agora-controller",
		"PodDisruptionBudget/agora-system/agora-controller",
		"Service/agora-system/agora-controller-metrics",
		"DaemonSet/agora-system/agora-executor",
		"FlowSchema//agora-controller-leader-election",
	}
	for file, roles := range configRoles(t) {
		for _, r := range roles {
			ns := r.GetNamespace()
			want = append(want, r.GetKind()+"/"+ns+"/"+r.GetName())
			if file != "framework_role.yaml" {
				want = append(want, r.GetKind()+"Binding/"+ns+"/"+r.GetName())
			}
		}
	}
	slices.Sort(want)
	return want
}

func TestTemplateDefaults(t *testing.T) {
	objs := mustTemplate(t)
	if diff := cmp.Diff(defaultObjects(t), keys(objs)); diff != "" {
		t.Errorf("objects of the default install (-want +got):\n%s", diff)
	}
	for _, o := range objs {
		l := o.GetLabels()
		if l["app.kubernetes.io/instance"] != release || l["app.kubernetes.io/managed-by"] != "Helm" || l["app.kubernetes.io/part-of"] != "agora" {
			t.Errorf("%s lacks the chart's labels: %v", key(o), l)
		}
	}

	d := typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller"))
	if *d.Spec.Replicas != 2 {
		t.Errorf("controller replicas = %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	for _, arg := range []string{"--leader-elect=true", "--leader-election-namespace=agora-system",
		"--metrics-bind-address=:9482", "--health-probe-bind-address=:9483"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("controller args %q lack %s", c.Args, arg)
		}
	}
	if c.Image != "ghcr.io/agora-sched/agora:0.1.0" || c.Command[0] != "/usr/local/bin/agora-controller" {
		t.Errorf("controller image %s command %v", c.Image, c.Command)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("controller probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("controller resources: %+v", c.Resources)
	}
	checkRestricted(t, "controller", pod, c)
	if pod.ServiceAccountName != "agora-controller" {
		t.Errorf("controller runs as %q", pod.ServiceAccountName)
	}

	pdb := typed[policyv1.PodDisruptionBudget](t, find(objs, "PodDisruptionBudget", "agora-controller"))
	if pdb.Spec.MinAvailable.IntValue() != 1 || !cmp.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB minAvailable %v selector %v; deployment selector %v", pdb.Spec.MinAvailable, pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	svc := typed[corev1.Service](t, find(objs, "Service", "agora-controller-metrics"))
	if !cmp.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) || svc.Spec.Ports[0].TargetPort.String() != "metrics" ||
		!slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
			return p.Name == "metrics" && p.ContainerPort == svc.Spec.Ports[0].Port
		}) {
		t.Errorf("metrics Service %+v does not reach the controller's metrics port %+v", svc.Spec, c.Ports)
	}

	ds := typed[appsv1.DaemonSet](t, find(objs, "DaemonSet", "agora-executor"))
	epod := ds.Spec.Template.Spec
	e := epod.Containers[0]
	if e.Command[0] != "/usr/local/bin/agora-executor" || e.Image != c.Image {
		t.Errorf("executor image %s command %v", e.Image, e.Command)
	}
	if !slices.ContainsFunc(e.Env, func(v corev1.EnvVar) bool {
		return v.Name == "NODE_NAME" && v.ValueFrom != nil && v.ValueFrom.FieldRef != nil && v.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	}) {
		t.Errorf("executor env %+v lacks NODE_NAME from spec.nodeName", e.Env)
	}
	if epod.PriorityClassName != "system-node-critical" {
		t.Errorf("executor priority class %q", epod.PriorityClassName)
	}
	if !cmp.Equal(epod.Tolerations, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}) {
		t.Errorf("executor tolerations %+v, want tolerate all", epod.Tolerations)
	}
	if !slices.Contains(e.Args, "--lease-namespace=agora-system") || e.LivenessProbe == nil || e.ReadinessProbe == nil {
		t.Errorf("executor args %q, probes %+v %+v", e.Args, e.LivenessProbe, e.ReadinessProbe)
	}
	checkRestricted(t, "executor", epod, e)
	if epod.ServiceAccountName != "agora-executor" {
		t.Errorf("executor runs as %q", epod.ServiceAccountName)
	}

	for _, o := range ofKind(objs, "CustomResourceDefinition") {
		if o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s: uninstall would delete every Agora object: no helm.sh/resource-policy: keep", key(o))
		}
	}
	if fr := find(objs, "ClusterRole", "agora-framework"); fr == nil || fr.GetLabels()["rbac.authorization.k8s.io/aggregate-to-admin"] != "true" {
		t.Errorf("agora-framework does not aggregate to admin: %v", fr)
	}
}

// checkRestricted: the pods meet the Pod Security "restricted" profile.
func checkRestricted(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s pod security context %+v", what, psc)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s container security context %+v", what, sc)
	}
}

// TestTemplateSwitches: each main value, away from its default, changes what it should.
func TestTemplateSwitches(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		wantErr string
		check   func(t *testing.T, objs objects)
	}{
		"another namespace is refused": {
			args:    []string{"--namespace", "default"},
			wantErr: `Agora installs into the namespace agora-system`,
		},
		"several replicas need leader election": {
			args:    []string{"--set", "controller.leaderElection=false"},
			wantErr: "controller.leaderElection must be true",
		},
		"one replica without leader election and without a PDB": {
			args: []string{"--set", "controller.replicas=1", "--set", "controller.leaderElection=false"},
			check: func(t *testing.T, objs objects) {
				if o := find(objs, "PodDisruptionBudget", "agora-controller"); o != nil {
					t.Error("a PDB with one replica blocks every drain")
				}
				d := typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller"))
				if *d.Spec.Replicas != 1 || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect=false") {
					t.Errorf("replicas %d args %q", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Args)
				}
			},
		},
		"PDB off": {
			args: []string{"--set", "controller.podDisruptionBudget.enabled=false"},
			check: func(t *testing.T, objs objects) {
				if find(objs, "PodDisruptionBudget", "agora-controller") != nil {
					t.Error("PDB rendered although disabled")
				}
			},
		},
		"no leader-election priority": {
			args: []string{"--set", "controller.leaderElectionPriority.enabled=false"},
			check: func(t *testing.T, objs objects) {
				if fs := ofKind(objs, "FlowSchema"); len(fs) != 0 {
					t.Errorf("FlowSchema rendered although disabled: %v", keys(fs))
				}
			},
		},
		"CRDs managed elsewhere": {
			args: []string{"--set", "crds.install=false", "--set", "policies.taskPodRights.enabled=false", "--set", "policies.executorNodeRestriction.enabled=false"},
			check: func(t *testing.T, objs objects) {
				// The CRDs' admission policies go with them.
				if crds := ofKind(objs, "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"); len(crds) != 0 {
					t.Errorf("CRDs or their policies rendered: %v", keys(crds))
				}
			},
		},
		"security policies off": {
			args: []string{"--set", "policies.taskPodRights.enabled=false", "--set", "policies.executorNodeRestriction.enabled=false"},
			check: func(t *testing.T, objs objects) {
				// Only the CRDs' own policies are left.
				want := []string{"ValidatingAdmissionPolicy//agora-task-delete-cascades", "ValidatingAdmissionPolicy//agora-task-spec-immutable",
					"ValidatingAdmissionPolicyBinding//agora-task-delete-cascades", "ValidatingAdmissionPolicyBinding//agora-task-spec-immutable"}
				if got := keys(ofKind(objs, "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")); !cmp.Equal(got, want) {
					t.Errorf("admission policies %v, want %v", got, want)
				}
			},
		},
		"executor policy only": {
			args: []string{"--set", "policies.taskPodRights.enabled=false"},
			check: func(t *testing.T, objs objects) {
				if find(objs, "ValidatingAdmissionPolicy", "agora-task-pod-rights") != nil || find(objs, "ValidatingAdmissionPolicyBinding", "agora-task-pod-rights") != nil {
					t.Error("agora-task-pod-rights rendered although disabled")
				}
				for _, name := range []string{"agora-executor-node-restriction", "agora-executor-lease-restriction"} {
					if find(objs, "ValidatingAdmissionPolicy", name) == nil || find(objs, "ValidatingAdmissionPolicyBinding", name) == nil {
						t.Errorf("%s missing", name)
					}
				}
			},
		},
		"executor simulation identity": {
			args: []string{"--set", "executor.simulation.enabled=true", "--set", "executor.serviceAccount.name=exe"},
			check: func(t *testing.T, objs objects) {
				for _, k := range []string{"ServiceAccount/agora-system/agora-executor-simulation",
					"ClusterRoleBinding//agora-executor-simulation", "RoleBinding/agora-system/agora-executor-simulation"} {
					if !slices.Contains(keys(objs), k) {
						t.Errorf("no %s", k)
					}
				}
				// The policy restricts the executor's own ServiceAccount and lets the simulation
				// identity through.
				p := typed[admissionv1.ValidatingAdmissionPolicy](t, find(objs, "ValidatingAdmissionPolicy", "agora-executor-node-restriction"))
				if got, want := p.Spec.MatchConditions[0].Expression, "request.userInfo.username in ['system:serviceaccount:agora-system:exe']"; got != want {
					t.Errorf("match condition %q, want %q", got, want)
				}
			},
		},
		"simulation identity named as the executor's": {
			args:    []string{"--set", "executor.simulation.enabled=true", "--set", "executor.simulation.serviceAccountName=agora-executor"},
			wantErr: "executor.simulation.serviceAccountName must differ from executor.serviceAccount.name",
		},
		"simulation identity without the chart's RBAC": {
			args: []string{"--set", "executor.simulation.enabled=true", "--set", "rbac.create=false"},
			check: func(t *testing.T, objs objects) {
				if find(objs, "ServiceAccount", "agora-executor-simulation") == nil {
					t.Error("no simulation ServiceAccount")
				}
				if b := ofKind(objs, "ClusterRoleBinding", "RoleBinding"); len(b) != 0 {
					t.Errorf("bindings to roles the chart does not create: %v", keys(b))
				}
			},
		},
		"CRDs deleted on uninstall": {
			args: []string{"--set", "crds.keep=false", "--set", "policies.taskPodRights.enabled=false", "--set", "policies.executorNodeRestriction.enabled=false"},
			check: func(t *testing.T, objs objects) {
				crds := ofKind(objs, "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
				if len(crds) != 8 {
					t.Fatalf("want 4 CRDs and the two Task policies with their bindings, got %v", keys(crds))
				}
				for _, o := range crds {
					if _, ok := o.GetAnnotations()["helm.sh/resource-policy"]; ok {
						t.Errorf("%s keeps a resource policy", key(o))
					}
				}
			},
		},
		"ServiceMonitor": {
			args: []string{"--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prometheus", "--set", "serviceMonitor.interval=15s"},
			check: func(t *testing.T, objs objects) {
				sm := find(objs, "ServiceMonitor", "agora-controller")
				if sm == nil {
					t.Fatal("no ServiceMonitor")
				}
				svc := typed[corev1.Service](t, find(objs, "Service", "agora-controller-metrics"))
				sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
				for k, v := range sel {
					if svc.Labels[k] != v {
						t.Errorf("ServiceMonitor selects %s=%s; the metrics Service has %v", k, v, svc.Labels)
					}
				}
				eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name || eps[0].(map[string]any)["interval"] != "15s" {
					t.Errorf("endpoints %v", eps)
				}
				if sm.GetLabels()["release"] != "prometheus" {
					t.Errorf("labels %v", sm.GetLabels())
				}
			},
		},
		"no RBAC for the components": {
			args: []string{"--set", "rbac.create=false"},
			check: func(t *testing.T, objs objects) {
				got := keys(ofKind(objs, "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"))
				if want := []string{"ClusterRole//agora-framework"}; !cmp.Equal(got, want) {
					t.Errorf("RBAC objects %v, want only %v", got, want)
				}
			},
		},
		"no framework role": {
			args: []string{"--set", "frameworkRole.create=false"},
			check: func(t *testing.T, objs objects) {
				if find(objs, "ClusterRole", "agora-framework") != nil {
					t.Error("agora-framework rendered")
				}
			},
		},
		"framework role not aggregated to admin": {
			args: []string{"--set", "frameworkRole.aggregateToAdmin=false"},
			check: func(t *testing.T, objs objects) {
				if l := find(objs, "ClusterRole", "agora-framework").GetLabels(); l["rbac.authorization.k8s.io/aggregate-to-admin"] != "" {
					t.Errorf("labels %v", l)
				}
			},
		},
		"existing ServiceAccounts": {
			args: []string{"--set", "controller.serviceAccount.create=false", "--set", "controller.serviceAccount.name=ctl",
				"--set", "executor.serviceAccount.create=false", "--set", "executor.serviceAccount.name=exe"},
			check: func(t *testing.T, objs objects) {
				if sas := ofKind(objs, "ServiceAccount"); len(sas) != 0 {
					t.Errorf("ServiceAccounts rendered: %v", keys(sas))
				}
				if sa := typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller")).Spec.Template.Spec.ServiceAccountName; sa != "ctl" {
					t.Errorf("controller SA %q", sa)
				}
				if sa := typed[appsv1.DaemonSet](t, find(objs, "DaemonSet", "agora-executor")).Spec.Template.Spec.ServiceAccountName; sa != "exe" {
					t.Errorf("executor SA %q", sa)
				}
				for _, b := range ofKind(objs, "ClusterRoleBinding", "RoleBinding") {
					want := map[string]string{"agora-controller": "ctl", "agora-executor": "exe"}[b.GetName()]
					subj, _, _ := unstructured.NestedSlice(b.Object, "subjects")
					if len(subj) != 1 || subj[0].(map[string]any)["name"] != want {
						t.Errorf("%s binds %v, want ServiceAccount %s", key(b), subj, want)
					}
				}
			},
		},
		"image by digest": {
			args: []string{"--set", "image.repository=registry.example.com/agora", "--set", "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
			check: func(t *testing.T, objs objects) {
				want := "registry.example.com/agora@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
				if img := typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller")).Spec.Template.Spec.Containers[0].Image; img != want {
					t.Errorf("controller image %s", img)
				}
				if img := typed[appsv1.DaemonSet](t, find(objs, "DaemonSet", "agora-executor")).Spec.Template.Spec.Containers[0].Image; img != want {
					t.Errorf("executor image %s", img)
				}
			},
		},
		"executor placement": {
			args: []string{"--set", "executor.nodeSelector.agora\\.dev/pool=batch", "--set", "executor.priorityClassName=",
				"--set", "executor.tolerations[0].key=gpu", "--set", "executor.tolerations[0].operator=Exists", "--set", "executor.tolerations[0].effect=NoSchedule"},
			check: func(t *testing.T, objs objects) {
				pod := typed[appsv1.DaemonSet](t, find(objs, "DaemonSet", "agora-executor")).Spec.Template.Spec
				if pod.NodeSelector["agora.dev/pool"] != "batch" || pod.NodeSelector["kubernetes.io/os"] != "linux" {
					t.Errorf("nodeSelector %v", pod.NodeSelector)
				}
				if pod.PriorityClassName != "" {
					t.Errorf("priority class %q", pod.PriorityClassName)
				}
				if want := []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}; !cmp.Equal(pod.Tolerations, want) {
					t.Errorf("tolerations %+v", pod.Tolerations)
				}
			},
		},
		"controller flags": {
			args: []string{"--set", "controller.poolNodeSelector=agora.dev/pool=batch", "--set", "controller.offerTimeout=2m",
				"--set", "controller.extraArgs[0]=--zap-devel"},
			check: func(t *testing.T, objs objects) {
				args := typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller")).Spec.Template.Spec.Containers[0].Args
				for _, a := range []string{"--node-selector=agora.dev/pool=batch", "--offer-timeout=2m"} {
					if !slices.Contains(args, a) {
						t.Errorf("args %q lack %s", args, a)
					}
				}
				if args[len(args)-1] != "--zap-devel" {
					t.Errorf("extra args must come last (they win): %q", args)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := helmTemplate(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, objs)
		})
	}
}

// TestTemplateNonDefaultValues renders the values file that helm lint also checks.
func TestTemplateNonDefaultValues(t *testing.T) {
	objs := mustTemplate(t, "--values", filepath.Join("test/helm", nonDefaultValues))
	d := typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller"))
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.PriorityClassName != "agora-high" || len(d.Spec.Template.Spec.ImagePullSecrets) != 1 {
		t.Errorf("controller replicas %d priority %q pull secrets %v", *d.Spec.Replicas, d.Spec.Template.Spec.PriorityClassName, d.Spec.Template.Spec.ImagePullSecrets)
	}
	if find(objs, "ServiceMonitor", "agora-controller") == nil {
		t.Error("no ServiceMonitor")
	}
	for _, o := range objs {
		if o.GetLabels()["team"] != "scheduling" {
			t.Errorf("%s lacks commonLabels: %v", key(o), o.GetLabels())
		}
	}
}

// rulesByRole maps Kind/namespace/name of every ClusterRole and Role to its rules.
func rulesByRole(t *testing.T, objs objects) map[string][]rbacv1.PolicyRule {
	t.Helper()
	out := map[string][]rbacv1.PolicyRule{}
	for _, o := range ofKind(objs, "ClusterRole", "Role") {
		out[key(o)] = typed[rbacv1.ClusterRole](t, o).Rules
	}
	return out
}

// TestRBACSameEverywhere: the chart, the kustomize bases and config/rbac (the generated roles and
// agora-framework) grant exactly the same rules, and each component's roles are bound to the
// ServiceAccount its pods run as.
func TestRBACSameEverywhere(t *testing.T) {
	var cfg objects
	for _, objs := range configRoles(t) {
		cfg = append(cfg, objs...)
	}
	want := rulesByRole(t, cfg)
	chart := mustTemplate(t)
	if diff := cmp.Diff(want, rulesByRole(t, chart)); diff != "" {
		t.Errorf("chart roles differ from config/rbac (-config +chart); run make helm:\n%s", diff)
	}
	kust := kustomize(t, "config/default")
	if diff := cmp.Diff(want, rulesByRole(t, kust)); diff != "" {
		t.Errorf("config/default roles differ from config/rbac (-config +kustomize):\n%s", diff)
	}

	for _, objs := range map[string]objects{"chart": chart, "kustomize": kust} {
		runsAs := map[string]string{ // role file -> ServiceAccount of the pods
			"role.yaml":          typed[appsv1.Deployment](t, find(objs, "Deployment", "agora-controller")).Spec.Template.Spec.ServiceAccountName,
			"executor_role.yaml": typed[appsv1.DaemonSet](t, find(objs, "DaemonSet", "agora-executor")).Spec.Template.Spec.ServiceAccountName,
		}
		for file, sa := range runsAs {
			for _, r := range configRoles(t)[file] {
				b := find(objs, r.GetKind()+"Binding", r.GetName())
				if b == nil {
					t.Errorf("%s of %s is not bound", key(r), file)
					continue
				}
				rb := typed[rbacv1.RoleBinding](t, b)
				wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}}
				if rb.RoleRef.Kind != r.GetKind() || rb.RoleRef.Name != r.GetName() || !cmp.Equal(rb.Subjects, wantSubj) || rb.Namespace != r.GetNamespace() {
					t.Errorf("%s: roleRef %+v subjects %+v, want %s bound to %+v", key(b), rb.RoleRef, rb.Subjects, key(r), wantSubj)
				}
			}
		}
	}
}

// TestCRDsSameEverywhere: the chart's and config/default's CRDs are config/crd/bases.
func TestCRDsSameEverywhere(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	want := map[string]apiextensionsv1.CustomResourceDefinitionSpec{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(string(b))
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: %v objects, %v", f, len(objs), err)
		}
		want[objs[0].GetName()] = typed[apiextensionsv1.CustomResourceDefinition](t, objs[0]).Spec
	}
	for name, objs := range map[string]objects{"chart": mustTemplate(t), "config/default": kustomize(t, "config/default")} {
		got := map[string]apiextensionsv1.CustomResourceDefinitionSpec{}
		for _, o := range ofKind(objs, "CustomResourceDefinition") {
			got[o.GetName()] = typed[apiextensionsv1.CustomResourceDefinition](t, o).Spec
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s CRDs differ from config/crd/bases (-want +got):\n%s", name, diff)
		}
	}
}

func kustomize(t *testing.T, dir string) objects {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := run(ctx, nil, nil, tool(t, "kubectl"), "kustomize", dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	// kubectl's kustomize does not know the admission-policy kinds are cluster-scoped and gives
	// them config/default's namespace; kubectl apply sends them without it (its REST mapping
	// says cluster-scoped), which TestInstallOnLocalCluster's server-side dry run of
	// config/default shows.
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") || o.GetKind() == "FlowSchema" {
			o.SetNamespace("")
		}
	}
	return objs
}

// TestKustomize: config/default holds what the chart installs by default (plus the Namespace),
// with the image set; the samples and the ServiceMonitor render.
func TestKustomize(t *testing.T) {
	def := kustomize(t, "config/default")
	want := append(defaultObjects(t), "Namespace//agora-system")
	slices.Sort(want)
	if diff := cmp.Diff(want, keys(def)); diff != "" {
		t.Errorf("config/default objects (-want +got):\n%s", diff)
	}
	chart := mustTemplate(t)
	// Cluster-scoped objects that are not generated: the same spec both ways.
	for _, kn := range [][2]string{{"FlowSchema", "agora-controller-leader-election"},
		{"ValidatingAdmissionPolicy", "agora-task-pod-rights"}, {"ValidatingAdmissionPolicyBinding", "agora-task-pod-rights"},
		{"ValidatingAdmissionPolicy", "agora-executor-node-restriction"}, {"ValidatingAdmissionPolicyBinding", "agora-executor-node-restriction"},
		{"ValidatingAdmissionPolicy", "agora-executor-lease-restriction"}, {"ValidatingAdmissionPolicyBinding", "agora-executor-lease-restriction"}} {
		k, c := find(def, kn[0], kn[1]), find(chart, kn[0], kn[1])
		if k == nil || c == nil {
			continue // reported above
		}
		if diff := cmp.Diff(c.Object["spec"], k.Object["spec"]); diff != "" {
			t.Errorf("%s %s: config/default's spec differs from the chart's (-chart +kustomize):\n%s", kn[0], kn[1], diff)
		}
	}
	for _, kind := range []string{"Deployment", "DaemonSet"} {
		var k, c corev1.PodSpec
		if kind == "Deployment" {
			k = typed[appsv1.Deployment](t, find(def, kind, "agora-controller")).Spec.Template.Spec
			c = typed[appsv1.Deployment](t, find(chart, kind, "agora-controller")).Spec.Template.Spec
		} else {
			k = typed[appsv1.DaemonSet](t, find(def, kind, "agora-executor")).Spec.Template.Spec
			c = typed[appsv1.DaemonSet](t, find(chart, kind, "agora-executor")).Spec.Template.Spec
		}
		kc, cc := k.Containers[0], c.Containers[0]
		if kc.Image != cc.Image || !slices.Equal(kc.Command, cc.Command) || !cmp.Equal(kc.Env, cc.Env) || k.ServiceAccountName != c.ServiceAccountName {
			t.Errorf("%s: kustomize image %s command %v env %v sa %s; chart %s %v %v %s", kind,
				kc.Image, kc.Command, kc.Env, k.ServiceAccountName, cc.Image, cc.Command, cc.Env, c.ServiceAccountName)
		}
		for _, a := range kc.Args { // the chart passes more flags (its values); the base's are a subset
			if !slices.Contains(cc.Args, a) {
				t.Errorf("%s: kustomize passes %s, the chart does not (%q)", kind, a, cc.Args)
			}
		}
	}
	for _, o := range def {
		if o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetKind(), "Cluster") &&
			!strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") && o.GetKind() != "FlowSchema" && o.GetNamespace() != namespace {
			t.Errorf("%s is not in %s", key(o), namespace)
		}
	}

	samples := kustomize(t, "config/samples")
	if got, want := keys(samples), []string{"Framework/demo/demo", "RoleBinding/demo/demo-framework-agora", "ServiceAccount/demo/demo-framework"}; !cmp.Equal(got, want) {
		t.Errorf("config/samples: %v, want %v", got, want)
	}
	if rb := typed[rbacv1.RoleBinding](t, find(samples, "RoleBinding", "demo-framework-agora")); rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != "agora-framework" {
		t.Errorf("sample binding %+v", rb.RoleRef)
	}
	if got := keys(kustomize(t, "config/prometheus")); !cmp.Equal(got, []string{"ServiceMonitor/agora-system/agora-controller"}) {
		t.Errorf("config/prometheus: %v", got)
	}
}
