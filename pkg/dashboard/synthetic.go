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
	"fmt"
	"math"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Synthetic makes a cluster's worth of objects without a cluster, for the render benchmark
// (hack/bench/dashboard) and tests: nodes of 32 CPU / 128Gi, frameworks each running
// tasksPerFramework tasks of 1 CPU / 2Gi spread over the nodes and holding one offer of a few
// nodes, some Agora events, four RoleQuotas (one met, one idle whose children's guarantees
// exceed its own, one below its guarantee with preemptions, one with a limit only), and a full
// 30-minute history sampled every 2 s.
func Synthetic(nodes, frameworks, tasksPerFramework int, now time.Time) (*State, []Sample) {
	st := &State{LeaseRenewals: map[string]time.Time{}, Forbidden: map[string]string{}}
	q := resource.MustParse
	dur := int32(15)
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("node-%d", i)
		st.Nodes = append(st.Nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.NodeSpec{Unschedulable: i%97 == 13},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("32"), corev1.ResourceMemory: q("128Gi")},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			},
		})
		if i%89 != 7 {
			renew := metav1.NewMicroTime(now)
			if i%131 == 5 {
				renew = metav1.NewMicroTime(now.Add(-time.Minute))
			}
			st.Leases = append(st.Leases, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: agorav1alpha1.ExecutorLeaseName(name), Namespace: agorav1alpha1.SystemNamespace},
				Spec:       coordinationv1.LeaseSpec{RenewTime: &renew, LeaseDurationSeconds: &dur},
			})
		}
	}
	task := corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("2Gi")}
	n := 0
	for f := 0; f < frameworks; f++ {
		ns := fmt.Sprintf("team-%d", f%10)
		name := fmt.Sprintf("fw-%d", f)
		w := resource.MustParse(fmt.Sprint(1 + f%3))
		running := int32(tasksPerFramework)
		share := float64(tasksPerFramework) / float64(32*max(nodes, 1)) / float64(1+f%3)
		fw := &agorav1alpha1.Framework{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
			Spec:       agorav1alpha1.FrameworkSpec{Role: "default", Weight: &w},
			Status: agorav1alpha1.FrameworkStatus{
				DominantShare: fmt.Sprintf("%.4f", share), DominantResource: corev1.ResourceCPU,
				Allocated:         corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(tasksPerFramework), resource.DecimalSI)},
				OutstandingOffers: 1,
				Tasks:             agorav1alpha1.TaskCounts{Active: running, Running: running, Finished: int32(f * 3), Failed: int32(f % 4)},
				Conditions: []metav1.Condition{
					{Type: agorav1alpha1.FrameworkConditionActive, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonLeaseRenewed},
					{Type: agorav1alpha1.FrameworkConditionReady, Status: metav1.ConditionTrue, Reason: agorav1alpha1.ReasonReceivingOffers},
				},
			},
		}
		if f%10 == 9 {
			fw.Status.Conditions[1] = metav1.Condition{Type: agorav1alpha1.FrameworkConditionReady, Status: metav1.ConditionFalse,
				Reason: "NoMatchingNodes", Message: fmt.Sprintf("0 of %d pool nodes match nodeSelector team=nowhere", nodes)}
		}
		st.Frameworks = append(st.Frameworks, fw)
		offer := &agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Name: name + "-offer", Namespace: ns},
			Spec: agorav1alpha1.OfferSpec{Framework: name, ExpireTime: metav1.NewTime(now.Add(time.Minute))}}
		for k := 0; k < 3 && nodes > 0; k++ {
			offer.Spec.Nodes = append(offer.Spec.Nodes, agorav1alpha1.OfferNode{NodeName: fmt.Sprintf("node-%d", (f*7+k)%nodes),
				Resources: corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("8Gi")}})
		}
		st.Offers = append(st.Offers, offer)
		for t := 0; t < tasksPerFramework && nodes > 0; t++ {
			st.Tasks = append(st.Tasks, &agorav1alpha1.Task{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, t), Namespace: ns,
					Labels: map[string]string{agorav1alpha1.LabelFramework: name}, CreationTimestamp: metav1.NewTime(now.Add(-time.Duration(t) * time.Second))},
				Spec:   agorav1alpha1.TaskSpec{NodeName: fmt.Sprintf("node-%d", n%nodes), OfferName: name + "-offer", Resources: task},
				Status: agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskRunning, Framework: name},
			})
			n++
		}
		for e := 0; e < 3; e++ {
			st.Events = append(st.Events, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", name, e), Namespace: ns},
				InvolvedObject: corev1.ObjectReference{Kind: "Offer", Namespace: ns, Name: name + "-offer", APIVersion: agorav1alpha1.SchemeGroupVersion.String()},
				Reason:         []string{agorav1alpha1.ReasonExpired, agorav1alpha1.ReasonReleased, agorav1alpha1.ReasonNodeChanged}[e],
				Message:        "synthetic event", Type: corev1.EventTypeNormal, LastTimestamp: metav1.NewTime(now.Add(-time.Duration(e+f) * time.Second)),
			})
		}
	}
	st.RoleQuotas = syntheticQuotas(frameworks*tasksPerFramework, now)
	snap := build(st, now)
	var hist []Sample
	const points = 900
	for i := 0; i < points; i++ {
		s := sampleOf(snap)
		s.T = float64(now.Add(-time.Duration(points-1-i)*2*time.Second).UnixMilli()) / 1000
		wave := 0.8 + 0.2*math.Sin(float64(i)/40)
		s.Allocated.CPU = int64(float64(s.Allocated.CPU) * wave)
		for k, v := range s.Shares {
			s.Shares[k] = v * wave
		}
		for k, v := range s.Preemptions {
			s.Preemptions[k] = v * int64(i) / (points - 1) // grown to today's count
		}
		hist = append(hist, s)
	}
	return st, hist
}

