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

package invariants

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
)

// Checker is the independent judge: it knows the cluster only through the API server (consistent
// list snapshots and watches), never through a controller's memory. Make one with New and start
// it with Run; it is safe for concurrent use.
type Checker struct {
	kube  kubernetes.Interface
	agora versioned.Interface
	logf  func(string, ...any)

	mu         sync.Mutex
	violations []Violation
	tolerated  map[string]int // transient excess explained by terminating pods, by invariant

	offers     map[string]*offerRecord          // ns/name -> first incarnation's record
	admitted   map[types.UID]admittedTask       // every task ever seen admitted
	podsOfTask map[types.UID]map[types.UID]bool // task UID -> pod UIDs ever seen
	offerTimes []time.Time                      // when each new Offer was seen (watch)
	runTimes   []time.Time                      // when a task was first seen Running
	running    map[types.UID]bool
	unreach    map[string]time.Time // task ns/name (uid) -> when first seen Unreachable
	snapshots  int
	// offerDownSince is when the Offer watch ended, zero while it is open, and offerUpAt when it
	// opened again; awaitOffer are the tasks admitted against an offer not seen yet while it was
	// not current (offerWatchCurrentLocked), judged again once it is.
	offerDownSince, offerUpAt time.Time
	awaitOffer                []*agorav1alpha1.Task
	// offerGaps are the windows in which the Offer watch was blind: it ended and could only start
	// afresh (its resourceVersion too old after a kube-apiserver restart), so an Offer created and
	// deleted in between was never seen.
	offerGaps [][2]time.Time
	// watching is closed once every watch has opened.
	watching chan struct{}
	// rescindedForGuarantee counts the Offers seen rescinded with reason Preempted.
	rescindedForGuarantee int

	// qmu guards q, the quota invariants' judge (6a-6c); it is taken without mu.
	qmu sync.Mutex
	q   *quotaJudge
}

// Watching is closed once Run's watches have all opened: start what the checker judges only
// after it, or an Offer made and gone before the Offer watch opened is never seen, and a task
// admitted against it reads as admitted against no offer.
func (c *Checker) Watching() <-chan struct{} { return c.watching }

// UnreachableSince returns when each task was first seen Unreachable, keyed by "ns/name (uid)".
func (c *Checker) UnreachableSince() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]time.Time, len(c.unreach))
	for k, v := range c.unreach {
		out[k] = v
	}
	return out
}

// Stats is what the checker has observed so far, besides violations.
type Stats struct {
	// OfferTimes are when each new Offer was seen, in order.
	OfferTimes []time.Time
	// RunTimes are when each task was first seen Running, in order.
	RunTimes []time.Time
	// Snapshots counts the consistent snapshots checked.
	Snapshots int
	// Tolerated counts, by invariant, the transient excesses explained by terminating pods and
	// the checks that could not be made (a watch was blind).
	Tolerated map[string]int
	// Preemptions are the tasks seen preempted, in the order their status.preemptedFor was seen.
	Preemptions []Preemption
	// SameNeedChecked counts the preemptions judged by 6c (the rest were tolerated).
	SameNeedChecked int
	// SameNeedSlack is, per preemption judged legitimate, the room 6c's bound left in tasks of
	// its CPU: a repeat of fewer tasks for the same need would not have been seen.
	SameNeedSlack []float64
	// RescindedForGuarantee counts the Offers seen rescinded with reason Preempted.
	RescindedForGuarantee int
}

// Preemption is one task seen preempted.
type Preemption struct {
	// Task is "namespace/name (uid)".
	Task string
	// Role is its status.preemptedFor.
	Role string
	// At is when its preemptedFor was first seen; Ended when it was first seen terminal or gone
	// (zero while neither).
	At, Ended time.Time
}

