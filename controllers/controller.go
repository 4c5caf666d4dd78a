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
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// SystemNamespace holds the controller's and the executors' Leases (defined in api/).
const SystemNamespace = agorav1alpha1.SystemNamespace

// ExecutorLeasePrefix starts the name of an executor's Lease: executor-<node> (defined in api/).
const ExecutorLeasePrefix = agorav1alpha1.ExecutorLeasePrefix

// Field indexes of the controller's cache.
const (
	indexTaskOffer     = "spec.offerName"
	indexTaskFramework = "status.framework"
	indexTaskNode      = "spec.nodeName"
	indexOfferFw       = "spec.framework"
	indexPodNode       = "spec.nodeName"
)

// Options configure the controller; cmd/agora-controller fills them from flags.
type Options struct {
	// AllocationInterval is the period of the allocation cycle.
	AllocationInterval time.Duration
	// OfferTimeout is the offer lifetime of frameworks that set no spec.offerTimeout.
	OfferTimeout time.Duration
	// MinAllocatable is the smallest amount worth offering; zero means the allocator's default.
	MinAllocatable allocator.Resources
	// NodeSelector keeps nodes that do not match out of the pool; nil means every node.
	NodeSelector labels.Selector
	// NodeLostTimeout is how long a Node may stay NotReady (as this controller observes it)
	// before it is lost with its tasks. A silent executor on a Ready Node never loses tasks: they
	// are Unreachable.
	NodeLostTimeout time.Duration
	// Clock is the controller's clock (tests inject a fake one); nil means the real clock.
	Clock clock.Clock
}

func (o *Options) defaults() {
	if o.AllocationInterval <= 0 {
		o.AllocationInterval = time.Second
	}
	if o.OfferTimeout <= 0 {
		o.OfferTimeout = 60 * time.Second
	}
	if o.NodeSelector == nil {
		o.NodeSelector = labels.Everything()
	}
	if o.NodeLostTimeout <= 0 {
		o.NodeLostTimeout = 5 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// Controller is agora-controller: the model, its reconcilers and the allocation loop.
type Controller struct {
	client   client.Client
	reader   client.Reader // uncached, for release
	cache    cache.Cache
	recorder events.EventRecorder
	opts     Options
	clock    clock.Clock
	m        *model
	// leases times every Lease renewal by this controller's clock (executors' and frameworks').
	leases        *leaseObserver
	nodeReadiness nodeReadiness
	silences      silences

	offerQueue, fwQueue, nodeQueue, quotaQueue *queueSource
	counts                                     *taskCounter

	// gaugedRoles are the roles the role gauges were last set for (updateGauges, allocation
	// loop only).
	gaugedRoles map[string]bool

	// statusMu guards lastStatusWrite: when each Framework's status was last written.
	statusMu        sync.Mutex
	lastStatusWrite map[types.NamespacedName]time.Time
}

// CacheOptions are the manager's cache options: they keep the informers small. Pods are
// watched only when bound and not terminal, Agora's included (a pod counts as a task's only while
// the model charges that task; see syncNode), and keep only what their requests need; Leases in
// kube-node-lease (one per node, not Agora's) are not watched at all.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {
				Field: fields.AndSelectors(
					fields.OneTermNotEqualSelector("spec.nodeName", ""),
					fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
					fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
				),
				Transform: stripPod,
			},
			&coordinationv1.Lease{}: {
				Field: fields.OneTermNotEqualSelector("metadata.namespace", corev1.NamespaceNodeLease),
			},
			&corev1.Node{}: {Transform: stripNode},
		},
	}
}