// syntheticQuotas are Synthetic's RoleQuotas; default's tasks hold tasks CPUs of 1 CPU, 2Gi.
func syntheticQuotas(tasks int, now time.Time) []*agorav1alpha1.RoleQuota {
	q := resource.MustParse
	rl := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: q(cpu), corev1.ResourceMemory: q(mem)}
	}
	cond := func(t string, ok bool, reason, msg string) metav1.Condition {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		return metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Minute))}
	}
	fits := cond(agorav1alpha1.RoleQuotaConditionFits, true, agorav1alpha1.ReasonFits, "the guarantees fit")
	quota := func(role string, weight string, guarantee, limit corev1.ResourceList, st agorav1alpha1.RoleQuotaStatus) *agorav1alpha1.RoleQuota {
		w := q(weight)
		return &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: strings.ReplaceAll(role, "/", ".")},
			Spec: agorav1alpha1.RoleQuotaSpec{Role: role, Weight: &w, Guarantee: guarantee, Limit: limit}, Status: st}
	}
	half := fmt.Sprint(max(tasks/2, 1))
	return []*agorav1alpha1.RoleQuota{
		quota("default", "2", rl(half, half+"Gi"), nil, agorav1alpha1.RoleQuotaStatus{
			Allocated: rl(fmt.Sprint(tasks), fmt.Sprint(2*tasks)+"Gi"),
			Conditions: []metav1.Condition{fits, cond(agorav1alpha1.RoleQuotaConditionSatisfied, true, agorav1alpha1.ReasonGuaranteeMet,
				fmt.Sprintf("role default holds cpu=%d (tasks and offers) of its guaranteed cpu=%s", tasks, half))}}),
		quota("batch", "1", rl("64", "256Gi"), nil, agorav1alpha1.RoleQuotaStatus{
			Allocated: rl("40", "80Gi"), Offered: rl("8", "16Gi"),
			Conditions: []metav1.Condition{
				cond(agorav1alpha1.RoleQuotaConditionFits, false, agorav1alpha1.ReasonGuaranteesExceedParent,
					"the guarantees of its child roles (batch/nightly) add up to cpu=96, more than its own cpu=64: a child's guarantee counts inside its parent's, so the parent holds back at least the children's sum"),
				cond(agorav1alpha1.RoleQuotaConditionSatisfied, false, agorav1alpha1.ReasonBelowGuarantee,
					"role batch holds cpu=48,memory=96Gi of its guaranteed cpu=64,memory=256Gi and its frameworks want offers: it is offered free resources first"),
			}}),
		quota("batch/nightly", "1", rl("96", "128Gi"), rl("128", "512Gi"), agorav1alpha1.RoleQuotaStatus{
			Allocated: rl("40", "80Gi"), Offered: rl("8", "16Gi"), Preemptions: 7,
			Conditions: []metav1.Condition{fits, cond(agorav1alpha1.RoleQuotaConditionSatisfied, false, agorav1alpha1.ReasonBelowGuarantee,
				"role batch/nightly holds cpu=48,memory=96Gi of its guaranteed cpu=96,memory=128Gi and its frameworks want offers: it is offered free resources first")}}),
		quota("ml", "1", nil, rl("32", "128Gi"), agorav1alpha1.RoleQuotaStatus{
			Revocable: rl("8", "16Gi"),
			Conditions: []metav1.Condition{fits, cond(agorav1alpha1.RoleQuotaConditionSatisfied, true, agorav1alpha1.ReasonNoGuarantee,
				"no guarantee: the quota sets a limit or a weight only")}}),
	}
}