// Stats returns a copy of what the checker has observed so far, taken at one instant.
func (c *Checker) Stats() Stats {
	c.qmu.Lock()
	var ps []Preemption
	for _, uid := range c.q.preemptions {
		l := c.q.tasks[uid]
		ps = append(ps, Preemption{Task: l.key + " (" + string(uid) + ")", Role: l.preemptedFor, At: l.preemptedAt, Ended: l.endedAt})
	}
	checked, slack := c.q.checked, append([]float64(nil), c.q.slack...)
	c.qmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{OfferTimes: append([]time.Time(nil), c.offerTimes...), RunTimes: append([]time.Time(nil), c.runTimes...),
		Snapshots: c.snapshots, Tolerated: maps.Clone(c.tolerated), Preemptions: ps, SameNeedChecked: checked, SameNeedSlack: slack,
		RescindedForGuarantee: c.rescindedForGuarantee}
}

// Violation is one breach of an invariant, recorded once however long it lasts.
type Violation struct {
	At        time.Time
	Invariant string
	Detail    string
}

type offerRecord struct {
	UID        types.UID
	Framework  string
	Created    time.Time
	Deleted    time.Time // deletionTimestamp, zero while not deleted
	Expire     time.Time
	Offered    map[string]corev1.ResourceList // node -> spec at first sight
	NodeGoneAt map[string]time.Time           // when a node was first seen gone from spec.nodes
	// Revocable: some slice was seen revocable; Preempted: seen rescinded with reason Preempted.
	Revocable, Preempted bool
}

type admittedTask struct {
	Key, Offer, Node, Framework string
	Created                     time.Time
	Resources                   corev1.ResourceList
}

// New returns a Checker that reads the cluster through kube and agora and logs each violation,
// as it is found, through logf.
func New(kube kubernetes.Interface, agora versioned.Interface, logf func(string, ...any)) *Checker {
	return &Checker{kube: kube, agora: agora, logf: logf, tolerated: map[string]int{}, watching: make(chan struct{}),
		offers: map[string]*offerRecord{}, admitted: map[types.UID]admittedTask{},
		podsOfTask: map[types.UID]map[types.UID]bool{}, running: map[types.UID]bool{}, unreach: map[string]time.Time{},
		q: newQuotaJudge()}
}

// report records the quota judge's findings.
func (c *Checker) report(fs []finding) {
	for _, f := range fs {
		if f.tolerated {
			c.tolerate(f.inv)
			continue
		}
		c.Violate(f.inv, "%s", f.detail)
	}
}

// Violate records a violation of invariant inv (a breach the caller judged itself, e.g. a crash);
// the same invariant and detail are recorded only once.
func (c *Checker) Violate(inv, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := Violation{At: time.Now(), Invariant: inv, Detail: fmt.Sprintf(format, args...)}
	// One record per distinct finding: a breach that lasts is reported once.
	for _, o := range c.violations {
		if o.Invariant == v.Invariant && o.Detail == v.Detail {
			return
		}
	}
	c.violations = append(c.violations, v)
	c.logf("VIOLATION %s at %s: %s", inv, v.At.Format("15:04:05.000"), v.Detail)
}

// Violations returns every violation recorded so far, in the order they were found.
func (c *Checker) Violations() []Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Violation(nil), c.violations...)
}

// Run watches Offers, Tasks and Pods (for the history invariants 3 and 4), Frameworks and
// RoleQuotas (for the quota invariants 6) and takes a consistent snapshot every interval
// (invariants 1 and 2, and the nodes 6c needs); it blocks until ctx ends.
func (c *Checker) Run(ctx context.Context, interval time.Duration) {
	ag := c.agora.SchedulingV1alpha1()
	tasks, quotas := ag.Tasks(""), ag.RoleQuotas()
	specs := []watchSpec{
		{open: ag.Offers("").Watch, on: c.onOffer, blind: c.offerBlind, down: c.offerDown},
		{open: tasks.Watch, list: lister(tasks.List), on: c.onTask, listed: c.tasksListed, blind: c.quotaBlind, down: c.watchDown("tasks")},
		{open: c.kube.CoreV1().Pods("").Watch, on: c.onPod},
		{open: ag.Frameworks("").Watch, on: c.onFramework},
		{open: quotas.Watch, list: lister(quotas.List), on: c.onRoleQuota, listed: c.quotasListed, blind: c.quotaBlind, down: c.watchDown("rolequotas")},
	}
	var opened sync.WaitGroup
	opened.Add(len(specs))
	go func() { opened.Wait(); close(c.watching) }()
	for _, s := range specs {
		s.opened = opened.Done
		go c.watchLoop(ctx, s)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.snapshot(ctx); err != nil && ctx.Err() == nil {
				c.logf("checker: snapshot: %v", err)
			}
		}
	}
}

