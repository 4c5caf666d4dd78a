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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

// leaderLease is agora-controller's leader-election Lease (its default --leader-election-id).
const leaderLease = "agora-controller"

// frameworkName is the name of the Framework in each framework namespace.
const frameworkName = "fw"

type bench struct {
	c     *testcluster.Cluster
	kube  kubernetes.Interface
	agora versioned.Interface
	bin   string
	work  string
	start time.Time
	load  []string // load averages, at the start and after each measurement

	namespaces []string
	seen       timeline

	leasesMu sync.Mutex
	leases   []string // nodes whose executor Lease the benchmark keeps

	tasks   int            // Tasks created so far
	perNode map[string]int // Tasks created so far, by node

	procs []*process // every controller started, to stop them all at the end

	failovers []failoverSample
	restarts  []restartSample
}

// timeline is what the benchmark's watches saw, timed on its clock when each event arrived.
type timeline struct {
	mu      sync.Mutex
	offers  []offerSeen // Offer ADDED events
	holders []holderChange
	changed chan struct{} // closed and replaced on every event
	deleted atomic.Int64
}

// offerSeen is an Offer ADDED event: when it arrived and the offer ID in the Offer's name.
type offerSeen struct {
	at time.Time
	id int64
}

// holderChange is the leader Lease seen with a new holderIdentity.
type holderChange struct {
	at     time.Time
	holder string
}

func (t *timeline) record(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait returns once found, called under the lock now and after every event, returns true.
func (t *timeline) wait(ctx context.Context, what string, found func() bool) error {
	for {
		t.mu.Lock()
		ok, ch := found(), t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-ch:
		}
	}
}

// firstOffer is when the first Offer with an ID of at least minID was seen after after.
func (t *timeline) firstOffer(ctx context.Context, after time.Time, minID int64) (time.Time, error) {
	var at time.Time
	err := t.wait(ctx, "an Offer", func() bool {
		for i := len(t.offers) - 1; i >= 0 && !t.offers[i].at.Before(after); i-- {
			if t.offers[i].id >= minID {
				at = t.offers[i].at
			}
		}
		return !at.IsZero()
	})
	return at, err
}

// offerID is the allocator's offer ID in an Offer's name, <framework>-<ID> (docs/controller.md):
// IDs grow from the wall clock in microseconds at the controller's start, so an Offer of a
// process started at t has an ID of at least t.UnixMicro(). 0 if the name has none.
func offerID(name string) int64 {
	id, _ := strconv.ParseInt(name[strings.LastIndexByte(name, '-')+1:], 10, 64)
	return id
}

// newHolder is the first change of the leader Lease's holder after after, away from old.
func (t *timeline) newHolder(ctx context.Context, after time.Time, old string) (holderChange, error) {
	var hc holderChange
	err := t.wait(ctx, "a new leader", func() bool {
		for _, h := range t.holders {
			if !h.at.Before(after) && h.holder != old && h.holder != "" {
				hc = h
				return true
			}
		}
		return false
	})
	return hc, err
}

// holder is the leader Lease's holder as last seen.
func (t *timeline) holder() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.holders) == 0 {
		return ""
	}
	return t.holders[len(t.holders)-1].holder
}

// setup creates the frameworks and starts the watches that time offers and leaders and release
// every Offer, and the executor Leases of the cluster's nodes with their renewal.
func (b *bench) setup(ctx context.Context) error {
	b.seen.changed = make(chan struct{})
	b.perNode = map[string]int{}
	for i := 0; i < *frameworks; i++ {
		ns, err := b.c.CreateNamespace(ctx, fmt.Sprintf("bench-fw%d-", i), nil)
		if err != nil {
			return err
		}
		// No Lease: always Active. refuseDuration 0: a release installs no decline filter, so
		// the next cycle offers the same resources again.
		fw := &agorav1alpha1.Framework{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: frameworkName},
			Spec:       agorav1alpha1.FrameworkSpec{RefuseDuration: &metav1.Duration{}},
		}
		if _, err := b.agora.SchedulingV1alpha1().Frameworks(ns).Create(ctx, fw, metav1.CreateOptions{}); err != nil {
			return err
		}
		b.namespaces = append(b.namespaces, ns)
	}
	if err := b.watchOffers(ctx); err != nil {
		return err
	}
	if err := b.watchLeader(ctx); err != nil {
		return err
	}
	if err := b.addLeases(ctx, b.c.Nodes()); err != nil {
		return err
	}
	go b.renewLeases(ctx)
	return nil
}

