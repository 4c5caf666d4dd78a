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

package invariants

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// terminatingGrace is how long a pod with a deletionTimestamp, whose Task is terminal, may make a
// node look overcommitted before it counts as a violation: kwok removes a deleted pod within
// about a second (hack/kwok/pod-delete.yaml honours no grace period).
const terminatingGrace = 5 * time.Second

// checkSnapshot holds invariants 1 and 2 on one consistent view. Per node it sums:
//   - every non-terminal pod (foreign or Agora's, terminating ones included) whose owner Task is
//     not itself charged, counted like kube-scheduler (PodRequests);
//   - every charged task (Staging, Starting, Running, Unreachable), which covers its own pod;
//   - what remains of every offer not being deleted: the offered amount minus the admitted tasks
//     on that offer and node (the lower of that and status.remaining, as the controller may lag).
//
// and compares with the node's allocatable, for every resource the node has except pods.
// Revocable slices count like any other (they are offered, so they are held). It also holds the
// pod half of 6a: a task's pod carries scheduling.agora.dev/revocable=true exactly when the task
// is revocable.
func checkSnapshot(now time.Time, nodes []corev1.Node, pods []corev1.Pod, tasks []agorav1alpha1.Task, offers []agorav1alpha1.Offer,
	violate func(inv, format string, args ...any), tolerate func(inv string)) {
	type use struct {
		total, terminating corev1.ResourceList
		parts              []string
		offers             int
	}
	usage := map[string]*use{}
	get := func(n string) *use {
		u := usage[n]
		if u == nil {
			u = &use{total: corev1.ResourceList{}, terminating: corev1.ResourceList{}}
			usage[n] = u
		}
		return u
	}
	taskByUID := map[types.UID]*agorav1alpha1.Task{}
	takenFromOffer := map[string]corev1.ResourceList{} // ns/offer/node
	for i := range tasks {
		t := &tasks[i]
		taskByUID[t.UID] = t
		if wasAdmitted(t.Status.Phase) {
			k := t.Namespace + "/" + t.Spec.OfferName + "/" + t.Spec.NodeName
			if takenFromOffer[k] == nil {
				takenFromOffer[k] = corev1.ResourceList{}
			}
			addTo(takenFromOffer[k], t.Spec.Resources)
		}
		if chargedPhase(t.Status.Phase) {
			u := get(t.Spec.NodeName)
			addTo(u.total, t.Spec.Resources)
			u.parts = append(u.parts, fmt.Sprintf("task %s/%s %s %s (created %s)", t.Namespace, t.Name, t.Status.Phase, fmtRL(t.Spec.Resources),
				t.CreationTimestamp.Format("15:04:05")))
		}
	}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		owner := ""
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "Task" {
				if t := taskByUID[ref.UID]; t != nil && (p.Labels[agorav1alpha1.LabelRevocable] == "true") != t.Status.Revocable {
					// 6a: operators select preemptible pods by the label; a pod that may not be
					// preempted must not match, and one that may must.
					violate(invRevocable, "pod %s/%s has label %s=%q but its task %s/%s has status.revocable %v", p.Namespace, p.Name,
						agorav1alpha1.LabelRevocable, p.Labels[agorav1alpha1.LabelRevocable], t.Namespace, t.Name, t.Status.Revocable)
				}
				if t := taskByUID[ref.UID]; t != nil && chargedPhase(t.Status.Phase) {
					owner = "charged"
				} else if t != nil {
					owner = "task " + string(t.Status.Phase)
				} else {
					owner = "task gone"
				}
			}
		}
		if owner == "charged" {
			continue
		}
		req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		u := get(p.Spec.NodeName)
		addTo(u.total, req)
		state := "running"
		if p.DeletionTimestamp != nil {
			state = "terminating since " + p.DeletionTimestamp.Format("15:04:05")
			if owner != "" && now.Sub(p.DeletionTimestamp.Time) < terminatingGrace {
				addTo(u.terminating, req)
			}
		}
		if owner == "" {
			owner = "foreign"
		}
		u.parts = append(u.parts, fmt.Sprintf("pod %s/%s (%s, %s) %s (created %s)", p.Namespace, p.Name, owner, state, fmtRL(req),
			p.CreationTimestamp.Format("15:04:05")))
	}
	for i := range offers {
		o := &offers[i]
		if o.DeletionTimestamp != nil {
			continue
		}
		status := map[string]corev1.ResourceList{}
		for _, r := range o.Status.Remaining {
			status[r.NodeName] = r.Resources
		}
		for _, n := range o.Spec.Nodes {
			rem := subtractClamped(n.Resources, takenFromOffer[o.Namespace+"/"+o.Name+"/"+n.NodeName])
			if s, ok := status[n.NodeName]; ok || len(o.Status.Remaining) > 0 {
				rem = minRL(rem, s)
			}
			u := get(n.NodeName)
			addTo(u.total, rem)
			u.offers++
			u.parts = append(u.parts, fmt.Sprintf("offer %s/%s (framework %s, created %s, expires %s) remaining %s", o.Namespace, o.Name,
				o.Spec.Framework, o.CreationTimestamp.Format("15:04:05"), o.Spec.ExpireTime.Format("15:04:05"), fmtRL(rem)))
		}
	}
	for i := range nodes {
		n := &nodes[i]
		u := usage[n.Name]
		if u == nil {
			continue
		}
		for name, alloc := range n.Status.Allocatable {
			if name == corev1.ResourcePods {
				continue
			}
			used := u.total[name]
			if used.Cmp(alloc) <= 0 {
				continue
			}
			inv := "1"
			if u.offers >= 2 {
				inv = "2"
			}
			// Excess explained entirely by pods kwok is about to remove: a bounded transient.
			withoutTerm := used.DeepCopy()
			withoutTerm.Sub(u.terminating[name])
			if withoutTerm.Cmp(alloc) <= 0 {
				tolerate(inv)
				continue
			}
			sort.Strings(u.parts)
			violate(inv, "node %s: %s in use %s > allocatable %s:\n    %s", n.Name, name, used.String(), alloc.String(), strings.Join(u.parts, "\n    "))
		}
	}
}

func addTo(dst, src corev1.ResourceList) {
	for k, v := range src {
		q := dst[k]
		q.Add(v)
		dst[k] = q
	}
}

func subtractClamped(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range a {
		q := v.DeepCopy()
		if s, ok := b[k]; ok {
			q.Sub(s)
		}
		if q.Sign() < 0 {
			q = resource.Quantity{}
		}
		out[k] = q
	}
	return out
}

func minRL(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range a {
		q, ok := b[k]
		if !ok {
			// status.remaining omits a resource that is used up
			out[k] = resource.Quantity{}
			continue
		}
		if q.Cmp(v) < 0 {
			out[k] = q.DeepCopy()
		} else {
			out[k] = v.DeepCopy()
		}
	}
	return out
}

func exceeds(used, limit corev1.ResourceList) (corev1.ResourceName, bool) {
	for k, v := range used {
		l := limit[k]
		if v.Cmp(l) > 0 {
			return k, true
		}
	}
	return "", false
}

func fmtQ(rl corev1.ResourceList, n corev1.ResourceName) string {
	q := rl[n]
	return q.String()
}

func fmtRL(rl corev1.ResourceList) string {
	var parts []string
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := rl[n]; ok {
			parts = append(parts, string(n)+"="+q.String())
		}
	}
	return strings.Join(parts, ",")
}