// lister adapts a typed List to watchSpec.list.
func lister[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error)) func(context.Context) ([]runtime.Object, string, error) {
	return func(ctx context.Context) ([]runtime.Object, string, error) {
		l, err := list(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, "", err
		}
		objs, err := meta.ExtractList(l)
		if err != nil {
			return nil, "", err
		}
		acc, err := meta.ListAccessor(l)
		if err != nil {
			return nil, "", err
		}
		return objs, acc.GetResourceVersion(), nil
	}
}

func (c *Checker) offerDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !down {
		c.offerDownSince, c.offerUpAt = time.Time{}, time.Now()
	} else if c.offerDownSince.IsZero() {
		c.offerDownSince = time.Now()
	}
}

// offerCatchUp is how long after the Offer watch opened again it may still be delivering what
// happened while it was down.
const offerCatchUp = 2 * time.Second

// offerWatchCurrentLocked reports whether the Offer watch is open and has had time to deliver
// what happened while it was down. Call with mu held.
func (c *Checker) offerWatchCurrentLocked() bool {
	return c.offerDownSince.IsZero() && time.Since(c.offerUpAt) >= offerCatchUp
}

func (c *Checker) offerBlind(from, to time.Time) {
	c.mu.Lock()
	c.offerGaps = append(c.offerGaps, [2]time.Time{from, to})
	c.mu.Unlock()
}

// watchSpec is one kind the checker follows.
type watchSpec struct {
	open func(context.Context, metav1.ListOptions) (watch.Interface, error)
	on   func(watch.EventType, any)
	// list, if set, begins every fresh watch (the first, and one after 410 Gone): its objects go
	// to on as Added and, all together, to listed (with when the previous watch ended, zero the
	// first time), so that what was deleted while the watch was blind is known to be gone; the
	// watch then starts at the list's resourceVersion. Without it a fresh watch starts with the
	// API's synthetic Added events, and an object deleted unseen is never known to be gone.
	list   func(context.Context) ([]runtime.Object, string, error)
	listed func(objs []runtime.Object, since time.Time)
	// blind, if set, is told each window in which the watch could only start afresh.
	blind func(from, to time.Time)
	// down, if set, is told when a watch ended (true) and when the next is open (false).
	down func(bool)
	// opened is called once, when the first watch is open.
	opened func()
}

// watchLoop re-opens a watch whenever it ends (a kube-apiserver restart ends them all), from the
// last resourceVersion it saw, so that every change in between is still delivered: an Offer
// created and deleted while the watch was down is seen, not reported as never made. Only if
// that version is too old (compacted, 410 Gone) does it start afresh (see watchSpec.list); what
// was created and deleted from the end of the last watch that delivered anything until then is
// lost, and s.blind (if set) is told that window. (A restarted kube-apiserver often accepts a
// watch at the old version and only then answers 410: that watch delivered nothing, so the
// window starts where the one before it ended; taking the end of that watch instead made seed
// 404 report tasks admitted against "an offer the checker never saw".)
func (c *Checker) watchLoop(ctx context.Context, s watchSpec) {
	rv := ""
	// since is when the stream of events stopped being complete: when the last watch that
	// delivered anything ended (a watch that opened at a too old resourceVersion and only
	// reported 410 Gone does not move it); zero while a watch is open and current.
	var since time.Time
	var once sync.Once
	for ctx.Err() == nil {
		fresh := rv == ""
		if fresh && s.list != nil {
			objs, listRV, err := s.list(ctx)
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			if !since.IsZero() && s.blind != nil {
				s.blind(since, time.Now())
			}
			for _, o := range objs {
				s.on(watch.Added, o)
			}
			if s.listed != nil {
				s.listed(objs, since)
			}
			rv, fresh, since = listRV, false, time.Time{}
		}
		w, err := s.open(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
			time.Sleep(time.Second)
			continue
		}
		once.Do(s.opened)
		if fresh && !since.IsZero() && s.blind != nil {
			s.blind(since, time.Now())
		}
		if fresh {
			since = time.Time{}
		}
		if s.down != nil {
			s.down(false)
		}
		delivered := false
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				if st, ok := ev.Object.(*metav1.Status); ok && (st.Code == http.StatusGone || st.Reason == metav1.StatusReasonExpired) {
					c.logf("checker: watch from resourceVersion %s expired; starting afresh", rv)
					rv = ""
				}
				continue
			}
			delivered = true
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			s.on(ev.Type, ev.Object)
		}
		w.Stop()
		if delivered || since.IsZero() {
			since = time.Now()
		}
		if s.down != nil {
			s.down(true)
		}
	}
}

