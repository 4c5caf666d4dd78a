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
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// ErrSuperseded is what Run returns, and every verb of the Driver fails with, once another
// instance of the framework took its Lease over: a newer process of the same framework (a rolling
// update, a restart while the old process still lives) registered and now gets the offers. The
// error is a *SupersededError, which names that instance; test for it with errors.Is.
var ErrSuperseded = errors.New("sdk: superseded by another instance of the framework")

// SupersededError says which instance took the framework over. errors.Is(err, ErrSuperseded)
// holds for it.
type SupersededError struct {
	// Namespace and Name of the framework.
	Namespace, Name string
	// Instance is this Driver's identity (Config.Identity); Holder is the instance that holds
	// the framework's Lease now.
	Instance, Holder string
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("sdk: framework %s/%s: instance %q was superseded by instance %q, which took over the framework's Lease: "+
		"this instance gets no more offers and its Driver writes nothing more. Stop this process (the new instance carries on "+
		"with the framework's tasks), or start a new Driver to take the framework back",
		e.Namespace, e.Name, e.Instance, e.Holder)
}

// Is makes errors.Is(err, ErrSuperseded) true.
func (e *SupersededError) Is(target error) bool { return target == ErrSuperseded }

// MaxIdentityLength is the longest Config.Identity: the controller copies it into each Offer's
// spec.frameworkInstance, which holds at most this many characters.
const MaxIdentityLength = 253

// defaultIdentity is unique per process start: a pid is reused across restarts of a container,
// and two starts sharing an identity could not be told apart, so neither would be fenced.
func defaultIdentity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s_%d_%s", host, os.Getpid(), utilrand.String(5))
}

// Identity is the instance this Driver runs as: the holderIdentity it writes into the
// framework's Lease and the value of the scheduling.agora.dev/instance annotation on its Tasks.
func (d *Driver) Identity() string { return d.cfg.Identity }

// fencedErr is nil until another instance took the framework over, then ErrSuperseded.
func (d *Driver) fencedErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fenced == nil {
		return nil
	}
	return d.fenced
}

// supersede fences the Driver: from now on its verbs fail and it writes nothing. The callback
// goroutine then reports it to Error and Run returns it.
func (d *Driver) supersede(holder string) error {
	d.mu.Lock()
	first := d.fenced == nil
	if first {
		d.fenced = &SupersededError{Namespace: d.cfg.Namespace, Name: d.cfg.Name, Instance: d.cfg.Identity, Holder: holder}
	}
	err := d.fenced
	d.mu.Unlock()
	if first {
		d.events.push(event{kind: evSuperseded})
	}
	return err
}

// forThisInstance tells the offers made to this instance (or to no instance in particular: the
// framework had no Lease) from those made to another instance of the framework.
func (d *Driver) forThisInstance(o *agorav1alpha1.Offer) bool {
	return o.Spec.FrameworkInstance == "" || o.Spec.FrameworkInstance == d.cfg.Identity
}

// writeLease creates the framework's Lease or renews it. With takeOver (Run's first write) it
// takes the Lease whoever holds it, fresh or not: the newest instance of a framework wins, as a
// Mesos framework re-registering with its FrameworkID does. Without, a Lease held by another
// instance means this one was superseded: it writes nothing and returns ErrSuperseded. Both go
// through the Lease's resourceVersion, so of two instances writing at once one re-reads and
// sees the other.
func (d *Driver) writeLease(ctx context.Context, takeOver bool) error {
	api := d.kube.CoordinationV1().Leases(d.cfg.Namespace)
	secs := int32(max(d.cfg.LeaseDuration.Round(time.Second)/time.Second, 1))
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := d.fencedErr(); err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		cur, err := api.Get(ctx, d.cfg.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: d.cfg.Name, OwnerReferences: d.ownerRefs()},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: &d.cfg.Identity, LeaseDurationSeconds: &secs,
					AcquireTime: &now, RenewTime: &now,
				},
			}
			_, err = api.Create(ctx, lease, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(coordinationv1.Resource("leases"), d.cfg.Name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if holder := ptr.Deref(cur.Spec.HolderIdentity, ""); holder != d.cfg.Identity {
			// An empty holder released the Lease: that is no other instance running.
			if !takeOver && holder != "" {
				return d.supersede(holder)
			}
			cur.Spec.HolderIdentity = &d.cfg.Identity
			cur.Spec.AcquireTime = &now
			cur.Spec.LeaseTransitions = ptr.To(ptr.Deref(cur.Spec.LeaseTransitions, 0) + 1)
		}
		cur.Spec.LeaseDurationSeconds = &secs
		cur.Spec.RenewTime = &now
		if len(cur.OwnerReferences) == 0 {
			cur.OwnerReferences = d.ownerRefs()
		}
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

func (d *Driver) leaseLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := d.writeLease(ctx, false)
			switch {
			case errors.Is(err, ErrSuperseded):
				return // the callback goroutine reports it
			case err != nil && ctx.Err() == nil:
				d.events.push(event{kind: evError, err: fmt.Errorf("sdk: renewing framework Lease %s/%s: %w", d.cfg.Namespace, d.cfg.Name, err)})
			}
		}
	}
}

// watchLease notices a takeover as soon as it happens, rather than at the next renewal (up to a
// third of the Lease duration later, during which the old instance would go on launching). It
// needs leases list and watch; without them it says so once and leaves it to the renewals.
func (d *Driver) watchLease(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(d.kube, 0, informers.WithNamespace(d.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.cfg.Name).String()
		}))
	inf := factory.Coordination().V1().Leases().Informer()
	var forbidden sync.Once
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return
		}
		if apierrors.IsForbidden(err) {
			forbidden.Do(func() {
				d.events.push(event{kind: evError, err: fmt.Errorf("sdk: watching framework Lease %s/%s: %w; "+
					"a takeover by another instance is noticed only at the next renewal (grant leases list and watch)", d.cfg.Namespace, d.cfg.Name, err)})
				cancel()
			})
			return
		}
		d.events.push(event{kind: evError, err: fmt.Errorf("sdk: watching framework Lease %s/%s: %w", d.cfg.Namespace, d.cfg.Name, err)})
	}); err != nil {
		cancel()
		return nil, err
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    d.leaseSeen,
		UpdateFunc: func(_, obj any) { d.leaseSeen(obj) },
	}); err != nil {
		cancel()
		return nil, err
	}
	factory.Start(ctx.Done())
	return func() { cancel(); factory.Shutdown() }, nil
}

func (d *Driver) leaseSeen(obj any) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Name != d.cfg.Name {
		return
	}
	if holder := ptr.Deref(l.Spec.HolderIdentity, ""); holder != "" && holder != d.cfg.Identity {
		_ = d.supersede(holder)
	}
}
