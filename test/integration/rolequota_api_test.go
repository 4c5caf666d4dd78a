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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// roleQuota builds a RoleQuota for role, named as the API requires; mutate adjusts its spec.
func roleQuota(role string, mutate func(*agorav1alpha1.RoleQuotaSpec)) *agorav1alpha1.RoleQuota {
	rq := &agorav1alpha1.RoleQuota{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ReplaceAll(role, "/", ".")},
		Spec:       agorav1alpha1.RoleQuotaSpec{Role: role},
	}
	if mutate != nil {
		mutate(&rq.Spec)
	}
	return rq
}

// deleteAfter removes a cluster-scoped object when the test ends: the API server outlives it.
func deleteAfter(t *testing.T, obj client.Object) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.IgnoreNotFound(k8sClient.Delete(ctx, obj)); err != nil {
			t.Errorf("delete %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// frameworkUser binds a fresh user to the agora-framework ClusterRole of
// config/rbac/framework_role.yaml in namespace ns, as docs/install.md tells a namespace admin to,
// and returns a client acting as that user. The role is created under a name of this test's own.
func frameworkUser(t *testing.T, ctx context.Context, ns string) client.Client {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "framework_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("config/rbac/framework_role.yaml: %v", err)
	}
	if role.Name != "agora-framework" {
		t.Fatalf("config/rbac/framework_role.yaml holds %s, want the ClusterRole agora-framework", role.Name)
	}
	role.Name = "agora-framework-" + ns
	mustCreate(t, ctx, &role)
	deleteAfter(t, &role)
	user := "framework-" + ns
	mustCreate(t, ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-framework-agora"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
	return impersonating(t, user, []string{"system:authenticated"}, nil)
}

// TestRoleQuotaAPI: the RoleQuota kind and the revocable-resources fields, as the real API server
// validates, defaults, stores and authorizes them.
func TestRoleQuotaAPI(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	fwUser := frameworkUser(t, ctx, ns)
	now := metav1.NewTime(time.Now().Truncate(time.Second))

	revocableOffer := offer(ns, "revocable")
	revocableOffer.Spec.Nodes[0].Revocable = true
	revocableOffer.Spec.Nodes = append(revocableOffer.Spec.Nodes, agorav1alpha1.OfferNode{NodeName: "node-2", Resources: resources("2", "8Gi")})

	revocableFw := framework(ns, "opportunist")
	revocableFw.Spec.Capabilities = []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityGPUResources, agorav1alpha1.CapabilityRevocableResources}

	cases := []struct {
		name string
		// as is who creates obj; nil is the admin (system:masters). Another user's outcome is
		// retried until it holds: RBAC sees a new binding a moment after it is written.
		as  client.Client
		obj client.Object
		// status, when set, is written through the status subresource after the create.
		status func(client.Object)
		// wantErr is part of the refusal; empty means the object is accepted.
		wantErr   string
		forbidden bool
		// check looks at an accepted object: sent as created (and its status as written), got
		// read back.
		check func(t *testing.T, sent, got client.Object)
	}{{
		name: "valid RoleQuota, weight defaulted to 1",
		obj: roleQuota("eng/ml", func(s *agorav1alpha1.RoleQuotaSpec) {
			s.Guarantee = resources("8", "32Gi")
			s.Limit = resources("16", "64Gi")
		}),
		check: func(t *testing.T, sent, got client.Object) {
			want := sent.(*agorav1alpha1.RoleQuota).Spec
			want.Weight = quantity("1")
			if diff := cmp.Diff(want, got.(*agorav1alpha1.RoleQuota).Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			// The name rule makes the role immutable.
			moved := got.DeepCopyObject().(*agorav1alpha1.RoleQuota)
			moved.Spec.Role = "eng/web"
			expectInvalid(t, k8sClient.Update(testContext(t), moved), "metadata.name must be eng.web, the role eng/web")
		},
	}, {
		name: "top-level role with weight, limit only",
		obj: roleQuota("analytics", func(s *agorav1alpha1.RoleQuotaSpec) {
			s.Weight = quantity("2.5")
			s.Limit = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("4")}
		}),
	}, {
		name: "guarantee equal to limit in other units, and of a resource the limit leaves out",
		obj: roleQuota("eng/equal", func(s *agorav1alpha1.RoleQuotaSpec) {
			s.Guarantee = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2000m"), "nvidia.com/gpu": resource.MustParse("1")}
			s.Limit = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}),
	}, {
		name:    "name not the role's",
		obj:     &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: "eng-ml"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "eng/ml"}},
		wantErr: "metadata.name must be eng.ml, the role eng/ml with each / replaced by .: one RoleQuota per role",
	}, {
		name:    "role with _ cannot be a name",
		obj:     roleQuota("eng/ml_x", nil),
		wantErr: "metadata.name",
	}, {
		name: "guarantee above limit",
		obj: roleQuota("eng/over", func(s *agorav1alpha1.RoleQuotaSpec) {
			s.Guarantee = resources("20", "32Gi")
			s.Limit = resources("16", "64Gi")
		}),
		wantErr: "guarantee must not exceed limit",
	}, {
		name: "guarantee above limit by unit (2Gi > 2G)",
		obj: roleQuota("eng/units", func(s *agorav1alpha1.RoleQuotaSpec) {
			s.Guarantee = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}
			s.Limit = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2G")}
		}),
		wantErr: "guarantee must not exceed limit",
	}, {
		name:    "negative guarantee",
		obj:     roleQuota("eng/negative", func(s *agorav1alpha1.RoleQuotaSpec) { s.Guarantee = resources("-1", "1Gi") }),
		wantErr: "guarantee must not be negative",
	}, {
		name:    "negative limit",
		obj:     roleQuota("eng/negative-limit", func(s *agorav1alpha1.RoleQuotaSpec) { s.Limit = resources("1", "-1Gi") }),
		wantErr: "limit must not be negative",
	}, {
		name:    "weight 0",
		obj:     roleQuota("eng/zero", func(s *agorav1alpha1.RoleQuotaSpec) { s.Weight = quantity("0") }),
		wantErr: "weight must be greater than 0",
	}, {
		name:    "role path with an empty segment",
		obj:     &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: "eng.ml"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "eng//ml"}},
		wantErr: "spec.role",
	}, {
		name:    "role path upper case",
		obj:     &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: "eng.ml"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "Eng/ml"}},
		wantErr: "spec.role",
	}, {
		name: "offer with a revocable node slice round-trips",
		obj:  revocableOffer,
		check: func(t *testing.T, sent, got client.Object) {
			if diff := cmp.Diff(sent.(*agorav1alpha1.Offer).Spec, got.(*agorav1alpha1.Offer).Spec); diff != "" {
				t.Errorf("offer spec (-sent +read):\n%s", diff)
			}
		},
	}, {
		name: "task status of a preempted revocable task round-trips",
		obj:  task(ns, "revocable"),
		status: func(o client.Object) {
			o.(*agorav1alpha1.Task).Status = agorav1alpha1.TaskStatus{
				Phase: agorav1alpha1.TaskKilled, Reason: agorav1alpha1.ReasonPreempted, Framework: "opportunist", Revocable: true,
				Message: "preempted to raise role eng/ml to its guarantee",
				Conditions: []metav1.Condition{
					{Type: agorav1alpha1.TaskConditionAdmitted, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonAdmitted, LastTransitionTime: now},
					{Type: agorav1alpha1.TaskConditionPreempted, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonPreempted,
						Message: "role eng/ml is below its guarantee", LastTransitionTime: now},
				},
			}
		},
		check: func(t *testing.T, sent, got client.Object) {
			if diff := cmp.Diff(sent.(*agorav1alpha1.Task).Status, got.(*agorav1alpha1.Task).Status); diff != "" {
				t.Errorf("task status (-sent +read):\n%s", diff)
			}
		},
	}, {
		// First of the framework user's cases: it also waits until RBAC knows the binding, so
		// that the refusals below are the role's doing.
		name: "framework with RevocableResources, created by a framework's user",
		as:   fwUser,
		obj:  revocableFw,
		check: func(t *testing.T, sent, got client.Object) {
			if diff := cmp.Diff(sent.(*agorav1alpha1.Framework).Spec.Capabilities, got.(*agorav1alpha1.Framework).Spec.Capabilities); diff != "" {
				t.Errorf("capabilities (-sent +read):\n%s", diff)
			}
		},
	}, {
		name:      "a framework's user cannot create a RoleQuota",
		as:        fwUser,
		obj:       roleQuota("eng/mine", func(s *agorav1alpha1.RoleQuotaSpec) { s.Guarantee = resources("1000", "1Ti") }),
		forbidden: true,
		wantErr:   `cannot create resource "rolequotas" in API group "scheduling.agora.dev" at the cluster scope`,
	}}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.as
			if c == nil {
				c = k8sClient
			}
			sent := tc.obj.DeepCopyObject().(client.Object)
			var err error
			if tc.as == nil {
				err = c.Create(ctx, tc.obj)
			} else {
				err = eventuallyErr(t, func(int) error {
					return c.Create(ctx, sent.DeepCopyObject().(client.Object))
				}, func(err error) bool { return (err == nil) == (tc.wantErr == "") })
				if err == nil {
					err = k8sClient.Get(ctx, client.ObjectKeyFromObject(sent), tc.obj)
				}
			}
			if err == nil && tc.obj.GetNamespace() == "" {
				deleteAfter(t, tc.obj)
			}
			if tc.wantErr != "" {
				switch {
				case err == nil:
					t.Fatalf("created %T %s; want a refusal mentioning %q", tc.obj, tc.obj.GetName(), tc.wantErr)
				case tc.forbidden && !apierrors.IsForbidden(err), !tc.forbidden && !apierrors.IsInvalid(err):
					t.Fatalf("want an error of kind forbidden=%v, got %v", tc.forbidden, err)
				case !strings.Contains(err.Error(), tc.wantErr):
					t.Errorf("error %q does not mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("create %T %s: %v", tc.obj, tc.obj.GetName(), err)
			}
			if tc.status != nil {
				tc.status(tc.obj)
				sent = tc.obj.DeepCopyObject().(client.Object)
				if err := k8sClient.Status().Update(ctx, tc.obj); err != nil {
					t.Fatalf("write status: %v", err)
				}
			}
			got := sent.DeepCopyObject().(client.Object)
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sent), got); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, sent, got)
			}
		})
	}

	// RoleQuotas are the cluster admin's: the framework role may not even read them.
	for what, call := range map[string]func() error{
		"get":  func() error { return fwUser.Get(ctx, client.ObjectKey{Name: "eng.ml"}, &agorav1alpha1.RoleQuota{}) },
		"list": func() error { return fwUser.List(ctx, &agorav1alpha1.RoleQuotaList{}) },
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("a framework's user could %s RoleQuotas: want Forbidden, got %v", what, err)
		}
	}
}

