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

// Command batch is an Agora framework that runs a job of N tasks of one shape to completion,
// relaunching a failed task up to --max-retries times, then tears its Framework down.
//
// It takes as many tasks as fit in each offer (one task per offer slot), releases the rest, and
// suppresses offers while it has nothing to launch. Restarted with the same --name it picks its
// job up from the Task objects: nothing runs twice and nothing is lost.
//
// Its tasks can be retried, so with --revocable it registers with the RevocableResources
// capability and also runs them on revocable offer slices (capacity a RoleQuota guarantees to
// another role that does not use it now), after the offer's regular slices. A task preempted
// there (Killed, reason Preempted) is relaunched without counting against --max-retries, and the
// final report counts the preemptions. Without --revocable it never launches on a revocable
// slice.
//
//	batch --tasks 20 --cpu 1 --memory 2Gi --duration 5s [--revocable]
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/internal/cli"
	"github.com/agora-sched/agora/examples/internal/job"
	"github.com/agora-sched/agora/examples/report"
	"github.com/agora-sched/agora/pkg/sdk"
	corev1 "k8s.io/api/core/v1"
)

type batch struct {
	flags      cli.Flags
	tasks      int
	cpu, mem   string
	duration   time.Duration
	maxRetries int
	failFirst  int
	revocable  bool
	jobFlags   cli.JobFlags

	shape      corev1.ResourceList
	job        *job.Job
	start      time.Time
	suppressed bool
	stop       context.CancelFunc
	finished   bool
}

func main() {
	b := &batch{}
	fs := flag.NewFlagSet("batch", flag.ExitOnError)
	b.flags.Register(fs, "batch")
	fs.IntVar(&b.tasks, "tasks", 20, "number of tasks in the job")
	fs.StringVar(&b.cpu, "cpu", "1", "CPU of each task")
	fs.StringVar(&b.mem, "memory", "1Gi", "memory of each task")
	fs.DurationVar(&b.duration, "duration", 5*time.Second, "how long each task runs")
	fs.IntVar(&b.maxRetries, "max-retries", 3, "relaunches of a task that ran and failed, before giving up on it")
	fs.IntVar(&b.failFirst, "fail-first", 0, "make the first attempt of the first K tasks fail (on simulated nodes), to show relaunching")
	fs.BoolVar(&b.revocable, "revocable", false, "also run tasks on revocable resources (capability RevocableResources); preempted tasks are relaunched")
	b.jobFlags.Register(fs)
	cli.Main("batch", fs, b.run)
}

func (b *batch) run(ctx context.Context) error {
	b.init()
	ctx, b.stop = context.WithCancel(ctx)
	defer b.stop()
	return cli.Run(ctx, &b.flags, b, nil)
}

// init sets up the job and the framework's capabilities from the flags.
func (b *batch) init() {
	if b.revocable {
		b.flags.Capabilities = []agorav1alpha1.FrameworkCapability{agorav1alpha1.CapabilityRevocableResources}
	}
	b.shape = sdk.Resources("cpu", b.cpu, "memory", b.mem)
	b.job = job.New(b.flags.Name, b.tasks, b.maxRetries)
	b.start = time.Now()
}

func (b *batch) Registered(d *sdk.Driver, fw *agorav1alpha1.Framework) {
	for _, t := range d.Tasks() {
		b.job.Observe(t)
	}
	b.suppressed = fw.Spec.SuppressOffers
	cli.Say(b.flags.Name, "registered (weight %s): %d tasks, %s", fw.Spec.Weight, b.tasks, b.job)
	b.settle(d)
}

func (b *batch) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	for _, offer := range offers {
		launch := b.plan(offer)
		if len(launch) == 0 && len(b.job.Pending()) == 0 && !b.suppressed {
			// Nothing to run: stop asking (SUPPRESS) until a task needs relaunching. Done here,
			// on an offer the framework cannot use, rather than right after launching.
			if err := d.Suppress(context.TODO()); err == nil {
				b.suppressed = true
			}
		}
		if err := d.Launch(context.TODO(), []*agorav1alpha1.Offer{offer}, launch...); err != nil {
			cli.Say(b.flags.Name, "launch on %s: %v", offer.Name, err)
			if cli.Replan(d, err, offer.Name, b.ResourceOffers) {
				for _, t := range launch {
					b.job.NotLaunched(t.Name)
				}
				launch = nil
			}
		}
		if len(launch) > 0 {
			cli.Say(b.flags.Name, "offer %s: launched %s%s", offer.Name, cli.N(len(launch), "task"), onRevocable(offer, launch))
		}
	}
	b.settle(d)
}