// stripPod keeps what the model needs of a pod: where it runs, whose it is, and everything
// kube-scheduler counts of its requests (containers, restartable init containers, pod-level
// resources, overhead, and the resources the kubelet allocated after an in-place resize).
func stripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
		Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp, OwnerReferences: p.OwnerReferences,
	}}
	out.Spec.NodeName = p.Spec.NodeName
	out.Spec.Overhead = p.Spec.Overhead
	out.Spec.Resources = p.Spec.Resources
	for _, c := range p.Spec.Containers {
		out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name, Resources: corev1.ResourceRequirements{Requests: c.Resources.Requests}})
	}
	for _, c := range p.Spec.InitContainers {
		out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy, Resources: corev1.ResourceRequirements{Requests: c.Resources.Requests}})
	}
	out.Status.Phase = p.Status.Phase
	out.Status.Resources = p.Status.Resources
	for _, cs := range p.Status.ContainerStatuses {
		out.Status.ContainerStatuses = append(out.Status.ContainerStatuses, corev1.ContainerStatus{Name: cs.Name, Resources: cs.Resources, AllocatedResources: cs.AllocatedResources})
	}
	for _, cs := range p.Status.InitContainerStatuses {
		out.Status.InitContainerStatuses = append(out.Status.InitContainerStatuses, corev1.ContainerStatus{Name: cs.Name, Resources: cs.Resources, AllocatedResources: cs.AllocatedResources})
	}
	return out, nil
}

// stripNode drops images, addresses and the other bulky parts of a Node status.
func stripNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	n.ManagedFields = nil
	n.Status.Images = nil
	n.Status.VolumesInUse = nil
	n.Status.VolumesAttached = nil
	n.Status.NodeInfo = corev1.NodeSystemInfo{}
	return n, nil
}

// newAllocator returns an empty allocator configured from opts.
func newAllocator(opts Options) *allocator.Allocator {
	return allocator.New(allocator.Config{
		MinAllocatable:   opts.MinAllocatable,
		MaxNodesPerOffer: agorav1alpha1.MaxOfferNodes,
		// The wall clock in microseconds seeds the IDs, so a new leader never reuses the name
		// of an Offer deleted before it started (offer names carry the ID).
		FirstOfferID: allocator.OfferID(time.Now().UnixMicro()),
		Clock:        opts.Clock,
	})
}

// Setup creates the controller and registers its field indexes, reconcilers and allocation
// loop with mgr, whose cache should use CacheOptions.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) (*Controller, error) {
	opts.defaults()
	a := newAllocator(opts)
	c := &Controller{
		client:          mgr.GetClient(),
		reader:          mgr.GetAPIReader(),
		cache:           mgr.GetCache(),
		recorder:        mgr.GetEventRecorder("agora-controller"),
		opts:            opts,
		clock:           opts.Clock,
		m:               newModel(a, opts.Clock),
		leases:          newLeaseObserver(opts.Clock),
		offerQueue:      &queueSource{},
		fwQueue:         &queueSource{},
		nodeQueue:       &queueSource{},
		quotaQueue:      &queueSource{},
		lastStatusWrite: map[types.NamespacedName]time.Time{},
		gaugedRoles:     map[string]bool{},
	}
	c.counts = newTaskCounter(c.enqueueFrameworks)
	idx := mgr.GetFieldIndexer()
	for _, ix := range []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&agorav1alpha1.Task{}, indexTaskOffer, func(o client.Object) []string { return []string{o.(*agorav1alpha1.Task).Spec.OfferName} }},
		{&agorav1alpha1.Task{}, indexTaskFramework, func(o client.Object) []string {
			if fw := o.(*agorav1alpha1.Task).Status.Framework; fw != "" {
				return []string{fw}
			}
			return nil
		}},
		{&agorav1alpha1.Task{}, indexTaskNode, func(o client.Object) []string { return []string{o.(*agorav1alpha1.Task).Spec.NodeName} }},
		{&agorav1alpha1.Offer{}, indexOfferFw, func(o client.Object) []string { return []string{o.(*agorav1alpha1.Offer).Spec.Framework} }},
		{&corev1.Pod{}, indexPodNode, func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }},
	} {
		if err := idx.IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return nil, fmt.Errorf("index %s: %w", ix.field, err)
		}
	}
	taskInformer, err := mgr.GetCache().GetInformer(ctx, &agorav1alpha1.Task{})
	if err != nil {
		return nil, err
	}
	if _, err := taskInformer.AddEventHandler(c.counts.handler()); err != nil {
		return nil, err
	}
	leaseInformer, err := mgr.GetCache().GetInformer(ctx, &coordinationv1.Lease{})
	if err != nil {
		return nil, err
	}
	if _, err := leaseInformer.AddEventHandler(c.leases.handler()); err != nil {
		return nil, err
	}
	// Every informer the model is rebuilt from starts with the process, not with leadership: a
	// standby's caches are warm when it takes over (Node and Framework informers were started
	// by their controllers' watches only once it led: 1.2-1.4 s of a failover at 5,000 nodes).
	for _, obj := range []client.Object{&corev1.Node{}, &agorav1alpha1.Framework{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return nil, err
		}
	}
	if err := c.setupNodes(mgr); err != nil {
		return nil, err
	}
	if err := c.setupFrameworks(mgr); err != nil {
		return nil, err
	}
	if err := c.setupOffers(mgr); err != nil {
		return nil, err
	}
	if err := c.setupTasks(mgr); err != nil {
		return nil, err
	}
	if err := c.setupQuotas(mgr); err != nil {
		return nil, err
	}
	if err := mgr.Add(&allocationLoop{c: c}); err != nil {
		return nil, err
	}
	registerMetrics()
	return c, nil
}