// TestRoleQuotaPrinterColumns: kubectl get rq shows a quota's guarantee, limit, what its subtree
// holds and whether it is satisfied; -o wide adds memory.
func TestRoleQuotaPrinterColumns(t *testing.T) {
	ctx := testContext(t)
	rq := roleQuota("research/vision", func(s *agorav1alpha1.RoleQuotaSpec) {
		s.Weight = quantity("3")
		s.Guarantee = resources("32", "128Gi")
		s.Limit = resources("64", "256Gi")
	})
	mustCreate(t, ctx, rq)
	deleteAfter(t, rq)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	rq.Status = agorav1alpha1.RoleQuotaStatus{
		ObservedGeneration: rq.Generation,
		Allocated:          resources("24", "96Gi"),
		Offered:            resources("4", "16Gi"),
		Revocable:          resources("6", "20Gi"),
		Preemptions:        7,
		Conditions: []metav1.Condition{
			{Type: agorav1alpha1.RoleQuotaConditionSatisfied, Status: metav1.ConditionFalse, Reason: agorav1alpha1.ReasonBelowGuarantee,
				Message: "holds 28 of 32 cpu guaranteed", LastTransitionTime: now},
			{Type: agorav1alpha1.RoleQuotaConditionFits, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonFits, LastTransitionTime: now},
		},
	}
	sent := rq.Status.DeepCopy()
	if err := k8sClient.Status().Update(ctx, rq); err != nil {
		t.Fatalf("write status: %v", err)
	}
	got := &agorav1alpha1.RoleQuota{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rq), got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*sent, got.Status); diff != "" {
		t.Errorf("status (-sent +read):\n%s", diff)
	}

	out := kubectl(t, "get", "rq", rq.Name)
	t.Logf("kubectl get rq:\n%s", out)
	for _, want := range []string{
		"ROLE", "WEIGHT", "CPU-GUARANTEE", "CPU-LIMIT", "CPU-ALLOCATED", "CPU-REVOCABLE", "SATISFIED", "PREEMPTIONS", "AGE",
		"research.vision", "research/vision", "32", "64", "24", "6", "False", "7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get rq lacks %q", want)
		}
	}
	if strings.Contains(out, "MEMORY") {
		t.Errorf("kubectl get rq shows memory columns; they belong to -o wide")
	}
	wide := kubectl(t, "get", "rolequota", rq.Name, "-o", "wide")
	t.Logf("kubectl get rolequota -o wide:\n%s", wide)
	for _, want := range []string{"MEMORY-GUARANTEE", "MEMORY-LIMIT", "MEMORY-ALLOCATED", "MEMORY-REVOCABLE", "FITS", "128Gi", "256Gi", "96Gi", "20Gi"} {
		if !strings.Contains(wide, want) {
			t.Errorf("kubectl get rolequota -o wide lacks %q", want)
		}
	}
	if out := kubectl(t, "get", "agora"); !strings.Contains(out, "rolequota.scheduling.agora.dev/research.vision") {
		t.Errorf("category agora does not list the RoleQuota:\n%s", out)
	}
	if out := kubectl(t, "explain", "rq.spec.guarantee"); !strings.Contains(out, "weighted DRF") {
		t.Errorf("kubectl explain rq.spec.guarantee:\n%s", out)
	}
}