// retryWatch watches from a fresh list's resourceVersion, across the API server's watch ends,
// and hands every event to each until ctx ends.
func retryWatch(ctx context.Context, list func(context.Context) (string, error), w func(context.Context, metav1.ListOptions) (watch.Interface, error), each func(watch.Event)) error {
	rv, err := list(ctx)
	if err != nil {
		return err
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv, &cache.ListWatch{WatchFuncWithContext: w})
	if err != nil {
		return err
	}
	go func() {
		defer rw.Stop()
		for ev := range rw.ResultChan() {
			each(ev)
		}
	}()
	return nil
}

// watchOffers times every Offer created and deletes it (a release) from a few goroutines, so
// that the watch is never held up by a delete.
func (b *bench) watchOffers(ctx context.Context) error {
	offers := b.agora.SchedulingV1alpha1().Offers("")
	release := make(chan types.NamespacedName, 100000)
	for range 8 {
		go func() {
			for key := range release {
				err := b.agora.SchedulingV1alpha1().Offers(key.Namespace).Delete(ctx, key.Name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
					log.Printf("release offer %s: %v", key, err)
				}
				b.seen.deleted.Add(1)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		close(release)
	}()
	return retryWatch(ctx,
		func(ctx context.Context) (string, error) {
			l, err := offers.List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			return l.ResourceVersion, nil
		},
		offers.Watch,
		func(ev watch.Event) {
			now := time.Now()
			o, ok := ev.Object.(*agorav1alpha1.Offer)
			if !ok || ev.Type != watch.Added {
				return
			}
			b.seen.record(func() { b.seen.offers = append(b.seen.offers, offerSeen{now, offerID(o.Name)}) })
			if ctx.Err() == nil {
				release <- types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
			}
		})
}

// watchLeader times every change of the leader Lease's holder.
func (b *bench) watchLeader(ctx context.Context) error {
	leases := b.kube.CoordinationV1().Leases(testcluster.SystemNamespace)
	byName := fields.OneTermEqualSelector("metadata.name", leaderLease).String()
	return retryWatch(ctx,
		func(ctx context.Context) (string, error) {
			l, err := leases.List(ctx, metav1.ListOptions{FieldSelector: byName})
			if err != nil {
				return "", err
			}
			return l.ResourceVersion, nil
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return leases.Watch(ctx, o)
		},
		func(ev watch.Event) {
			now := time.Now()
			l, ok := ev.Object.(*coordinationv1.Lease)
			if !ok {
				return
			}
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			if holder != b.seen.holder() {
				b.seen.record(func() { b.seen.holders = append(b.seen.holders, holderChange{now, holder}) })
			}
		})
}

// ---- the executor's part: node Leases ---------------------------------------------------------

// addLeases creates the executor Lease of each node, as agora-executor would: a node is in the
// pool only while its Lease is fresh.
func (b *bench) addLeases(ctx context.Context, nodes []string) error {
	b.leasesMu.Lock()
	b.leases = append(b.leases, nodes...)
	b.leasesMu.Unlock()
	secs := int32(executorLease.Seconds())
	holder := "agora-bench-failover"
	return parallel(ctx, len(nodes), func(i int) error {
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: testcluster.SystemNamespace, Name: agorav1alpha1.ExecutorLeaseName(nodes[i])},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &metav1.MicroTime{Time: time.Now()},
			},
		}
		_, err := b.kube.CoordinationV1().Leases(l.Namespace).Create(ctx, l, metav1.CreateOptions{})
		return err
	})
}

