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

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

// blockLabelPrefix names the node labels saying which data blocks a node holds (an Offer passes
// agora.dev labels on as node attributes).
const blockLabelPrefix = "blocks.agora.dev/b"

// labelLocal on a Task says whether it was placed on a node holding its data block.
const labelLocal = "experiment.agora.dev/local"

// holdOffers is how long the gang framework keeps an offer it cannot use yet, gathering enough
// for the job at the head of its queue, before it declines it.
const holdOffers = 5 * time.Second

type taskStatus int

const (
	pending taskStatus = iota
	launched
	done
)

// taskRun is one task of a job across its attempts.
type taskRun struct {
	status   taskStatus
	attempt  int
	node     string
	local    bool
	launched time.Time
}

// jobRun is a job as its framework runs it.
type jobRun struct {
	spec      jobSpec
	arrived   bool
	launched  bool // gang: the whole job is out
	wave      int  // the wave now runnable (spec.waveSize > 0)
	tasks     []taskRun
	finished  int // tasks done
	waveDone  int // tasks of the current wave done
	start     time.Time
	end       time.Time
	waitSince time.Time // delay scheduling: since when the job has launched nothing local
}

// runnable reports whether task i may launch now.
func (j *jobRun) runnable(i int) bool {
	if !j.arrived || j.tasks[i].status != pending {
		return false
	}
	return j.spec.waveSize == 0 || i/j.spec.waveSize == j.wave
}

func (j *jobRun) complete() bool { return j.finished == len(j.tasks) }

// framework is one of the four frameworks of the experiment: an sdk.Scheduler running its jobs
// of the trace in arrival order (FIFO), with delay scheduling for jobs whose tasks read data
// blocks and all-or-nothing launches for gang jobs. Its state is touched only on the Driver's
// callback goroutine, except what mu guards.
type framework struct {
	sdk.NoopScheduler
	name  string
	delay time.Duration
	start time.Time // the run's clock
	logf  func(format string, args ...any)

	jobs       []*jobRun
	byName     map[string][2]int // task name -> job, index
	held       map[string]*agorav1alpha1.Offer
	heldSince  map[string]time.Time
	holdTimer  bool // a look at the held offers is due in holdOffers
	suppressed bool

	// overhead sums, over finished tasks, launch to Finished minus the task's duration; the
	// phase sums split it by the Task's status times, over the tasks that carry both.
	overhead                          time.Duration
	overheadN                         int
	toRunning, beyondDuration, toSeen time.Duration
	phasesN                           int

	mu         sync.Mutex
	registered time.Time
	finished   bool
	done       chan struct{}
}

func newFramework(name string, jobs []jobSpec, delay time.Duration, start time.Time, logf func(string, ...any)) *framework {
	f := &framework{name: name, delay: delay, start: start, logf: logf, byName: map[string][2]int{},
		held: map[string]*agorav1alpha1.Offer{}, heldSince: map[string]time.Time{}, done: make(chan struct{})}
	for _, js := range jobs {
		f.jobs = append(f.jobs, &jobRun{spec: js, tasks: make([]taskRun, len(js.tasks))})
	}
	return f
}

func (f *framework) taskName(j, i, attempt int) string {
	return fmt.Sprintf("%s-j%d-t%d-a%d", f.name, j, i, attempt)
}

// Registered schedules the job arrivals, relative to the run's start.
func (f *framework) Registered(d *sdk.Driver, fw *agorav1alpha1.Framework) {
	f.mu.Lock()
	f.registered = time.Now()
	f.mu.Unlock()
	f.suppressed = fw.Spec.SuppressOffers
	for _, j := range f.jobs {
		d.AfterFunc(time.Until(f.start.Add(j.spec.arrival)), func(d *sdk.Driver) {
			j.arrived = true
			j.waitSince = time.Now()
			f.offers(d, nil)
		})
	}
	if len(f.jobs) == 0 {
		f.finish()
	}
}

// ResourceOffers places runnable tasks on the offers.
func (f *framework) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	f.offers(d, offers)
}

func (f *framework) offers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	gang := len(f.jobs) > 0 && f.jobs[0].spec.gang
	if gang {
		now := time.Now()
		for _, o := range offers {
			f.held[o.Name], f.heldSince[o.Name] = o, now
		}
		f.launchGangs(d)
	} else {
		for _, o := range offers {
			f.launchOn(d, o)
		}
	}
	f.settle(d)
}

