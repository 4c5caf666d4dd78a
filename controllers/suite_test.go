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

package controllers

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

var (
	testCfg    *rest.Config
	k8s        client.Client
	testScheme = runtime.NewScheme()
	// offerDeleteDelay holds back each Offer delete of the controller under test (a slow API
	// server), so tests can see what happens while a rescind is not yet written.
	offerDeleteDelay atomic.Int64
	// offerCreateDelay holds back the next slowOfferCreates Offer creates likewise.
	offerCreateDelay atomic.Int64
	slowOfferCreates atomic.Int64
)

// slowOfferDeletes is the controller's client with offerDeleteDelay and offerCreateDelay applied.
func slowOfferDeletes(cfg *rest.Config, opts client.Options) (client.Client, error) {
	c, err := client.NewWithWatch(cfg, opts)
	if err != nil {
		return nil, err
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*agorav1alpha1.Offer); ok && slowOfferCreates.Add(-1) >= 0 {
				time.Sleep(time.Duration(offerCreateDelay.Load()))
			}
			return c.Create(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*agorav1alpha1.Offer); ok {
				time.Sleep(time.Duration(offerDeleteDelay.Load()))
			}
			return c.Delete(ctx, obj, opts...)
		},
	}), nil
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // unit tests only; the integration tests skip (newTestEnv)
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		abs, _ := filepath.Abs(filepath.Join("..", "bin"))
		_ = os.Setenv("KUBEBUILDER_ASSETS", abs)
	}
	if os.Getenv("AGORA_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	_ = clientgoscheme.AddToScheme(testScheme)
	_ = agorav1alpha1.AddToScheme(testScheme)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	testCfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		// Start fails after the processes are up when a CRD is refused; stop them anyway.
		_ = env.Stop()
		return 1
	}
	defer func() { _ = env.Stop() }()
	testCfg.QPS, testCfg.Burst = 500, 1000
	k8s, err = client.New(testCfg, client.Options{Scheme: testScheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testEnv is one test's controller and its slice of the cluster: nodes labelled with the
// test's name, which is also the controller's --node-selector, so tests do not see each
// other's nodes.
type testEnv struct {
	t      *testing.T
	ctx    context.Context
	label  string
	ns     string
	opts   Options
	stop   func()
	ctrlMu sync.Mutex
	// ctrl is the controller last started; after stopController its model stays readable.
	ctrl *Controller
}

func newTestEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a control plane (run without -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	label := strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	label = strings.ReplaceAll(label, "/", "-")
	if len(label) > 50 {
		label = label[:50]
	}
	e := &testEnv{t: t, ctx: ctx, label: label, ns: label}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}); err != nil {
		t.Fatal(err)
	}
	opts.NodeSelector = labels.SelectorFromSet(labels.Set{"agora-test": label})
	if opts.AllocationInterval == 0 {
		opts.AllocationInterval = 100 * time.Millisecond
	}
	e.opts = opts
	e.startController()
	t.Cleanup(func() { e.stopController() })
	return e
}

// startController starts a manager running the controller, as agora-controller does.
func (e *testEnv) startController() {
	e.t.Helper()
	e.ctrlMu.Lock()
	defer e.ctrlMu.Unlock()
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:                 testScheme,
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Controller:             ctrlConfigUniqueNames(),
		NewClient:              slowOfferDeletes,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	c, err := Setup(ctx, mgr, e.opts)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	e.ctrl = c
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	e.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Errorf("manager did not stop")
		}
	}
}

func (e *testEnv) stopController() {
	e.ctrlMu.Lock()
	defer e.ctrlMu.Unlock()
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
}

// addNode creates a Ready, untainted Node of the test with an executor Lease that stays fresh.
func (e *testEnv) addNode(name, cpu, mem string) *corev1.Node {
	e.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"agora-test": e.label, corev1.LabelHostname: name}}}
	if err := k8s.Create(e.ctx, n); err != nil {
		e.t.Fatal(err)
	}
	// The apiserver's TaintNodesByCondition admission adds not-ready:NoSchedule; nothing
	// here would remove it.
	n.Spec.Taints = nil
	if err := k8s.Update(e.ctx, n); err != nil {
		e.t.Fatal(err)
	}
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Capacity, n.Status.Allocatable = rl, rl
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(e.ctx, n); err != nil {
		e.t.Fatal(err)
	}
	e.renewLease(name, time.Now(), 3600)
	e.t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), n)
		_ = k8s.Delete(context.Background(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: SystemNamespace, Name: ExecutorLeasePrefix + name}})
	})
	return n
}

// frameworkLease writes framework name's Lease as held by instance holder, fresh for 10 minutes.
func (e *testEnv) frameworkLease(name, holder string) {
	e.t.Helper()
	if err := writeLease(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, holder, time.Now(), 600); err != nil {
		e.t.Fatal(err)
	}
}

// renewLease writes the executor Lease of a node.
func (e *testEnv) renewLease(node string, at time.Time, seconds int32) {
	e.t.Helper()
	if err := writeLease(e.ctx, types.NamespacedName{Namespace: SystemNamespace, Name: ExecutorLeasePrefix + node}, "test-executor", at, seconds); err != nil {
		e.t.Fatal(err)
	}
}

