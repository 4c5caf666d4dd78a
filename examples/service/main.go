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

// Command service is a Marathon-like Agora framework: it keeps --instances copies of a
// long-running task running, at most --max-per-node on one node, replaces any that end (Failed, Lost with its node, Killed by
// someone else, rejected at admission), and scales to a new --instances when restarted with it.
//
//	service --instances 5 --cpu 500m --memory 512Mi
//
// Instance i's Task is named <name>-<i>-<generation>; a replacement gets the next generation.
// A restarted process reads its Tasks back: running instances are kept, not relaunched;
// instances beyond --instances are killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/internal/cli"
	"github.com/agora-sched/agora/pkg/sdk"
)

type instance struct {
	gen   int
	phase agorav1alpha1.TaskPhase
	live  bool   // a Task of this generation exists and is not terminal
	node  string // where that Task runs
}

type service struct {
	flags      cli.Flags
	instances  int
	maxPerNode int
	cpu, mem   string

	shape      corev1.ResourceList
	inst       map[int]*instance
	suppressed bool
	lastReport string
	killed     map[string]bool // tasks of scaled-away instances this process deleted
}

func main() {
	s := &service{}
	fs := flag.NewFlagSet("service", flag.ExitOnError)
	s.flags.Register(fs, "service")
	fs.IntVar(&s.instances, "instances", 3, "number of instances to keep running")
	fs.IntVar(&s.maxPerNode, "max-per-node", 1, "at most this many instances on one node, so that losing a node loses few (0: no limit; Marathon's hostname:MAX_PER)")
	fs.StringVar(&s.cpu, "cpu", "500m", "CPU of each instance")
	fs.StringVar(&s.mem, "memory", "512Mi", "memory of each instance")
	cli.Main("service", fs, s.run)
}

func (s *service) run(ctx context.Context) error {
	if s.instances < 0 {
		return fmt.Errorf("--instances must not be negative, got %d", s.instances)
	}
	s.shape = sdk.Resources("cpu", s.cpu, "memory", s.mem)
	s.inst = map[int]*instance{}
	s.killed = map[string]bool{}
	return cli.Run(ctx, &s.flags, s, nil)
}

func (s *service) parse(name string) (i, gen int, ok bool) {
	rest, found := strings.CutPrefix(name, s.flags.Name+"-")
	if !found {
		return 0, 0, false
	}
	is, gs, found := strings.Cut(rest, "-")
	i, err1 := strconv.Atoi(is)
	gen, err2 := strconv.Atoi(gs)
	return i, gen, found && err1 == nil && err2 == nil && i >= 0 && gen >= 0
}

// observe folds a task status in; it reports whether an instance needs a new task.
func (s *service) observe(t *agorav1alpha1.Task) {
	i, gen, ok := s.parse(t.Name)
	if !ok {
		return
	}
	in := s.inst[i]
	if in == nil {
		in = &instance{gen: gen}
		s.inst[i] = in
	}
	if gen < in.gen {
		return
	}
	in.gen, in.phase, in.node = gen, t.Status.Phase, t.Spec.NodeName
	in.live = !sdk.Terminal(t.Status.Phase) && !s.killed[t.Name] && t.DeletionTimestamp.IsZero()
	if !in.live && i < s.instances {
		in.gen++ // the replacement's generation
	}
}

func (s *service) Registered(d *sdk.Driver, fw *agorav1alpha1.Framework) {
	for _, t := range d.Tasks() {
		s.observe(t)
	}
	s.suppressed = fw.Spec.SuppressOffers
	cli.Say(s.flags.Name, "registered (weight %s): keeping %d instances", fw.Spec.Weight, s.instances)
	s.settle(d)
}

func (s *service) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	before := s.running()
	s.observe(t)
	if i, _, ok := s.parse(t.Name); ok && sdk.Terminal(t.Status.Phase) && i < s.instances {
		cli.Say(s.flags.Name, "instance %d (%s) %s: %s; replacing it", i, t.Name, t.Status.Phase, t.Status.Message)
	}
	if s.running() != before {
		s.report()
	}
	s.settle(d)
}