// waitReady blocks a reconciler until the model is rebuilt from the API.
func (c *Controller) waitReady(ctx context.Context) error {
	select {
	case <-c.m.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// queueSource is a reconciler's source of requests the controller raises itself (offers to
// follow a rescind, frameworks to refresh after a cycle). It adds them to the reconciler's queue
// directly, so they are deduplicated there and never dropped; requests raised before the
// reconciler started wait for it.
type queueSource struct {
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[reconcile.Request]bool
}

func (s *queueSource) source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queue = q
		for r := range s.pending {
			q.Add(r)
		}
		s.pending = nil
		return nil
	})
}

func (s *queueSource) add(keys ...types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if s.queue == nil {
			if s.pending == nil {
				s.pending = map[reconcile.Request]bool{}
			}
			s.pending[reconcile.Request{NamespacedName: k}] = true
			continue
		}
		s.queue.Add(reconcile.Request{NamespacedName: k})
	}
}

func (c *Controller) enqueueOffers(keys ...types.NamespacedName) { c.offerQueue.add(keys...) }

func (c *Controller) enqueueNodes(names ...string) {
	keys := make([]types.NamespacedName, 0, len(names))
	for _, n := range names {
		keys = append(keys, types.NamespacedName{Name: n})
	}
	c.nodeQueue.add(keys...)
}

func (c *Controller) enqueueFrameworks(ids ...string) {
	keys := make([]types.NamespacedName, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, splitID(id))
	}
	c.fwQueue.add(keys...)
}

// publishWriters bounds the Offer creates one cycle has in flight at once.
const publishWriters = 8

// allocationLoop runs the allocation cycle on the leader.
type allocationLoop struct{ c *Controller }

func (l *allocationLoop) NeedLeaderElection() bool { return true }

// Start rebuilds the model from the API, opens the reconcilers, then runs a cycle every
// AllocationInterval when something changed or a decline filter expired.
func (l *allocationLoop) Start(ctx context.Context) error {
	c := l.c
	logger := log.FromContext(ctx).WithName("allocation")
	if !c.cache.WaitForCacheSync(ctx) {
		return errors.New("cache did not sync")
	}
	// A rebuild that fails half way (kube-apiserver restarting under a new leader) leaves a
	// model that holds part of the cluster: start over from an empty one until it succeeds or
	// leadership ends, rather than exit and rebuild in a new process.
	for backoff := 500 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := c.rebuild(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("rebuild model: %w", err)
		}
		logger.Error(err, "rebuilding the model from the API failed; starting over from an empty one", "retryIn", backoff)
		c.m.reset(newAllocator(c.opts))
		select {
		case <-ctx.Done():
			return fmt.Errorf("rebuild model: %w", err)
		case <-time.After(backoff):
		}
	}
	close(c.m.ready)
	logger.Info("model rebuilt from the API; allocating", "interval", c.opts.AllocationInterval)
	t := time.NewTicker(c.opts.AllocationInterval)
	defer t.Stop()
	// A new leader offers at once: frameworks have waited through the failover already.
	c.cycle(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.cycle(ctx)
		case <-c.m.kick:
			c.cycle(ctx)
		}
	}
}

