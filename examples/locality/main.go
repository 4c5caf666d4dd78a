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

// Command locality is an Agora framework that shows why frameworks, not the master, should place
// their work: each of its tasks reads one data block, and runs best on a node that holds a
// replica of that block. It uses delay scheduling (Zaharia et al., as in the Mesos paper §6.3):
// a task waits up to --delay for an offer on a node with its block before it accepts a remote
// one. At the end it reports the share of tasks that ran local.
//
// Nodes advertise their blocks as labels <--block-label-prefix><block>, e.g.
// blocks.agora.dev/b7=true (Offers carry every node label under an agora.dev domain as an
// attribute). Task i reads block b<i mod --blocks>.
//
//	locality --tasks 60 --blocks 20 --delay 10s
//	locality --tasks 60 --blocks 20 --locality=false   # static, locality-blind placement
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/internal/cli"
	"github.com/agora-sched/agora/examples/internal/job"
	"github.com/agora-sched/agora/examples/report"
	"github.com/agora-sched/agora/pkg/sdk"
)

// LabelLocal on a Task says whether it was placed on a node holding its block.
const LabelLocal = "locality.agora.dev/local"

type locality struct {
	flags      cli.Flags
	tasks      int
	blocks     int
	cpu, mem   string
	duration   time.Duration
	delay      time.Duration
	aware      bool
	prefix     string
	jobFlags   cli.JobFlags
	maxRetries int
	shape      corev1.ResourceList
	job        *job.Job
	lastLocal  time.Time    // when the job last launched a task local, or started waiting
	local      map[int]bool // placement of each index's latest attempt
	start      time.Time
	finished   bool
	suppressed bool
	stop       context.CancelFunc
}

func main() {
	l := &locality{}
	fs := flag.NewFlagSet("locality", flag.ExitOnError)
	l.flags.Register(fs, "locality")
	fs.IntVar(&l.tasks, "tasks", 40, "number of tasks (task i reads block i mod --blocks)")
	fs.IntVar(&l.blocks, "blocks", 20, "number of distinct data blocks")
	fs.StringVar(&l.cpu, "cpu", "1", "CPU of each task")
	fs.StringVar(&l.mem, "memory", "1Gi", "memory of each task")
	fs.DurationVar(&l.duration, "duration", 3*time.Second, "how long each task runs")
	fs.DurationVar(&l.delay, "delay", 10*time.Second, "delay scheduling: how long a task waits for a local offer before it takes a remote one (a few task durations)")
	fs.BoolVar(&l.aware, "locality", true, "place by locality; false = static, locality-blind placement (take the first node that fits)")
	fs.StringVar(&l.prefix, "block-label-prefix", "blocks.agora.dev/", "node label prefix naming the blocks a node holds")
	fs.IntVar(&l.maxRetries, "max-retries", 3, "relaunches of a task that ran and failed")
	l.jobFlags.Register(fs)
	cli.Main("locality", fs, l.run)
}

func (l *locality) run(ctx context.Context) error {
	if l.blocks < 1 {
		return fmt.Errorf("--blocks must be at least 1, got %d", l.blocks)
	}
	if l.flags.RefuseDuration == 0 {
		// Delay scheduling declines non-local nodes often; a short filter gets them offered
		// again soon.
		l.flags.RefuseDuration = time.Second
	}
	l.shape = sdk.Resources("cpu", l.cpu, "memory", l.mem)
	l.job = job.New(l.flags.Name, l.tasks, l.maxRetries)
	l.local = map[int]bool{}
	l.start = time.Now()
	ctx, l.stop = context.WithCancel(ctx)
	defer l.stop()
	return cli.Run(ctx, &l.flags, l, nil)
}

// Block returns the label (under prefix) of the block task i reads.
func Block(prefix string, i, blocks int) string { return fmt.Sprintf("%sb%d", prefix, i%blocks) }

func (l *locality) observe(t *agorav1alpha1.Task) {
	if i, _ := l.job.Observe(t); i >= 0 {
		l.local[i] = t.Labels[LabelLocal] == "true"
	}
}

