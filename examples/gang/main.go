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

// Command gang is an Agora framework that runs groups of tasks all-or-nothing (gang
// scheduling): a group is launched only when the offers it holds cover every task of the group
// at once; otherwise it keeps the offers a short while (--hold) for more to arrive, then
// declines them. If a task of a running group fails or is rejected, the framework kills the rest
// of the group and runs the whole group again — a group never runs partially.
//
//	gang --groups 4 --group-size 3 --cpu 4 --memory 4Gi
//
// Attempt a of group g's task k is named <name>-<g>-<a>-<k>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/internal/cli"
	"github.com/agora-sched/agora/examples/report"
	"github.com/agora-sched/agora/pkg/sdk"
)

// LabelGroup and LabelAttempt on a Task name its group and the group's attempt.
const (
	LabelGroup   = "gang.agora.dev/group"
	LabelAttempt = "gang.agora.dev/attempt"
)

type group struct {
	attempt  int
	phases   map[int]agorav1alpha1.TaskPhase // member -> phase, for the current attempt
	launched bool                            // the current attempt's tasks exist
	done     bool
	failures int
}

type gang struct {
	flags      cli.Flags
	groups     int
	size       int
	cpu, mem   string
	duration   time.Duration
	hold       time.Duration
	maxRetries int
	jobFlags   cli.JobFlags

	shape      corev1.ResourceList
	g          []*group
	held       map[string]*agorav1alpha1.Offer
	heldSince  map[string]time.Time
	launchedN  int
	relaunched int
	start      time.Time
	finished   bool
	suppressed bool
	stop       context.CancelFunc
}

func main() {
	g := &gang{}
	fs := flag.NewFlagSet("gang", flag.ExitOnError)
	g.flags.Register(fs, "gang")
	fs.IntVar(&g.groups, "groups", 4, "number of groups")
	fs.IntVar(&g.size, "group-size", 3, "tasks per group, all launched together or not at all")
	fs.StringVar(&g.cpu, "cpu", "2", "CPU of each task")
	fs.StringVar(&g.mem, "memory", "2Gi", "memory of each task")
	fs.DurationVar(&g.duration, "duration", 3*time.Second, "how long each task runs")
	fs.DurationVar(&g.hold, "hold", 3*time.Second, "how long to keep offers that do not yet cover a whole group")
	fs.IntVar(&g.maxRetries, "max-retries", 3, "reruns of a group after a member failed")
	g.jobFlags.Register(fs)
	cli.Main("gang", fs, g.run)
}

func (g *gang) run(ctx context.Context) error {
	if g.size < 1 || g.groups < 0 {
		return fmt.Errorf("--group-size must be at least 1 and --groups not negative")
	}
	g.shape = sdk.Resources("cpu", g.cpu, "memory", g.mem)
	g.g = make([]*group, g.groups)
	for i := range g.g {
		g.g[i] = &group{phases: map[int]agorav1alpha1.TaskPhase{}}
	}
	g.held = map[string]*agorav1alpha1.Offer{}
	g.heldSince = map[string]time.Time{}
	g.start = time.Now()
	ctx, g.stop = context.WithCancel(ctx)
	defer g.stop()
	return cli.Run(ctx, &g.flags, g, nil)
}

func (g *gang) name(gi, a, k int) string { return fmt.Sprintf("%s-%d-%d-%d", g.flags.Name, gi, a, k) }

func (g *gang) parse(name string) (gi, a, k int, ok bool) {
	rest, found := strings.CutPrefix(name, g.flags.Name+"-")
	parts := strings.Split(rest, "-")
	if !found || len(parts) != 3 {
		return 0, 0, 0, false
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return 0, 0, 0, false
		}
		n[i] = v
	}
	if n[0] >= len(g.g) || n[2] >= g.size {
		return 0, 0, 0, false
	}
	return n[0], n[1], n[2], true
}