// cycle runs one allocation and publishes its offers.
func (c *Controller) cycle(ctx context.Context) {
	m := c.m
	m.mu.Lock()
	now := c.clock.Now()
	due := m.changed
	if exp, ok := m.alloc.NextFilterExpiry(); ok && !exp.After(now) {
		due = true
	}
	if !due {
		m.mu.Unlock()
		return
	}
	if blocking, stale := m.rescindsUnwrittenLocked(now); blocking {
		m.mu.Unlock()
		return // the write's completion kicks the loop
	} else if len(stale) > 0 {
		log.FromContext(ctx).Info("offers whose rescind could not be written for a while; offering again anyway", "offers", stale, "after", unwrittenHold)
		for _, key := range stale {
			m.offers[key].unwrittenSince = time.Time{}
		}
	}
	m.changed = false
	m.pruneTombstones(now)
	start := time.Now()
	offers := m.alloc.Allocate()
	allocated := time.Since(start)
	// What the cycle took back for roles below their guarantees: revocable offer parts (their
	// Offers follow at once) and revocable tasks to kill.
	reclaimed, preempted := m.alloc.TakeReclaim()
	reclaimedOffers := m.applyRescinded(reclaimed, "")
	var kills []preemption
	for _, p := range preempted {
		if ts := m.tasks[types.UID(p.Task)]; ts != nil && ts.admittedWritten {
			kills = append(kills, preemption{key: ts.key, uid: types.UID(p.Task), framework: p.Framework, role: p.Role, resources: p.Resources})
		} else {
			// Not a task this model knows, or one whose admission (status.revocable) is not
			// written yet: a kill recorded now could outlive this leader before the API shows
			// the task as admitted at all. It may be chosen again once it is.
			m.alloc.CancelPreemption(p.Task)
		}
	}
	whyChanged := m.alloc.WhyChanged()
	for _, id := range whyChanged {
		if fs := m.frameworks[id]; fs != nil {
			fs.why = nil // explained again at its reconcile, queued below
		}
	}
	metricCycleDuration.Observe(allocated.Seconds())
	stats := m.alloc.Stats()
	type pending struct {
		st  *offerState
		obj *agorav1alpha1.Offer
	}
	var toCreate []pending
	offeredNodes := 0
	for _, o := range offers {
		offeredNodes += len(o.Nodes)
		fwKey := splitID(o.Framework)
		timeout := c.opts.OfferTimeout
		fs := m.frameworks[o.Framework]
		if fs != nil && fs.offerTimeout > 0 {
			timeout = fs.offerTimeout
		}
		st := &offerState{
			key:            types.NamespacedName{Namespace: fwKey.Namespace, Name: offerName(fwKey.Name, o.ID)},
			id:             o.ID,
			framework:      o.Framework,
			expire:         o.MadeAt.Add(timeout),
			nodes:          map[string]allocator.Resources{},
			rescindedNodes: map[string]string{},
		}
		if fs != nil {
			st.instance = fs.instance
		}
		st.creating = true
		obj := &agorav1alpha1.Offer{
			ObjectMeta: metav1.ObjectMeta{
				Name: st.key.Name, Namespace: st.key.Namespace,
				Finalizers: []string{agorav1alpha1.OfferFinalizer},
				Labels:     map[string]string{agorav1alpha1.LabelFramework: fwKey.Name},
			},
			Spec: agorav1alpha1.OfferSpec{Framework: fwKey.Name, ExpireTime: metav1.NewTime(st.expire), FrameworkInstance: st.instance},
		}
		for _, n := range o.Nodes {
			st.nodes[n.Node] = n.Resources
			obj.Spec.Nodes = append(obj.Spec.Nodes, agorav1alpha1.OfferNode{
				NodeName: n.Node, Resources: toResourceList(n.Resources), Attributes: m.nodeAttrs[n.Node], Revocable: n.Revocable,
			})
		}
		m.offers[st.key] = st
		m.byID[st.id] = st
		toCreate = append(toCreate, pending{st, obj})
	}
	m.mu.Unlock()
	c.enqueueOffers(reclaimedOffers...)
	if len(kills) > 0 {
		go c.preempt(ctx, kills)
	}

	// One create per framework (per 500 nodes): they go out publishWriters at a time, so a cycle
	// takes a few API round trips, not one per framework.
	fws := map[string]bool{}
	work := make(chan pending)
	var wg sync.WaitGroup
	for range min(publishWriters, len(toCreate)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				err := c.createOffer(ctx, p.obj)
				m.mu.Lock()
				p.st.creating = false
				if err != nil {
					// The create may have landed all the same (a timeout, a connection lost
					// after the write): the offer is taken back, and what it held is not offered
					// again until its reconcile has made sure no object shows it.
					log.FromContext(ctx).Error(err, "cannot publish offer; rescinding it", "offer", p.st.key)
					if m.byID[p.st.id] == p.st {
						_ = m.alloc.RescindOffer(p.st.id)
						m.forgetOffer(p.st, agorav1alpha1.ReasonNodeLost)
					}
					m.mu.Unlock()
					c.enqueueOffers(p.st.key)
					continue
				}
				m.mu.Unlock()
				metricOffersMade.Inc()
			}
		}()
	}
	for _, p := range toCreate {
		fws[p.st.framework] = true
		work <- p
	}
	close(work)
	wg.Wait()
	ids := make([]string, 0, len(fws)+len(whyChanged))
	for id := range fws {
		ids = append(ids, id)
	}
	// Frameworks whose Ready reason may have changed with this cycle (they got nothing, or
	// got something after nothing) write it.
	for _, id := range whyChanged {
		if !fws[id] {
			ids = append(ids, id)
		}
	}
	c.enqueueFrameworks(ids...)
	c.updateGauges()
	// One line per cycle that ran (debug level): what it offered and what it cost, for
	// hack/bench/controller and for anyone asking why offers are slow.
	log.FromContext(ctx).V(1).Info("cycle", "offers", len(offers), "offeredNodes", offeredNodes,
		"allocateSeconds", allocated.Seconds(), "cycleSeconds", time.Since(start).Seconds(),
		"poolNodes", stats.PoolNodes, "frameworks", stats.Frameworks, "outstandingOffers", stats.Offers, "tasks", stats.Tasks, "filters", stats.Filters)
}

