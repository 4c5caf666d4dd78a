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
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	agorainformers "github.com/agora-sched/agora/pkg/client/informers/externalversions"
	agoralisters "github.com/agora-sched/agora/pkg/client/listers/api/v1alpha1"
)

// agent serves one node: its Lease and its watches. In DaemonSet mode there is one; in
// simulation mode one per simulated node, all sharing the executor's workers and clients.
type agent struct {
	node   string
	cancel context.CancelFunc
	// syncedCh is closed once both caches are synced and the event handlers are in place;
	// done once every goroutine of the agent has returned.
	syncedCh chan struct{}
	done     chan struct{}
	synced   atomic.Bool

	tasks agoralisters.TaskLister
	pods  corelisters.PodLister
	lease *leaseRenewer
}

// nodeNameField is the Task field the CRD makes selectable (selectableFields), so each node's
// watch carries only its own tasks.
const nodeNameField = "spec.nodeName"

// startAgent starts serving node, unless it is served already, and returns its agent.
func (e *Executor) startAgent(ctx context.Context, node string) *agent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.agents[node]; a != nil {
		return a
	}
	actx, cancel := context.WithCancel(ctx)
	a := &agent{
		node:     node,
		cancel:   cancel,
		syncedCh: make(chan struct{}),
		done:     make(chan struct{}),
		lease:    newLeaseRenewer(e, node),
	}
	e.agents[node] = a
	e.metrics.nodes.Inc()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(a.done)
		e.runAgent(actx, a)
	}()
	return a
}

// stopAgent stops serving node (simulation mode: the node was deleted or no longer matches) and
// deletes its Lease, so that the controller sees at once that nobody serves it.
func (e *Executor) stopAgent(ctx context.Context, node string) {
	e.mu.Lock()
	a := e.agents[node]
	delete(e.agents, node)
	e.mu.Unlock()
	if a == nil {
		return
	}
	e.metrics.nodes.Dec()
	a.cancel()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		<-a.done
		if ctx.Err() == nil {
			a.lease.release(ctx)
		}
		klog.FromContext(ctx).Info("Stopped serving node", "node", node)
	}()
}

func (e *Executor) runAgent(ctx context.Context, a *agent) {
	logger := klog.FromContext(ctx).WithValues("node", a.node)
	ctx = klog.NewContext(ctx, logger)

	if e.shared != nil {
		// SharedWatches: the caches exist already; look at what they hold for this node once.
		a.tasks, a.pods = e.shared.tasks, e.shared.pods
		a.synced.Store(true)
		close(a.syncedCh)
		e.shared.enqueueNode(e, a.node)
		logger.V(2).Info("Serving node")
		a.lease.run(ctx)
		return
	}

	onNode := fields.OneTermEqualSelector(nodeNameField, a.node).String()
	taskFactory := agorainformers.NewSharedInformerFactoryWithOptions(e.agora, e.opts.ResyncPeriod,
		agorainformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = onNode }),
		agorainformers.WithTransform(stripManagedFields))
	// Only pods Agora made (they carry the task label) on this node.
	hasTaskLabel, _ := labels.NewRequirement(agorav1alpha1.LabelTask, selection.Exists, nil)
	podSelector := labels.NewSelector().Add(*hasTaskLabel).String()
	podFactory := informers.NewSharedInformerFactoryWithOptions(e.kube, e.opts.ResyncPeriod,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = onNode
			o.LabelSelector = podSelector
		}),
		informers.WithTransform(stripManagedFields))

	taskInformer := taskFactory.Scheduling().V1alpha1().Tasks()
	podInformer := podFactory.Core().V1().Pods()
	a.tasks = taskInformer.Lister()
	a.pods = podInformer.Lister()
	taskInf, podInf := taskInformer.Informer(), podInformer.Informer()

	taskFactory.Start(ctx.Done())
	podFactory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer taskFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), taskInf.HasSynced, podInf.HasSynced) {
		return
	}

	// Handlers go in after the caches are full: each gets an Add for everything already there,
	// so a restarted executor looks at every task and pod of its node once, with both caches
	// complete (restart adoption).
	a.synced.Store(true)
	_, err := taskInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.taskEvent(a.node, obj, false) },
		UpdateFunc: func(_, obj any) { e.taskEvent(a.node, obj, false) },
		DeleteFunc: func(obj any) { e.taskEvent(a.node, obj, true) },
	})
	if err != nil {
		logger.Error(err, "Cannot watch tasks")
		return
	}
	_, err = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.podEvent(a.node, obj) },
		UpdateFunc: func(_, obj any) { e.podEvent(a.node, obj) },
		DeleteFunc: func(obj any) { e.podEvent(a.node, obj) },
	})
	if err != nil {
		logger.Error(err, "Cannot watch pods")
		return
	}
	close(a.syncedCh)
	logger.V(2).Info("Serving node")

	a.lease.run(ctx) // until ctx is done
}

