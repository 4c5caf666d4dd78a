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

// Command apiwrites measures what one write costs kube-apiserver, by kind of write: a Pod's
// create and status update (what kube-scheduler's path is made of) against a Task's create,
// status update and finalizer patch (Agora's), for the Task CRD as shipped and for variants of
// its schema, so that each lever on the cost of a Task write is measured alone.
//
//	go run ./hack/bench/apiwrites -writes 4000 -rounds 3 -pprof /tmp/apiwrites
//
// It starts a private control plane (test/testcluster: etcd and kube-apiserver only, loopback,
// free ports). Per round and per kind, C clients (-clients) make W writes (-writes) as fast as
// the API server takes them, over O objects (-objects) made beforehand; kube-apiserver's CPU
// seconds (from /proc) over the run are divided by the writes. Kinds run in turn within a round
// and rounds repeat, so drift on a shared machine hits every kind alike; the report gives the
// median per kind and its ratio to a Pod status update.
//
// The Task CRD variants (-variants), applied to the installed CRD between rounds:
//   - shipped: config/crd as it is: the CEL rule on spec compares offerName, nodeName and
//     resources, and the ValidatingAdmissionPolicy agora-task-spec-immutable (config/crd/policy)
//     keeps the whole spec on writes to the Task itself (not on tasks/status);
//   - whole-spec-rule: as shipped before that policy: the rule `self == oldSelf` on the whole
//     spec, which the API server evaluates on every status write too, and no policy;
//   - no-spec-rule: no rule and no policy (spec immutability not kept at all: the floor);
//   - opaque-template: whole-spec-rule with spec.template as an object of unknown fields (no
//     schema below it: no pruning, defaulting or validation of the pod template by the API
//     server);
//   - no-security-policies: shipped without the security policies of config/policy
//     (agora-task-pod-rights on Task creation, agora-executor-node-restriction, whose match
//     condition runs on every Pod, Task and Lease write): Pod writes are measured for it too;
//   - sa-check: shipped, with Tasks whose template runs as a ServiceAccount the namespace does not
//     list, so that agora-task-pod-rights asks the authorizer whether the creator may create Pods
//     (the bench's user may) on every Task creation.
//
// With -pprof DIR, one CPU profile of kube-apiserver per kind and variant (the first round) is
// written to DIR/<variant>-<kind>.pprof.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	objects  = flag.Int("objects", 500, "objects of each kind made beforehand (writes go round them)")
	writes   = flag.Int("writes", 4000, "writes per kind and round")
	clients  = flag.Int("clients", 32, "concurrent writers")
	rounds   = flag.Int("rounds", 3, "rounds (every kind and variant once per round)")
	variants = flag.String("variants", "shipped,whole-spec-rule,no-spec-rule,opaque-template,no-security-policies,sa-check", "Task CRD variants, comma separated")
	pprofDir = flag.String("pprof", "", "write one kube-apiserver CPU profile per kind and variant (first round) into this directory")
	timeout  = flag.Duration("timeout", 60*time.Minute, "stop everything after this long")
)

const (
	taskCRD = "tasks." + "scheduling.agora.dev"
	// specPolicy names the ValidatingAdmissionPolicy (and its binding) of config/crd/policy that
	// keeps the whole Task spec immutable.
	specPolicy = "agora-task-spec-immutable"
	// noSecurity is the variant without the security policies (config/policy).
	noSecurity = "no-security-policies"
)

// securityPolicies name the ValidatingAdmissionPolicies (and bindings) of config/policy.
var securityPolicies = []string{"agora-task-pod-rights", "agora-executor-node-restriction"}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	c      *testcluster.Cluster
	kube   kubernetes.Interface
	agora  versioned.Interface
	crds   apiextensionsclient.Interface
	apiPid map[string]int
	ns     string
	shaped *apiextensionsv1.CustomResourceDefinition // the CRD as installed
	// binding is the installed binding of the Task spec policy; variants without the policy
	// delete it and shipped puts it back.
	binding *admissionv1.ValidatingAdmissionPolicyBinding
	// security are the installed bindings of the security policies, likewise.
	security []*admissionv1.ValidatingAdmissionPolicyBinding
}

// kind is one kind of write: prepare makes what it writes to (once per variant), write makes
// write number i.
type kind struct {
	name    string
	task    bool // a Task write: measured for every CRD variant
	prepare func(ctx context.Context, b *bench, variant string) error
	write   func(ctx context.Context, b *bench, variant string, i int) error
}