// inOfferGap reports whether t (a creationTimestamp, truncated to the second) falls in a window
// in which the Offer watch was blind, a second of slack either side.
func (c *Checker) inOfferGap(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inOfferGapLocked(t)
}

func (c *Checker) inOfferGapLocked(t time.Time) bool {
	for _, g := range c.offerGaps {
		if !t.Before(g[0].Add(-time.Second)) && !t.After(g[1].Add(time.Second)) {
			return true
		}
	}
	return false
}

func (c *Checker) onOffer(typ watch.EventType, obj any) {
	o, ok := obj.(*agorav1alpha1.Offer)
	if !ok {
		return
	}
	key := o.Namespace + "/" + o.Name
	var found []finding
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		c.qmu.Lock()
		c.q.onOffer(time.Now(), o, typ == watch.Deleted)
		c.qmu.Unlock()
		c.report(found)
	}()
	r := c.offers[key]
	if r == nil || r.UID != o.UID {
		if r != nil {
			c.violations = append(c.violations, Violation{At: time.Now(), Invariant: "3",
				Detail: fmt.Sprintf("offer name %s reused (uid %s then %s): admission by name cannot tell them apart", key, r.UID, o.UID)})
		}
		r = &offerRecord{UID: o.UID, Framework: o.Spec.Framework, Created: o.CreationTimestamp.Time, Expire: o.Spec.ExpireTime.Time,
			Offered: map[string]corev1.ResourceList{}, NodeGoneAt: map[string]time.Time{}}
		for _, n := range o.Spec.Nodes {
			r.Offered[n.NodeName] = n.Resources
		}
		c.offers[key] = r
		c.offerTimes = append(c.offerTimes, time.Now())
	}
	if o.DeletionTimestamp != nil && r.Deleted.IsZero() {
		r.Deleted = o.DeletionTimestamp.Time
	}
	if typ == watch.Deleted && r.Deleted.IsZero() {
		r.Deleted = time.Now()
	}
	in := map[string]bool{}
	for _, n := range o.Spec.Nodes {
		in[n.NodeName] = true
		r.Revocable = r.Revocable || n.Revocable
	}
	if rescindedPreempted(o) && !r.Preempted {
		r.Preempted = true
		c.rescindedForGuarantee++
		// An offer made and partly rescinded while the Offer watch was blind may have lost its
		// revocable slice unseen.
		if !c.inOfferGapLocked(o.CreationTimestamp.Time) {
			found = onOfferRescinded(o, r.Revocable)
		}
	}
	for n := range r.Offered {
		if !in[n] && r.NodeGoneAt[n].IsZero() && typ != watch.Deleted {
			r.NodeGoneAt[n] = time.Now()
		}
	}
}

func wasAdmitted(p agorav1alpha1.TaskPhase) bool {
	return p != "" && p != agorav1alpha1.TaskError
}

func chargedPhase(p agorav1alpha1.TaskPhase) bool {
	switch p {
	case agorav1alpha1.TaskStaging, agorav1alpha1.TaskStarting, agorav1alpha1.TaskRunning, agorav1alpha1.TaskUnreachable:
		return true
	}
	return false
}

