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
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
)

// Defaults of Options.
const (
	// DefaultRenewInterval and DefaultLeaseDuration: one Lease write per node every 30-36 s
	// (33 writes/s at 1,000 nodes), and a Lease that survives two renewals lost or late. The
	// kubelet's node Lease renews every 10 s; an executor's renewal has nothing to report but
	// "alive", so it costs a third of that. A dead executor's node leaves the pool (and its tasks
	// turn Unreachable) 90 s after its last renewal at the latest.
	DefaultLeaseDuration = 90 * time.Second
	DefaultRenewInterval = 30 * time.Second
	DefaultWorkers       = 8
	// DefaultStartingDelay is how long a pod may take to run before its task is reported
	// Starting; see Options.StartingDelay.
	DefaultStartingDelay = 2 * time.Second
	// DefaultNodeSelector picks the simulated nodes of hack/local-cluster.sh and test/testcluster.
	DefaultNodeSelector = "type=kwok"
)

// Options configure an Executor. Exactly one of NodeName and NodeSelector says which nodes it
// serves.
type Options struct {
	// NodeName is the one node served (DaemonSet mode; NODE_NAME from the downward API).
	NodeName string
	// NodeSelector, when NodeName is empty, is simulation mode: every Node whose labels match is
	// served, each with its own Lease and its own Task and Pod watches, as if by its own executor.
	// Nodes that appear later are picked up; nodes that disappear or stop matching are dropped.
	NodeSelector labels.Selector
	// SharedWatches (simulation mode only) replaces the per-node Task and Pod watches by one
	// Task watch and one Pod watch for all nodes, split by node in the executor. The API server
	// then sends each Task event once instead of testing it against every node's watch (Tasks
	// are custom resources: the API server has no spec.nodeName index for them, as it has for
	// Pods). Each node still has its own Lease and its own view. For large simulations.
	SharedWatches bool

	// The Leases are agorav1alpha1.ExecutorLeaseName(node) in agorav1alpha1.SystemNamespace,
	// where agora-controller looks for them; neither is configurable, so the two cannot disagree.

	// LeaseDuration is written into each Lease (leaseDurationSeconds); RenewInterval is how often
	// it is renewed (with up to 20% jitter). Defaults 90s and 30s.
	LeaseDuration time.Duration
	RenewInterval time.Duration
	// Identity is the Leases' holderIdentity. Default <hostname>_<pid>.
	Identity string

	// StartingDelay is how long after creating a task's pod the executor waits for the pod to
	// run before it writes Starting. A pod that runs sooner takes its task from Staging straight
	// to Running: one status write fewer per task, on the path every task takes. The pod's
	// finalizer keeps it in the API meanwhile, so a restart in between adopts it. Default 2s;
	// negative: write Starting as soon as the pod is created.
	StartingDelay time.Duration

	// Workers is how many tasks are worked on at once (all nodes share them). Default 8.
	Workers int
	// ResyncPeriod re-examines every cached Task and Pod this often (0: never); a safety net,
	// since everything is driven by watch events.
	ResyncPeriod time.Duration

	// Metrics, if set, receives the executor's metrics; New wraps the REST config so that it
	// also counts API requests.
	Metrics *Metrics
	// Clock stamps Lease and Task times. Default the real clock.
	Clock clock.Clock
}