// observe folds a member's status in; it returns the group's tasks to kill when a member of a
// running attempt ended without finishing.
func (g *gang) observe(t *agorav1alpha1.Task) (kill []string) {
	gi, a, k, ok := g.parse(t.Name)
	if !ok {
		return nil
	}
	gr := g.g[gi]
	if gr.done || a < gr.attempt {
		return nil
	}
	if a > gr.attempt {
		gr.attempt, gr.phases = a, map[int]agorav1alpha1.TaskPhase{}
	}
	gr.launched = true
	gr.phases[k] = t.Status.Phase
	finished := 0
	broken := false
	for _, p := range gr.phases {
		switch {
		case p == agorav1alpha1.TaskFinished:
			finished++
		case sdk.Terminal(p):
			broken = true
		}
	}
	if finished == g.size {
		gr.done = true
		return nil
	}
	if !broken {
		return nil
	}
	// All or nothing: the rest of this attempt goes, and the group runs again.
	for m := 0; m < g.size; m++ {
		if p := gr.phases[m]; !sdk.Terminal(p) {
			kill = append(kill, g.name(gi, gr.attempt, m))
		}
	}
	if blamed(t) {
		gr.failures++
	}
	if gr.failures > g.maxRetries {
		cli.Say(g.flags.Name, "group %d: member %s %s (%s); out of retries", gi, t.Name, t.Status.Phase, t.Status.Message)
		gr.done = true
		return kill
	}
	cli.Say(g.flags.Name, "group %d: member %s %s (%s); killing the rest, the group runs again", gi, t.Name, t.Status.Phase, t.Status.Message)
	g.relaunched++
	gr.attempt++
	gr.phases = map[int]agorav1alpha1.TaskPhase{}
	gr.launched = false
	return kill
}

// blamed reports whether a member's end counts against the group's retries: not a rejection at
// admission or a task the SDK did not create (Error, other than an unusable template), nor a
// preemption. The member did nothing wrong; the group runs again for free, as batch's tasks do.
func blamed(t *agorav1alpha1.Task) bool {
	if sdk.Preempted(t) {
		return false
	}
	return t.Status.Phase != agorav1alpha1.TaskError || t.Status.Reason == agorav1alpha1.ReasonInvalidTemplate
}

func (g *gang) Registered(d *sdk.Driver, fw *agorav1alpha1.Framework) {
	tasks := d.Tasks()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].CreationTimestamp.Before(&tasks[j].CreationTimestamp) })
	for _, t := range tasks {
		g.launchedN++
		_ = d.Kill(context.TODO(), g.observe(t)...)
	}
	g.suppressed = fw.Spec.SuppressOffers
	cli.Say(g.flags.Name, "registered (weight %s): %d groups of %d tasks", fw.Spec.Weight, g.groups, g.size)
	g.settle(d)
}

func (g *gang) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	if kill := g.observe(t); len(kill) > 0 {
		if err := d.Kill(context.TODO(), kill...); err != nil {
			cli.Say(g.flags.Name, "kill: %v", err)
		}
	}
	g.settle(d)
}

// ResourceOffers holds the new offers with those already held and launches every pending group
// that the held offers cover entirely.
func (g *gang) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	now := time.Now()
	// Held offers as they are now: the controller may have taken nodes out of them.
	for name := range g.held {
		if cur := d.Offer(name); cur != nil {
			g.held[name] = cur
		}
	}
	for _, o := range offers {
		g.held[o.Name] = o
		g.heldSince[o.Name] = now
	}
	// What the held offers have left, per node, and which offer each node belongs to.
	free := map[string]corev1.ResourceList{}
	var nodes []string
	for _, o := range g.heldOffers() {
		for n, r := range sdk.Remaining(o) {
			if _, dup := free[n]; !dup {
				free[n] = r
				nodes = append(nodes, n)
			}
		}
	}
	var launch []sdk.TaskInfo
	var launching []*group
	pending := 0
	for gi, gr := range g.g {
		if gr.done || gr.launched {
			continue
		}
		pending++
		trial := map[string]corev1.ResourceList{}
		for n, r := range free {
			trial[n] = r
		}
		var members []sdk.TaskInfo
		for k := 0; k < g.size; k++ {
			for _, n := range nodes {
				if sdk.Fits(trial[n], g.shape) {
					trial[n] = sdk.Subtract(trial[n], g.shape)
					members = append(members, sdk.TaskInfo{
						Name: g.name(gi, gr.attempt, k), NodeName: n, Resources: g.shape,
						Template: sdk.SleepTemplate(g.duration),
						Labels:   map[string]string{LabelGroup: strconv.Itoa(gi), LabelAttempt: strconv.Itoa(gr.attempt)},
					})
					break
				}
			}
		}
		if len(members) < g.size {
			continue // not the whole group: launch none of it
		}
		free = trial
		gr.launched = true
		launching = append(launching, gr)
		pending--
		launch = append(launch, members...)
		cli.Say(g.flags.Name, "group %d (attempt %d): all %d tasks fit; launching", gi, gr.attempt, g.size)
	}
	switch {
	case len(launch) > 0:
		g.launchedN += len(launch)
		if err := d.Launch(context.TODO(), g.heldOffers(), launch...); err != nil {
			cli.Say(g.flags.Name, "launch: %v", err)
			if errors.Is(err, sdk.ErrNodeRescinded) {
				// Nothing was launched and the offers are still held: plan again on what
				// they hold now.
				g.launchedN -= len(launch)
				for _, gr := range launching {
					gr.launched = false
				}
				d.AfterFunc(0, func(d *sdk.Driver) { g.ResourceOffers(d, nil) })
				break
			}
		}
		g.released(g.heldOffers()...)
	case pending == 0:
		if !g.suppressed {
			if err := d.Suppress(context.TODO()); err == nil {
				g.suppressed = true
			}
		}
		_ = d.Decline(context.TODO(), g.heldOffers()...)
		g.released(g.heldOffers()...)
	default:
		// Keep holding what arrived recently; give back what waited past --hold.
		var stale []*agorav1alpha1.Offer
		for _, o := range g.heldOffers() {
			if now.Sub(g.heldSince[o.Name]) >= g.hold {
				stale = append(stale, o)
			}
		}
		if len(stale) > 0 {
			g.decline(d, stale)
		}
		// No new offer may come while these are held (they are what is free): check again
		// when the newest reaches --hold.
		d.AfterFunc(g.hold, g.declineStale)
	}
	g.settle(d)
}

