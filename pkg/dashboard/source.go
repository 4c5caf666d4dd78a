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

package dashboard

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	agorainformers "github.com/agora-sched/agora/pkg/client/informers/externalversions"
)

// watchSource feeds the model from shared informers on the user's own credentials.
type watchSource struct {
	kube      kubernetes.Interface
	agora     versioned.Interface
	namespace string
	changed   func()

	mu        sync.Mutex
	forbidden map[string]string
	absent    map[string]string
	renewals  map[string]time.Time
	stores    map[string]cache.Store
	synced    []cache.InformerSynced
}

// probe tells whether the user may list a resource; only a refusal (401, 403) or a kind the
// API server does not serve (404: RoleQuotas on an Agora from before quotas) leaves the
// resource out, any other error is left to the informer's retries. An informer of a kind
// that is not served would never sync, and the pages wait for the first sync.
func probe(ctx context.Context, list func(context.Context, metav1.ListOptions) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := list(ctx, metav1.ListOptions{Limit: 1})
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// stripTask drops what the dashboard never reads from a cached Task (its pod template).
func stripTask(obj any) (any, error) {
	if t, ok := obj.(*agorav1alpha1.Task); ok {
		t.Spec.Template = corev1.PodTemplateSpec{}
		t.ManagedFields = nil
	}
	return obj, nil
}

func stripManaged(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func (w *watchSource) start(ctx context.Context) {
	w.forbidden = map[string]string{}
	w.absent = map[string]string{}
	w.renewals = map[string]time.Time{}
	w.stores = map[string]cache.Store{}
	ns := w.namespace
	af := agorainformers.NewSharedInformerFactoryWithOptions(w.agora, 0, agorainformers.WithNamespace(ns))
	cf := agorainformers.NewSharedInformerFactory(w.agora, 0) // cluster-scoped kinds: RoleQuotas
	kf := informers.NewSharedInformerFactoryWithOptions(w.kube, 0, informers.WithNamespace(ns))
	nf := informers.NewSharedInformerFactory(w.kube, 0)
	lf := informers.NewSharedInformerFactoryWithOptions(w.kube, 0, informers.WithNamespace(agorav1alpha1.SystemNamespace))
	sched := w.agora.SchedulingV1alpha1()
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.changed() },
		UpdateFunc: func(any, any) { w.changed() },
		DeleteFunc: func(any) { w.changed() },
	}
	type res struct {
		name     string
		list     func(context.Context, metav1.ListOptions) error
		informer func() cache.SharedIndexInformer
		strip    cache.TransformFunc
	}
	for _, r := range []res{
		{"frameworks", func(c context.Context, o metav1.ListOptions) error {
			_, err := sched.Frameworks(ns).List(c, o)
			return err
		},
			func() cache.SharedIndexInformer { return af.Scheduling().V1alpha1().Frameworks().Informer() }, stripManaged},
		{"offers", func(c context.Context, o metav1.ListOptions) error { _, err := sched.Offers(ns).List(c, o); return err },
			func() cache.SharedIndexInformer { return af.Scheduling().V1alpha1().Offers().Informer() }, stripManaged},
		{"tasks", func(c context.Context, o metav1.ListOptions) error { _, err := sched.Tasks(ns).List(c, o); return err },
			func() cache.SharedIndexInformer { return af.Scheduling().V1alpha1().Tasks().Informer() }, stripTask},
		{"events", func(c context.Context, o metav1.ListOptions) error {
			_, err := w.kube.CoreV1().Events(ns).List(c, o)
			return err
		}, func() cache.SharedIndexInformer { return kf.Core().V1().Events().Informer() }, stripManaged},
		{"nodes", func(c context.Context, o metav1.ListOptions) error {
			_, err := w.kube.CoreV1().Nodes().List(c, o)
			return err
		},
			func() cache.SharedIndexInformer { return nf.Core().V1().Nodes().Informer() }, stripManaged},
		{"leases", func(c context.Context, o metav1.ListOptions) error {
			_, err := w.kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).List(c, o)
			return err
		}, func() cache.SharedIndexInformer { return lf.Coordination().V1().Leases().Informer() }, stripManaged},
		{"rolequotas", func(c context.Context, o metav1.ListOptions) error {
			_, err := sched.RoleQuotas().List(c, o)
			return err
		},
			func() cache.SharedIndexInformer { return cf.Scheduling().V1alpha1().RoleQuotas().Informer() }, stripManaged},
	} {
		if err := probe(ctx, r.list); apierrors.IsNotFound(err) {
			w.absent[r.name] = err.Error()
			continue
		} else if err != nil {
			w.forbidden[r.name] = err.Error()
			continue
		}
		inf := r.informer()
		_ = inf.SetTransform(r.strip)
		if r.name == "leases" {
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				UpdateFunc: func(old, cur any) {
					o, ok1 := old.(*coordinationv1.Lease)
					c, ok2 := cur.(*coordinationv1.Lease)
					if ok1 && ok2 && !o.Spec.RenewTime.Equal(c.Spec.RenewTime) {
						w.mu.Lock()
						w.renewals[c.Name] = time.Now()
						w.mu.Unlock()
					}
					w.changed()
				},
				AddFunc:    func(any) { w.changed() },
				DeleteFunc: func(any) { w.changed() },
			})
		} else {
			_, _ = inf.AddEventHandler(handler)
		}
		w.stores[r.name] = inf.GetStore()
		w.synced = append(w.synced, inf.HasSynced)
	}
	af.Start(ctx.Done())
	cf.Start(ctx.Done())
	kf.Start(ctx.Done())
	nf.Start(ctx.Done())
	lf.Start(ctx.Done())
}

// waitSynced waits until every started informer has listed once, or ctx ends.
func (w *watchSource) waitSynced(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), w.synced...)
}

func list[T any](s cache.Store) []*T {
	if s == nil {
		return nil
	}
	items := s.List()
	out := make([]*T, 0, len(items))
	for _, o := range items {
		if t, ok := o.(*T); ok {
			out = append(out, t)
		}
	}
	return out
}

func (w *watchSource) state() *State {
	w.mu.Lock()
	renewals := make(map[string]time.Time, len(w.renewals))
	for k, v := range w.renewals {
		renewals[k] = v
	}
	w.mu.Unlock()
	st := &State{
		Namespace:     w.namespace,
		Frameworks:    list[agorav1alpha1.Framework](w.stores["frameworks"]),
		Offers:        list[agorav1alpha1.Offer](w.stores["offers"]),
		Tasks:         list[agorav1alpha1.Task](w.stores["tasks"]),
		Nodes:         list[corev1.Node](w.stores["nodes"]),
		Events:        list[corev1.Event](w.stores["events"]),
		RoleQuotas:    list[agorav1alpha1.RoleQuota](w.stores["rolequotas"]),
		LeaseRenewals: renewals,
		Forbidden:     w.forbidden,
		Absent:        w.absent,
	}
	for _, l := range list[coordinationv1.Lease](w.stores["leases"]) {
		if len(l.Name) > len(agorav1alpha1.ExecutorLeasePrefix) && l.Name[:len(agorav1alpha1.ExecutorLeasePrefix)] == agorav1alpha1.ExecutorLeasePrefix {
			st.Leases = append(st.Leases, l)
		}
	}
	return st
}