func run() error {
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, *timeout)
	defer cancel()

	c, err := testcluster.Start(ctx, testcluster.Options{NoKwok: true, Logf: log.Printf,
		APIServerFlags: map[string]string{"max-requests-inflight": "2000", "max-mutating-requests-inflight": "1000"}})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			log.Print(err)
		}
	}()
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0
	b := &bench{c: c, apiPid: procstat.Children(c.BinDir, "kube-apiserver")}
	if b.apiPid["kube-apiserver"] == 0 {
		return fmt.Errorf("kube-apiserver pid not found")
	}
	if b.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if b.agora, err = versioned.NewForConfig(cfg); err != nil {
		return err
	}
	if b.crds, err = apiextensionsclient.NewForConfig(cfg); err != nil {
		return err
	}
	if b.shaped, err = b.crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, taskCRD, metav1.GetOptions{}); err != nil {
		return err
	}
	if b.binding, err = b.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, specPolicy, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("the Task spec policy's binding: %w", err)
	}
	b.binding = &admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: b.binding.Name}, Spec: b.binding.Spec}
	for _, name := range securityPolicies {
		got, err := b.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("the binding of %s: %w", name, err)
		}
		b.security = append(b.security, &admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: got.Name}, Spec: got.Spec})
	}
	if b.ns, err = c.CreateNamespace(ctx, "apiwrites-", nil); err != nil {
		return err
	}
	if *pprofDir != "" {
		if err := os.MkdirAll(*pprofDir, 0o755); err != nil {
			return err
		}
	}
	log.Printf("machine: %s, %d writes per kind and round by %d clients over %d objects; load %s",
		procstat.CPUModel(), *writes, *clients, *objects, procstat.LoadAvg())

	kinds := []kind{
		{name: "pod create", prepare: noPrepare, write: createPod},
		{name: "pod status update", prepare: preparePods, write: updatePodStatus},
		{name: "task create", task: true, prepare: noPrepare, write: createTask},
		{name: "task status update", task: true, prepare: prepareTasks, write: updateTaskStatus},
		{name: "task finalizer patch", task: true, prepare: prepareTasks, write: patchTaskFinalizer},
	}
	vs := strings.Split(*variants, ",")
	results := map[string][]float64{} // variant/kind -> CPU-ms per write, per round
	rates := map[string][]float64{}
	for r := range *rounds {
		for _, v := range vs {
			if err := b.setVariant(ctx, v); err != nil {
				return err
			}
			for _, k := range kinds {
				if !k.task && v != vs[0] && v != noSecurity {
					continue // a Pod write does not depend on the Task CRD
				}
				label := v + "/" + k.name
				if !k.task && v == vs[0] {
					label = k.name
				}
				ms, rate, err := b.measure(ctx, k, v, r == 0, label)
				if err != nil {
					return fmt.Errorf("%s: %w", label, err)
				}
				results[label] = append(results[label], ms)
				rates[label] = append(rates[label], rate)
				log.Printf("round %d %-40s %6.3f CPU-ms/write  %6.0f writes/s  load %s", r+1, label, ms, rate, procstat.LoadAvg())
			}
		}
	}
	report(results, rates)
	return nil
}

// measure runs one kind's writes and returns kube-apiserver CPU milliseconds per write and
// writes per second.
func (b *bench) measure(ctx context.Context, k kind, variant string, profile bool, label string) (float64, float64, error) {
	if err := k.prepare(ctx, b, variant); err != nil {
		return 0, 0, err
	}
	time.Sleep(2 * time.Second) // let the API server's background work settle
	var prof chan []byte
	if profile && *pprofDir != "" {
		prof = make(chan []byte, 1)
		go func() {
			// The profile spans most of the run; a run shorter than it only adds idle samples.
			raw, err := b.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "10").DoRaw(ctx)
			if err != nil {
				log.Printf("pprof: %v", err)
			}
			prof <- raw
		}()
		time.Sleep(200 * time.Millisecond)
	}
	before := procstat.CPUSeconds(b.apiPid)["kube-apiserver"]
	start := time.Now()
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *writes || ctx.Err() != nil {
					return
				}
				if err := k.write(ctx, b, variant, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	after := procstat.CPUSeconds(b.apiPid)["kube-apiserver"]
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	if prof != nil {
		raw := <-prof
		name := strings.NewReplacer("/", "-", " ", "-").Replace(label) + ".pprof"
		if err := os.WriteFile(filepath.Join(*pprofDir, name), raw, 0o644); err != nil {
			return 0, 0, err
		}
	}
	return (after - before) * 1000 / float64(*writes), float64(*writes) / took.Seconds(), nil
}

