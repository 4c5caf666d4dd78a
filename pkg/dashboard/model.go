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
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// resourceGPU is the extended resource the pool page shows next to cpu and memory.
const resourceGPU corev1.ResourceName = "nvidia.com/gpu"

// State is everything the dashboard derives its pages from: the objects as the watches see
// them. The informer source fills it from its caches; a benchmark or test may fill it directly.
type State struct {
	Frameworks []*agorav1alpha1.Framework
	Offers     []*agorav1alpha1.Offer
	Tasks      []*agorav1alpha1.Task
	Nodes      []*corev1.Node
	// Leases are the executors' Leases (executor-<node> in agora-system).
	Leases []*coordinationv1.Lease
	// LeaseRenewals says when this process saw each executor Lease's renewTime change; a
	// Lease is judged by that, not by comparing the executor's clock with ours (see
	// docs/architecture.md, Liveness). A Lease not in it is judged by its renewTime.
	LeaseRenewals map[string]time.Time
	Events        []*corev1.Event
	// RoleQuotas are cluster-scoped: every one, whatever Namespace says.
	RoleQuotas []*agorav1alpha1.RoleQuota
	// Forbidden names the resources (frameworks, offers, tasks, nodes, leases, events,
	// rolequotas) the user may not list or watch, with the API server's message.
	Forbidden map[string]string
	// Absent names the resources the API server does not serve (rolequotas, from an Agora
	// older than quotas), with its message.
	Absent map[string]string
	// Namespace is the scope of frameworks, offers, tasks and events ("" = all namespaces).
	Namespace string
}

// Res is an amount of the three resources the dashboard plots.
type Res struct {
	CPU    int64 `json:"cpu"`    // millicores
	Memory int64 `json:"memory"` // bytes
	GPU    int64 `json:"gpu"`
}

func resOf(l corev1.ResourceList) Res {
	var r Res
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.CPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	if q, ok := l[resourceGPU]; ok {
		r.GPU = q.Value()
	}
	return r
}

func (r *Res) add(o Res) { r.CPU += o.CPU; r.Memory += o.Memory; r.GPU += o.GPU }

func (r Res) sub(o Res) Res {
	f := func(a, b int64) int64 {
		if a-b < 0 {
			return 0
		}
		return a - b
	}
	return Res{CPU: f(r.CPU, o.CPU), Memory: f(r.Memory, o.Memory), GPU: f(r.GPU, o.GPU)}
}

// Pool sums the nodes that are in Agora's pool (Ready, schedulable, executor alive).
type Pool struct {
	Nodes       int `json:"nodes"`       // every node the user can see
	PoolNodes   int `json:"poolNodes"`   // of them, in the pool
	Capacity    Res `json:"capacity"`    // allocatable of the pool's nodes
	Allocated   Res `json:"allocated"`   // non-terminal tasks on the pool's nodes
	Offered     Res `json:"offered"`     // what outstanding offers on them still hold
	Free        Res `json:"free"`        // capacity − allocated − offered (foreign pods not counted)
	Frameworks  int `json:"frameworks"`  // frameworks in scope
	ActiveTasks int `json:"activeTasks"` // non-terminal admitted tasks in scope
	Offers      int `json:"offers"`      // outstanding offers in scope
}

