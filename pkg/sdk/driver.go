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
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/pkg/client/informers/externalversions"
	agoralisters "github.com/agora-sched/agora/pkg/client/listers/api/v1alpha1"
)

// DefaultLeaseDuration is how long the framework's Lease stays fresh without a renewal. The
// Driver renews it every third of that.
const DefaultLeaseDuration = 15 * time.Second

// ErrFrameworkDeleted is Run's result once the Framework object is deleted: by Teardown, or by
// someone else (then the Error callback hears of it first).
var ErrFrameworkDeleted = errors.New("the Framework was deleted (TEARDOWN): the driver stops")

// Config says which framework a Driver runs.
type Config struct {
	// Namespace and Name of the Framework (and of its Lease). Name must be a valid label value
	// (at most 63 characters): the Driver labels its Tasks with it.
	Namespace, Name string
	// Spec is the Framework's desired spec: created with it, or the existing object's spec is
	// set to it, fields left unset taking the API's defaults (except revivedAt and
	// suppressOffers, which stay as they are when Spec leaves them unset). Opt-ins go in
	// Spec.Capabilities: GPUResources for offers on nodes with GPUs, RevocableResources for
	// revocable offer slices ([Revocable]), whose tasks may be preempted ([Preempted]).
	Spec agorav1alpha1.FrameworkSpec
	// LeaseDuration of the framework's Lease (default DefaultLeaseDuration). Negative: the
	// Driver makes no Lease, and the controller treats the framework as always active.
	LeaseDuration time.Duration
	// Identity of this instance of the framework: written as the Lease's holderIdentity and
	// into the scheduling.agora.dev/instance annotation of every Task the Driver creates. Default
	// <hostname>_<pid>_<random>, unique per process start. Give each process its own (at most
	// MaxIdentityLength characters): the newest Driver to Run takes the framework over, and the
	// Driver whose identity is no longer the Lease's holder stops (ErrSuperseded), so two
	// processes sharing one identity could not be told apart.
	Identity string
}

// TaskInfo is a task to launch: what Driver.Launch turns into a Task object.
type TaskInfo struct {
	// Name of the Task, unique in the namespace. Deterministic names make launching
	// idempotent across framework restarts.
	Name string
	// NodeName is one of the offered nodes.
	NodeName string
	// Resources the task consumes (charged to the framework).
	Resources corev1.ResourceList
	// Template is the pod to run.
	Template corev1.PodTemplateSpec
	// Labels and Annotations are added to the Task object.
	Labels, Annotations map[string]string
}

// Driver connects a Scheduler to the Agora API. Create it with New or NewForConfig, then Run it.
// Its methods are safe to call from any goroutine, including from inside callbacks.
type Driver struct {
	cfg   Config
	agora versioned.Interface
	kube  kubernetes.Interface
	sched Scheduler

	offers  agoralisters.OfferNamespaceLister
	tasks   agoralisters.TaskNamespaceLister
	events  queue
	started chan struct{}

	mu        sync.Mutex
	fw        *agorav1alpha1.Framework
	released  map[string]time.Time               // offers this driver deleted (not rescinds), until when to remember
	delivered map[string][]string                // offers handed to ResourceOffers -> their nodes as last told
	received  map[string]time.Time               // offers -> when the watch brought them, by this process's clock
	creates   map[string]uint64                  // task name -> creates of it by this Driver that went through, until it is gone
	phases    map[string]agorav1alpha1.TaskPhase // last phase delivered per task
	tornDown  bool                               // Teardown was called: the deletion is no error
	fenced    *SupersededError                   // another instance took the framework over
}

