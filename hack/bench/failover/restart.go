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
	"fmt"
	"log"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
)

// restartSample is one start of the controller onto a full cluster; the durations count from
// the process's start.
type restartSample struct {
	size     size
	stop     string        // how the previous process ended: SIGTERM, SIGKILL, or "" (first start)
	stopped  time.Duration // the signal -> the previous process gone
	offers   int           // Offer objects when it started (restored by the rebuild)
	started  time.Duration // manager built (log)
	sources  time.Duration // the manager's caches synced: its first EventSource (log)
	workers  time.Duration // the last reconciler's workers started: its caches synced (log)
	rebuilt  time.Duration // model rebuilt (log)
	cycle    time.Duration // first offering cycle began (log)
	offer    time.Duration // first Offer ADDED seen
	rss      float64       // MiB, when the first Offer was seen
	peak     float64       // MiB, peak RSS then
	cpuTasks float64       // cores its model charges to tasks once the pool is whole (agora_framework_allocated)
}

// restart grows the cluster to s and times -restarts starts of one controller after each stop
// signal.
func (b *bench) restart(ctx context.Context, s size, stops []syscall.Signal) error {
	if err := b.grow(ctx, s); err != nil {
		return err
	}
	_, kubeconfig, err := b.c.User("agora-controller-solo", "system:masters")
	if err != nil {
		return err
	}
	n := 0
	start := func(stop string, stopped time.Duration) (*process, error) {
		n++
		offers, err := b.agora.SchedulingV1alpha1().Offers("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		p, err := b.startController(fmt.Sprintf("solo-%d-%d", s.nodes, n), kubeconfig, "--leader-elect=false")
		if err != nil {
			return nil, err
		}
		rs := restartSample{size: s, stop: stop, stopped: stopped, offers: len(offers.Items)}
		if err := b.timeStart(ctx, p, &rs); err != nil {
			return p, err
		}
		b.restarts = append(b.restarts, rs)
		log.Printf("%d nodes / %d tasks, start after %s: first Offer after %s (model rebuilt after %s), RSS %.0f MiB, %.0f task cores charged; %s",
			s.nodes, s.tasks, orFirst(stop), rs.offer.Round(time.Millisecond), rs.rebuilt.Round(time.Millisecond), rs.rss, rs.cpuTasks, loadavg())
		return p, nil
	}
	log.Printf("one agora-controller (--leader-elect=false) on %d nodes with %d admitted tasks", s.nodes, s.tasks)
	p, err := start("", 0)
	if p != nil {
		defer func() { p.Stop() }()
	}
	if err != nil {
		return err
	}
	for _, sig := range stops {
		for range *restarts {
			// Offers flow before the stop, as they would in a busy cluster.
			flowing, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := b.seen.firstOffer(flowing, time.Now(), 0)
			cancel()
			if err != nil {
				return err
			}
			t0 := time.Now()
			p.StopWith(sig)
			if p, err = start(sigName(sig), time.Since(t0)); err != nil {
				return err
			}
		}
	}
	b.load = append(b.load, loadavg())
	return nil
}

// timeStart waits for p's first Offer, its whole pool and its log, and fills rs.
func (b *bench) timeStart(ctx context.Context, p *process, rs *restartSample) error {
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// The new process's own: an Offer the previous one created just before it ended may still be
	// on its way through the watch.
	offerAt, err := b.seen.firstOffer(waitCtx, p.Started, p.Started.UnixMicro())
	if err != nil {
		return fmt.Errorf("agora-controller %s: %w; last lines of its log:\n%s", p.name, err, benchproc.TailFile(p.LogPath, 20))
	}
	rs.offer = offerAt.Sub(p.Started)
	mem := procstat.Memory(map[string]int{p.name: p.Pid()})[p.name]
	rs.rss, rs.peak = mem.RSS, mem.Peak
	if err := p.waitPool(waitCtx, rs.size.nodes); err != nil {
		return err
	}
	want := resource.MustParse(*taskCPU)
	if err := p.waitFor(waitCtx, "every task charged", func() error {
		v := p.gauge("agora_framework_allocated", "resource", "cpu")
		rs.cpuTasks = v
		if int64(v*1000+0.5) != want.MilliValue()*int64(rs.size.tasks) {
			return fmt.Errorf("%v cores charged", v)
		}
		return nil
	}); err != nil {
		return err
	}
	m, err := p.milestones(p.Started)
	if err != nil {
		return err
	}
	rs.started, rs.sources, rs.workers = since(p.Started, m.started), since(p.Started, m.sources), since(p.Started, m.workers)
	rs.rebuilt, rs.cycle = since(p.Started, m.rebuilt), since(p.Started, m.cycle)
	return nil
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

func orFirst(stop string) string {
	if stop == "" {
		return "none (first start)"
	}
	return stop
}