// renewLeases renews every executor Lease every fifth of its duration. The controller judges a
// Lease by when it saw it change, so a long duration and a slow renewal keep every node in the
// pool at a small API cost.
func (b *bench) renewLeases(ctx context.Context) {
	t := time.NewTicker(*executorLease / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.leasesMu.Lock()
		nodes := append([]string(nil), b.leases...)
		b.leasesMu.Unlock()
		err := parallel(ctx, len(nodes), func(i int) error {
			patch := fmt.Appendf(nil, `{"spec":{"renewTime":%q}}`, time.Now().UTC().Format(metav1.RFC3339Micro))
			_, err := b.kube.CoordinationV1().Leases(testcluster.SystemNamespace).Patch(ctx, agorav1alpha1.ExecutorLeaseName(nodes[i]), types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		})
		if err != nil && ctx.Err() == nil {
			log.Printf("renewing executor Leases: %v", err)
		}
	}
}

// ---- scale: nodes and admitted tasks ------------------------------------------------------------

// grow adds nodes (with executor Leases) and admitted tasks until the cluster has s.
func (b *bench) grow(ctx context.Context, s size) error {
	if have := len(b.c.Nodes()); have < s.nodes {
		log.Printf("adding %d kwok nodes (to %d)", s.nodes-have, s.nodes)
		added, err := b.c.AddNodes(ctx, s.nodes-have, testcluster.NodeShape{CPU: *nodeCPU, Memory: *nodeMemory, Pods: 1000})
		if err != nil {
			return err
		}
		if err := b.addLeases(ctx, added); err != nil {
			return err
		}
	}
	if b.tasks >= s.tasks {
		return nil
	}
	// Evenly over the nodes: at most perNode on each.
	nodes := b.c.Nodes()[:s.nodes]
	perNode := (s.tasks + s.nodes - 1) / s.nodes
	type place struct {
		ns, name, node string
	}
	var todo []place
	n := 0 // nodes fill in order: the first one not full yet
	for i := b.tasks; i < s.tasks; i++ {
		for n < len(nodes) && b.perNode[nodes[n]] >= perNode {
			n++
		}
		if n == len(nodes) {
			return fmt.Errorf("no room for task %d at %d a node (earlier sizes put more on some nodes)", i, perNode)
		}
		b.perNode[nodes[n]]++
		todo = append(todo, place{b.namespaces[i%len(b.namespaces)], fmt.Sprintf("task-%06d", i), nodes[n]})
	}
	log.Printf("creating %d admitted (Running) tasks of %s cpu / %s memory (to %d, at most %d a node)", len(todo), *taskCPU, *taskMemory, s.tasks, perNode)
	start := time.Now()
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(*taskCPU), corev1.ResourceMemory: resource.MustParse(*taskMemory)}
	var done atomic.Int64
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				log.Printf("%d/%d tasks created; %s", done.Load(), len(todo), loadavg())
			}
		}
	}()
	defer close(stopProgress)
	err := parallel(ctx, len(todo), func(i int) error {
		p := todo[i]
		tasks := b.agora.SchedulingV1alpha1().Tasks(p.ns)
		t, err := tasks.Create(ctx, &agorav1alpha1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name},
			Spec: agorav1alpha1.TaskSpec{
				// An offer released long ago: the restart charges the task by its status alone.
				OfferName: frameworkName + "-1", NodeName: p.node, Resources: res,
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "main", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: res},
				}}}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		t.Status = agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskRunning, Reason: agorav1alpha1.ReasonAdmitted, Framework: frameworkName}
		if _, err := tasks.UpdateStatus(ctx, t, metav1.UpdateOptions{}); err != nil {
			return err
		}
		done.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	b.tasks = s.tasks
	log.Printf("%d tasks created in %s", len(todo), time.Since(start).Round(time.Millisecond))
	return nil
}

// parallel runs f(0..n-1) on 32 goroutines and returns the first error (the rest still run).
func parallel(ctx context.Context, n int, f func(i int) error) error {
	work := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(32, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}
