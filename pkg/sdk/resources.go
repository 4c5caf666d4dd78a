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

package sdk

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Remaining returns, per node, what of an offer no admitted task has taken yet: status.remaining
// once the controller has written it, the offered amounts before that. A node absent from the
// map has nothing left (or was rescinded from the offer).
func Remaining(offer *agorav1alpha1.Offer) map[string]corev1.ResourceList {
	out := make(map[string]corev1.ResourceList, len(offer.Spec.Nodes))
	if len(offer.Status.Remaining) > 0 || offer.Status.AdmittedTasks > 0 {
		inSpec := make(map[string]bool, len(offer.Spec.Nodes))
		for _, n := range offer.Spec.Nodes {
			inSpec[n.NodeName] = true
		}
		for _, r := range offer.Status.Remaining {
			if inSpec[r.NodeName] {
				out[r.NodeName] = r.Resources.DeepCopy()
			}
		}
		return out
	}
	for _, n := range offer.Spec.Nodes {
		out[n.NodeName] = n.Resources.DeepCopy()
	}
	return out
}

// Fits reports whether req fits in avail: every resource req asks for is present in avail in at
// least that amount.
func Fits(avail, req corev1.ResourceList) bool {
	for name, q := range req {
		if q.Sign() <= 0 {
			continue
		}
		have, ok := avail[name]
		if !ok || have.Cmp(q) < 0 {
			return false
		}
	}
	return true
}

// Subtract returns avail minus req (entries may go negative; callers check Fits first).
func Subtract(avail, req corev1.ResourceList) corev1.ResourceList {
	out := avail.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for name, q := range req {
		v := out[name]
		v.Sub(q)
		out[name] = v
	}
	return out
}

// Add returns a plus b.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	out := a.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for name, q := range b {
		v, ok := out[name]
		if !ok {
			v = resource.Quantity{Format: q.Format}
		}
		v.Add(q)
		out[name] = v
	}
	return out
}

// Slots returns how many tasks of shape req fit in avail (0 when req asks for nothing).
func Slots(avail, req corev1.ResourceList) int {
	n := -1
	for name, q := range req {
		if q.Sign() <= 0 {
			continue
		}
		have := avail[name]
		if have.Sign() <= 0 {
			return 0
		}
		// Milli-units are exact for every quantity Kubernetes resources use in practice
		// (MilliValue rounds a smaller fraction up, which only undercounts).
		k := int(have.MilliValue() / q.MilliValue())
		if n < 0 || k < n {
			n = k
		}
	}
	return max(n, 0)
}

// Resources builds a ResourceList from "name=quantity" pairs, e.g. Resources("cpu", "1",
// "memory", "4Gi"). It panics on an odd count or a malformed quantity: meant for literals.
func Resources(pairs ...string) corev1.ResourceList {
	if len(pairs)%2 != 0 {
		panic("sdk.Resources: odd number of arguments")
	}
	out := make(corev1.ResourceList, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

// Annotations Agora's simulated (kwok) nodes act on: the pod of a task with
// AnnotationCompleteAfter succeeds that long after it starts; with AnnotationFailAfter it fails
// (exit code AnnotationExitCode, default 1). Real nodes ignore them. See hack/kwok/.
const (
	AnnotationCompleteAfter = "agora.dev/complete-after"
	AnnotationFailAfter     = "agora.dev/fail-after"
	AnnotationExitCode      = "agora.dev/exit-code"
)

// SleepTemplate is a pod that sleeps for d and exits 0: on a real node a busybox container, on a
// simulated node of the local cluster the AnnotationCompleteAfter annotation does the same. d of
// 0 sleeps forever (a service instance).
func SleepTemplate(d time.Duration) corev1.PodTemplateSpec {
	secs := int64(d.Round(time.Second) / time.Second)
	args := []string{"sleep", "infinity"}
	var ann map[string]string
	if d > 0 {
		args = []string{"sleep", strconv.FormatInt(max(secs, 1), 10)}
		ann = map[string]string{AnnotationCompleteAfter: d.String()}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: ann},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1.37", Command: args}},
		},
	}
}