// plan fills the offer's slices with pending tasks, regular slices first (a task there is never
// preempted), then, with --revocable only, the revocable ones. Launching releases the rest of
// the offer, so a revocable slice without --revocable is declined.
func (b *batch) plan(offer *agorav1alpha1.Offer) []sdk.TaskInfo {
	pending := b.job.Pending()
	var launch []sdk.TaskInfo
	for _, revocable := range []bool{false, true} {
		if revocable && !b.revocable {
			break
		}
		for _, n := range offer.Spec.Nodes {
			if n.Revocable != revocable {
				continue
			}
			free := sdk.Remaining(offer)[n.NodeName]
			for len(pending) > 0 && sdk.Fits(free, b.shape) {
				free = sdk.Subtract(free, b.shape)
				i := pending[0]
				pending = pending[1:]
				launch = append(launch, b.taskInfo(i, n.NodeName))
			}
		}
	}
	return launch
}

// onRevocable says how many of the launched tasks run on revocable slices, if any.
func onRevocable(offer *agorav1alpha1.Offer, launch []sdk.TaskInfo) string {
	n := 0
	for _, t := range launch {
		if sdk.Revocable(offer, t.NodeName) {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d on revocable resources)", n)
}

func (b *batch) taskInfo(i int, node string) sdk.TaskInfo {
	name := b.job.Launching(i, node)
	tmpl := sdk.SleepTemplate(b.duration)
	if _, a, _ := b.job.Parse(name); a == 0 && i < b.failFirst {
		tmpl.Annotations = map[string]string{sdk.AnnotationFailAfter: b.duration.String(), sdk.AnnotationExitCode: "3"}
	}
	return sdk.TaskInfo{Name: name, NodeName: node, Resources: b.shape, Template: tmpl}
}

func (b *batch) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	i, st := b.job.Observe(t)
	if i < 0 {
		return
	}
	switch {
	case st == job.Pending && sdk.Preempted(t):
		cli.Say(b.flags.Name, "task %s preempted, will retry (%s)", t.Name, t.Status.Message)
	case st == job.Pending:
		cli.Say(b.flags.Name, "task %s %s (%s): relaunching", t.Name, t.Status.Phase, t.Status.Message)
	case st == job.GaveUp:
		cli.Say(b.flags.Name, "task %s %s (%s): out of retries", t.Name, t.Status.Phase, t.Status.Message)
	}
	b.settle(d)
}

func (b *batch) OfferRescinded(_ *sdk.Driver, o *agorav1alpha1.Offer, reason string) {
	cli.Say(b.flags.Name, "offer %s rescinded: %s", o.Name, reason)
}

func (b *batch) Error(_ *sdk.Driver, err error) { cli.Say(b.flags.Name, "error: %v", err) }

// settle revives offers when a task needs launching and ends the framework when the job is
// complete.
func (b *batch) settle(d *sdk.Driver) {
	ctx := context.TODO()
	if b.finished {
		return
	}
	if b.job.Complete() {
		b.finished = true
		r := report.Report{Framework: b.flags.Name, Tasks: b.job.Len(), Finished: b.job.Count(job.Done),
			Launched: b.job.Launched(), Relaunched: b.job.Relaunched(), GaveUp: b.job.Count(job.GaveUp), Seconds: cli.Since(b.start)}
		if b.revocable {
			preempted := b.job.Preempted()
			r.Preempted = &preempted
		}
		b.jobFlags.Finish(d, r, b.stop)
		return
	}
	if b.suppressed && len(b.job.Pending()) > 0 {
		if err := d.Revive(ctx); err == nil {
			b.suppressed = false
		}
	}
}
