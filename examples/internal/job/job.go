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

// Package job is the bookkeeping of a framework that must run a fixed set of tasks to completion:
// which task index runs which attempt, in what phase, what to (re)launch next. It is rebuilt
// from the framework's Task objects alone, so a restarted framework neither loses nor duplicates
// work: the attempt is part of the Task name, and names are unique.
package job

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

// State of one task index.
type State int

const (
	// Pending: no live attempt; launch one.
	Pending State = iota
	// InFlight: an attempt is created and not terminal yet.
	InFlight
	// Done: an attempt finished.
	Done
	// GaveUp: attempts failed more than the retry limit allows.
	GaveUp
)

// Job tracks tasks 0..N-1 of one framework. Not safe for concurrent use (SDK callbacks are
// serial).
type Job struct {
	prefix     string
	maxRetries int
	tasks      []entry
	launched   map[string]bool // task names ever seen or created
	relaunched int
	preempted  int
}

type entry struct {
	attempt  int // latest attempt
	failures int // attempts that ran and did not finish (not admission errors)
	state    State
	phase    agorav1alpha1.TaskPhase
	node     string
}

// New tracks n tasks named prefix-<index>-<attempt>, each retried up to maxRetries times after
// it ran and failed. Admission errors (the offer went away under the task) and preemptions (the
// task ran on revocable resources another role took back) are relaunched without counting
// against the limit, except an invalid template, which would fail forever.
func New(prefix string, n, maxRetries int) *Job {
	return &Job{prefix: prefix, maxRetries: maxRetries, tasks: make([]entry, n), launched: map[string]bool{}}
}

// Name of attempt a of task i.
func (j *Job) Name(i, a int) string { return fmt.Sprintf("%s-%d-%d", j.prefix, i, a) }

// Parse returns the index and attempt a task name encodes, or ok=false if it is not this job's.
func (j *Job) Parse(name string) (i, a int, ok bool) {
	rest, found := strings.CutPrefix(name, j.prefix+"-")
	if !found {
		return 0, 0, false
	}
	is, as, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(is)
	a, err2 := strconv.Atoi(as)
	if err1 != nil || err2 != nil || i < 0 || i >= len(j.tasks) || a < 0 {
		return 0, 0, false
	}
	return i, a, true
}

// Observe folds a task's status into the job; it returns what changed for index i (or -1 when
// the task is not this job's, or is an older attempt). Safe to call again with the same status.
func (j *Job) Observe(t *agorav1alpha1.Task) (i int, st State) {
	i, a, ok := j.Parse(t.Name)
	if !ok {
		return -1, 0
	}
	j.launched[t.Name] = true
	e := &j.tasks[i]
	if a < e.attempt || (a == e.attempt && (e.state == Done || e.state == GaveUp)) {
		return -1, 0
	}
	if a > e.attempt || e.state == Pending {
		e.attempt = a
	}
	e.phase = t.Status.Phase
	e.node = t.Spec.NodeName
	switch {
	case t.Status.Phase == agorav1alpha1.TaskFinished:
		e.state = Done
	case sdk.Terminal(t.Status.Phase):
		switch {
		case sdk.Preempted(t):
			j.preempted++ // the task did nothing wrong
		case t.Status.Phase != agorav1alpha1.TaskError || t.Status.Reason == agorav1alpha1.ReasonInvalidTemplate:
			e.failures++
		}
		if e.failures > j.maxRetries {
			e.state = GaveUp
		} else {
			e.state = Pending
			e.attempt = a + 1
			j.relaunched++
		}
	default:
		e.state = InFlight
	}
	return i, e.state
}

// Launching records that attempt's Task is being created for index i (so it is not launched
// twice before its first status arrives) and returns its name.
func (j *Job) Launching(i int, node string) string {
	e := &j.tasks[i]
	e.state = InFlight
	e.node = node
	name := j.Name(i, e.attempt)
	j.launched[name] = true
	return name
}

// NotLaunched undoes Launching for a task that Driver.Launch did not create because it refused
// the whole launch (sdk.ErrNodeRescinded): the index needs an attempt again, under the same name.
func (j *Job) NotLaunched(name string) {
	i, a, ok := j.Parse(name)
	if !ok {
		return
	}
	if e := &j.tasks[i]; e.attempt == a && e.state == InFlight {
		e.state, e.node = Pending, ""
		delete(j.launched, name)
	}
}

// Pending returns the indexes that need an attempt, lowest first.
func (j *Job) Pending() []int {
	var out []int
	for i, e := range j.tasks {
		if e.state == Pending {
			out = append(out, i)
		}
	}
	return out
}

// Count returns how many indexes are in state s.
func (j *Job) Count(s State) int {
	n := 0
	for _, e := range j.tasks {
		if e.state == s {
			n++
		}
	}
	return n
}

// State returns the state of index i.
func (j *Job) State(i int) State { return j.tasks[i].state }

// Node returns the node of index i's latest attempt.
func (j *Job) Node(i int) string { return j.tasks[i].node }

// Complete reports whether every index is Done or GaveUp.
func (j *Job) Complete() bool { return j.Count(Done)+j.Count(GaveUp) == len(j.tasks) }

// Len is the number of tasks.
func (j *Job) Len() int { return len(j.tasks) }

// Launched counts the Task objects created, Relaunched the attempts after a failure or a
// preemption, and Preempted the attempts killed by a preemption (as this process saw them: the
// controller deletes a preempted Task, so a restarted framework does not count the earlier ones).
func (j *Job) Launched() int   { return len(j.launched) }
func (j *Job) Relaunched() int { return j.relaunched }
func (j *Job) Preempted() int  { return j.preempted }

// Phases counts the latest attempt of every index by phase ("" for one not created yet).
func (j *Job) Phases() map[agorav1alpha1.TaskPhase]int {
	out := map[agorav1alpha1.TaskPhase]int{}
	for _, e := range j.tasks {
		out[e.phase]++
	}
	return out
}

// String summarises the phases, e.g. "Running=3 Finished=7".
func (j *Job) String() string {
	ph := j.Phases()
	keys := make([]string, 0, len(ph))
	for k := range ph {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		name := k
		if name == "" {
			name = "Waiting"
		}
		fmt.Fprintf(&b, "%s=%d ", name, ph[agorav1alpha1.TaskPhase(k)])
	}
	return strings.TrimSpace(b.String())
}
