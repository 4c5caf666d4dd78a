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
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// QuotaRow is one RoleQuota on the quotas page. RoleQuotas are cluster-scoped: their amounts
// count the role's frameworks in every namespace, whatever the dashboard's scope.
type QuotaRow struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Depth int    `json:"depth"` // how many roles above it: eng/ml is 1
	// Weight is spec.weight ("1" when unset).
	Weight string `json:"weight"`
	// Guarantee and Limit are nil when the quota sets none.
	Guarantee *Res `json:"guarantee,omitempty"`
	Limit     *Res `json:"limit,omitempty"`
	Allocated Res  `json:"allocated"`
	Offered   Res  `json:"offered"`
	Revocable Res  `json:"revocable"`
	// Satisfied and Fits are the conditions, nil until the controller writes them.
	Satisfied   *Cond `json:"satisfied,omitempty"`
	Fits        *Cond `json:"fits,omitempty"`
	Preemptions int64 `json:"preemptions"`
	// Frameworks counts the frameworks in the dashboard's scope whose role is in the subtree.
	Frameworks int `json:"frameworks"`
}

// roleTreeLess orders role paths as a tree: a role, then its subtree, then its next sibling
// (eng, eng/ml, eng-ops; plain string order would put eng-ops between eng and eng/ml).
func roleTreeLess(a, b string) bool {
	return strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
}

// inSubtree says whether role lies in the subtree of root (root itself included).
func inSubtree(role, root string) bool {
	return role == root || strings.HasPrefix(role, root+"/")
}

func condOf(cs []metav1.Condition, t string) *Cond {
	c := findCond(cs, t)
	if c == nil {
		return nil
	}
	r := condFrom(c)
	return &r
}

func condFrom(c *metav1.Condition) Cond {
	return Cond{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time}
}

// quotaRows derives the quota rows in role-tree order; fws are the frameworks in scope.
func quotaRows(quotas []*agorav1alpha1.RoleQuota, fws []FrameworkRow) []QuotaRow {
	out := make([]QuotaRow, 0, len(quotas))
	for _, q := range quotas {
		s := q.Status
		r := QuotaRow{Name: q.Name, Role: q.Spec.Role, Depth: strings.Count(q.Spec.Role, "/"), Weight: "1",
			Allocated: resOf(s.Allocated), Offered: resOf(s.Offered), Revocable: resOf(s.Revocable),
			Satisfied:   condOf(s.Conditions, agorav1alpha1.RoleQuotaConditionSatisfied),
			Fits:        condOf(s.Conditions, agorav1alpha1.RoleQuotaConditionFits),
			Preemptions: s.Preemptions}
		if q.Spec.Weight != nil {
			r.Weight = q.Spec.Weight.String()
		}
		if len(q.Spec.Guarantee) > 0 {
			g := resOf(q.Spec.Guarantee)
			r.Guarantee = &g
		}
		if len(q.Spec.Limit) > 0 {
			l := resOf(q.Spec.Limit)
			r.Limit = &l
		}
		for _, f := range fws {
			role := f.Role
			if role == "" {
				role = "default" // the API's default; a status-less fake may lack it
			}
			if inSubtree(role, q.Spec.Role) {
				r.Frameworks++
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return roleTreeLess(out[i].Role, out[j].Role) })
	return out
}