// New returns a Driver for the framework cfg names, on the given clientsets.
func New(agora versioned.Interface, kube kubernetes.Interface, cfg Config, sched Scheduler) (*Driver, error) {
	if cfg.Namespace == "" || cfg.Name == "" {
		return nil, errors.New("sdk: Config.Namespace and Config.Name are required")
	}
	if errs := validation.IsValidLabelValue(cfg.Name); len(errs) > 0 {
		return nil, fmt.Errorf("sdk: framework name %q cannot label its tasks: %v", cfg.Name, errs)
	}
	if sched == nil {
		return nil, errors.New("sdk: a Scheduler is required")
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.Identity == "" {
		cfg.Identity = defaultIdentity()
	}
	if len(cfg.Identity) > MaxIdentityLength {
		return nil, fmt.Errorf("sdk: Config.Identity is %d characters long, more than %d", len(cfg.Identity), MaxIdentityLength)
	}
	return &Driver{
		cfg: cfg, agora: agora, kube: kube, sched: sched,
		started:   make(chan struct{}),
		events:    newQueue(),
		released:  map[string]time.Time{},
		delivered: map[string][]string{},
		received:  map[string]time.Time{},
		creates:   map[string]uint64{},
		phases:    map[string]agorav1alpha1.TaskPhase{},
	}, nil
}

// NewForConfig is New with clientsets made from a rest.Config.
func NewForConfig(rc *rest.Config, cfg Config, sched Scheduler) (*Driver, error) {
	agora, err := versioned.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return New(agora, kube, cfg, sched)
}

// Namespace the framework lives in.
func (d *Driver) Namespace() string { return d.cfg.Namespace }

// Name of the framework.
func (d *Driver) Name() string { return d.cfg.Name }

// Framework returns the latest Framework object the Driver saw (nil before Run registered it).
func (d *Driver) Framework() *agorav1alpha1.Framework {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fw == nil {
		return nil
	}
	return d.fw.DeepCopy()
}

// Run registers the framework, takes its Lease over and renews it, watches its Offers and Tasks
// and calls the Scheduler until ctx ends (then it returns nil), the Framework is deleted (then it
// returns ErrFrameworkDeleted) or another instance of the framework takes the Lease over (then it
// returns ErrSuperseded, after the Error callback heard of it). The Lease is not released on
// return: a framework that stops without Teardown goes stale, and after spec.failoverTimeout its
// tasks are killed — so a restarted process within that time picks its tasks up again.
func (d *Driver) Run(ctx context.Context) error {
	select {
	case <-d.started:
		return errors.New("sdk: Run called twice")
	default:
		close(d.started)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logger := klog.FromContext(ctx).WithValues("framework", klog.KRef(d.cfg.Namespace, d.cfg.Name))

	fw, err := d.register(ctx)
	if err != nil {
		return err
	}
	d.setFramework(fw)
	if d.cfg.LeaseDuration > 0 {
		if err := d.writeLease(ctx, true); err != nil {
			return fmt.Errorf("sdk: framework Lease %s/%s: %w", d.cfg.Namespace, d.cfg.Name, err)
		}
		logger.V(1).Info("holding the framework Lease", "identity", d.cfg.Identity)
		stopWatch, err := d.watchLease(ctx)
		if err != nil {
			return err
		}
		defer stopWatch()
		go d.leaseLoop(ctx)
	}

	ns := externalversions.WithNamespace(d.cfg.Namespace)
	offerFactory := externalversions.NewSharedInformerFactoryWithOptions(d.agora, 0, ns,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.framework", d.cfg.Name).String()
		}))
	taskFactory := externalversions.NewSharedInformerFactoryWithOptions(d.agora, 0, ns,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{agorav1alpha1.LabelFramework: d.cfg.Name}.String()
		}))
	fwFactory := externalversions.NewSharedInformerFactoryWithOptions(d.agora, 0, ns,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.cfg.Name).String()
		}))
	offerInf := offerFactory.Scheduling().V1alpha1().Offers()
	taskInf := taskFactory.Scheduling().V1alpha1().Tasks()
	fwInf := fwFactory.Scheduling().V1alpha1().Frameworks()
	d.offers = offerInf.Lister().Offers(d.cfg.Namespace)
	d.tasks = taskInf.Lister().Tasks(d.cfg.Namespace)

	watchErr := func(what string) cache.WatchErrorHandlerWithContext {
		return func(_ context.Context, _ *cache.Reflector, err error) {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				d.events.push(event{kind: evError, err: fmt.Errorf("sdk: watching %s: %w", what, err)})
			}
		}
	}
	for what, inf := range map[string]cache.SharedIndexInformer{"offers": offerInf.Informer(), "tasks": taskInf.Informer(), "framework": fwInf.Informer()} {
		if err := inf.SetWatchErrorHandlerWithContext(watchErr(what)); err != nil {
			return err
		}
	}
	if _, err := offerInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			// When the watch brought it, not when the scheduler gets it: the callback
			// goroutine may be busy launching on earlier offers for longer than an offer lives.
			if o, ok := obj.(*agorav1alpha1.Offer); ok {
				d.mu.Lock()
				d.received[o.Name] = time.Now()
				d.mu.Unlock()
			}
			d.pushObj(evOffer, obj)
		},
		UpdateFunc: func(_, obj any) { d.pushObj(evOffer, obj) },
		DeleteFunc: func(obj any) { d.pushObj(evOfferGone, obj) },
	}); err != nil {
		return err
	}
	if _, err := taskInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.pushObj(evTask, obj) },
		UpdateFunc: func(_, obj any) { d.pushObj(evTask, obj) },
		DeleteFunc: func(obj any) { d.pushObj(evTaskGone, obj) },
	}); err != nil {
		return err
	}
	if _, err := fwInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.pushObj(evFramework, obj) },
		UpdateFunc: func(_, obj any) { d.pushObj(evFramework, obj) },
		DeleteFunc: func(obj any) { d.pushObj(evFrameworkGone, obj) },
	}); err != nil {
		return err
	}
	factories := []externalversions.SharedInformerFactory{offerFactory, taskFactory, fwFactory}
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	defer func() {
		cancel() // informers stop on ctx; Shutdown waits for them
		for _, f := range factories {
			f.Shutdown()
		}
	}()
	for _, f := range factories {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("sdk: cache of %v did not sync", typ)
			}
		}
	}
	if err := d.fencedErr(); err != nil {
		d.sched.Error(d, err)
		return err
	}
	logger.V(1).Info("framework registered", "uid", fw.UID)
	d.sched.Registered(d, d.Framework())

	for {
		batch, ok := d.events.popAll(ctx)
		if !ok {
			return nil
		}
		if err := d.dispatch(batch); err != nil {
			return err
		}
	}
}