// setVariant installs the Task CRD variant and waits until the API server serves it (a Task
// written through it carries what the variant changes).
func (b *bench) setVariant(ctx context.Context, v string) error {
	crds := b.crds.ApiextensionsV1().CustomResourceDefinitions()
	cur, err := crds.Get(ctx, taskCRD, metav1.GetOptions{})
	if err != nil {
		return err
	}
	want := b.shaped.DeepCopy()
	schema := want.Spec.Versions[0].Schema.OpenAPIV3Schema
	spec := schema.Properties["spec"]
	wholeRule := apiextensionsv1.ValidationRules{{
		Rule: "self == oldSelf", Message: "spec is immutable: delete the Task and create a new one",
	}}
	policy := false
	switch v {
	case "shipped", noSecurity, "sa-check":
		policy = true
	case "whole-spec-rule":
		spec.XValidations = wholeRule
	case "no-spec-rule":
		spec.XValidations = nil
	case "opaque-template":
		spec.XValidations = wholeRule
		spec.Properties["template"] = apiextensionsv1.JSONSchemaProps{
			Type: "object", Description: "the pod template (not checked by the API server)",
			XPreserveUnknownFields: ptr(true), XEmbeddedResource: false,
		}
	default:
		return fmt.Errorf("unknown variant %q", v)
	}
	if err := b.setPolicy(ctx, policy); err != nil {
		return err
	}
	if err := b.setSecurity(ctx, v != noSecurity); err != nil {
		return err
	}
	schema.Properties["spec"] = spec
	cur.Spec.Versions = want.Spec.Versions
	if _, err := crds.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return err
	}
	// The API server rebuilds the CRD's handler asynchronously; give it a moment, then check
	// that creates go through.
	time.Sleep(3 * time.Second)
	return nil
}

// setPolicy binds the Task spec policy (on) or deletes its binding (off).
func (b *bench) setPolicy(ctx context.Context, on bool) error {
	bindings := b.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	if !on {
		if err := bindings.Delete(ctx, specPolicy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	if _, err := bindings.Create(ctx, b.binding.DeepCopy(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// setSecurity binds the security policies (on) or deletes their bindings (off).
func (b *bench) setSecurity(ctx context.Context, on bool) error {
	bindings := b.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	for _, binding := range b.security {
		var err error
		if on {
			if _, err = bindings.Create(ctx, binding.DeepCopy(), metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				err = nil
			}
		} else if err = bindings.Delete(ctx, binding.Name, metav1.DeleteOptions{}); apierrors.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func noPrepare(context.Context, *bench, string) error { return nil }

// podTemplate is the pod every Pod and Task of the bench carries: one container, requests =
// limits, a command and an env var, like a small batch task.
func podTemplate() corev1.PodTemplateSpec {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: "registry.k8s.io/pause:3.10", Command: []string{"/pause"},
				Env:       []corev1.EnvVar{{Name: "ITEM", Value: "1"}},
				Resources: corev1.ResourceRequirements{Requests: rl, Limits: rl},
			}},
		},
	}
}

func podName(variant string, i int) string  { return fmt.Sprintf("p-%d", i) }
func taskName(variant string, i int) string { return fmt.Sprintf("t-%s-%d", variant, i) }

func newPod(name string) *corev1.Pod {
	t := podTemplate()
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: t.Labels}, Spec: t.Spec}
}

func newTask(name string) *agorav1alpha1.Task {
	return &agorav1alpha1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{agorav1alpha1.LabelFramework: "bench"}},
		Spec: agorav1alpha1.TaskSpec{
			OfferName: "bench-1", NodeName: "node-1",
			Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Template:  podTemplate(),
		},
	}
}

var createSeq atomic.Int64

func createPod(ctx context.Context, b *bench, _ string, _ int) error {
	_, err := b.kube.CoreV1().Pods(b.ns).Create(ctx, newPod(fmt.Sprintf("c-%d", createSeq.Add(1))), metav1.CreateOptions{})
	return err
}

