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
	"log"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agora-sched/agora/hack/bench/internal/procstat"
)

// cleanup deletes what the run created and waits until none of its pods and Tasks is left and
// kube-apiserver is quiet again. agora-executor runs until the Tasks are gone (it removes their
// finalizers and their pods), agora-controller until the Frameworks are; then both stop.
func (b *bench) cleanup(ctx context.Context, res *result) error {
	if res == nil {
		return nil
	}
	start := time.Now()
	// Stopped last first: the controller before the executor.
	defer func() {
		for _, p := range slices.Backward(res.procs) {
			p.Stop()
		}
	}()
	for _, ns := range res.namespaces {
		if res.side.frameworks > 0 {
			tasks := b.agora.SchedulingV1alpha1().Tasks(ns)
			if err := waitEmpty(ctx, "Tasks in "+ns, func(ctx context.Context) (int, error) {
				l, err := tasks.List(ctx, metav1.ListOptions{Limit: 1})
				if err != nil {
					return 0, err
				}
				return listCount(len(l.Items), l.RemainingItemCount), nil
			}, func(ctx context.Context) error {
				// One by one, 32 at a time, as 32 users would: kube-apiserver works through a
				// DeleteCollection with one worker (--delete-collection-workers) and gives up
				// after its 60 s request timeout, with thousands of Tasks untouched.
				l, err := tasks.List(ctx, metav1.ListOptions{})
				if err != nil {
					return err
				}
				return deleteEach(ctx, liveNames(l.Items), func(ctx context.Context, name string) error {
					return tasks.Delete(ctx, name, metav1.DeleteOptions{})
				})
			}); err != nil {
				return err
			}
		}
		if err := b.deletePods(ctx, ns); err != nil {
			return err
		}
		if res.side.frameworks > 0 {
			fws := b.agora.SchedulingV1alpha1().Frameworks(ns)
			if err := waitEmpty(ctx, "Frameworks in "+ns, func(ctx context.Context) (int, error) {
				l, err := fws.List(ctx, metav1.ListOptions{Limit: 1})
				if err != nil {
					return 0, err
				}
				return listCount(len(l.Items), l.RemainingItemCount), nil
			}, func(ctx context.Context) error {
				return fws.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			}); err != nil {
				return err
			}
		}
	}
	for _, p := range slices.Backward(res.procs) {
		p.Stop()
	}
	// No namespace controller runs here: the namespaces stay Terminating, empty of pods and Tasks.
	for _, ns := range res.namespaces {
		if err := b.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Printf("delete namespace %s: %v", ns, err)
		}
	}
	// Quiet: kube-apiserver's CPU over 5 s back near what it used at rest (kwok's node
	// heartbeats), bounded.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		cores := b.apiserverCores(5 * time.Second)
		if cores < b.quietMax {
			log.Printf("cleanup after %s done in %s: kube-apiserver at %.2f cores; %s", res.label, time.Since(start).Round(time.Second), cores, procstat.LoadAvg())
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log.Printf("cleanup after %s: kube-apiserver still at %.2f cores (quiet below %.2f) after 3 minutes; going on", res.label, cores, b.quietMax)
			res.notes = append(res.notes, fmt.Sprintf("kube-apiserver not quiet after the run (%.2f cores)", cores))
			return ctx.Err()
		}
	}
}

// liveNames returns the names of the listed objects that are not being deleted yet (deleting
// those again would only cost kube-apiserver a call).
func liveNames[T any, P interface {
	*T
	metav1.Object
}](items []T) []string {
	var names []string
	for i := range items {
		if o := P(&items[i]); o.GetDeletionTimestamp().IsZero() {
			names = append(names, o.GetName())
		}
	}
	return names
}

// deleteEach deletes the named objects, 32 calls in flight; an object already gone is no error.
// It returns the first other error.
func deleteEach(ctx context.Context, names []string, del func(context.Context, string) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		work     = make(chan string)
	)
	for range min(32, len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := del(ctx, name); err != nil && !apierrors.IsNotFound(err) {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("delete %s: %w", name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, n := range names {
		select {
		case work <- n:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return firstErr
}
