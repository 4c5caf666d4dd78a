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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
)

// process is one run of agora-controller, a child of this process with its log in a file
// (agora-controller-<name>.log).
type process struct {
	*benchproc.Process
	name    string // e.g. "a-2": replica a, its second start
	metrics string // http://127.0.0.1:<port>/metrics
}

// startController starts agora-controller as the given kubeconfig user, with its metrics on a
// free loopback port and a debug log with nanosecond timestamps (the cycle lines).
func (b *bench) startController(name, kubeconfig string, extra ...string) (*process, error) {
	port, err := benchproc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address=" + addr, "--health-probe-bind-address=0",
		"--node-selector=type=kwok", "--zap-log-level=debug", "--zap-time-encoding=rfc3339nano"}
	args = append(args, extra...)
	args = append(args, strings.Fields(*controllerArgs)...)
	bp, err := benchproc.Spawn("agora-controller-"+name, b.bin, b.work, args)
	if err != nil {
		return nil, err
	}
	p := &process{Process: bp, name: name, metrics: "http://" + addr + "/metrics"}
	b.procs = append(b.procs, p)
	return p, nil
}

// stopAll stops every controller still running.
func (b *bench) stopAll() {
	for _, p := range b.procs {
		p.Stop()
	}
}

// gauge reads the process's /metrics: the sum of the samples named name whose labels hold every
// label, value pair of match (e.g. "resource", "cpu"); 0 while the endpoint does not answer.
func (p *process) gauge(name string, match ...string) float64 {
	v, _ := benchproc.Gauge(p.metrics, name, match...)
	return v
}

// waitFor polls cond every 100 ms until it returns nil, the process exits or ctx ends.
func (p *process) waitFor(ctx context.Context, what string, cond func() error) error {
	for {
		last := cond()
		if last == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("agora-controller %s exited while waiting for %s; last lines of its log:\n%s", p.name, what, benchproc.TailFile(p.LogPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("agora-controller %s: %s: %v (%w)", p.name, what, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPool waits until the process leads and its pool holds n nodes (their Leases seen fresh).
func (p *process) waitPool(ctx context.Context, n int) error {
	return p.waitFor(ctx, fmt.Sprintf("a pool of %d nodes", n), func() error {
		if v := p.gauge("agora_pool_nodes"); int(v) != n {
			return fmt.Errorf("pool has %v nodes", v)
		}
		return nil
	})
}

// ---- the controller's log ------------------------------------------------------------------------

// logLine is the part of a zap JSON line (--zap-time-encoding=rfc3339nano) the report reads.
type logLine struct {
	TS         time.Time `json:"ts"`
	Msg        string    `json:"msg"`
	Controller string    `json:"controller"`
	Offers     int       `json:"offers"`
	CycleSec   float64   `json:"cycleSeconds"` // the cycle's Allocate and Offer creates, logged at its end
}

// milestones are the controller's own log times of one takeover or start.
type milestones struct {
	started time.Time // "starting agora-controller": flags read, manager built
	sources time.Time // the first "Starting EventSource": the manager's caches (Task, Offer, Pod, Lease informers) synced, or leadership won
	workers time.Time // the last reconciler's "Starting workers": its caches synced
	rebuilt time.Time // "model rebuilt from the API; allocating"
	cycle   time.Time // the start of the first allocation cycle that made offers
}

// milestones reads the process's log until its first offering cycle since from is there: the
// cycle's line follows its Offer creates, so it may come after the first Offer was seen. It gives
// up after 10 s (the milestone then stays unknown).
func (p *process) milestones(from time.Time) (milestones, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := readMilestones(p.LogPath, from)
		if err != nil || !m.cycle.IsZero() || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readMilestones reads the first of each milestone logged at or after from.
func readMilestones(path string, from time.Time) (milestones, error) {
	var m milestones
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte("{")) {
			continue
		}
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.TS.Before(from) {
			continue
		}
		switch {
		case l.Msg == "starting agora-controller" && m.started.IsZero():
			m.started = l.TS
		case l.Msg == "Starting EventSource" && m.sources.IsZero():
			m.sources = l.TS
		case l.Msg == "Starting workers":
			m.workers = l.TS // the last one wins: every reconciler's caches synced
		case l.Msg == "model rebuilt from the API; allocating" && m.rebuilt.IsZero():
			m.rebuilt = l.TS
		case l.Msg == "cycle" && l.Offers > 0 && m.cycle.IsZero():
			m.cycle = l.TS.Add(-time.Duration(l.CycleSec * float64(time.Second)))
		}
	}
	return m, sc.Err()
}
