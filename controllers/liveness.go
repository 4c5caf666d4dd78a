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
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// defaultLeaseDuration is the freshness window of a Lease that does not say its own.
const defaultLeaseDuration = 15 * time.Second

// leaseObserver judges Leases (executors' and frameworks') by when this controller observed
// each renewal, never by comparing the remote host's renewTime with the controller's clock: a
// host whose clock runs minutes behind or ahead is judged by whether it keeps renewing. This is
// how client-go's leader election and the node lifecycle controller do it. A Lease seen for the
// first time (a controller that just started) counts as renewed when it is seen, so a restart
// never declares a live host stale; one that stops changing goes stale one leaseDuration later.
type leaseObserver struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	seen  map[types.NamespacedName]leaseSeen
}

// leaseSeen is the last renewal observed of one Lease.
type leaseSeen struct {
	// renewal identifies the renewal: renewTime, acquireTime, holder and transitions as
	// written by the holder (compared, never read as a time).
	renewal    string
	holder     string
	observedAt time.Time
	duration   time.Duration
	renewed    bool // the Lease has a renewTime or acquireTime at all
}

func newLeaseObserver(clk clock.PassiveClock) *leaseObserver {
	return &leaseObserver{clock: clk, seen: map[types.NamespacedName]leaseSeen{}}
}

// observe records a Lease as seen now, if its renewal changed.
func (o *leaseObserver) observe(l *coordinationv1.Lease) {
	key := types.NamespacedName{Namespace: l.Namespace, Name: l.Name}
	s := leaseSeen{duration: defaultLeaseDuration}
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		s.duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	if l.Spec.HolderIdentity != nil {
		s.holder = *l.Spec.HolderIdentity
	}
	if l.Spec.RenewTime != nil {
		s.renewal = l.Spec.RenewTime.UTC().Format(time.RFC3339Nano)
		s.renewed = true
	}
	if l.Spec.AcquireTime != nil {
		s.renewal += "/" + l.Spec.AcquireTime.UTC().Format(time.RFC3339Nano)
		s.renewed = true
	}
	if l.Spec.LeaseTransitions != nil {
		s.renewal += "/" + time.Duration(*l.Spec.LeaseTransitions).String()
	}
	s.renewal += "/" + s.holder
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev, ok := o.seen[key]; ok && prev.renewal == s.renewal {
		prev.duration = s.duration
		o.seen[key] = prev
		return
	}
	s.observedAt = o.clock.Now()
	o.seen[key] = s
}

// forget drops a deleted Lease: its holder is treated as stale from now on.
func (o *leaseObserver) forget(key types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, key)
}

// expiry is when the Lease stops being fresh: one leaseDuration after this controller observed
// its last renewal. ok is false when the Lease is unknown (never seen, or deleted) or was never
// renewed.
func (o *leaseObserver) expiry(key types.NamespacedName) (expiry time.Time, holder string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, found := o.seen[key]
	if !found {
		return time.Time{}, "", false
	}
	if !s.renewed {
		return time.Time{}, s.holder, false
	}
	return s.observedAt.Add(s.duration), s.holder, true
}

// handler feeds the observer from the Lease informer, so a renewal is timed when the watch
// delivers it, not when a reconcile gets round to it.
func (o *leaseObserver) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if l, ok := obj.(*coordinationv1.Lease); ok {
				o.observe(l)
			}
		},
		UpdateFunc: func(_, cur any) {
			if l, ok := cur.(*coordinationv1.Lease); ok {
				o.observe(l)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if l, ok := obj.(*coordinationv1.Lease); ok {
				o.forget(types.NamespacedName{Namespace: l.Namespace, Name: l.Name})
			}
		},
	}
}