// Cond is a condition as the pages show it.
type Cond struct {
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// FrameworkRow is one framework on the frameworks page.
type FrameworkRow struct {
	Key        string                   `json:"key"` // namespace/name
	Namespace  string                   `json:"namespace"`
	Name       string                   `json:"name"`
	Role       string                   `json:"role"`
	Weight     string                   `json:"weight"`
	Share      float64                  `json:"share"`
	Dominant   string                   `json:"dominant"`
	Allocated  Res                      `json:"allocated"`
	Offered    Res                      `json:"offered"`
	Tasks      agorav1alpha1.TaskCounts `json:"tasks"`
	Offers     int32                    `json:"offers"`
	Suppressed bool                     `json:"suppressed"`
	// State is a word or two: ReceivingOffers, or why not (the Ready reason, Inactive, ...).
	State string `json:"state"`
	// Ready is false when the framework gets no offers; Why then says why, as the controller
	// wrote it in the Ready condition (reason: message).
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
	Why    string `json:"why"`
}

// NodeRow is one node on the nodes page.
type NodeRow struct {
	Name        string `json:"name"`
	Ready       bool   `json:"ready"`
	Schedulable bool   `json:"schedulable"`
	// Executor is fresh, stale, none (no Lease) or unknown (Leases forbidden).
	Executor    string `json:"executor"`
	InPool      bool   `json:"inPool"`
	Allocatable Res    `json:"allocatable"`
	Allocated   Res    `json:"allocated"`
	Offered     Res    `json:"offered"`
	Free        Res    `json:"free"`
	Tasks       int    `json:"tasks"`
	// OfferedTo names the frameworks (namespace/name) holding an offer on the node.
	OfferedTo []string `json:"offeredTo,omitempty"`
}

// EventRow is one Agora event.
type EventRow struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	Category string    `json:"category"` // rescind, rejection, loss, preemption, release, kill, other
	Kind     string    `json:"kind"`
	Object   string    `json:"object"` // namespace/name
	Related  string    `json:"related,omitempty"`
	Message  string    `json:"message"`
	Count    int32     `json:"count"`
}

// Snapshot is the derived view every page starts from; the live stream pushes it.
type Snapshot struct {
	Version    uint64            `json:"version"`
	Time       time.Time         `json:"time"`
	Namespace  string            `json:"namespace"`
	Pool       Pool              `json:"pool"`
	Frameworks []FrameworkRow    `json:"frameworks"`
	Nodes      []NodeRow         `json:"nodes"`
	Quotas     []QuotaRow        `json:"quotas"`
	Forbidden  map[string]string `json:"forbidden"`
	Absent     map[string]string `json:"absent,omitempty"`
	Sample     *Sample           `json:"sample,omitempty"`
}

// liveTask says whether a task holds resources: admitted and not ended.
func liveTask(t *agorav1alpha1.Task) bool {
	return t.Status.Phase != "" && !t.Status.Phase.IsTerminal()
}

// offerRemaining is, per node, what an offer still holds (what no task took yet).
func offerRemaining(o *agorav1alpha1.Offer) map[string]corev1.ResourceList {
	out := map[string]corev1.ResourceList{}
	rem := map[string]corev1.ResourceList{}
	for _, r := range o.Status.Remaining {
		rem[r.NodeName] = r.Resources
	}
	written := len(o.Status.Remaining) > 0 || o.Status.AdmittedTasks > 0
	for _, n := range o.Spec.Nodes {
		if r, ok := rem[n.NodeName]; ok {
			out[n.NodeName] = r
		} else if !written {
			out[n.NodeName] = n.Resources
		} else {
			out[n.NodeName] = nil
		}
	}
	return out
}

