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

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
)

// quotas prints top's QUOTAS section: every RoleQuota (they are cluster-scoped, so -n does not
// narrow them) in role-tree order, then a warning for each whose guarantees cannot all be met.
// Nothing when there are none, or when the API server has no RoleQuota kind (an Agora from
// before quotas); a line saying so when the user may not list them (a framework's own
// ServiceAccount may not).
func quotas(ctx context.Context, agora versioned.Interface, out io.Writer) error {
	list, err := agora.SchedulingV1alpha1().RoleQuotas().List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		fmt.Fprintln(out, "\n(Your credentials may not list RoleQuotas: role quotas are left out.)")
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	items := list.Items
	if len(items) == 0 {
		return nil
	}
	sort.Slice(items, func(i, j int) bool { return roleTreeLess(items[i].Spec.Role, items[j].Spec.Role) })
	fmt.Fprintln(out, "\nQUOTAS (cluster-wide; held = allocated + offered, revocable apart)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tGUARANTEE\tHELD\tLIMIT\tREVOCABLE\tSATISFIED\tPREEMPTIONS")
	for i := range items {
		q := &items[i]
		weight := "1"
		if q.Spec.Weight != nil {
			weight = q.Spec.Weight.String()
		}
		held := corev1.ResourceList{}
		addTo(held, q.Status.Allocated)
		addTo(held, q.Status.Offered)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", q.Spec.Role, weight, resources(q.Spec.Guarantee), resources(held),
			resources(q.Spec.Limit), resources(q.Status.Revocable), condWords(q.Status.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied),
			q.Status.Preemptions)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i := range items {
		q := &items[i]
		if c := meta.FindStatusCondition(q.Status.Conditions, agorav1alpha1.RoleQuotaConditionFits); c != nil && c.Status == metav1.ConditionFalse {
			fmt.Fprintf(out, "warning: role %s: its guarantee cannot be met (Fits False %s)\n  %s\n", q.Spec.Role, c.Reason, c.Message)
		}
	}
	return nil
}

// condWords is a condition as "Status Reason", or "-" before the controller wrote it.
func condWords(cs []metav1.Condition, t string) string {
	c := meta.FindStatusCondition(cs, t)
	if c == nil {
		return "-"
	}
	return string(c.Status) + " " + c.Reason
}

// roleTreeLess orders role paths as a tree: a role, then its subtree, then its next sibling
// (eng, eng/ml, eng-ops; plain string order would put eng-ops between eng and eng/ml).
func roleTreeLess(a, b string) bool {
	return strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
}
