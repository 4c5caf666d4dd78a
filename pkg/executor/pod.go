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

package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// InvalidTemplateError says why a Task's pod template cannot run within the Task; the Task then
// ends in phase Error with reason InvalidTemplate and this message.
type InvalidTemplateError struct{ msg string }

func (e *InvalidTemplateError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &InvalidTemplateError{msg: fmt.Sprintf(format, args...)}
}

// PodName is the name of the pod that runs a task: the Task's own name, in the Task's namespace.
// A stable name makes creating the pod idempotent: after a restart, or a create whose answer was
// lost, the executor gets AlreadyExists and adopts the pod instead of launching the task twice.
func PodName(task *agorav1alpha1.Task) string { return task.Name }

// FrameworkOf returns the framework a task belongs to: status.framework as the controller charged
// it, else the task's own framework label.
func FrameworkOf(task *agorav1alpha1.Task) string {
	if task.Status.Framework != "" {
		return task.Status.Framework
	}
	return task.Labels[agorav1alpha1.LabelFramework]
}

// BuildPod turns a Task into the Pod that runs it:
//   - name and namespace of the Task (PodName), labels and annotations of the template plus
//     LabelTask and LabelFramework (and LabelRevocable "true" on a revocable task's pod, and on no
//     other: a template cannot forge it), a controller owner reference to the Task;
//   - agorav1alpha1.PodFinalizer, so that the pod cannot leave the API before the executor has
//     recorded its end in the Task (see doc.go: a task never runs twice);
//   - spec.nodeName preset to the Task's node (kube-scheduler is not involved) and restartPolicy
//     Never (a task runs once; the framework decides about retries);
//   - a toleration of agorav1alpha1.TaintPool, the dedicated pool's taint;
//   - resources fitted into spec.resources (see fitResources): what a container leaves unset it
//     gets from the Task with requests = limits, so a template that says nothing yields a
//     Guaranteed pod; a template that asks for more than the Task has is an InvalidTemplateError.
//
// BuildPod only reads the Task; it is a pure function.
func BuildPod(task *agorav1alpha1.Task) (*corev1.Pod, error) {
	tmpl := task.Spec.Template.DeepCopy()
	if len(tmpl.Spec.Containers) == 0 {
		return nil, invalid("the pod template has no containers")
	}
	if tmpl.Spec.NodeName != "" && tmpl.Spec.NodeName != task.Spec.NodeName {
		return nil, invalid("the pod template sets spec.nodeName %q but the task runs on node %q; leave it empty", tmpl.Spec.NodeName, task.Spec.NodeName)
	}
	if err := fitResources(&tmpl.Spec, task.Spec.Resources); err != nil {
		return nil, err
	}

	labels := make(map[string]string, len(tmpl.Labels)+3)
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	labels[agorav1alpha1.LabelTask] = LabelValue(task.Name)
	if fw := FrameworkOf(task); fw != "" {
		labels[agorav1alpha1.LabelFramework] = LabelValue(fw)
	}
	// Operators select the pods that may be preempted by it; a pod that may not must not match.
	delete(labels, agorav1alpha1.LabelRevocable)
	if task.Status.Revocable {
		labels[agorav1alpha1.LabelRevocable] = "true"
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        PodName(task),
			Namespace:   task.Namespace,
			Labels:      labels,
			Annotations: tmpl.Annotations,
			Finalizers:  []string{agorav1alpha1.PodFinalizer},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(task, agorav1alpha1.SchemeGroupVersion.WithKind("Task")),
			},
		},
		Spec: tmpl.Spec,
	}
	pod.Spec.NodeName = task.Spec.NodeName
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	if !tolerates(pod.Spec.Tolerations, agorav1alpha1.TaintPool) {
		// Task pods bypass kube-scheduler, but taint-based evictions and descheduler-like
		// tools read tolerations: a task pod belongs on the dedicated pool's nodes.
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: agorav1alpha1.TaintPool, Operator: corev1.TolerationOpExists})
	}
	return pod, nil
}