// missing returns the instances below --instances without a live task, lowest first.
func (s *service) missing() []int {
	var out []int
	for i := 0; i < s.instances; i++ {
		if in := s.inst[i]; in == nil || !in.live {
			out = append(out, i)
		}
	}
	return out
}

func (s *service) running() int {
	n := 0
	for i, in := range s.inst {
		if i < s.instances && in.live && in.phase == agorav1alpha1.TaskRunning {
			n++
		}
	}
	return n
}

func (s *service) report() {
	line := fmt.Sprintf("%d/%d instances running", s.running(), s.instances)
	if line != s.lastReport {
		s.lastReport = line
		cli.Say(s.flags.Name, "%s", line)
	}
}

func (s *service) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	for _, offer := range offers {
		missing := s.missing()
		free := sdk.Remaining(offer)
		perNode := map[string]int{}
		for _, in := range s.inst {
			if in.live {
				perNode[in.node]++
			}
		}
		var launch []sdk.TaskInfo
		// Spread: one instance per node per round, round after round while they fit.
		for placed := true; placed && len(missing) > 0; {
			placed = false
			for _, n := range offer.Spec.Nodes {
				if len(missing) == 0 || !sdk.Fits(free[n.NodeName], s.shape) || (s.maxPerNode > 0 && perNode[n.NodeName] >= s.maxPerNode) {
					continue
				}
				perNode[n.NodeName]++
				free[n.NodeName] = sdk.Subtract(free[n.NodeName], s.shape)
				i := missing[0]
				missing = missing[1:]
				in := s.inst[i]
				if in == nil {
					in = &instance{}
					s.inst[i] = in
				}
				in.live, in.phase, in.node = true, "", n.NodeName
				launch = append(launch, sdk.TaskInfo{
					Name: fmt.Sprintf("%s-%d-%d", s.flags.Name, i, in.gen), NodeName: n.NodeName,
					Resources: s.shape, Template: sdk.SleepTemplate(0),
				})
				placed = true
			}
		}
		if len(launch) == 0 && len(s.missing()) == 0 && !s.suppressed {
			if err := d.Suppress(context.TODO()); err == nil {
				s.suppressed = true
			}
		}
		if err := d.Launch(context.TODO(), []*agorav1alpha1.Offer{offer}, launch...); err != nil {
			cli.Say(s.flags.Name, "launch on %s: %v", offer.Name, err)
			if cli.Replan(d, err, offer.Name, s.ResourceOffers) {
				for _, t := range launch {
					if i, _, ok := s.parse(t.Name); ok {
						s.inst[i].live, s.inst[i].node = false, ""
					}
				}
				launch = nil
			}
		}
		if len(launch) > 0 {
			cli.Say(s.flags.Name, "offer %s: launched %s", offer.Name, cli.N(len(launch), "instance"))
		}
	}
}

func (s *service) OfferRescinded(_ *sdk.Driver, o *agorav1alpha1.Offer, reason string) {
	cli.Say(s.flags.Name, "offer %s rescinded: %s", o.Name, reason)
}

func (s *service) Error(_ *sdk.Driver, err error) { cli.Say(s.flags.Name, "error: %v", err) }

// settle kills instances beyond --instances (scale down) and revives offers when an instance is
// missing (scale up, or a replacement).
func (s *service) settle(d *sdk.Driver) {
	var extra []string
	for i, in := range s.inst {
		if i >= s.instances && in.live {
			name := fmt.Sprintf("%s-%d-%d", s.flags.Name, i, in.gen)
			extra = append(extra, name)
			s.killed[name] = true
			in.live = false // killed once; its Killed status needs no replacement
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		cli.Say(s.flags.Name, "scaling down to %d: killing %s", s.instances, strings.Join(extra, ", "))
		if err := d.Kill(context.TODO(), extra...); err != nil {
			cli.Say(s.flags.Name, "kill: %v", err)
		}
	}
	if s.suppressed && len(s.missing()) > 0 {
		if err := d.Revive(context.TODO()); err == nil {
			s.suppressed = false
		}
	}
}