func executorState(st *State, node string, now time.Time) string {
	if _, ok := st.Forbidden["leases"]; ok {
		return "unknown"
	}
	name := agorav1alpha1.ExecutorLeaseName(node)
	for _, l := range st.Leases {
		if l.Name != name {
			continue
		}
		d := 15 * time.Second
		if l.Spec.LeaseDurationSeconds != nil {
			d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		seen, ok := st.LeaseRenewals[name]
		if !ok && l.Spec.RenewTime != nil {
			seen = l.Spec.RenewTime.Time
		}
		if now.Sub(seen) <= d {
			return "fresh"
		}
		return "stale"
	}
	return "none"
}

func findCond(cs []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(cs, t)
}

func frameworkRow(fw *agorav1alpha1.Framework) FrameworkRow {
	s := fw.Status
	r := FrameworkRow{
		Key: fw.Namespace + "/" + fw.Name, Namespace: fw.Namespace, Name: fw.Name,
		Role: fw.Spec.Role, Weight: "1", Dominant: string(s.DominantResource),
		Allocated: resOf(s.Allocated), Offered: resOf(s.Offered), Tasks: s.Tasks,
		Offers: s.OutstandingOffers, Suppressed: fw.Spec.SuppressOffers,
	}
	if fw.Spec.Weight != nil {
		r.Weight = fw.Spec.Weight.String()
	}
	r.Share, _ = strconv.ParseFloat(s.DominantShare, 64)
	ready := findCond(s.Conditions, agorav1alpha1.FrameworkConditionReady)
	active := findCond(s.Conditions, agorav1alpha1.FrameworkConditionActive)
	switch {
	case !fw.DeletionTimestamp.IsZero():
		r.State, r.Reason, r.Why = "TearingDown", agorav1alpha1.ReasonTearingDown, "the Framework is being deleted: its offers are rescinded and its tasks killed"
	case ready != nil && ready.Status == metav1.ConditionTrue:
		r.Ready, r.State, r.Reason = true, ready.Reason, ready.Reason
	case ready != nil:
		r.State, r.Reason, r.Why = ready.Reason, ready.Reason, ready.Message
	case active != nil && active.Status != metav1.ConditionTrue:
		r.State, r.Reason, r.Why = "Inactive", active.Reason, active.Message
	default:
		r.State, r.Reason, r.Why = "Pending", "Pending", "the controller has not written this framework's status yet"
	}
	return r
}

// build derives a Snapshot from the objects.
func build(st *State, now time.Time) *Snapshot {
	snap := &Snapshot{Time: now, Namespace: st.Namespace, Forbidden: st.Forbidden, Absent: st.Absent,
		Frameworks: make([]FrameworkRow, 0, len(st.Frameworks)), Nodes: make([]NodeRow, 0, len(st.Nodes))}
	if snap.Forbidden == nil {
		snap.Forbidden = map[string]string{}
	}
	for _, fw := range st.Frameworks {
		snap.Frameworks = append(snap.Frameworks, frameworkRow(fw))
	}
	sort.Slice(snap.Frameworks, func(i, j int) bool { return snap.Frameworks[i].Key < snap.Frameworks[j].Key })
	snap.Pool.Frameworks = len(snap.Frameworks)
	snap.Quotas = quotaRows(st.RoleQuotas, snap.Frameworks)

	allocated := map[string]Res{}
	tasks := map[string]int{}
	for _, t := range st.Tasks {
		if liveTask(t) {
			snap.Pool.ActiveTasks++
			a := allocated[t.Spec.NodeName]
			a.add(resOf(t.Spec.Resources))
			allocated[t.Spec.NodeName] = a
			tasks[t.Spec.NodeName]++
		}
	}
	offered := map[string]Res{}
	offeredTo := map[string][]string{}
	for _, o := range st.Offers {
		snap.Pool.Offers++
		for node, rem := range offerRemaining(o) {
			a := offered[node]
			a.add(resOf(rem))
			offered[node] = a
			offeredTo[node] = append(offeredTo[node], o.Namespace+"/"+o.Spec.Framework)
		}
	}
	for _, n := range st.Nodes {
		row := NodeRow{Name: n.Name, Schedulable: !n.Spec.Unschedulable, Executor: executorState(st, n.Name, now),
			Allocatable: resOf(n.Status.Allocatable), Allocated: allocated[n.Name], Offered: offered[n.Name],
			Tasks: tasks[n.Name], OfferedTo: dedupe(offeredTo[n.Name])}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				row.Ready = c.Status == corev1.ConditionTrue
			}
		}
		row.Free = row.Allocatable.sub(row.Allocated).sub(row.Offered)
		row.InPool = row.Ready && row.Schedulable && (row.Executor == "fresh" || row.Executor == "unknown")
		snap.Pool.Nodes++
		if row.InPool {
			snap.Pool.PoolNodes++
			snap.Pool.Capacity.add(row.Allocatable)
			snap.Pool.Allocated.add(row.Allocated)
			snap.Pool.Offered.add(row.Offered)
			snap.Pool.Free.add(row.Free)
		}
		snap.Nodes = append(snap.Nodes, row)
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return naturalLess(snap.Nodes[i].Name, snap.Nodes[j].Name) })
	if _, ok := st.Forbidden["nodes"]; ok {
		// Without nodes, the pool is what the frameworks in scope hold.
		for _, f := range snap.Frameworks {
			snap.Pool.Allocated.add(f.Allocated)
			snap.Pool.Offered.add(f.Offered)
		}
	}
	return snap
}

func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// naturalLess orders node-2 before node-10.
func naturalLess(a, b string) bool {
	ta, tb := strings.TrimRight(a, "0123456789"), strings.TrimRight(b, "0123456789")
	if ta == tb {
		na, ea := strconv.Atoi(a[len(ta):])
		nb, eb := strconv.Atoi(b[len(tb):])
		if ea == nil && eb == nil && na != nb {
			return na < nb
		}
	}
	return a < b
}

