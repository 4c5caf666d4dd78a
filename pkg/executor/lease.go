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
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// leaseRenewer keeps one node's Lease, agorav1alpha1.ExecutorLeaseName(node) in
// agorav1alpha1.SystemNamespace, fresh. The controller keeps a node in the pool only while that
// Lease is fresh (renewTime + leaseDurationSeconds in the future). Like the kubelet's node lease
// controller, it keeps the Lease it last wrote and updates that (one write per renewal, no read),
// and reads again only after a failure.
type leaseRenewer struct {
	e    *Executor
	node string
	last *coordinationv1.Lease // what the last successful write returned; only run touches it
}

func newLeaseRenewer(e *Executor, node string) *leaseRenewer {
	return &leaseRenewer{e: e, node: node}
}

// run renews at once and then every RenewInterval (plus up to 20% jitter, so that the leases
// of a thousand simulated nodes do not all fall due together) until ctx is done.
func (l *leaseRenewer) run(ctx context.Context) {
	wait.JitterUntilWithContext(ctx, func(ctx context.Context) {
		if err := l.renew(ctx); err != nil && ctx.Err() == nil {
			l.e.metrics.leaseErrors.Inc()
			klog.FromContext(ctx).Error(err, "Cannot renew the node's Lease", "lease", agorav1alpha1.SystemNamespace+"/"+agorav1alpha1.ExecutorLeaseName(l.node))
		}
	}, l.e.opts.RenewInterval, 0.2, true)
}

func (l *leaseRenewer) renew(ctx context.Context) error {
	err := l.tryRenew(ctx)
	if apierrors.IsConflict(err) {
		// Someone else wrote it (e.g. the executor this one replaces): read and take it over.
		err = l.tryRenew(ctx)
	}
	return err
}

func (l *leaseRenewer) tryRenew(ctx context.Context) error {
	leases := l.e.kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace)
	now := metav1.NewMicroTime(l.e.clock.Now())
	seconds := int32(l.e.opts.LeaseDuration.Seconds())
	identity := l.e.opts.Identity

	if l.last == nil {
		cur, err := leases.Get(ctx, agorav1alpha1.ExecutorLeaseName(l.node), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			created, err := leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: agorav1alpha1.ExecutorLeaseName(l.node), Namespace: agorav1alpha1.SystemNamespace},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       &identity,
					LeaseDurationSeconds: &seconds,
					AcquireTime:          &now,
					RenewTime:            &now,
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			l.last = created
			l.e.metrics.leaseRenewals.Inc()
			return nil
		}
		if err != nil {
			return err
		}
		l.last = cur
	}

	lease := l.last.DeepCopy()
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != identity {
		lease.Spec.HolderIdentity = &identity
		lease.Spec.AcquireTime = &now
		transitions := int32(0)
		if lease.Spec.LeaseTransitions != nil {
			transitions = *lease.Spec.LeaseTransitions + 1
		}
		lease.Spec.LeaseTransitions = &transitions
	}
	lease.Spec.LeaseDurationSeconds = &seconds
	lease.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		l.last = nil // read it again next time
		return err
	}
	l.last = updated
	l.e.metrics.leaseRenewals.Inc()
	return nil
}

// release deletes the Lease this renewer last wrote (only that version, so that a newer holder's
// Lease survives). Called once run has returned.
func (l *leaseRenewer) release(ctx context.Context) {
	if l.last == nil {
		return
	}
	rv := l.last.ResourceVersion
	err := l.e.kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).Delete(ctx, agorav1alpha1.ExecutorLeaseName(l.node),
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.FromContext(ctx).Error(err, "Cannot delete the Lease of a node no longer served", "node", l.node)
	}
}