func (o *Options) defaults() error {
	if o.NodeName == "" && o.NodeSelector == nil {
		return errors.New("executor: set NodeName (one node) or NodeSelector (simulation mode)")
	}
	if o.NodeName != "" && o.NodeSelector != nil {
		return errors.New("executor: NodeName and NodeSelector are exclusive")
	}
	if o.SharedWatches && o.NodeName != "" {
		return errors.New("executor: SharedWatches is for simulation mode (NodeSelector) only")
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewInterval <= 0 {
		o.RenewInterval = DefaultRenewInterval
	}
	if o.RenewInterval >= o.LeaseDuration {
		return fmt.Errorf("executor: renew interval %s must be shorter than the lease duration %s", o.RenewInterval, o.LeaseDuration)
	}
	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = fmt.Sprintf("%s_%d", host, os.Getpid())
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.StartingDelay == 0 {
		o.StartingDelay = DefaultStartingDelay
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return nil
}

// taskKey names a task as served on one node. The node is part of the key so that, in
// simulation mode, the worker knows which node's caches to read.
type taskKey struct {
	node, namespace, name string
}

func (k taskKey) String() string { return k.node + ":" + k.namespace + "/" + k.name }

// Executor is agora-executor: it runs the Tasks admitted onto the nodes it serves.
type Executor struct {
	opts        Options
	kube        kubernetes.Interface
	agora       versioned.Interface
	meta        metadata.Interface
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	queue       workqueue.TypedRateLimitingInterface[taskKey]
	metrics     *Metrics
	clock       clock.Clock

	mu     sync.RWMutex
	agents map[string]*agent
	wg     sync.WaitGroup // agent goroutines

	// written holds the Task each of our writes returned until the informer has caught up with
	// it, so that a sync triggered by a pod event right after a write does not act on the older
	// cached Task and fail with a conflict (read your own writes).
	writtenMu sync.Mutex
	written   map[taskKey]*agorav1alpha1.Task
	// nameWaits counts, per task, the looks at a name a pod of an earlier Task still holds
	// (guarded by writtenMu), for the back-off between them.
	nameWaits map[taskKey]int
	// created is when this process created a task's pod (guarded by writtenMu), until the
	// task's first status write: its Starting write waits for the pod to run from then on
	// (Options.StartingDelay). The pod's creationTimestamp has whole seconds only.
	created map[taskKey]podCreated

	// shared holds the all-nodes caches of SharedWatches mode; nil otherwise.
	shared *sharedCaches

	running atomic.Bool
	ready   atomic.Bool
}

// New returns an Executor that talks to the API server of cfg. cfg is copied; its QPS and Burst
// are used as given.
func New(cfg *rest.Config, opts Options) (*Executor, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "agora-executor"
	}
	if opts.Metrics != nil {
		opts.Metrics.instrument(cfg)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	agora, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(agorav1alpha1.AddToScheme(scheme))
	broadcaster := record.NewBroadcaster()
	e := &Executor{
		opts:        opts,
		kube:        kube,
		agora:       agora,
		meta:        meta,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "agora-executor"}),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// Per task only: a global token bucket would throttle conflict retries of thousands of
			// tasks to a trickle.
			workqueue.NewTypedItemExponentialFailureRateLimiter[taskKey](10*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[taskKey]{Name: "agora-executor"},
		),
		metrics:   opts.Metrics,
		clock:     opts.Clock,
		agents:    map[string]*agent{},
		written:   map[taskKey]*agorav1alpha1.Task{},
		nameWaits: map[taskKey]int{},
		created:   map[taskKey]podCreated{},
	}
	if e.metrics == nil {
		e.metrics = NewMetrics() // unregistered; keeps the code free of nil checks
	}
	return e, nil
}

// Ready reports whether the executor serves its node (simulation mode: every node that matched
// when it started) with synced caches and a renewed Lease.
func (e *Executor) Ready() bool { return e.ready.Load() }

// Nodes returns the names of the nodes served right now.
func (e *Executor) Nodes() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]string, 0, len(e.agents))
	for n := range e.agents {
		out = append(out, n)
	}
	return out
}

// Run serves until ctx is cancelled, then stops every watch, worker and Lease renewal and
// returns. Nothing is written on the way out: tasks keep running, and the Leases simply age (a
// restarted executor picks everything up again from the API).
func (e *Executor) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("executor: Run called twice")
	}
	logger := klog.FromContext(ctx)
	e.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: e.kube.CoreV1().Events("")})
	defer e.broadcaster.Shutdown()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var workers sync.WaitGroup
	for i := 0; i < e.opts.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for e.processNext(ctx) {
			}
		}()
	}

	var err error
	if e.opts.NodeName != "" {
		logger.Info("Serving one node", "node", e.opts.NodeName, "lease", agorav1alpha1.SystemNamespace+"/"+agorav1alpha1.ExecutorLeaseName(e.opts.NodeName))
		a := e.startAgent(ctx, e.opts.NodeName)
		select {
		case <-a.syncedCh:
			e.ready.Store(true)
			logger.Info("Ready", "node", e.opts.NodeName)
		case <-ctx.Done():
		}
	} else {
		logger.Info("Simulation mode: serving every node that matches the selector", "selector", e.opts.NodeSelector.String(),
			"sharedWatches", e.opts.SharedWatches)
		if e.opts.SharedWatches {
			e.shared, err = e.startSharedCaches(ctx)
		}
		if err == nil {
			err = e.watchNodes(ctx)
		}
	}
	if err == nil {
		<-ctx.Done()
	}

	cancel()
	e.queue.ShutDown()
	workers.Wait()
	e.wg.Wait()
	logger.Info("Stopped")
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// watchNodes runs simulation mode: an agent per matching node, added and removed as nodes come
// and go. Only node metadata is watched. It returns once the nodes that exist at start are known;
// the executor turns Ready when all of them are served.
func (e *Executor) watchNodes(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	selector := e.opts.NodeSelector.String()
	factory := metadatainformer.NewFilteredSharedInformerFactory(e.meta, e.opts.ResyncPeriod, "", func(o *metav1.ListOptions) {
		o.LabelSelector = selector
	})
	inf := factory.ForResource(corev1.SchemeGroupVersion.WithResource("nodes")).Informer()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if m, ok := obj.(metav1.Object); ok {
				e.startAgent(ctx, m.GetName())
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				e.stopAgent(ctx, m.GetName())
			}
		},
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		<-ctx.Done()
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return ctx.Err()
	}
	e.mu.RLock()
	initial := make([]*agent, 0, len(e.agents))
	for _, a := range e.agents {
		initial = append(initial, a)
	}
	e.mu.RUnlock()
	if len(initial) == 0 {
		logger.Info("No node matches the selector yet; waiting for one", "selector", selector)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, a := range initial {
			select {
			case <-a.syncedCh:
			case <-a.done: // removed meanwhile
			case <-ctx.Done():
				return
			}
		}
		e.ready.Store(true)
		logger.Info("Ready", "nodes", len(initial))
	}()
	return nil
}