func (c *Checker) onTask(typ watch.EventType, obj any) {
	t, ok := obj.(*agorav1alpha1.Task)
	if !ok {
		return
	}
	key := t.Namespace + "/" + t.Name
	c.qmu.Lock()
	fs := c.q.onTask(time.Now(), t, typ == watch.Deleted)
	c.qmu.Unlock()
	c.report(fs)
	if t.Status.Phase == agorav1alpha1.TaskUnreachable {
		c.mu.Lock()
		id := key + " (" + string(t.UID) + ")"
		if _, ok := c.unreach[id]; !ok {
			c.unreach[id] = time.Now()
		}
		c.mu.Unlock()
	}
	if t.Status.Phase == agorav1alpha1.TaskRunning {
		c.mu.Lock()
		if !c.running[t.UID] {
			c.running[t.UID] = true
			c.runTimes = append(c.runTimes, time.Now())
		}
		c.mu.Unlock()
	}
	if !wasAdmitted(t.Status.Phase) {
		return
	}
	c.mu.Lock()
	_, seen := c.admitted[t.UID]
	if !seen {
		c.admitted[t.UID] = admittedTask{Key: key, Offer: t.Namespace + "/" + t.Spec.OfferName, Node: t.Spec.NodeName,
			Framework: t.Status.Framework, Created: t.CreationTimestamp.Time, Resources: t.Spec.Resources}
	}
	c.mu.Unlock()
	if !seen {
		c.judgeAdmission(t)
	}
}

// judgeAdmission holds invariant 3 for a task first seen admitted. While the Offer watch is down
// (kube-apiserver restarting) an offer it has not delivered yet may exist: the task waits for
// the watch to be back (awaitOffer, judged again at the next snapshot).
func (c *Checker) judgeAdmission(t *agorav1alpha1.Task) {
	c.mu.Lock()
	rec := c.offers[t.Namespace+"/"+t.Spec.OfferName]
	var sum corev1.ResourceList
	if rec != nil {
		sum = corev1.ResourceList{}
		for _, a := range c.admitted {
			if a.Offer == t.Namespace+"/"+t.Spec.OfferName && a.Node == t.Spec.NodeName {
				addTo(sum, a.Resources)
			}
		}
	}
	wait := rec == nil && !c.offerWatchCurrentLocked()
	if wait {
		c.awaitOffer = append(c.awaitOffer, t)
	}
	c.mu.Unlock()
	if wait {
		return
	}
	desc := fmt.Sprintf("task %s/%s (uid %s, phase %s, created %s) on node %s, offer %s", t.Namespace, t.Name, t.UID, t.Status.Phase,
		t.CreationTimestamp.Format(time.RFC3339), t.Spec.NodeName, t.Spec.OfferName)
	if rec == nil {
		// An Offer never seen lived wholly within a window in which the Offer watch was blind; a
		// task admitted against it while it existed was created in that window too. Not
		// verifiable, so not counted as a breach; a task created outside every such window is.
		if c.inOfferGap(t.CreationTimestamp.Time) {
			c.logf("checker: %s: admitted against an offer made and gone while the Offer watch was blind (kube-apiserver restart): not verifiable", desc)
			c.tolerate("3")
			return
		}
		c.Violate("3", "%s: admitted against an offer the checker never saw", desc)
		return
	}
	// creationTimestamps have one-second resolution: only a whole second past the limit counts.
	if !rec.Deleted.IsZero() && t.CreationTimestamp.After(rec.Deleted) {
		c.Violate("3", "%s: admitted although created after the offer was deleted (%s)", desc, rec.Deleted.Format(time.RFC3339))
	}
	if t.CreationTimestamp.After(rec.Expire) {
		c.Violate("3", "%s: admitted although created after the offer's expireTime %s", desc, rec.Expire.Format(time.RFC3339))
	}
	offered, ok := rec.Offered[t.Spec.NodeName]
	if !ok {
		c.Violate("3", "%s: node is not one of the offer's nodes", desc)
		return
	}
	if gone := rec.NodeGoneAt[t.Spec.NodeName]; !gone.IsZero() && t.CreationTimestamp.After(gone.Add(time.Second)) {
		c.Violate("3", "%s: admitted although created after its node left the offer (%s)", desc, gone.Format(time.RFC3339Nano))
	}
	if t.Status.Framework != "" && rec.Framework != t.Status.Framework {
		c.Violate("3", "%s: charged to framework %s but the offer is framework %s's", desc, t.Status.Framework, rec.Framework)
	}
	if name, over := exceeds(sum, offered); over {
		c.Violate("3", "%s: tasks admitted on offer %s node %s take %s %s, the offer offered %s", desc, t.Spec.OfferName,
			t.Spec.NodeName, name, fmtQ(sum, name), fmtQ(offered, name))
	}
}