func (e *Executor) taskEvent(node string, obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	task, ok := obj.(*agorav1alpha1.Task)
	if !ok {
		return
	}
	key := taskKey{node: node, namespace: task.Namespace, name: task.Name}
	if deleted {
		e.forget(key)
	}
	e.queue.Add(key)
}

// podEvent maps a pod to the task that owns it.
func (e *Executor) podEvent(node string, obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ref := taskRef(pod); ref != nil {
		e.enqueue(node, pod.Namespace, ref.Name)
	}
}

// taskRef returns the pod's controller reference if it is a Task.
func taskRef(pod *corev1.Pod) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Task" || ref.APIVersion != agorav1alpha1.SchemeGroupVersion.String() {
		return nil
	}
	return ref
}

// stripManagedFields drops what the executor never reads from cached objects (a large share of
// their size at 10,000 tasks).
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// sharedCaches are the all-nodes Task and Pod caches of SharedWatches mode, indexed by node.
type sharedCaches struct {
	taskInf, podInf cache.SharedIndexInformer
	tasks           agoralisters.TaskLister
	pods            corelisters.PodLister
}

const byNodeIndex = "byNode"

func (e *Executor) startSharedCaches(ctx context.Context) (*sharedCaches, error) {
	taskFactory := agorainformers.NewSharedInformerFactoryWithOptions(e.agora, e.opts.ResyncPeriod,
		agorainformers.WithTransform(stripManagedFields))
	hasTaskLabel, _ := labels.NewRequirement(agorav1alpha1.LabelTask, selection.Exists, nil)
	podSelector := labels.NewSelector().Add(*hasTaskLabel).String()
	podFactory := informers.NewSharedInformerFactoryWithOptions(e.kube, e.opts.ResyncPeriod,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = podSelector }),
		informers.WithTransform(stripManagedFields))
	taskInformer := taskFactory.Scheduling().V1alpha1().Tasks()
	podInformer := podFactory.Core().V1().Pods()
	sc := &sharedCaches{
		taskInf: taskInformer.Informer(), podInf: podInformer.Informer(),
		tasks: taskInformer.Lister(), pods: podInformer.Lister(),
	}
	if err := sc.taskInf.AddIndexers(cache.Indexers{byNodeIndex: func(obj any) ([]string, error) {
		if t, ok := obj.(*agorav1alpha1.Task); ok {
			return []string{t.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	if err := sc.podInf.AddIndexers(cache.Indexers{byNodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	// Events go to the node's agent; those of nodes not served are dropped (an agent that starts
	// later enqueues what the caches hold for its node).
	nodeOf := func(obj any) (string, bool) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		switch o := obj.(type) {
		case *agorav1alpha1.Task:
			return o.Spec.NodeName, true
		case *corev1.Pod:
			return o.Spec.NodeName, true
		}
		return "", false
	}
	served := func(obj any) (string, bool) {
		node, ok := nodeOf(obj)
		return node, ok && e.agentFor(node) != nil
	}
	if _, err := sc.taskInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if node, ok := served(obj); ok {
				e.taskEvent(node, obj, false)
			}
		},
		UpdateFunc: func(_, obj any) {
			if node, ok := served(obj); ok {
				e.taskEvent(node, obj, false)
			}
		},
		DeleteFunc: func(obj any) {
			if node, ok := served(obj); ok {
				e.taskEvent(node, obj, true)
			}
		},
	}); err != nil {
		return nil, err
	}
	podHandler := func(obj any) {
		if node, ok := served(obj); ok {
			e.podEvent(node, obj)
		}
	}
	if _, err := sc.podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: podHandler, UpdateFunc: func(_, obj any) { podHandler(obj) }, DeleteFunc: podHandler,
	}); err != nil {
		return nil, err
	}
	taskFactory.Start(ctx.Done())
	podFactory.Start(ctx.Done())
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		<-ctx.Done()
		taskFactory.Shutdown()
		podFactory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), sc.taskInf.HasSynced, sc.podInf.HasSynced) {
		return nil, ctx.Err()
	}
	return sc, nil
}

// enqueueNode queues every task and pod the caches hold for node.
func (sc *sharedCaches) enqueueNode(e *Executor, node string) {
	tasks, _ := sc.taskInf.GetIndexer().ByIndex(byNodeIndex, node)
	for _, obj := range tasks {
		e.taskEvent(node, obj, false)
	}
	pods, _ := sc.podInf.GetIndexer().ByIndex(byNodeIndex, node)
	for _, obj := range pods {
		e.podEvent(node, obj)
	}
}
