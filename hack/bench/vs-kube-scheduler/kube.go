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
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/pkg/sdk"
)

// podSpec is the one item shape both sides run: a Pod for kube-scheduler, a Task's template for
// Agora.
func (b *bench) podTemplate() corev1.PodTemplateSpec {
	var ann map[string]string
	if *workload == "short" {
		ann = map[string]string{sdk.AnnotationCompleteAfter: duration.String()}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: ann},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1.37", Command: []string{"sleep", "infinity"},
				Resources: corev1.ResourceRequirements{Requests: b.shape.DeepCopy(), Limits: b.shape.DeepCopy()}}},
		},
	}
}

// runKube: kube-scheduler places the items as plain Pods that 32 clients create.
func (b *bench) runKube(ctx context.Context, res *result) error {
	ns, err := b.c.CreateNamespace(ctx, "bench-kube-", nil)
	if err != nil {
		return err
	}
	res.namespaces = []string{ns}

	cfgPath := filepath.Join(b.work, "kube-scheduler-"+res.label+".yaml")
	if err := os.WriteFile(cfgPath, []byte(kubeSchedulerConfig(b.kubeconfigs[userScheduler])), 0o644); err != nil {
		return err
	}
	readyCtx, cancelReady := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelReady()
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: b.probeNS, Name: "probe-" + res.label}, Spec: b.podTemplate().Spec}
	if _, err := b.kube.CoreV1().Pods(b.probeNS).Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		return err
	}
	sched, err := benchproc.Start(readyCtx, "kube-scheduler-"+res.label, b.schedBin, b.work,
		[]string{"--config", cfgPath, "--secure-port=0"},
		func() error {
			// Ready once it placed a probe pod.
			p, err := b.kube.CoreV1().Pods(b.probeNS).Get(readyCtx, probe.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Spec.NodeName == "" {
				return errors.New("probe pod not placed yet")
			}
			return nil
		})
	if err != nil {
		return err
	}
	res.procs = append(res.procs, sched)
	zero := int64(0)
	if err := b.kube.CoreV1().Pods(b.probeNS).Delete(ctx, probe.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	log.Printf("kube-scheduler ready in %s (qps %g, burst %d)", sched.ReadyAfter.Round(time.Millisecond), *schedQPS, *schedBurst)

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	pods := b.kube.CoreV1().Pods(ns)
	err = watchFresh(watchCtx, pods.List, pods.Watch, func(o runtime.Object) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		res.tr.seen(p.Name, p.Spec.NodeName != "", p.Status.Phase == corev1.PodRunning, p.Status.Phase == corev1.PodSucceeded)
	})
	if err != nil {
		return err
	}

	procs := maps.Clone(b.procs)
	procs["kube-scheduler"] = sched.Pid()
	before := b.snap(procs)
	profiled := b.profileWhenBusy(ctx, res)
	creatorCfg := rest.CopyConfig(b.podsCfg)
	creatorCfg.QPS, creatorCfg.Burst = -1, 0
	creator, err := kubernetes.NewForConfig(creatorCfg)
	if err != nil {
		return err
	}
	go b.createPods(watchCtx, creator, ns, res)
	res.complete = b.waitDone(ctx, res, res.tr.progress)
	b.finish(res, procs, before)
	<-profiled
	stopWatch()
	sched.Stop()
	return nil
}

// createPods creates the items as Pods, -clients at a time, noting when each create returned.
func (b *bench) createPods(ctx context.Context, kube kubernetes.Interface, ns string, res *result) {
	tmpl := b.podTemplate()
	work := make(chan int)
	var wg sync.WaitGroup
	var errs sync.Map
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: itemName(i), Annotations: tmpl.Annotations}, Spec: tmpl.Spec}
				for attempt := 0; ; attempt++ {
					_, err := kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
					if err == nil || apierrors.IsAlreadyExists(err) {
						res.tr.markCreated(p.Name, time.Now())
						break
					}
					if ctx.Err() != nil {
						return
					}
					if _, seen := errs.LoadOrStore(err.Error(), true); !seen {
						log.Printf("create pod %s (retried): %v", p.Name, err)
					}
					time.Sleep(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond)
				}
			}
		}()
	}
	for i := range res.items {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// deletePods deletes the pods of ns and waits until none is left.
func (b *bench) deletePods(ctx context.Context, ns string) error {
	return waitEmpty(ctx, "pods in "+ns, func(ctx context.Context) (int, error) {
		l, err := b.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return 0, err
		}
		return listCount(len(l.Items), l.RemainingItemCount), nil
	}, func(ctx context.Context) error {
		// One by one, as for Tasks (cleanup.go): a DeleteCollection of 20,000 pods outlasts
		// kube-apiserver's request timeout.
		l, err := b.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		return deleteEach(ctx, liveNames(l.Items), func(ctx context.Context, name string) error {
			return b.kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
		})
	})
}

// waitEmpty polls count until it reads 0, calling del first and again when nothing goes for a
// minute; it gives up when nothing went for 5 minutes.
func waitEmpty(ctx context.Context, what string, count func(context.Context) (int, error), del func(context.Context) error) error {
	// Bounded by progress, not by a fixed time: 10,000 Tasks take the executor minutes to kill
	// (pod delete, Killed, finalizer) behind a busy API server. The deletes are sent again only
	// when nothing went for a minute: sent every few seconds, they re-delete objects that are
	// already terminating, calls that slow the API server down and the teardown with it.
	const stall = 5 * time.Minute
	lastProgress := time.Now()
	var lastDel time.Time
	last := -1
	for {
		n, err := count(ctx)
		switch {
		case err != nil:
			log.Printf("counting %s: %v", what, err)
		case n == 0:
			return nil
		case last < 0 || n < last:
			last, lastProgress = n, time.Now()
		}
		if lastDel.IsZero() || (time.Since(lastProgress) > time.Minute && time.Since(lastDel) > time.Minute) {
			if err := del(ctx); err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
				log.Printf("deleting %s: %v", what, err)
			}
			// The time a delete pass takes is no stall.
			lastDel, lastProgress = time.Now(), time.Now()
		}
		if time.Since(lastProgress) > stall {
			return fmt.Errorf("%d %s left: none went for %s (last count error: %v)", last, what, stall, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d %s left (%w; last count error: %v)", last, what, context.Cause(ctx), err)
		case <-time.After(time.Second):
		}
	}
}

// listCount is how many objects a list with Limit 1 found: counting by listing everything would
// move every object of a 10,000-item run through kube-apiserver once a second during cleanup.
func listCount(items int, remaining *int64) int {
	if remaining != nil {
		return items + int(*remaining)
	}
	return items
}