func (c *Checker) onPod(typ watch.EventType, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	for _, ref := range p.OwnerReferences {
		if ref.Kind != "Task" {
			continue
		}
		c.mu.Lock()
		set := c.podsOfTask[ref.UID]
		if set == nil {
			set = map[types.UID]bool{}
			c.podsOfTask[ref.UID] = set
		}
		set[p.UID] = true
		n := len(set)
		var uids []string
		for u := range set {
			uids = append(uids, string(u))
		}
		c.mu.Unlock()
		if n > 1 {
			sort.Strings(uids)
			c.Violate("4", "task uid %s (%s/%s) has had %d pods: %v", ref.UID, p.Namespace, ref.Name, n, uids)
		}
	}
}

// snapshot lists Pods at the API's current revision and Nodes, Tasks and Offers at exactly that
// revision (etcd revisions are global), so that the sums below see one instant of the cluster.
func (c *Checker) snapshot(ctx context.Context) error {
	pods, err := c.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	at := metav1.ListOptions{ResourceVersion: pods.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact}
	nodes, err := c.kube.CoreV1().Nodes().List(ctx, at)
	if err != nil {
		return err
	}
	tasks, err := c.agora.SchedulingV1alpha1().Tasks("").List(ctx, at)
	if err != nil {
		return err
	}
	offers, err := c.agora.SchedulingV1alpha1().Offers("").List(ctx, at)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.snapshots++
	var await []*agorav1alpha1.Task
	if c.offerWatchCurrentLocked() {
		await, c.awaitOffer = c.awaitOffer, nil
	}
	c.mu.Unlock()
	for _, t := range await {
		c.judgeAdmission(t)
	}
	now := time.Now()
	checkSnapshot(now, nodes.Items, pods.Items, tasks.Items, offers.Items, c.Violate, c.tolerate)
	leases, err := c.kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).List(ctx, at)
	if err != nil {
		return err
	}
	c.qmu.Lock()
	c.q.onNodes(now, nodes.Items, leases.Items)
	fs := c.q.settle(now)
	c.qmu.Unlock()
	c.report(fs)
	return nil
}

func (c *Checker) tolerate(inv string) {
	c.mu.Lock()
	c.tolerated[inv]++
	c.mu.Unlock()
}

func (c *Checker) onFramework(_ watch.EventType, obj any) {
	if fw, ok := obj.(*agorav1alpha1.Framework); ok {
		c.qmu.Lock()
		c.q.onFramework(fw)
		c.qmu.Unlock()
	}
}

func (c *Checker) onRoleQuota(typ watch.EventType, obj any) {
	if q, ok := obj.(*agorav1alpha1.RoleQuota); ok {
		c.qmu.Lock()
		c.q.onQuota(time.Now(), q, typ == watch.Deleted)
		c.qmu.Unlock()
	}
}

func (c *Checker) quotasListed(objs []runtime.Object, _ time.Time) {
	present := map[string]bool{}
	for _, o := range objs {
		if q, ok := o.(*agorav1alpha1.RoleQuota); ok {
			present[q.Name] = true
		}
	}
	c.qmu.Lock()
	c.q.quotaResync(time.Now(), present)
	c.qmu.Unlock()
}

func (c *Checker) tasksListed(objs []runtime.Object, since time.Time) {
	if since.IsZero() {
		return // the first list: nothing was known before
	}
	present := map[types.UID]bool{}
	for _, o := range objs {
		if t, ok := o.(*agorav1alpha1.Task); ok {
			present[t.UID] = true
		}
	}
	c.qmu.Lock()
	c.q.taskResync(since, present)
	c.qmu.Unlock()
}

func (c *Checker) quotaBlind(from, to time.Time) {
	c.qmu.Lock()
	c.q.blind(from, to)
	c.qmu.Unlock()
}

// watchDown tells the quota judge when watch kind is down.
func (c *Checker) watchDown(kind string) func(bool) {
	return func(down bool) {
		c.qmu.Lock()
		c.q.setDown(kind, down)
		c.qmu.Unlock()
	}
}