// processNext works on one task key; false once the queue is shut down.
func (e *Executor) processNext(ctx context.Context) bool {
	key, shutdown := e.queue.Get()
	if shutdown {
		return false
	}
	defer e.queue.Done(key)
	start := time.Now()
	err := e.sync(ctx, key)
	e.metrics.syncDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		e.queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	e.metrics.syncErrors.Inc()
	logger := klog.FromContext(ctx).WithValues("task", key.namespace+"/"+key.name, "node", key.node)
	if isConflict(err) {
		logger.V(4).Info("Conflict, retrying", "err", err)
	} else {
		logger.Error(err, "Sync failed, retrying")
	}
	e.queue.AddRateLimited(key)
	return true
}

func (e *Executor) enqueue(node, namespace, name string) {
	e.queue.Add(taskKey{node: node, namespace: namespace, name: name})
}

func (e *Executor) agentFor(node string) *agent {
	e.mu.RLock()
	defer e.mu.RUnlock()
	a := e.agents[node]
	if a == nil || !a.synced.Load() {
		return nil
	}
	return a
}

// remember records the Task a write returned (read your own writes, see Executor.written).
func (e *Executor) remember(key taskKey, t *agorav1alpha1.Task) {
	e.writtenMu.Lock()
	e.written[key] = t
	e.writtenMu.Unlock()
}

func (e *Executor) forget(key taskKey) {
	e.writtenMu.Lock()
	delete(e.written, key)
	delete(e.nameWaits, key)
	delete(e.created, key)
	e.writtenMu.Unlock()
}

// podCreated is a pod this process created, and when.
type podCreated struct {
	uid types.UID
	at  time.Time
}

// recordCreated notes that this process has just created the task's pod (uid).
func (e *Executor) recordCreated(key taskKey, uid types.UID) {
	e.writtenMu.Lock()
	e.created[key] = podCreated{uid: uid, at: e.clock.Now()}
	e.writtenMu.Unlock()
}

// clearCreated forgets when this process created the task's pod.
func (e *Executor) clearCreated(key taskKey) {
	e.writtenMu.Lock()
	delete(e.created, key)
	e.writtenMu.Unlock()
}

// createdPod reports whether this process created the task's pod in the last 10 s and has not
// written the task's status since. (After 10 s without the pod in the cache, the create is
// tried again, meets AlreadyExists and reads the pod from the API.)
func (e *Executor) createdPod(key taskKey) bool {
	e.writtenMu.Lock()
	defer e.writtenMu.Unlock()
	c, ok := e.created[key]
	return ok && e.clock.Since(c.at) < 10*time.Second
}

// podCreatedAt returns when pod was created: when this process created it, or, for a pod it
// did not create (an earlier process did), the end of the second its creationTimestamp names.
func (e *Executor) podCreatedAt(key taskKey, pod *corev1.Pod) time.Time {
	e.writtenMu.Lock()
	c, ok := e.created[key]
	e.writtenMu.Unlock()
	if ok && c.uid == pod.UID {
		return c.at
	}
	return pod.CreationTimestamp.Add(time.Second)
}

// nameWait returns how long to wait before looking again at a task whose name a pod of an
// earlier Task holds (1 s, doubling to 30 s), and whether this is the first wait.
func (e *Executor) nameWait(key taskKey) (time.Duration, bool) {
	e.writtenMu.Lock()
	defer e.writtenMu.Unlock()
	n := e.nameWaits[key]
	e.nameWaits[key] = n + 1
	return min(nameHeldRecheck<<min(n, 5), 30*time.Second), n == 0
}

// nameFree ends a task's wait for its name.
func (e *Executor) nameFree(key taskKey) {
	e.writtenMu.Lock()
	delete(e.nameWaits, key)
	e.writtenMu.Unlock()
}

// freshest returns the newer of the cached Task and the one our last write returned.
func (e *Executor) freshest(key taskKey, cached *agorav1alpha1.Task) *agorav1alpha1.Task {
	e.writtenMu.Lock()
	defer e.writtenMu.Unlock()
	w, ok := e.written[key]
	if !ok {
		return cached
	}
	if w.UID == cached.UID && newerThan(w.ResourceVersion, cached.ResourceVersion) {
		return w
	}
	delete(e.written, key) // the cache has caught up (or the Task was replaced)
	return cached
}
