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

package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorafake "github.com/agora-sched/agora/pkg/client/clientset/versioned/fake"
)

func rl(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

func roleQuota(role string, guarantee, limit corev1.ResourceList, st agorav1alpha1.RoleQuotaStatus) *agorav1alpha1.RoleQuota {
	return &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: strings.ReplaceAll(role, "/", ".")},
		Spec: agorav1alpha1.RoleQuotaSpec{Role: role, Guarantee: guarantee, Limit: limit}, Status: st}
}

func roleFramework(ns, name, role string) *agorav1alpha1.Framework {
	return &agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: agorav1alpha1.FrameworkSpec{Role: role}}
}

func TestQuotaRows(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason + " message", LastTransitionTime: metav1.NewTime(since)}
	}
	two := resource.MustParse("2")
	eng := roleQuota("eng", rl("16", "64Gi"), nil, agorav1alpha1.RoleQuotaStatus{
		Allocated: rl("12", "40Gi"), Offered: rl("4", "8Gi"), Preemptions: 2,
		Conditions: []metav1.Condition{
			cond(agorav1alpha1.RoleQuotaConditionSatisfied, metav1.ConditionTrue, agorav1alpha1.ReasonGuaranteeMet),
			cond(agorav1alpha1.RoleQuotaConditionFits, metav1.ConditionFalse, agorav1alpha1.ReasonGuaranteesExceedParent),
		}})
	eng.Spec.Weight = &two
	for _, tc := range []struct {
		name   string
		quotas []*agorav1alpha1.RoleQuota
		fws    []*agorav1alpha1.Framework
		want   []QuotaRow
	}{{
		name: "none",
		want: []QuotaRow{},
	}, {
		name: "role-tree order, subtree framework counts, unset guarantee and limit stay nil",
		quotas: []*agorav1alpha1.RoleQuota{
			roleQuota("eng-ops", nil, rl("8", "16Gi"), agorav1alpha1.RoleQuotaStatus{Revocable: rl("2", "4Gi")}),
			roleQuota("eng/ml", rl("4", "8Gi"), nil, agorav1alpha1.RoleQuotaStatus{}),
			eng,
		},
		fws: []*agorav1alpha1.Framework{roleFramework("a", "x", "eng"), roleFramework("a", "y", "eng/ml/train"), roleFramework("b", "z", "eng-ops"), roleFramework("b", "w", "")},
		want: []QuotaRow{{
			Name: "eng", Role: "eng", Weight: "2", Guarantee: &Res{CPU: 16000, Memory: 64 << 30},
			Allocated: Res{CPU: 12000, Memory: 40 << 30}, Offered: Res{CPU: 4000, Memory: 8 << 30}, Preemptions: 2, Frameworks: 2,
			Satisfied: &Cond{Type: "Satisfied", Status: "True", Reason: "GuaranteeMet", Message: "GuaranteeMet message", Since: since},
			Fits:      &Cond{Type: "Fits", Status: "False", Reason: "GuaranteesExceedParent", Message: "GuaranteesExceedParent message", Since: since},
		}, {
			Name: "eng.ml", Role: "eng/ml", Depth: 1, Weight: "1", Guarantee: &Res{CPU: 4000, Memory: 8 << 30}, Frameworks: 1,
		}, {
			Name: "eng-ops", Role: "eng-ops", Weight: "1", Limit: &Res{CPU: 8000, Memory: 16 << 30}, Revocable: Res{CPU: 2000, Memory: 4 << 30}, Frameworks: 1,
		}},
	}, {
		name:   "a framework without a role is in role default",
		quotas: []*agorav1alpha1.RoleQuota{roleQuota("default", nil, nil, agorav1alpha1.RoleQuotaStatus{})},
		fws:    []*agorav1alpha1.Framework{roleFramework("a", "x", ""), roleFramework("a", "y", "default"), roleFramework("a", "z", "defaults")},
		want:   []QuotaRow{{Name: "default", Role: "default", Weight: "1", Frameworks: 2}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			snap := build(&State{RoleQuotas: tc.quotas, Frameworks: tc.fws}, time.Now())
			if d := cmp.Diff(tc.want, snap.Quotas); d != "" {
				t.Errorf("quota rows (-want +got):\n%s", d)
			}
		})
	}
}

func TestPreemptionHistory(t *testing.T) {
	samples := []Sample{
		{T: 1},
		{T: 2, Preemptions: map[string]int64{"eng/ml": 0}},
		{T: 3, Preemptions: map[string]int64{"eng/ml": 3, "eng": 1}},
	}
	f := func(v float64) *float64 { return &v }
	want := []Line{{Key: "eng", Values: []*float64{nil, nil, f(1)}}, {Key: "eng/ml", Values: []*float64{nil, f(0), f(3)}}}
	if d := cmp.Diff(want, columns(samples, 0).Preemptions); d != "" {
		t.Errorf("preemption lines (-want +got):\n%s", d)
	}
	if got := columns(nil, 0).Preemptions; got == nil || len(got) != 0 {
		t.Errorf("no samples: %#v, want an empty list (JSON [])", got)
	}
}

// The informer source with RoleQuotas allowed, forbidden, and not served: the rest of the
// dashboard works either way, and the snapshot says which.
func TestWatchSourceQuotas(t *testing.T) {
	quota := roleQuota("eng", rl("4", "8Gi"), nil, agorav1alpha1.RoleQuotaStatus{Allocated: rl("1", "1Gi"), Preemptions: 5})
	for _, tc := range []struct {
		name      string
		listErr   error
		wantRoles []string
		forbidden bool
		absent    bool
	}{
		{name: "allowed", wantRoles: []string{"eng"}},
		{name: "forbidden", listErr: apierrors.NewForbidden(schema.GroupResource{Group: agorav1alpha1.GroupVersion.Group, Resource: "rolequotas"}, "", errors.New("RBAC: not allowed")), forbidden: true},
		{name: "not served", listErr: apierrors.NewNotFound(schema.GroupResource{Group: agorav1alpha1.GroupVersion.Group, Resource: "rolequotas"}, ""), absent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agora := agorafake.NewSimpleClientset(quota, roleFramework("team", "etl", "eng"))
			if tc.listErr != nil {
				agora.PrependReactor("list", "rolequotas", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.listErr })
			}
			s := NewForClients(kubefake.NewSimpleClientset(), agora, Options{Namespace: "team"})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = s.Run(ctx); close(done) }()
			ts := httptest.NewServer(s.Handler())
			t.Cleanup(func() { ts.Close(); cancel(); <-done })

			resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(ts.URL + "/api/snapshot")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			var snap Snapshot
			if err := json.Unmarshal(b, &snap); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			var roles []string
			for _, q := range snap.Quotas {
				roles = append(roles, q.Role)
			}
			if d := cmp.Diff(tc.wantRoles, roles, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("quota roles (-want +got):\n%s", d)
			}
			if len(snap.Frameworks) != 1 {
				t.Errorf("frameworks: %d, want 1 whatever RoleQuotas allow", len(snap.Frameworks))
			}
			if _, ok := snap.Forbidden["rolequotas"]; ok != tc.forbidden {
				t.Errorf("forbidden: %v, want rolequotas in it: %v", snap.Forbidden, tc.forbidden)
			}
			if _, ok := snap.Absent["rolequotas"]; ok != tc.absent {
				t.Errorf("absent: %v, want rolequotas in it: %v", snap.Absent, tc.absent)
			}
		})
	}
}