// tolerates reports whether tolerations already tolerate every taint with key.
func tolerates(tolerations []corev1.Toleration, key string) bool {
	for _, t := range tolerations {
		if t.Operator == corev1.TolerationOpExists && (t.Key == key || t.Key == "") && t.Effect == "" {
			return true
		}
	}
	return false
}

// LabelValue returns s if it is a valid label value, else a valid value derived from it (a
// prefix and a hash), so that names longer than 63 characters still label their pods. The owner
// reference, not the label, is what ties a pod to its Task.
func LabelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	prefix := s
	if len(prefix) > 52 {
		prefix = prefix[:52]
	}
	prefix = strings.TrimRightFunc(prefix, func(r rune) bool { return !isAlphanumeric(r) })
	if prefix == "" {
		return hex.EncodeToString(sum[:])[:20]
	}
	return prefix + "-" + hex.EncodeToString(sum[:5])
}

func isAlphanumeric(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// isContainerResource reports whether a resource name may appear in a container's resources:
// cpu, memory, ephemeral-storage, hugepages-*, and extended resources (a domain-prefixed name
// outside kubernetes.io). Other names a Task may carry (e.g. pods) are charged but not put on
// containers.
func isContainerResource(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	s := string(name)
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return true
	}
	return strings.Contains(s, "/") && !strings.HasPrefix(s, "requests.") &&
		!strings.Contains(s, "kubernetes.io/")
}

// podLevelResource: the resources Kubernetes allows in a pod's spec.resources.
func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

// group is a set of containers that run at the same time and so share the task's resources.
type member struct {
	where string // e.g. `container "main"`, for messages
	res   *corev1.ResourceRequirements
}