// eventCategory sorts an Agora event into what the events page filters on.
func eventCategory(e *corev1.Event) string {
	switch e.Reason {
	case agorav1alpha1.ReasonPreempted:
		return "preemption"
	case agorav1alpha1.ReasonReleased:
		return "release"
	case agorav1alpha1.ReasonNodeLostTask, agorav1alpha1.ReasonPodDeleted, agorav1alpha1.ReasonPodNotFound, agorav1alpha1.ReasonExecutorUnreachable:
		if e.InvolvedObject.Kind == "Offer" {
			return "rescind"
		}
		return "loss"
	case agorav1alpha1.ReasonExpired, agorav1alpha1.ReasonCapacityChanged, agorav1alpha1.ReasonNodeChanged,
		agorav1alpha1.ReasonFrameworkInactive, agorav1alpha1.ReasonFrameworkChanged, agorav1alpha1.ReasonFrameworkFailedOver:
		return "rescind"
	case agorav1alpha1.ReasonOfferNotFound, agorav1alpha1.ReasonOfferExpired, agorav1alpha1.ReasonOfferRescinded,
		agorav1alpha1.ReasonFrameworkNotFound, agorav1alpha1.ReasonFrameworkMismatch, agorav1alpha1.ReasonInstanceFenced,
		agorav1alpha1.ReasonNodeNotInOffer, agorav1alpha1.ReasonInsufficientResources, agorav1alpha1.ReasonInvalidTemplate,
		agorav1alpha1.ReasonPodRejected:
		return "rejection"
	case agorav1alpha1.ReasonTaskKilled, agorav1alpha1.ReasonFrameworkTeardown, agorav1alpha1.ReasonFailoverTimeout:
		return "kill"
	}
	if e.Action == "Rescind" {
		return "rescind"
	}
	return "other"
}

