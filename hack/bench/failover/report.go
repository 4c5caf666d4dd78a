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
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

func (b *bench) report(w io.Writer) {
	fmt.Fprintf(w, "\n## agora-controller failover and restart\n\n")
	fmt.Fprintf(w, "Command: `go run ./hack/bench/failover %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(w, "Machine: %d cores (%s), %s; shared by kube-apiserver, etcd, kwok, the controllers and the benchmark. %s.\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), strings.Join(b.load, ", then "))
	fmt.Fprintf(w, "Frameworks: %d, no Lease, refuseDuration 0, every Offer released (deleted) when seen. Times are watch events on the benchmark's clock, or the controller's own log lines (same machine clock).\n",
		*frameworks)

	if len(b.failovers) > 0 {
		fmt.Fprintf(w, "\n### Leader SIGKILL -> first Offer of the new leader, %d nodes\n\n", *failoverNodes)
		fmt.Fprintf(w, "Two controllers, leader election %s; the killed one is restarted and runs %s as standby before the next kill.\n\n",
			strings.Join(b.leaderArgs()[1:], " "), *standbyWarmup)
		fmt.Fprintf(w, "| kill | killed -> leader | Lease taken over | reconcilers started (log) | model rebuilt (log) | first offering cycle began (log) | **first Offer seen** |\n|---|---|---|---|---|---|---|\n")
		var acq, off []time.Duration
		for i, s := range b.failovers {
			fmt.Fprintf(w, "| %d | %s -> %s | %s | %s | %s | %s | **%s** |\n", i+1, s.killed, s.survivor,
				sec(s.acquired), sec(s.workers), sec(s.rebuilt), sec(s.cycle), sec(s.offer))
			acq, off = append(acq, s.acquired), append(off, s.offer)
		}
		fmt.Fprintf(w, "| p50 / max | | %s / %s | | | | **%s / %s** |\n", sec(pct(acq, 50)), sec(pct(acq, 100)), sec(pct(off, 50)), sec(pct(off, 100)))
	}

	if len(b.restarts) > 0 {
		fmt.Fprintf(w, "\n### Controller restart -> first Offer\n\n")
		fmt.Fprintf(w, "One controller, --leader-elect=false; tasks %s cpu / %s memory, created Running and charged; nodes %s cpu / %s memory. Durations from the process's start.\n\n",
			*taskCPU, *taskMemory, *nodeCPU, *nodeMemory)
		fmt.Fprintf(w, "| nodes / tasks | after | stop took | Offers at start | manager built (log) | caches synced (log) | reconcilers started (log) | model rebuilt (log) | first offering cycle began (log) | **first Offer seen** | RSS then / peak | task cores charged |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range b.restarts {
			fmt.Fprintf(w, "| %d / %d | %s | %s | %d | %s | %s | %s | %s | %s | **%s** | %.0f / %.0f MiB | %.0f |\n", s.size.nodes, s.size.tasks, orFirst(s.stop), sec(s.stopped),
				s.offers, sec(s.started), sec(s.sources), sec(s.workers), sec(s.rebuilt), sec(s.cycle), sec(s.offer), s.rss, s.peak, s.cpuTasks)
		}
		fmt.Fprintf(w, "\n| nodes / tasks | after | restarts | first Offer p50 / max | model rebuilt p50 / max |\n|---|---|---|---|---|\n")
		type group struct {
			size size
			stop string
		}
		var order []group
		byGroup := map[group][]restartSample{}
		for _, s := range b.restarts {
			if s.stop == "" {
				continue
			}
			g := group{s.size, s.stop}
			if byGroup[g] == nil {
				order = append(order, g)
			}
			byGroup[g] = append(byGroup[g], s)
		}
		for _, g := range order {
			var off, reb []time.Duration
			for _, s := range byGroup[g] {
				off, reb = append(off, s.offer), append(reb, s.rebuilt)
			}
			fmt.Fprintf(w, "| %d / %d | %s | %d | **%s / %s** | %s / %s |\n", g.size.nodes, g.size.tasks, g.stop, len(off),
				sec(pct(off, 50)), sec(pct(off, 100)), sec(pct(reb, 50)), sec(pct(reb, 100)))
		}
	}
	fmt.Fprintln(w)
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)]
}

func sec(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