// next picks the task to run on a node with free resources, by delay scheduling (Zaharia et
// al., EuroSys 2010): jobs in arrival order (FIFO); a job that does not read data, or has a
// runnable task reading a block the node holds, launches it; a job that has waited delay since
// it last launched a local task launches any runnable task; any other job is skipped.
func (f *framework) next(n agorav1alpha1.OfferNode, free corev1.ResourceList, now time.Time) (*jobRun, int, bool) {
	for _, j := range f.jobs {
		if !j.arrived || j.complete() || j.spec.gang || !sdk.Fits(free, resources(j.spec.shape)) {
			continue
		}
		first := -1
		for i := range j.tasks {
			if !j.runnable(i) {
				continue
			}
			if !j.spec.local {
				return j, i, false
			}
			if n.Attributes[blockLabel(j.spec.tasks[i].block)] != "" {
				return j, i, true
			}
			if first < 0 {
				first = i
			}
		}
		if first >= 0 && now.Sub(j.waitSince) >= f.delay {
			return j, first, false
		}
	}
	return nil, -1, false
}

func blockLabel(b int) string { return blockLabelPrefix + strconv.Itoa(b) }

func resources(s shape) corev1.ResourceList {
	return sdk.Resources("cpu", strconv.Itoa(s.cpu), "memory", strconv.Itoa(s.memGi)+"Gi")
}

// launchOn answers one offer: as many runnable tasks as fit, the rest released.
func (f *framework) launchOn(d *sdk.Driver, o *agorav1alpha1.Offer) {
	now := time.Now()
	free := sdk.Remaining(o)
	var infos []sdk.TaskInfo
	var placed [][2]int
	for _, n := range o.Spec.Nodes {
		for {
			j, i, local := f.next(n, free[n.NodeName], now)
			if j == nil {
				break
			}
			free[n.NodeName] = sdk.Subtract(free[n.NodeName], resources(j.spec.shape))
			infos = append(infos, f.place(j, i, n.NodeName, local, now))
			placed = append(placed, [2]int{j.spec.id, i})
		}
	}
	f.launch(d, []*agorav1alpha1.Offer{o}, infos, placed)
}

// place records task i of j as launched on node and returns what to launch.
func (f *framework) place(j *jobRun, i int, node string, local bool, now time.Time) sdk.TaskInfo {
	t := &j.tasks[i]
	t.status, t.node, t.local, t.launched = launched, node, local, now
	if local {
		j.waitSince = now
	}
	if j.start.IsZero() {
		j.start = now
	}
	name := f.taskName(j.spec.id, i, t.attempt)
	f.byName[name] = [2]int{j.spec.id, i}
	return sdk.TaskInfo{Name: name, NodeName: node, Resources: resources(j.spec.shape),
		Template: sdk.SleepTemplate(j.spec.tasks[i].dur), Labels: map[string]string{labelLocal: strconv.FormatBool(local)}}
}

// launch launches infos on offers; what the Driver says it did not create goes back to pending.
func (f *framework) launch(d *sdk.Driver, offers []*agorav1alpha1.Offer, infos []sdk.TaskInfo, placed [][2]int) {
	err := d.Launch(context.TODO(), offers, infos...)
	if err == nil {
		return
	}
	notCreated := map[string]bool{}
	for _, n := range sdk.NotCreated(err) {
		notCreated[n] = true
	}
	rescinded := errors.Is(err, sdk.ErrNodeRescinded) // nothing was written
	for k, ti := range infos {
		if !rescinded && !notCreated[ti.Name] {
			continue
		}
		j := f.jobs[placed[k][0]]
		if j.spec.gang && !rescinded {
			// Part of a gang is out: all of it goes again, or none of it would run together.
			if j.launched {
				f.restartGang(d, j)
			}
			continue
		}
		j.tasks[placed[k][1]].status = pending
		j.launched = false
	}
	f.logf("%s: launch on %d offers: %v", f.name, len(offers), err)
	// Any other error (the API server refusing or timing out a create) may have left a task
	// that does not exist and will never report: once the watches have had time to bring it,
	// one still missing runs again under its next attempt's name.
	for k, ti := range infos {
		if rescinded || notCreated[ti.Name] {
			continue
		}
		j, i, name := f.jobs[placed[k][0]], placed[k][1], ti.Name
		d.AfterFunc(10*time.Second, func(d *sdk.Driver) {
			t := &j.tasks[i]
			if t.status != launched || f.taskName(j.spec.id, i, t.attempt) != name || d.Task(name) != nil {
				return
			}
			f.logf("%s: task %s never appeared: running it again", f.name, name)
			delete(f.byName, name)
			f.runAgain(d, j, i)
			f.offers(d, nil)
		})
	}
	if rescinded {
		for _, o := range offers {
			name := o.Name
			d.AfterFunc(0, func(d *sdk.Driver) {
				if cur := d.Offer(name); cur != nil {
					f.offers(d, []*agorav1alpha1.Offer{cur})
				}
			})
		}
	}
}