func (c *Controller) createOffer(ctx context.Context, obj *agorav1alpha1.Offer) error {
	fw := &agorav1alpha1.Framework{}
	if err := c.cache.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.Framework}, fw); err != nil {
		return err
	}
	if !fw.DeletionTimestamp.IsZero() {
		return fmt.Errorf("framework %s/%s is being deleted", fw.Namespace, fw.Name)
	}
	obj.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Framework", Name: fw.Name, UID: fw.UID,
		Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
	}}
	return c.client.Create(ctx, obj)
}

func ptrTo[T any](v T) *T { return &v }

// listPaged lists all of a kind from r into list, 500 at a time, as one snapshot (the API
// server serves a continued list at the first page's resourceVersion).
func listPaged(ctx context.Context, r client.Reader, list client.ObjectList) error {
	var items []runtime.Object
	cont := ""
	for {
		if err := r.List(ctx, list, client.Limit(500), client.Continue(cont)); err != nil {
			return err
		}
		got, err := apimeta.ExtractList(list)
		if err != nil {
			return err
		}
		items = append(items, got...)
		if cont = list.GetContinue(); cont == "" {
			break
		}
	}
	return apimeta.SetList(list, items)
}

// rebuild fills the model from the cache before the first cycle: nodes, frameworks, the
// admitted tasks that still hold resources, then the outstanding Offers with exactly what no
// admitted task took of them (their status.admitted, written before each admission), oldest
// first. Nothing is double-booked because tasks are charged before offers, and an offer part
// that no longer fits (the node's capacity changed while no controller ran) is rescinded.
func (c *Controller) rebuild(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("rebuild")
	// Offer IDs (and so Offer names) start above the clock at leadership, not at process start:
	// a standby started before the leader it replaces would otherwise hand out IDs that leader
	// used for Offers already deleted, and a late Task naming one would meet a new Offer.
	c.m.mu.Lock()
	c.m.alloc.SkipOfferIDsTo(allocator.OfferID(time.Now().UnixMicro()))
	c.m.mu.Unlock()
	// Quotas before anything is offered: a first cycle without them would hand out, as
	// ordinary resources, the headroom that unmet guarantees need.
	var quotas agorav1alpha1.RoleQuotaList
	if err := c.reader.List(ctx, &quotas); err != nil {
		return fmt.Errorf("list role quotas: %w", err)
	}
	c.m.mu.Lock()
	for i := range quotas.Items {
		if err := c.setQuota(&quotas.Items[i]); err != nil {
			logger.Error(err, "quota not accepted", "rolequota", quotas.Items[i].Name)
		}
	}
	c.m.mu.Unlock()
	var fws agorav1alpha1.FrameworkList
	if err := c.cache.List(ctx, &fws); err != nil {
		return err
	}
	for i := range fws.Items {
		fw := &fws.Items[i]
		c.m.mu.Lock()
		_, err := c.setFramework(fw)
		c.m.mu.Unlock()
		if err != nil {
			logger.Error(err, "framework not accepted", "framework", client.ObjectKeyFromObject(fw))
			continue
		}
		lv, err := c.liveness(ctx, fw, c.clock.Now())
		if err != nil {
			return err
		}
		c.m.mu.Lock()
		c.m.frameworks[frameworkID(fw.Namespace, fw.Name)].instance = lv.holder
		c.m.mu.Unlock()
	}
	// Tasks and Offers are read from the API, not the cache: a standby's cache may lag behind
	// the last admissions and offers of the leader it replaces (its watches were cut by the same
	// fault that ended that leader), and a model rebuilt from it would offer what they hold.
	// The fence makes the old leader stop writing before this one may lead, so a read now sees
	// everything it wrote. Paged, as one consistent snapshot.
	var tasks agorav1alpha1.TaskList
	if err := listPaged(ctx, c.reader, &tasks); err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	// usedFromOffer sums, per offer and node, what tasks that still exist took of it: the
	// fallback for an Offer written before status.admitted existed.
	usedFromOffer := map[types.NamespacedName]map[string]allocator.Resources{}
	var unfinished []preemption
	// In creation order: the allocator numbers tasks as it is told of them, and preempts the
	// youngest first.
	sort.SliceStable(tasks.Items, func(i, j int) bool {
		return tasks.Items[i].CreationTimestamp.Before(&tasks.Items[j].CreationTimestamp)
	})
	m := c.m
	m.mu.Lock()
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Status.Phase == "" || t.Status.Framework == "" {
			continue
		}
		r, _ := toResources(t.Spec.Resources)
		ok := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		if usedFromOffer[ok] == nil {
			usedFromOffer[ok] = map[string]allocator.Resources{}
		}
		usedFromOffer[ok][t.Spec.NodeName] = usedFromOffer[ok][t.Spec.NodeName].Add(r)
		if t.Status.Phase.IsTerminal() {
			continue
		}
		fwID := frameworkID(t.Namespace, t.Status.Framework)
		// Charged on nodes not seen yet too: the allocator keeps a placeholder until the node's
		// sync below, so what the task holds is never offered.
		// A task already preempted keeps counting as on its way back to its role, and is not
		// preempted again; one whose kill was recorded but not yet sent is killed now.
		rs, err := m.alloc.AddTask(allocator.Task{ID: string(t.UID), Framework: fwID, Node: t.Spec.NodeName, Resources: r,
			Revocable: t.Status.Revocable, PreemptedFor: t.Status.PreemptedFor})
		if err != nil {
			logger.Error(err, "cannot charge task", "task", client.ObjectKeyFromObject(t))
			continue
		}
		if t.Status.PreemptedFor != "" && t.DeletionTimestamp.IsZero() {
			unfinished = append(unfinished, preemption{key: client.ObjectKeyFromObject(t), uid: t.UID, framework: fwID, role: t.Status.PreemptedFor, resources: r})
		}
		m.chargeTaskLocked(t.UID, &taskState{key: client.ObjectKeyFromObject(t), framework: fwID, offer: t.Spec.OfferName, node: t.Spec.NodeName, admittedWritten: true, revocable: t.Status.Revocable})
		m.applyRescinded(rs, agorav1alpha1.ReasonCapacityChanged)
	}
	m.mu.Unlock()
	// Nodes after tasks: a node's pods are told apart by whether their tasks are charged.
	var nodes corev1.NodeList
	if err := c.cache.List(ctx, &nodes); err != nil {
		return err
	}
	for i := range nodes.Items {
		if _, err := c.syncNode(ctx, nodes.Items[i].Name); err != nil {
			return err
		}
	}
	var offers agorav1alpha1.OfferList
	if err := listPaged(ctx, c.reader, &offers); err != nil {
		return err
	}
	// Oldest first (offer IDs grow), so that when what remains no longer fits, the newer offer
	// is the one rescinded, and the same one on every restart.
	type restoring struct {
		obj *agorav1alpha1.Offer
		id  allocator.OfferID
	}
	var follow []types.NamespacedName
	var order []restoring
	for i := range offers.Items {
		o := &offers.Items[i]
		follow = append(follow, client.ObjectKeyFromObject(o))
		id, err := offerIDFromName(o.Name)
		if err != nil {
			continue // not ours: the Offer reconciler removes it
		}
		order = append(order, restoring{o, id})
	}
	sort.Slice(order, func(i, j int) bool { return order[i].id < order[j].id })
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ro := range order {
		o, id := ro.obj, ro.id
		key := client.ObjectKeyFromObject(o)
		st := &offerState{
			key: key, id: id, framework: frameworkID(o.Namespace, o.Spec.Framework), expire: o.Spec.ExpireTime.Time,
			nodes: map[string]allocator.Resources{}, rescindedNodes: map[string]string{},
			admittedRes: map[string]allocator.Resources{}, instance: o.Spec.FrameworkInstance,
			admitted: o.Status.AdmittedTasks,
		}
		for _, a := range o.Status.Admitted {
			r, _ := toResources(a.Resources)
			st.admittedRes[a.NodeName] = r
		}
		legacy := o.Status.AdmittedTasks > 0 && len(o.Status.Admitted) == 0
		restore := allocator.Offer{ID: id, Framework: st.framework, MadeAt: o.CreationTimestamp.Time}
		for _, n := range o.Spec.Nodes {
			r, _ := toResources(n.Resources)
			st.nodes[n.NodeName] = r
			used := st.admittedRes[n.NodeName]
			if legacy {
				used = usedFromOffer[key][n.NodeName]
			}
			restore.Nodes = append(restore.Nodes, allocator.OfferNode{Node: n.NodeName, Resources: r.Sub(used).ClampZero(), Revocable: n.Revocable})
		}
		m.offers[key] = st
		fs := m.frameworks[st.framework]
		if fs == nil {
			m.forgetOffer(st, agorav1alpha1.ReasonFrameworkInactive)
			continue
		}
		if st.instance != fs.instance {
			m.forgetOffer(st, agorav1alpha1.ReasonFrameworkFailedOver)
			continue
		}
		rejected, err := m.alloc.RestoreOffer(restore)
		if err != nil {
			m.forgetOffer(st, agorav1alpha1.ReasonFrameworkInactive)
			continue
		}
		for _, n := range rejected {
			st.rescindedNodes[n] = agorav1alpha1.ReasonCapacityChanged
			st.takenBack(m.clock.Now())
		}
		if _, ok := m.alloc.Offer(id); !ok {
			m.forgetOffer(st, agorav1alpha1.ReasonCapacityChanged)
			continue
		}
		m.byID[id] = st
	}
	m.changed = true
	go c.enqueueOffers(follow...)
	if len(unfinished) > 0 {
		go c.preempt(ctx, unfinished)
	}
	return nil
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// shortList formats names for a message.
func shortList(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}