// declineStale gives back the offers held past --hold.
func (g *gang) declineStale(d *sdk.Driver) {
	var stale []*agorav1alpha1.Offer
	for _, o := range g.heldOffers() {
		if time.Since(g.heldSince[o.Name]) >= g.hold {
			stale = append(stale, o)
		}
	}
	if len(stale) > 0 {
		g.decline(d, stale)
	}
}

func (g *gang) decline(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	cli.Say(g.flags.Name, "%d offers held for %s do not cover a whole group; declining them", len(offers), g.hold)
	if err := d.Decline(context.TODO(), offers...); err != nil {
		cli.Say(g.flags.Name, "decline: %v", err)
	}
	g.released(offers...)
}

func (g *gang) heldOffers() []*agorav1alpha1.Offer {
	out := make([]*agorav1alpha1.Offer, 0, len(g.held))
	for _, o := range g.held {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (g *gang) released(offers ...*agorav1alpha1.Offer) {
	for _, o := range offers {
		delete(g.held, o.Name)
		delete(g.heldSince, o.Name)
	}
}

func (g *gang) OfferRescinded(_ *sdk.Driver, o *agorav1alpha1.Offer, reason string) {
	g.released(o)
	cli.Say(g.flags.Name, "offer %s rescinded: %s", o.Name, reason)
}

func (g *gang) Error(_ *sdk.Driver, err error) { cli.Say(g.flags.Name, "error: %v", err) }

func (g *gang) settle(d *sdk.Driver) {
	if g.finished {
		return
	}
	done, whole, pending := 0, 0, 0
	for _, gr := range g.g {
		if gr.done {
			done++
			if len(gr.phases) == g.size && allFinished(gr.phases) {
				whole++
			}
		} else if !gr.launched {
			pending++
		}
	}
	if done == len(g.g) {
		g.finished = true
		finished := whole * g.size
		_ = d.Decline(context.TODO(), g.heldOffers()...)
		g.jobFlags.Finish(d, report.Report{Framework: g.flags.Name, Tasks: g.groups * g.size, Finished: finished,
			Launched: g.launchedN, Relaunched: g.relaunched, GaveUp: (len(g.g) - whole) * g.size,
			Groups: &whole, Seconds: cli.Since(g.start)}, g.stop)
		return
	}
	if g.suppressed && pending > 0 {
		if err := d.Revive(context.TODO()); err == nil {
			g.suppressed = false
		}
	}
}

func allFinished(ph map[int]agorav1alpha1.TaskPhase) bool {
	for _, p := range ph {
		if p != agorav1alpha1.TaskFinished {
			return false
		}
	}
	return true
}