func (l *locality) Registered(d *sdk.Driver, fw *agorav1alpha1.Framework) {
	for _, t := range d.Tasks() {
		l.observe(t)
	}
	l.suppressed = fw.Spec.SuppressOffers
	mode := fmt.Sprintf("delay scheduling, delay %s", l.delay)
	if !l.aware {
		mode = "locality-blind"
	}
	cli.Say(l.flags.Name, "registered (weight %s): %d tasks over %d blocks, %s", fw.Spec.Weight, l.tasks, l.blocks, mode)
	l.settle(d)
}

func (l *locality) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	now := time.Now()
	for _, offer := range offers {
		free := sdk.Remaining(offer)
		pending := l.job.Pending()
		if len(pending) > 0 && l.lastLocal.IsZero() {
			l.lastLocal = now
		}
		// Delay scheduling is per job: only when the job has launched nothing local for
		// --delay may its tasks run remote. Every local launch restarts that wait.
		remoteOK := !l.aware || now.Sub(l.lastLocal) >= l.delay
		var launch []sdk.TaskInfo
		taken := map[int]bool{}
		place := func(i int, node string, local bool) {
			free[node] = sdk.Subtract(free[node], l.shape)
			taken[i] = true
			name := l.job.Launching(i, node)
			l.local[i] = local
			if local {
				l.lastLocal = now
			}
			launch = append(launch, sdk.TaskInfo{
				Name: name, NodeName: node, Resources: l.shape, Template: sdk.SleepTemplate(l.duration),
				Labels: map[string]string{LabelLocal: fmt.Sprint(local)},
			})
		}
		// Locality-blind: first fit, in node order. Otherwise every task that can run local
		// first, then (after the delay) the rest anywhere.
		passes := []bool{false}
		if l.aware {
			passes = []bool{true}
			if remoteOK {
				passes = append(passes, false)
			}
		}
		for _, localOnly := range passes {
			for _, n := range offer.Spec.Nodes {
				for _, i := range pending {
					if taken[i] || !sdk.Fits(free[n.NodeName], l.shape) {
						continue
					}
					local := n.Attributes[Block(l.prefix, i, l.blocks)] != ""
					if local || !localOnly {
						place(i, n.NodeName, local)
					}
				}
			}
		}
		if len(pending) == len(launch) {
			l.lastLocal = time.Time{} // nothing waits any more
		}
		if len(launch) == 0 && len(pending) == 0 && !l.suppressed {
			if err := d.Suppress(context.TODO()); err == nil {
				l.suppressed = true
			}
		}
		if err := d.Launch(context.TODO(), []*agorav1alpha1.Offer{offer}, launch...); err != nil {
			cli.Say(l.flags.Name, "launch on %s: %v", offer.Name, err)
			if cli.Replan(d, err, offer.Name, l.ResourceOffers) {
				for _, t := range launch {
					l.job.NotLaunched(t.Name)
				}
				launch = nil
			}
		}
		if len(launch) > 0 {
			nLocal := 0
			for _, t := range launch {
				if t.Labels[LabelLocal] == "true" {
					nLocal++
				}
			}
			cli.Say(l.flags.Name, "offer %s: launched %s (%d local), %d still waiting", offer.Name, cli.N(len(launch), "task"), nLocal, len(pending)-len(launch))
		}
	}
	l.settle(d)
}

func (l *locality) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	l.observe(t)
	l.settle(d)
}

func (l *locality) Error(_ *sdk.Driver, err error) { cli.Say(l.flags.Name, "error: %v", err) }

func (l *locality) OfferRescinded(_ *sdk.Driver, o *agorav1alpha1.Offer, reason string) {
	cli.Say(l.flags.Name, "offer %s rescinded: %s", o.Name, reason)
}

func (l *locality) settle(d *sdk.Driver) {
	if l.finished {
		return
	}
	if l.job.Complete() {
		l.finished = true
		local := 0
		for i := 0; i < l.job.Len(); i++ {
			if l.local[i] && l.job.State(i) == job.Done {
				local++
			}
		}
		l.jobFlags.Finish(d, report.Report{Framework: l.flags.Name, Tasks: l.job.Len(), Finished: l.job.Count(job.Done),
			Launched: l.job.Launched(), Relaunched: l.job.Relaunched(), GaveUp: l.job.Count(job.GaveUp),
			Local: &local, Seconds: cli.Since(l.start)}, l.stop)
		return
	}
	if l.suppressed && len(l.job.Pending()) > 0 {
		if err := d.Revive(context.TODO()); err == nil {
			l.suppressed = false
		}
	}
}