// launchGangs launches the job at the head of the queue once the held offers cover all of its
// tasks, then the next; offers held longer than holdOffers are declined.
func (f *framework) launchGangs(d *sdk.Driver) {
	for {
		var head *jobRun
		for _, j := range f.jobs {
			if j.arrived && !j.launched && !j.complete() {
				head = j
				break
			}
		}
		if head == nil {
			f.declineHeld(d, time.Time{})
			return
		}
		// A node may be in two held offers (freed in two cycles); Launch charges a task to
		// the first offer passed that holds its node, so only that offer's slice counts.
		names := make([]string, 0, len(f.held))
		for name := range f.held {
			names = append(names, name)
		}
		slices.Sort(names)
		free := map[string]corev1.ResourceList{}
		offerOf := map[string]*agorav1alpha1.Offer{}
		for _, name := range names {
			o := d.Offer(name)
			if o == nil {
				delete(f.held, name)
				delete(f.heldSince, name)
				continue
			}
			for n, r := range sdk.Remaining(o) {
				if _, ok := free[n]; !ok {
					free[n], offerOf[n] = r, o
				}
			}
		}
		need := resources(head.spec.shape)
		var nodes []string
		for n := range free {
			for sdk.Fits(free[n], need) && len(nodes) < len(head.tasks) {
				free[n] = sdk.Subtract(free[n], need)
				nodes = append(nodes, n)
			}
		}
		if len(nodes) < len(head.tasks) {
			// Not enough yet: keep what is held, give back what was held too long.
			f.declineHeld(d, time.Now().Add(-holdOffers))
			if !f.holdTimer && len(f.held) > 0 {
				f.holdTimer = true
				d.AfterFunc(holdOffers, func(d *sdk.Driver) {
					f.holdTimer = false
					f.offers(d, nil)
				})
			}
			return
		}
		now := time.Now()
		used := map[string]*agorav1alpha1.Offer{}
		var infos []sdk.TaskInfo
		var placed [][2]int
		for i, n := range nodes {
			infos = append(infos, f.place(head, i, n, false, now))
			placed = append(placed, [2]int{head.spec.id, i})
			used[offerOf[n].Name] = offerOf[n]
		}
		head.launched = true
		var offers []*agorav1alpha1.Offer
		for _, name := range names {
			if o, ok := used[name]; ok {
				offers = append(offers, o)
				delete(f.held, name)
				delete(f.heldSince, name)
			}
		}
		f.logf("%s: gang job %d: %d tasks on %d offers", f.name, head.spec.id, len(infos), len(offers))
		f.launch(d, offers, infos, placed)
	}
}

// declineHeld declines the held offers received before (all of them for the zero time).
func (f *framework) declineHeld(d *sdk.Driver, before time.Time) {
	var out []*agorav1alpha1.Offer
	for name, o := range f.held {
		if before.IsZero() || f.heldSince[name].Before(before) {
			out = append(out, o)
			delete(f.held, name)
			delete(f.heldSince, name)
		}
	}
	if len(out) > 0 {
		if err := d.Decline(context.TODO(), out...); err != nil {
			f.logf("%s: decline: %v", f.name, err)
		}
	}
}