func createTask(ctx context.Context, b *bench, v string, _ int) error {
	t := newTask(fmt.Sprintf("c-%s-%d", v, createSeq.Add(1)))
	if v == "sa-check" {
		t.Spec.Template.Spec.ServiceAccountName = "bench-runner" // not listed: the authorizer decides
	}
	_, err := b.agora.SchedulingV1alpha1().Tasks(b.ns).Create(ctx, t, metav1.CreateOptions{})
	return err
}

var podsMade, tasksMade sync.Map // variant -> true

func preparePods(ctx context.Context, b *bench, v string) error {
	if _, done := podsMade.LoadOrStore("pods", true); done {
		return nil
	}
	return parallel(*objects, func(i int) error {
		_, err := b.kube.CoreV1().Pods(b.ns).Create(ctx, newPod(podName(v, i)), metav1.CreateOptions{})
		return err
	})
}

func prepareTasks(ctx context.Context, b *bench, v string) error {
	if _, done := tasksMade.LoadOrStore(v, true); done {
		return nil
	}
	return parallel(*objects, func(i int) error {
		_, err := b.agora.SchedulingV1alpha1().Tasks(b.ns).Create(ctx, newTask(taskName(v, i)), metav1.CreateOptions{})
		return err
	})
}

// The status writes are what an executor's mirror writes: a read of the latest object from a
// cache is not part of the cost measured, so each writer keeps the object its last write
// returned and writes over it (a conflict, from another writer on the same object, re-reads).
var lastPods, lastTasks sync.Map // name -> object

func updatePodStatus(ctx context.Context, b *bench, v string, i int) error {
	name := podName(v, i%*objects)
	pods := b.kube.CoreV1().Pods(b.ns)
	for {
		var p *corev1.Pod
		if o, ok := lastPods.Load(name); ok {
			p = o.(*corev1.Pod).DeepCopy()
		} else {
			got, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			p = got
		}
		p.Status.Message = fmt.Sprintf("write %d", i)
		out, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if isConflict(err) {
			lastPods.Delete(name)
			continue
		}
		if err != nil {
			return err
		}
		lastPods.Store(name, out)
		return nil
	}
}

func updateTaskStatus(ctx context.Context, b *bench, v string, i int) error {
	name := taskName(v, i%*objects)
	tasks := b.agora.SchedulingV1alpha1().Tasks(b.ns)
	for {
		var t *agorav1alpha1.Task
		if o, ok := lastTasks.Load(name); ok {
			t = o.(*agorav1alpha1.Task).DeepCopy()
		} else {
			got, err := tasks.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			t = got
		}
		t.Status.Phase = agorav1alpha1.TaskRunning
		t.Status.Message = fmt.Sprintf("write %d", i)
		out, err := tasks.UpdateStatus(ctx, t, metav1.UpdateOptions{})
		if isConflict(err) {
			lastTasks.Delete(name)
			continue
		}
		if err != nil {
			return err
		}
		lastTasks.Store(name, out)
		return nil
	}
}

// patchTaskFinalizer adds or removes a finalizer, as the executor's merge patch does (without
// its resourceVersion precondition: the writers go round the same objects).
func patchTaskFinalizer(ctx context.Context, b *bench, v string, i int) error {
	var fins []string
	if (i / *objects)%2 == 0 {
		fins = []string{agorav1alpha1.TaskFinalizer}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": fins}})
	if err != nil {
		return err
	}
	_, err = b.agora.SchedulingV1alpha1().Tasks(b.ns).Patch(ctx, taskName(v, i%*objects), types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

func isConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "the object has been modified")
}

// parallel runs f(0..n-1), 32 at a time, and returns the first error.
func parallel(n int, f func(int) error) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return err
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(results, rates map[string][]float64) {
	base := median(results["pod status update"])
	labels := make([]string, 0, len(results))
	for l := range results {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	fmt.Printf("\n| write | kube-apiserver CPU-ms per write, median (rounds) | × a Pod status update | writes/s, median |\n|---|---|---|---|\n")
	for _, l := range labels {
		rs := make([]string, 0, len(results[l]))
		for _, x := range results[l] {
			rs = append(rs, fmt.Sprintf("%.3f", x))
		}
		ratio := "—"
		if base > 0 {
			ratio = fmt.Sprintf("%.2f", median(results[l])/base)
		}
		fmt.Printf("| %s | %.3f (%s) | %s | %.0f |\n", l, median(results[l]), strings.Join(rs, ", "), ratio, median(rates[l]))
	}
}