// agoraEvent says whether an Event is about one of Agora's kinds.
func agoraEvent(e *corev1.Event) bool {
	switch e.InvolvedObject.Kind {
	case "Framework", "Offer", "Task":
		return strings.HasPrefix(e.InvolvedObject.APIVersion, agorav1alpha1.GroupVersion.Group+"/") || e.InvolvedObject.APIVersion == ""
	}
	return false
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// events lists the newest Agora events first, at most limit of them.
func events(st *State, limit int) []EventRow {
	out := make([]EventRow, 0, len(st.Events))
	for _, e := range st.Events {
		if !agoraEvent(e) {
			continue
		}
		r := EventRow{Time: eventTime(e), Type: e.Type, Reason: e.Reason, Category: eventCategory(e),
			Kind: e.InvolvedObject.Kind, Object: e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name,
			Message: e.Message, Count: e.Count}
		if e.Series != nil {
			r.Count = e.Series.Count
		}
		if r.Count == 0 {
			r.Count = 1
		}
		if e.Related != nil {
			r.Related = e.Related.Kind + " " + e.Related.Name
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Detail is one framework's page.
type Detail struct {
	Framework  FrameworkRow      `json:"framework"`
	Spec       map[string]any    `json:"spec"`
	Conditions []Cond            `json:"conditions"`
	WhyDetail  json.RawMessage   `json:"whyDetail,omitempty"` // status.why, when the API has it
	Offers     []DetailOffer     `json:"offers"`
	Tasks      []DetailTask      `json:"tasks"`
	TasksShown int               `json:"tasksShown"`
	TasksTotal int               `json:"tasksTotal"`
	Events     []EventRow        `json:"events"`
	Forbidden  map[string]string `json:"forbidden"`
}

// DetailOffer is one node of one of the framework's offers.
type DetailOffer struct {
	Offer     string    `json:"offer"`
	Node      string    `json:"node"`
	Offered   Res       `json:"offered"`
	Remaining Res       `json:"remaining"`
	Expires   time.Time `json:"expires"`
	Releasing bool      `json:"releasing"`
	Revocable bool      `json:"revocable,omitempty"`
}

// DetailTask is one of the framework's tasks.
type DetailTask struct {
	Name      string    `json:"name"`
	Node      string    `json:"node"`
	Offer     string    `json:"offer"`
	Phase     string    `json:"phase"`
	Resources Res       `json:"resources"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message"`
	Created   time.Time `json:"created"`
	// Revocable: admitted on a revocable offer slice, so it may be preempted.
	Revocable bool `json:"revocable,omitempty"`
}

// maxDetailTasks bounds the tasks a detail page lists (live ones first, then the newest).
const maxDetailTasks = 500

func detail(st *State, ns, name string) (*Detail, bool) {
	var fw *agorav1alpha1.Framework
	for _, f := range st.Frameworks {
		if f.Namespace == ns && f.Name == name {
			fw = f
		}
	}
	if fw == nil {
		return nil, false
	}
	d := &Detail{Framework: frameworkRow(fw), Forbidden: st.Forbidden, Offers: []DetailOffer{}, Tasks: []DetailTask{}}
	if d.Forbidden == nil {
		d.Forbidden = map[string]string{}
	}
	if b, err := json.Marshal(fw.Spec); err == nil {
		_ = json.Unmarshal(b, &d.Spec)
	}
	for i := range fw.Status.Conditions {
		d.Conditions = append(d.Conditions, condFrom(&fw.Status.Conditions[i]))
	}
	// status.why is read generically, so the page works with and without that field.
	if b, err := json.Marshal(fw.Status); err == nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil {
			if w, ok := m["why"]; ok && string(w) != "null" {
				d.WhyDetail = w
			}
		}
	}
	for _, o := range st.Offers {
		if o.Namespace != ns || o.Spec.Framework != name {
			continue
		}
		rem := offerRemaining(o)
		for _, n := range o.Spec.Nodes {
			d.Offers = append(d.Offers, DetailOffer{Offer: o.Name, Node: n.NodeName, Offered: resOf(n.Resources),
				Remaining: resOf(rem[n.NodeName]), Expires: o.Spec.ExpireTime.Time, Releasing: !o.DeletionTimestamp.IsZero(), Revocable: n.Revocable})
		}
	}
	sort.Slice(d.Offers, func(i, j int) bool {
		if d.Offers[i].Offer != d.Offers[j].Offer {
			return d.Offers[i].Offer < d.Offers[j].Offer
		}
		return naturalLess(d.Offers[i].Node, d.Offers[j].Node)
	})
	var mine []*agorav1alpha1.Task
	for _, t := range st.Tasks {
		if t.Namespace != ns {
			continue
		}
		if t.Status.Framework == name || (t.Status.Framework == "" && t.Labels[agorav1alpha1.LabelFramework] == name) {
			mine = append(mine, t)
		}
	}
	sort.Slice(mine, func(i, j int) bool {
		li, lj := liveTask(mine[i]), liveTask(mine[j])
		if li != lj {
			return li
		}
		if !mine[i].CreationTimestamp.Equal(&mine[j].CreationTimestamp) {
			return mine[i].CreationTimestamp.After(mine[j].CreationTimestamp.Time)
		}
		return mine[i].Name < mine[j].Name
	})
	d.TasksTotal = len(mine)
	all := mine
	if len(mine) > maxDetailTasks {
		mine = mine[:maxDetailTasks]
	}
	d.TasksShown = len(mine)
	for _, t := range mine {
		phase := string(t.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		d.Tasks = append(d.Tasks, DetailTask{Name: t.Name, Node: t.Spec.NodeName, Offer: t.Spec.OfferName, Phase: phase,
			Resources: resOf(t.Spec.Resources), Reason: t.Status.Reason, Message: t.Status.Message, Created: t.CreationTimestamp.Time,
			Revocable: t.Status.Revocable})
	}
	// Its events: on the Framework, its Offers and its Tasks.
	objects := map[string]bool{"Framework " + name: true}
	for _, o := range d.Offers {
		objects["Offer "+o.Offer] = true
	}
	for _, t := range all {
		objects["Task "+t.Name] = true
	}
	for _, e := range events(st, 0) {
		if len(d.Events) >= 50 {
			break
		}
		if strings.HasPrefix(e.Object, ns+"/") && objects[e.Kind+" "+strings.TrimPrefix(e.Object, ns+"/")] {
			d.Events = append(d.Events, e)
		}
	}
	if d.Events == nil {
		d.Events = []EventRow{}
	}
	return d, true
}