// StatusUpdate follows each task to its end: a finished task counts toward its job (and wave);
// one that ended otherwise runs again (a gang job: all of it).
func (f *framework) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	ji, ok := f.byName[t.Name]
	if !ok || !sdk.Terminal(t.Status.Phase) {
		return
	}
	delete(f.byName, t.Name)
	j := f.jobs[ji[0]]
	tr := &j.tasks[ji[1]]
	if tr.status != launched || f.taskName(j.spec.id, ji[1], tr.attempt) != t.Name {
		return
	}
	if t.Status.Phase == agorav1alpha1.TaskFinished {
		tr.status = done
		j.finished++
		now, dur := time.Now(), j.spec.tasks[ji[1]].dur
		f.overhead += now.Sub(tr.launched) - dur
		f.overheadN++
		if st, ct := t.Status.StartTime, t.Status.CompletionTime; st != nil && ct != nil {
			f.toRunning += st.Sub(tr.launched)
			f.beyondDuration += ct.Sub(st.Time) - dur
			f.toSeen += now.Sub(ct.Time)
			f.phasesN++
		}
		if j.spec.waveSize > 0 {
			j.waveDone++
			if j.waveDone == j.spec.waveSize {
				j.wave, j.waveDone = j.wave+1, 0
			}
		}
		if j.complete() {
			j.end = time.Now()
			f.logf("%s: job %d done: %d tasks in %s", f.name, j.spec.id, len(j.tasks), j.end.Sub(f.start.Add(j.spec.arrival)).Round(100*time.Millisecond))
			f.checkDone()
		}
	} else {
		f.logf("%s: task %s %s (%s): running it again", f.name, t.Name, t.Status.Phase, t.Status.Reason)
		f.runAgain(d, j, ji[1])
	}
	f.offers(d, nil)
}

// runAgain queues task i of j again under its next attempt's name; for a gang job, all of it.
func (f *framework) runAgain(d *sdk.Driver, j *jobRun, i int) {
	if j.spec.gang {
		f.restartGang(d, j)
		return
	}
	j.tasks[i].status = pending
	j.tasks[i].attempt++
}

// restartGang kills what is left of a gang job and queues all of it again.
func (f *framework) restartGang(d *sdk.Driver, j *jobRun) {
	var kill []string
	for i := range j.tasks {
		t := &j.tasks[i]
		if t.status == launched {
			name := f.taskName(j.spec.id, i, t.attempt)
			delete(f.byName, name)
			kill = append(kill, name)
		}
		if t.status == done {
			j.finished--
		}
		t.status = pending
		t.attempt++
	}
	j.launched = false
	if err := d.Kill(context.TODO(), kill...); err != nil {
		f.logf("%s: kill: %v", f.name, err)
	}
}

// settle suppresses offers while nothing can run and revives them when something can.
func (f *framework) settle(d *sdk.Driver) {
	want := false
	for _, j := range f.jobs {
		if j.spec.gang {
			if j.arrived && !j.launched && !j.complete() {
				want = true
			}
			continue
		}
		for i := range j.tasks {
			if j.runnable(i) {
				want = true
				break
			}
		}
	}
	switch {
	case !want && !f.suppressed:
		if err := d.Suppress(context.TODO()); err == nil {
			f.suppressed = true
		}
	case want && f.suppressed:
		if err := d.Revive(context.TODO()); err == nil {
			f.suppressed = false
		}
	}
}

func (f *framework) checkDone() {
	for _, j := range f.jobs {
		if !j.complete() {
			return
		}
	}
	f.finish()
}

func (f *framework) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.finished {
		f.finished = true
		close(f.done)
	}
}

// OfferRescinded forgets a held offer the controller took back.
func (f *framework) OfferRescinded(_ *sdk.Driver, o *agorav1alpha1.Offer, reason string) {
	delete(f.held, o.Name)
	delete(f.heldSince, o.Name)
	f.logf("%s: offer %s rescinded: %s", f.name, o.Name, reason)
}

// Error logs what the Driver met in the background.
func (f *framework) Error(_ *sdk.Driver, err error) { f.logf("%s: %v", f.name, err) }

// pendingSummary says what the framework still waits for, for a timeout's error.
func (f *framework) pendingSummary() string {
	var jobs, tasks int
	for _, j := range f.jobs {
		if !j.complete() {
			jobs++
			tasks += len(j.tasks) - j.finished
		}
	}
	return fmt.Sprintf("%s: %d jobs (%d tasks) unfinished", f.name, jobs, tasks)
}