// fitResources makes the pod's resources fit into have (the Task's spec.resources), in place.
//
// For each resource the Task has or a container names:
//   - what the containers that run together (containers plus restartable init containers, i.e.
//     sidecars) ask for, a limit or else a request, must sum to no more than the Task has;
//   - a container that sets a request but no limit gets limit = request, one that sets only a
//     limit gets request = limit (requests = limits, within the Task);
//   - containers that set neither share what is left evenly (cpu in millicores, others in whole
//     units, the remainder to the first); a share of zero is left unset;
//   - each ordinary init container runs alone next to the sidecars: it may ask for what the
//     sidecars leave, and gets exactly that when it says nothing.
//
// If the template sets pod-level resources (spec.resources; cpu and memory only), those must fit
// the Task, get requests = limits the same way, and cover the containers for cpu and memory.
func fitResources(spec *corev1.PodSpec, have corev1.ResourceList) error {
	var together, initOnly []member
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		m := member{where: fmt.Sprintf("init container %q", c.Name), res: &c.Resources}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			together = append(together, m)
		} else {
			initOnly = append(initOnly, m)
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		together = append(together, member{where: fmt.Sprintf("container %q", c.Name), res: &c.Resources})
	}

	names := map[corev1.ResourceName]bool{}
	for name := range have {
		if isContainerResource(name) {
			names[name] = true
		}
	}
	for _, m := range append(append([]member(nil), together...), initOnly...) {
		for name := range m.res.Requests {
			names[name] = true
		}
		for name := range m.res.Limits {
			names[name] = true
		}
	}
	podLevel := spec.Resources != nil && (len(spec.Resources.Requests) > 0 || len(spec.Resources.Limits) > 0)
	if podLevel {
		for name := range spec.Resources.Requests {
			names[name] = true
		}
		for name := range spec.Resources.Limits {
			names[name] = true
		}
	}
	sorted := make([]corev1.ResourceName, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })

	for _, name := range sorted {
		avail, inTask := have[name]
		if podLevel && podLevelResource(name) {
			pm := member{where: "the pod (spec.resources)", res: spec.Resources}
			if err := fitOne(name, avail, inTask, []member{pm}); err != nil {
				return err
			}
			// The pod-level budget bounds the containers; they are only checked against it.
			if err := checkOnly(name, avail, together); err != nil {
				return err
			}
			for _, m := range initOnly {
				if err := checkOnly(name, avail, []member{m}); err != nil {
					return err
				}
			}
			continue
		}
		if err := fitOne(name, avail, inTask, together); err != nil {
			return err
		}
		var sidecars resource.Quantity
		for _, m := range together[:len(together)-len(spec.Containers)] {
			if q, ok := ask(m.res, name); ok {
				sidecars.Add(q)
			}
		}
		left := avail.DeepCopy()
		left.Sub(sidecars)
		for _, m := range initOnly {
			if err := fitOne(name, left, inTask, []member{m}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ask is what a container asks for: its limit if set, else its request.
func ask(r *corev1.ResourceRequirements, name corev1.ResourceName) (resource.Quantity, bool) {
	if q, ok := r.Limits[name]; ok {
		return q, true
	}
	q, ok := r.Requests[name]
	return q, ok
}

// checkOnly verifies that members that run together ask for no more than avail of name.
func checkOnly(name corev1.ResourceName, avail resource.Quantity, members []member) error {
	var total resource.Quantity
	for _, m := range members {
		if q, ok := ask(m.res, name); ok {
			total.Add(q)
		}
	}
	if total.Cmp(avail) > 0 {
		return tooMuch(name, avail, total, members)
	}
	return nil
}

// fitOne fits one resource of members that run together into avail (inTask: the Task lists the
// resource at all).
func fitOne(name corev1.ResourceName, avail resource.Quantity, inTask bool, members []member) error {
	if err := checkOnly(name, avail, members); err != nil {
		return err
	}
	var asked resource.Quantity
	var unset []member
	for _, m := range members {
		q, ok := ask(m.res, name)
		if !ok {
			unset = append(unset, m)
			continue
		}
		asked.Add(q)
		// requests = limits: a request alone becomes the limit too; a limit alone the request.
		if _, ok := m.res.Limits[name]; !ok {
			setLimit(m.res, name, q)
		}
		if _, ok := m.res.Requests[name]; !ok {
			setRequest(m.res, name, q)
		}
	}
	if !inTask || len(unset) == 0 {
		return nil
	}
	left := avail.DeepCopy()
	left.Sub(asked)
	for i, share := range split(name, left, len(unset)) {
		if share.IsZero() {
			continue
		}
		setRequest(unset[i].res, name, share)
		setLimit(unset[i].res, name, share)
	}
	return nil
}

// split divides q into n shares, the remainder to the first; cpu in millicores, everything else
// in whole units. One share is q itself, formatted as the Task wrote it.
func split(name corev1.ResourceName, q resource.Quantity, n int) []resource.Quantity {
	out := make([]resource.Quantity, n)
	if n == 1 {
		out[0] = q.DeepCopy()
		return out
	}
	if name == corev1.ResourceCPU {
		total := q.MilliValue()
		each := total / int64(n)
		for i := range out {
			v := each
			if i == 0 {
				v += total - each*int64(n)
			}
			out[i] = *resource.NewMilliQuantity(v, resource.DecimalSI)
		}
		return out
	}
	total := q.Value()
	each := total / int64(n)
	for i := range out {
		v := each
		if i == 0 {
			v += total - each*int64(n)
		}
		out[i] = *resource.NewQuantity(v, q.Format)
	}
	return out
}

func setRequest(r *corev1.ResourceRequirements, name corev1.ResourceName, q resource.Quantity) {
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	r.Requests[name] = q
}

func setLimit(r *corev1.ResourceRequirements, name corev1.ResourceName, q resource.Quantity) {
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	r.Limits[name] = q
}

func tooMuch(name corev1.ResourceName, avail, asked resource.Quantity, members []member) error {
	who := members[0].where + " asks for"
	if len(members) > 1 {
		var parts []string
		for _, m := range members {
			if q, ok := ask(m.res, name); ok {
				parts = append(parts, fmt.Sprintf("%s %s", m.where, q.String()))
			}
		}
		who = "the containers that run together (" + strings.Join(parts, ", ") + ") ask for"
	}
	if avail.IsZero() {
		return invalid("%s %s %s but the task's spec.resources has no %s: add it there or remove it from the template",
			who, asked.String(), name, name)
	}
	return invalid("%s %s %s but the task's spec.resources has only %s: lower the template's requests/limits or raise spec.resources",
		who, asked.String(), name, avail.String())
}