// writeLease creates or updates a Lease as its holder would renew it at the given time.
func writeLease(ctx context.Context, key types.NamespacedName, holder string, at time.Time, seconds int32) error {
	l := &coordinationv1.Lease{}
	err := k8s.Get(ctx, key, l)
	l.Namespace, l.Name = key.Namespace, key.Name
	l.Spec.HolderIdentity = ptrTo(holder)
	l.Spec.LeaseDurationSeconds = &seconds
	l.Spec.RenewTime = &metav1.MicroTime{Time: at}
	if isNotFound(err) {
		return k8s.Create(ctx, l)
	}
	if err != nil {
		return err
	}
	return k8s.Update(ctx, l)
}

func (e *testEnv) addFramework(name string, mutate func(*agorav1alpha1.Framework)) *agorav1alpha1.Framework {
	e.t.Helper()
	fw := &agorav1alpha1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}}
	fw.Spec.RefuseDuration = &metav1.Duration{Duration: 200 * time.Millisecond}
	// Frameworks of earlier tests live on (their namespaces stay); keep them off this test's nodes.
	fw.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"agora-test": e.label}}
	if mutate != nil {
		mutate(fw)
	}
	if err := k8s.Create(e.ctx, fw); err != nil {
		e.t.Fatal(err)
	}
	return fw
}

func (e *testEnv) newTask(name, offer, node, cpu, mem string) *agorav1alpha1.Task {
	return &agorav1alpha1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: agorav1alpha1.TaskSpec{
			OfferName: offer, NodeName: node,
			Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Template:  corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}},
		},
	}
}

func (e *testEnv) createTask(name, offer, node, cpu, mem string) *agorav1alpha1.Task {
	e.t.Helper()
	t := e.newTask(name, offer, node, cpu, mem)
	if err := k8s.Create(e.ctx, t); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// eventually polls cond until it holds or the timeout passes.
func (e *testEnv) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if msg != "" {
			last = msg
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("context done waiting for %s; last: %s", what, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *testEnv) offers(fw string) []agorav1alpha1.Offer {
	e.t.Helper()
	var l agorav1alpha1.OfferList
	if err := k8s.List(e.ctx, &l, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []agorav1alpha1.Offer
	for _, o := range l.Items {
		if (fw == "" || o.Spec.Framework == fw) && o.DeletionTimestamp.IsZero() {
			out = append(out, o)
		}
	}
	return out
}

// waitOffer waits for an open offer to fw and returns it.
func (e *testEnv) waitOffer(fw string) agorav1alpha1.Offer {
	e.t.Helper()
	return e.waitOfferWhere(fw, "an offer to "+fw, func(*agorav1alpha1.Offer) bool { return true })
}

// waitOfferWhere waits for an open offer to fw for which ok holds and returns it.
func (e *testEnv) waitOfferWhere(fw, what string, ok func(*agorav1alpha1.Offer) bool) agorav1alpha1.Offer {
	e.t.Helper()
	var got agorav1alpha1.Offer
	e.eventually(20*time.Second, what, func() (bool, string) {
		os := e.offers(fw)
		for i := range os {
			if ok(&os[i]) {
				got = os[i]
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d offers, none matching", len(os))
	})
	return got
}

func (e *testEnv) task(name string) *agorav1alpha1.Task {
	e.t.Helper()
	t := &agorav1alpha1.Task{}
	if err := k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, t); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// waitPhase waits until a task reaches phase and returns it.
func (e *testEnv) waitPhase(name string, phase agorav1alpha1.TaskPhase) *agorav1alpha1.Task {
	e.t.Helper()
	var t *agorav1alpha1.Task
	e.eventually(20*time.Second, fmt.Sprintf("task %s %s", name, phase), func() (bool, string) {
		t = e.task(name)
		return t.Status.Phase == phase, fmt.Sprintf("phase %q reason %q message %q", t.Status.Phase, t.Status.Reason, t.Status.Message)
	})
	return t
}

func (e *testEnv) framework(name string) *agorav1alpha1.Framework {
	e.t.Helper()
	fw := &agorav1alpha1.Framework{}
	if err := k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, fw); err != nil {
		e.t.Fatal(err)
	}
	return fw
}

func (e *testEnv) updateFramework(name string, mutate func(*agorav1alpha1.Framework)) {
	e.t.Helper()
	for range 10 {
		fw := e.framework(name)
		mutate(fw)
		err := k8s.Update(e.ctx, fw)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "modified") {
			e.t.Fatal(err)
		}
	}
	e.t.Fatal("could not update framework")
}

func (e *testEnv) updateNode(name string, status bool, mutate func(*corev1.Node)) {
	e.t.Helper()
	for range 10 {
		n := &corev1.Node{}
		if err := k8s.Get(e.ctx, types.NamespacedName{Name: name}, n); err != nil {
			e.t.Fatal(err)
		}
		mutate(n)
		var err error
		if status {
			err = k8s.Status().Update(e.ctx, n)
		} else {
			err = k8s.Update(e.ctx, n)
		}
		if err == nil {
			return
		}
	}
	e.t.Fatal("could not update node")
}