// register creates the Framework or brings the existing one's spec to the configured one.
func (d *Driver) register(ctx context.Context) (*agorav1alpha1.Framework, error) {
	api := d.agora.SchedulingV1alpha1().Frameworks(d.cfg.Namespace)
	var out *agorav1alpha1.Framework
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := api.Get(ctx, d.cfg.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			fw := &agorav1alpha1.Framework{
				ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: d.cfg.Name},
				Spec:       *d.cfg.Spec.DeepCopy(),
			}
			out, err = api.Create(ctx, fw, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(agorav1alpha1.Resource("frameworks"), d.cfg.Name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if !cur.DeletionTimestamp.IsZero() {
			return fmt.Errorf("sdk: Framework %s/%s is being deleted (TEARDOWN in progress); start again once it is gone", d.cfg.Namespace, d.cfg.Name)
		}
		want := d.cfg.Spec.DeepCopy()
		if want.RevivedAt == nil {
			want.RevivedAt = cur.Spec.RevivedAt
		}
		if !want.SuppressOffers {
			want.SuppressOffers = cur.Spec.SuppressOffers
		}
		fillDefaults(want)
		if equalSpec(&cur.Spec, want) {
			out = cur
			return nil
		}
		cur.Spec = *want
		out, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sdk: registering Framework %s/%s: %w", d.cfg.Namespace, d.cfg.Name, err)
	}
	return out, nil
}

// ownerRefs makes the framework's Tasks and Lease go with it (garbage collection).
func (d *Driver) ownerRefs() []metav1.OwnerReference {
	fw := d.Framework()
	if fw == nil {
		return nil
	}
	return []metav1.OwnerReference{{
		APIVersion: agorav1alpha1.GroupVersion.String(), Kind: "Framework",
		Name: fw.Name, UID: fw.UID, Controller: ptr.To(true),
	}}
}

func (d *Driver) setFramework(fw *agorav1alpha1.Framework) {
	d.mu.Lock()
	d.fw = fw.DeepCopy()
	d.mu.Unlock()
}

// Offers returns the framework's outstanding offers made to this instance, by name, as they are
// now (a partial rescind shrinks an offer's spec.nodes).
func (d *Driver) Offers() []*agorav1alpha1.Offer {
	if d.offers == nil {
		return nil
	}
	list, _ := d.offers.List(labels.Everything())
	out := make([]*agorav1alpha1.Offer, 0, len(list))
	for _, o := range list {
		if o.DeletionTimestamp.IsZero() && d.forThisInstance(o) {
			out = append(out, o.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Offer returns one of the framework's outstanding offers made to this instance as it is now (a
// partial rescind shrinks its spec.nodes), or nil once it is gone. A scheduler that holds offers
// across callbacks refreshes its copies with it.
func (d *Driver) Offer(name string) *agorav1alpha1.Offer {
	if d.offers == nil {
		return nil
	}
	o, err := d.offers.Get(name)
	if err != nil || !o.DeletionTimestamp.IsZero() || !d.forThisInstance(o) {
		return nil
	}
	return o.DeepCopy()
}

// Tasks returns the framework's tasks as last seen, by name.
func (d *Driver) Tasks() []*agorav1alpha1.Task {
	if d.tasks == nil {
		return nil
	}
	list, _ := d.tasks.List(labels.Everything())
	out := make([]*agorav1alpha1.Task, 0, len(list))
	for _, t := range list {
		if d.ours(t) {
			out = append(out, t.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Task returns one of the framework's tasks as last seen, or nil.
func (d *Driver) Task(name string) *agorav1alpha1.Task {
	if d.tasks == nil {
		return nil
	}
	t, err := d.tasks.Get(name)
	if err != nil || !d.ours(t) {
		return nil
	}
	return t.DeepCopy()
}

// ErrNodeRescinded is wrapped by Launch's error when a task names a node the controller has
// taken out of its offer since the scheduler got it (a partial rescind: the Offer's spec.nodes
// shrank). Launch then creates nothing and releases nothing: launch again on the offer as it is
// now ([Driver.Offer], [OfferNodesRescinder]).
var ErrNodeRescinded = errors.New("node rescinded from the offer")

// ErrOfferExpired is wrapped by Launch's error when it did not create some tasks because their
// offer's lifetime had run out before their creates went out (a launch of many tasks behind a
// busy API server): the controller would only reject them (Error, reason OfferExpired), which
// costs the API server a create, a status write and a finalizer patch each, for nothing. The
// lifetime is measured by this process's clock from when the Driver received the offer (its
// expireTime minus its creationTimestamp), so a clock that differs from the controller's does
// not matter; the controller's own check is the last word.
//
// The scheduler hears of each such task as it would of the controller's rejection: a
// StatusUpdate in phase Error, reason OfferExpired (as Mesos answers a launch on a stale offer
// with TASK_DROPPED updates), for a Task that exists only in that callback (it has no UID). It is
// not delivered if a task of that name was created meanwhile (the framework relaunched it at
// once). A framework relaunches either from those updates or from [NotCreated], not both.
var ErrOfferExpired = errors.New("offer expired")

// ErrNameInUse is wrapped by Launch's error when it did not create some tasks because a Task of
// the same name, owned by an earlier Framework of this name (deleted and registered again, e.g.
// a job run again under the same name), still exists: its deletion has not finished. Such a task
// is not a launch of this framework, so it does not count as launched as a task this framework
// created earlier does. The scheduler hears of each as a StatusUpdate in phase Error, reason
// NameInUse (like ErrOfferExpired's); launch it again under another name.
var ErrNameInUse = errors.New("task name in use by a Task of another Framework")

// NotCreatedError names the tasks of one offer that Launch did not create, and why (Err:
// ErrOfferExpired or ErrNameInUse).
type NotCreatedError struct {
	Offer string
	Tasks []string
	Err   error
}

func (e *NotCreatedError) Error() string {
	names := e.Tasks
	more := ""
	if len(names) > 5 {
		names, more = names[:5], fmt.Sprintf(" and %d more", len(e.Tasks)-5)
	}
	if errors.Is(e.Err, ErrNameInUse) {
		return fmt.Sprintf("sdk: %d tasks not created (%s%s): %v (typically an earlier Framework of this name whose tasks are still being deleted; each task's Error status names the owner): launch them again under other names",
			len(e.Tasks), strings.Join(names, ", "), more, e.Err)
	}
	return fmt.Sprintf("sdk: %d tasks not created (%s%s): %v: offer %s's lifetime ran out before their creates; launch them on a current offer",
		len(e.Tasks), strings.Join(names, ", "), more, e.Err, e.Offer)
}

func (e *NotCreatedError) Unwrap() error { return e.Err }

// NotCreated returns the names of the tasks that Launch's error says it did not create (the
// [NotCreatedError]s in it); none for a nil error.
func NotCreated(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*NotCreatedError); ok {
			out = append(out, e.Tasks...)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Launch creates the tasks on the given offers, then releases the offers: whatever the tasks do
// not take goes back to the pool (with the framework's refuseDuration filter on those nodes).
// Each task names its node; it is charged to the offer that holds that node. A task whose name
// already exists counts as launched (a restarted framework launching again). The tasks are
// admitted or rejected by the controller: watch StatusUpdate for Staging or Error.
//
// Launch checks the offers against the Driver's current view of them first, and writes nothing
// when one was already released, was made to another instance of the framework, or no longer
// holds a task's node (ErrNodeRescinded); a task whose node was never in the offers is left out
// with an error while the others launch. The controller makes the same checks at admission, so
// a change the Driver has not seen yet ends the task in Error instead. A task whose offer has
// expired by the time its create would go out (a launch of many tasks behind a busy API server)
// is not created ([ErrOfferExpired], [NotCreated]); the others still are.
func (d *Driver) Launch(ctx context.Context, offers []*agorav1alpha1.Offer, tasks ...TaskInfo) error {
	if err := d.fencedErr(); err != nil {
		return err
	}
	d.mu.Lock()
	var gone []string
	for _, o := range offers {
		if _, ok := d.released[o.Name]; ok {
			gone = append(gone, o.Name)
		}
	}
	d.mu.Unlock()
	if len(gone) > 0 {
		return fmt.Errorf("offers %v were already released by this framework: launch on a current offer", gone)
	}
	var foreign []string
	byNode := map[string]string{}       // node -> the offer that holds it now
	deadlines := map[string]time.Time{} // offer -> when its lifetime runs out, by this clock
	wasIn := map[string]string{}        // node -> the offer that held it when the scheduler got it
	current := map[string][]string{}    // offer -> its nodes now
	for _, given := range offers {
		o := d.currentOffer(given)
		if !d.forThisInstance(o) || !d.forThisInstance(given) {
			foreign = append(foreign, fmt.Sprintf("%s (made to %s)", o.Name, o.Spec.FrameworkInstance))
			continue
		}
		current[o.Name] = nodeNames(o)
		if dl, ok := d.offerDeadline(o); ok {
			deadlines[o.Name] = dl
		}
		for _, n := range o.Spec.Nodes {
			if _, ok := byNode[n.NodeName]; !ok {
				byNode[n.NodeName] = o.Name
			}
		}
		for _, n := range given.Spec.Nodes {
			if _, ok := wasIn[n.NodeName]; !ok {
				wasIn[n.NodeName] = given.Name
			}
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("sdk: offers %v were made to another instance of framework %s/%s, not to this one (%s): nothing was launched",
			foreign, d.cfg.Namespace, d.cfg.Name, d.cfg.Identity)
	}
	var errs []error
	for _, ti := range tasks {
		if _, ok := byNode[ti.NodeName]; ok {
			continue
		}
		if o, ok := wasIn[ti.NodeName]; ok {
			errs = append(errs, fmt.Errorf("sdk: task %s: %w: the controller took node %s out of offer %s, which now holds %v; nothing was launched: launch on the offer as it is now",
				ti.Name, ErrNodeRescinded, ti.NodeName, o, current[o]))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	dropped, err := d.createTasks(ctx, byNode, deadlines, tasks)
	if err != nil {
		errs = append(errs, err)
	}
	for _, dt := range dropped {
		d.AfterFunc(0, func(d *Driver) {
			d.mu.Lock()
			relaunched := d.creates[dt.task.Name] != dt.creates
			_, known := d.phases[dt.task.Name]
			d.mu.Unlock()
			if relaunched || known || d.Task(dt.task.Name) != nil {
				return // a task of that name exists now: its own updates speak for it
			}
			d.sched.StatusUpdate(d, dt.task)
		})
	}
	if err := d.fencedErr(); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, o := range offers {
		if err := d.release(ctx, o.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// launchWriters is how many Task creates one Launch has in flight. An offer of many nodes is
// answered with as many tasks; created one after another, a round trip each, they would hold
// the offer (and the framework's callback goroutine) for seconds behind a busy API server.
const launchWriters = 16

// offerDeadline is when offer o's lifetime runs out by this process's clock: the time the Driver
// received it plus its expireTime minus its creationTimestamp (late by up to a second, as the
// timestamp is whole seconds, and by the watch's delay: late is safe). Unknown for an offer the
// Driver's watch has not brought.
func (d *Driver) offerDeadline(o *agorav1alpha1.Offer) (time.Time, bool) {
	if o.Spec.ExpireTime.IsZero() || o.CreationTimestamp.IsZero() {
		return time.Time{}, false
	}
	d.mu.Lock()
	at, ok := d.received[o.Name]
	d.mu.Unlock()
	if !ok {
		return time.Time{}, false
	}
	return at.Add(o.Spec.ExpireTime.Sub(o.CreationTimestamp.Time)), true
}

// droppedTask is a task Launch did not create, to tell the scheduler about, and how many creates
// of its name had gone through when it was dropped.
type droppedTask struct {
	task    *agorav1alpha1.Task
	creates uint64
	why     error // ErrOfferExpired or ErrNameInUse
}

// createTask creates t. A task of that name that exists already counts as created (this
// framework launched it before, e.g. before a restart), unless another Framework owns it (in
// practice an earlier one of the same name whose tasks are still being deleted): then the name
// is in use (ErrNameInUse). One that disappears between the create and the look at it is
// created again (twice at most).
func (d *Driver) createTask(ctx context.Context, t *agorav1alpha1.Task) error {
	api := d.agora.SchedulingV1alpha1().Tasks(d.cfg.Namespace)
	for try := 0; ; try++ {
		_, err := api.Create(ctx, t, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		cur, err := api.Get(ctx, t.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && try < 2:
			continue // gone since: its deletion ended just now
		case apierrors.IsNotFound(err):
			return fmt.Errorf("the name exists and then does not, three times over: %w", err)
		case err != nil:
			return nil // as before: the name exists, and cannot be looked at; count it launched
		case !d.ours(cur):
			ref := frameworkOwner(cur) // not ours: owned by a Framework
			owner := fmt.Sprintf("Framework %s (uid %s, not this one's)", ref.Name, ref.UID)
			return fmt.Errorf("task %s/%s belongs to %s: %w", t.Namespace, t.Name, owner, ErrNameInUse)
		}
		return nil
	}
}

// createTasks creates the tasks, each on the offer that holds its node, launchWriters at a
// time, and returns once every create has returned (the release that follows must come after
// them: the controller admits what was created before the release). A task whose node is in
// none of the offers is an error, and so is one whose offer's lifetime (deadlines) has run out
// when its turn comes (returned as dropped, in phase Error with reason OfferExpired, for the
// scheduler); the others are still created. A task of a name the cache already holds counts as
// launched, as an AlreadyExists does, unless an earlier Framework of the same name owns it
// (dropped, ErrNameInUse). Once the Driver is superseded, nothing more is created.
func (d *Driver) createTasks(ctx context.Context, byNode map[string]string, deadlines map[string]time.Time, tasks []TaskInfo) (dropped []droppedTask, _ error) {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		work = make(chan *agorav1alpha1.Task)
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// drop leaves t out, for the scheduler to hear of in phase Error with reason.
	drop := func(t *agorav1alpha1.Task, why error, reason, message string) {
		t.Status = agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskError, Reason: reason, Framework: d.cfg.Name, Message: message}
		d.mu.Lock()
		n := d.creates[t.Name]
		d.mu.Unlock()
		mu.Lock()
		dropped = append(dropped, droppedTask{task: t, creates: n, why: why})
		mu.Unlock()
	}
	for range min(launchWriters, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if d.fencedErr() != nil {
					continue // Launch reports it once
				}
				// The controller judges the Task's creationTimestamp against expireTime. A
				// create that goes out just before expireTime (or by a clock behind the API
				// server's) may still be too late and is rejected; one held back by a clock
				// ahead of it is launched again: neither books anything twice.
				if dl, ok := deadlines[t.Spec.OfferName]; ok && !time.Now().Before(dl) {
					if d.Task(t.Name) != nil {
						continue // launched before: what an AlreadyExists would say
					}
					drop(t, ErrOfferExpired, agorav1alpha1.ReasonOfferExpired,
						fmt.Sprintf("offer %s's lifetime ran out before task %s was created; the SDK did not create it: launch it on a current offer",
							t.Spec.OfferName, t.Name))
					continue
				}
				err := d.createTask(ctx, t)
				if errors.Is(err, ErrNameInUse) {
					drop(t, ErrNameInUse, agorav1alpha1.ReasonNameInUse, err.Error())
					continue
				}
				if err == nil {
					d.mu.Lock()
					d.creates[t.Name]++
					d.mu.Unlock()
				} else {
					fail(fmt.Errorf("creating task %s: %w", t.Name, err))
				}
			}
		}()
	}
	for _, ti := range tasks {
		offer, ok := byNode[ti.NodeName]
		if !ok {
			fail(fmt.Errorf("task %s: node %q is in none of the offers", ti.Name, ti.NodeName))
			continue
		}
		work <- d.buildTask(ti, offer)
	}
	close(work)
	wg.Wait()
	// The writers drop tasks in whatever order they get to them; the scheduler hears of them,
	// and the error names them, in the order they were given.
	order := make(map[string]int, len(tasks))
	for i, ti := range tasks {
		order[ti.Name] = i
	}
	slices.SortFunc(dropped, func(a, b droppedTask) int { return order[a.task.Name] - order[b.task.Name] })
	type key struct {
		offer string
		why   error
	}
	byOffer := map[key]*NotCreatedError{}
	for _, dt := range dropped {
		k := key{dt.task.Spec.OfferName, dt.why}
		if byOffer[k] == nil {
			byOffer[k] = &NotCreatedError{Offer: k.offer, Err: dt.why}
			errs = append(errs, byOffer[k])
		}
		byOffer[k].Tasks = append(byOffer[k].Tasks, dt.task.Name)
	}
	return dropped, errors.Join(errs...)
}

// currentOffer is the Driver's latest view of an offer the scheduler hands back: the controller
// may have shrunk it since. An offer the cache does not hold (gone, or not seen yet) is taken as
// given; the controller decides on it at admission.
func (d *Driver) currentOffer(o *agorav1alpha1.Offer) *agorav1alpha1.Offer {
	if d.offers != nil {
		if cur, err := d.offers.Get(o.Name); err == nil && (o.UID == "" || cur.UID == o.UID) {
			return cur
		}
	}
	return o
}

func nodeNames(o *agorav1alpha1.Offer) []string {
	out := make([]string, 0, len(o.Spec.Nodes))
	for _, n := range o.Spec.Nodes {
		out = append(out, n.NodeName)
	}
	return out
}

func (d *Driver) buildTask(ti TaskInfo, offer string) *agorav1alpha1.Task {
	lbls := map[string]string{}
	for k, v := range ti.Labels {
		lbls[k] = v
	}
	lbls[agorav1alpha1.LabelFramework] = d.cfg.Name
	var annotations map[string]string
	if len(ti.Annotations) > 0 || d.cfg.LeaseDuration > 0 {
		annotations = map[string]string{}
		for k, v := range ti.Annotations {
			annotations[k] = v
		}
	}
	// Without a Lease there is no holder, and the controller stamps no instance on the offers
	// either: there is nothing to fence.
	if d.cfg.LeaseDuration > 0 {
		annotations[agorav1alpha1.AnnotationInstance] = d.cfg.Identity
	}
	return &agorav1alpha1.Task{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.cfg.Namespace, Name: ti.Name,
			Labels: lbls, Annotations: annotations,
			OwnerReferences: d.ownerRefs(),
			// The executor's finalizer from the start: it would otherwise add it with a write
			// of its own before it creates the pod, on the path of every task. The controller
			// removes it from a task it rejects or that is deleted before admission.
			Finalizers: []string{agorav1alpha1.TaskFinalizer},
		},
		Spec: agorav1alpha1.TaskSpec{
			OfferName: offer, NodeName: ti.NodeName,
			Resources: ti.Resources.DeepCopy(), Template: *ti.Template.DeepCopy(),
		},
	}
}

// Decline releases offers without launching anything on them. Their nodes are not re-offered to
// this framework for spec.refuseDuration.
func (d *Driver) Decline(ctx context.Context, offers ...*agorav1alpha1.Offer) error {
	if err := d.fencedErr(); err != nil {
		return err
	}
	var errs []error
	for _, o := range offers {
		errs = append(errs, d.release(ctx, o.Name))
	}
	return errors.Join(errs...)
}

func (d *Driver) release(ctx context.Context, name string) error {
	d.mu.Lock()
	if d.fenced != nil {
		d.mu.Unlock()
		return d.fenced
	}
	// Remembered a while after the Offer is gone, so that a Launch on it still says it was
	// released; offers live minutes, not hours.
	now := time.Now()
	for n, until := range d.released {
		if now.After(until) {
			delete(d.released, n)
		}
	}
	d.released[name] = now.Add(time.Hour)
	d.mu.Unlock()
	err := d.agora.SchedulingV1alpha1().Offers(d.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing offer %s: %w", name, err)
	}
	return nil
}

// Kill deletes tasks: the executor stops their pods and the tasks end Killed (a task that is
// already terminal is simply removed).
func (d *Driver) Kill(ctx context.Context, names ...string) error {
	if err := d.fencedErr(); err != nil {
		return err
	}
	var errs []error
	api := d.agora.SchedulingV1alpha1().Tasks(d.cfg.Namespace)
	for _, n := range names {
		if err := api.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("killing task %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Suppress asks for no more offers (SUPPRESS) until Revive.
func (d *Driver) Suppress(ctx context.Context) error {
	return d.patchSpec(ctx, `{"spec":{"suppressOffers":true}}`)
}

// Revive asks for offers again (REVIVE): clears suppressOffers and every decline filter.
func (d *Driver) Revive(ctx context.Context) error {
	// revivedAt is stored with one-second resolution, and only a newer value than the last one
	// revives: a second Revive within the same second must still move it forward.
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	if fw := d.Framework(); fw != nil && fw.Spec.RevivedAt != nil && !now.After(fw.Spec.RevivedAt.Time) {
		now = metav1.NewTime(fw.Spec.RevivedAt.Add(time.Second))
	}
	ts, _ := now.MarshalJSON()
	return d.patchSpec(ctx, fmt.Sprintf(`{"spec":{"suppressOffers":false,"revivedAt":%s}}`, ts))
}

func (d *Driver) patchSpec(ctx context.Context, patch string) error {
	if err := d.fencedErr(); err != nil {
		return err
	}
	fw, err := d.agora.SchedulingV1alpha1().Frameworks(d.cfg.Namespace).Patch(ctx, d.cfg.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patching Framework %s/%s: %w", d.cfg.Namespace, d.cfg.Name, err)
	}
	d.setFramework(fw)
	return nil
}

// Reconcile asks for the current state of tasks, read from the API server (not the cache). With
// no names, every task of the framework is delivered through StatusUpdate (implicit
// reconciliation); with names, those tasks are, and a named task that does not exist is
// delivered as Lost with reason TaskNotFound (explicit reconciliation, as in Mesos).
func (d *Driver) Reconcile(ctx context.Context, names ...string) error {
	if err := d.fencedErr(); err != nil {
		return err
	}
	list, err := d.agora.SchedulingV1alpha1().Tasks(d.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{agorav1alpha1.LabelFramework: d.cfg.Name}.String(),
	})
	if err != nil {
		return fmt.Errorf("reconciling tasks: %w", err)
	}
	found := map[string]*agorav1alpha1.Task{}
	for i := range list.Items {
		found[list.Items[i].Name] = &list.Items[i]
	}
	if len(names) == 0 {
		for n := range found {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		t, ok := found[n]
		if !ok {
			t = &agorav1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: n}}
			t.Status.Phase = agorav1alpha1.TaskLost
			t.Status.Reason = ReasonTaskNotFound
			t.Status.Message = fmt.Sprintf("task %s/%s does not exist: it was never created or has been deleted", d.cfg.Namespace, n)
		}
		d.events.push(event{kind: evReconcile, obj: t})
	}
	return nil
}

// AfterFunc calls f on the callback goroutine, after the callbacks already queued, once delay
// has passed (0: as soon as possible). A scheduler uses it for its own timers (decline offers it
// held too long, re-examine tasks waiting for locality) without locking against its callbacks.
// f is dropped if the Driver stops first.
func (d *Driver) AfterFunc(delay time.Duration, f func(*Driver)) {
	if delay <= 0 {
		d.events.push(event{kind: evFunc, fn: f})
		return
	}
	time.AfterFunc(delay, func() { d.events.push(event{kind: evFunc, fn: f}) })
}

// ReasonTaskNotFound is the reason of the Lost status Reconcile delivers for a task that does not
// exist.
const ReasonTaskNotFound = "TaskNotFound"

// Teardown deletes the Framework (Mesos TEARDOWN): the controller rescinds its offers and kills
// its tasks, and Run returns ErrFrameworkDeleted once the Framework is gone.
func (d *Driver) Teardown(ctx context.Context) error {
	d.mu.Lock()
	if d.fenced != nil {
		d.mu.Unlock()
		return d.fenced
	}
	d.tornDown = true
	d.mu.Unlock()
	err := d.agora.SchedulingV1alpha1().Frameworks(d.cfg.Namespace).Delete(ctx, d.cfg.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("tearing down Framework %s/%s: %w", d.cfg.Namespace, d.cfg.Name, err)
	}
	return nil
}

// dispatch turns a batch of watch events into callbacks. Consecutive new offers go to one
// ResourceOffers call. Once the Driver is superseded it delivers nothing more: Error hears of it
// and dispatch returns it.
func (d *Driver) dispatch(batch []event) error {
	var offers []*agorav1alpha1.Offer
	flush := func() {
		if len(offers) > 0 && d.fencedErr() == nil {
			d.sched.ResourceOffers(d, offers)
		}
		offers = nil
	}
	for _, ev := range batch {
		if err := d.fencedErr(); err != nil {
			d.sched.Error(d, err)
			return err
		}
		switch ev.kind {
		case evOffer:
			o := ev.obj.(*agorav1alpha1.Offer)
			if !d.forThisInstance(o) {
				continue // made to another instance: not this one's to answer
			}
			nodes := nodeNames(o)
			d.mu.Lock()
			_, released := d.released[o.Name]
			told, seen := d.delivered[o.Name]
			fresh := !seen && !released && o.DeletionTimestamp.IsZero() && !rescinded(o)
			var taken []string
			if seen && !released {
				taken = missing(told, nodes)
			}
			if fresh || seen {
				d.delivered[o.Name] = nodes
			}
			d.mu.Unlock()
			if fresh {
				offers = append(offers, o.DeepCopy())
			}
			if r, ok := d.sched.(OfferNodesRescinder); ok && len(taken) > 0 {
				flush()
				r.OfferNodesRescinded(d, o.DeepCopy(), taken)
			}
		case evOfferGone:
			flush()
			o := ev.obj.(*agorav1alpha1.Offer)
			d.mu.Lock()
			_, ours := d.released[o.Name]
			_, seen := d.delivered[o.Name]
			delete(d.delivered, o.Name)
			delete(d.received, o.Name)
			d.mu.Unlock()
			if !ours && seen {
				reason := "Unknown"
				if c := meta.FindStatusCondition(o.Status.Conditions, agorav1alpha1.OfferConditionRescinded); c != nil && c.Status == metav1.ConditionTrue {
					reason = c.Reason
				}
				d.sched.OfferRescinded(d, o.DeepCopy(), reason)
			}
		case evTask, evTaskGone, evReconcile:
			flush()
			t := ev.obj.(*agorav1alpha1.Task).DeepCopy()
			if !d.ours(t) {
				continue
			}
			d.mu.Lock()
			last, known := d.phases[t.Name]
			deliver := t.Status.Phase != "" && t.Status.Phase != last
			switch ev.kind {
			case evReconcile:
				deliver = t.Status.Phase != "" || !known
			case evTaskGone:
				delete(d.phases, t.Name)
				delete(d.creates, t.Name)
				switch {
				case !known || Terminal(last):
					deliver = false
				case Terminal(t.Status.Phase):
					deliver = true // its last state arrived with the delete
				default:
					// Gone before the framework heard of an end: say it was killed, and
					// preempted when the controller marked it so before deleting it.
					t.Status.Phase = agorav1alpha1.TaskKilled
					t.Status.Reason = agorav1alpha1.ReasonTaskKilled
					t.Status.Message = fmt.Sprintf("task %s/%s was deleted in phase %s", t.Namespace, t.Name, last)
					if why, ok := preemptedFor(t); ok {
						t.Status.Reason = agorav1alpha1.ReasonPreempted
						if why != "" {
							t.Status.Message = why + ": " + t.Status.Message
						}
					}
					deliver = true
				}
			}
			if deliver && ev.kind != evTaskGone {
				d.phases[t.Name] = t.Status.Phase
			}
			d.mu.Unlock()
			if deliver {
				d.sched.StatusUpdate(d, t)
			}
		case evFramework:
			d.setFramework(ev.obj.(*agorav1alpha1.Framework))
		case evFrameworkGone:
			flush()
			d.mu.Lock()
			ours := d.tornDown
			d.mu.Unlock()
			if !ours {
				d.sched.Error(d, ErrFrameworkDeleted)
			}
			return ErrFrameworkDeleted
		case evError:
			flush()
			d.sched.Error(d, ev.err)
		case evFunc:
			flush()
			ev.fn(d)
		case evSuperseded:
			// Only wakes the loop: the check above reports it.
		}
	}
	flush()
	if err := d.fencedErr(); err != nil {
		d.sched.Error(d, err)
		return err
	}
	return nil
}

// missing returns the names in was that are not in now, in was's order.
func missing(was, now []string) []string {
	in := make(map[string]bool, len(now))
	for _, n := range now {
		in[n] = true
	}
	var out []string
	for _, n := range was {
		if !in[n] {
			out = append(out, n)
		}
	}
	return out
}

func (d *Driver) pushObj(kind eventKind, obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	switch obj.(type) {
	case *agorav1alpha1.Offer, *agorav1alpha1.Task, *agorav1alpha1.Framework:
		d.events.push(event{kind: kind, obj: obj})
	}
}

// ours tells the framework's tasks from those of an earlier Framework of the same name (deleted
// and created again; garbage collection removes its tasks in time): a task owned by a Framework
// with another UID is not this framework's. A task without an owner (made with kubectl and the
// label) is.
func (d *Driver) ours(t *agorav1alpha1.Task) bool {
	ref := frameworkOwner(t)
	if ref == nil {
		return true
	}
	fw := d.Framework()
	return fw == nil || ref.UID == fw.UID
}

// frameworkOwner returns t's owner reference to a Framework, or nil.
func frameworkOwner(t *agorav1alpha1.Task) *metav1.OwnerReference {
	for i, ref := range t.OwnerReferences {
		if ref.Kind == "Framework" && ref.APIVersion == agorav1alpha1.GroupVersion.String() {
			return &t.OwnerReferences[i]
		}
	}
	return nil
}

func rescinded(o *agorav1alpha1.Offer) bool {
	c := meta.FindStatusCondition(o.Status.Conditions, agorav1alpha1.OfferConditionRescinded)
	return c != nil && c.Status == metav1.ConditionTrue && len(o.Status.Remaining) == 0
}

// fillDefaults gives want the values the API server defaults (role, weight, refuseDuration)
// where want leaves them unset: an unchanged config then does not rewrite the Framework, and a
// config that drops a field puts the API's default back rather than keeping an old value.
func fillDefaults(want *agorav1alpha1.FrameworkSpec) {
	if want.Role == "" {
		want.Role = agorav1alpha1.DefaultRole
	}
	if want.Weight == nil {
		one := resource.MustParse("1")
		want.Weight = &one
	}
	if want.RefuseDuration == nil {
		want.RefuseDuration = &metav1.Duration{Duration: 5 * time.Second}
	}
}

func equalSpec(a, b *agorav1alpha1.FrameworkSpec) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// Terminal reports whether a task phase is final: the task's resources are back in the pool.
func Terminal(p agorav1alpha1.TaskPhase) bool { return p.IsTerminal() }
