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
	"log"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/agora-sched/agora/hack/bench/internal/procstat"
)

// summary is the run's one-line result for the log.
func (r *result) summary() string {
	s := r.tr.stats()
	line := fmt.Sprintf("%d/%d Running, %.1f items/s to Running, create->Running p50 %s p99 %s", r.tr.nRunning.Load(), r.items,
		s.toRunning, secs(s.p50), secs(s.p99))
	if *workload == "short" {
		line += fmt.Sprintf(", %d finished, makespan %s, %.1f completed/s", r.tr.nFinished.Load(), secs(s.makespan), s.completedPerSec)
	}
	line += fmt.Sprintf("; kube-apiserver %.3f CPU-s/item, %.2f writes/item (own %.2f)", r.perItem(r.cpu["kube-apiserver"]), r.perItem(float64(r.totalWrites())), r.perItem(float64(r.ownWrites())))
	if r.checked {
		line += fmt.Sprintf("; %d invariant violations", len(r.violations))
	}
	return line
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func (r *result) perItem(v float64) float64 { return v / float64(r.items) }

func (r *result) totalWrites() int {
	n := 0
	for _, v := range r.writes {
		n += v
	}
	return n
}

// ownUsers are the writers that are the scheduler itself: kube-scheduler, or agora-controller
// and agora-executor (not the frameworks, the pod creators or kwok).
func (r *result) ownUsers() map[string]bool {
	if r.side.frameworks == 0 {
		return map[string]bool{userScheduler: true}
	}
	return map[string]bool{userController: true, userExecutor: true}
}

func (r *result) ownWrites() int {
	own := r.ownUsers()
	n := 0
	for k, v := range r.writes {
		if own[k.user] {
			n += v
		}
	}
	return n
}

// schedCPU and schedPeak are the scheduler side's processes: kube-scheduler, or agora-controller
// plus agora-executor.
func (r *result) schedCPU() float64 {
	return r.cpu["kube-scheduler"] + r.cpu["agora-controller"] + r.cpu["agora-executor"]
}

func (r *result) schedPeak() float64 {
	return r.peakMiB["kube-scheduler"] + r.peakMiB["agora-controller"] + r.peakMiB["agora-executor"]
}

// metric is one number of a run, for the medians and the ratios.
type metric struct {
	name    string
	short   bool // only for the short workload
	noRatio bool // one side's process: no ratio
	get     func(*result) float64
	fmt     string
}

var metrics = []metric{
	{name: "throughput to Running (items/s)", get: func(r *result) float64 { return r.tr.stats().toRunning }, fmt: "%.1f"},
	{name: "create -> Running p50 (s)", get: func(r *result) float64 { return r.tr.stats().p50.Seconds() }, fmt: "%.2f"},
	{name: "create -> Running p99 (s)", get: func(r *result) float64 { return r.tr.stats().p99.Seconds() }, fmt: "%.2f"},
	{name: "items created per second (the pod creators; the SDK frameworks' Launch)", get: func(r *result) float64 { return r.tr.stats().creates }, fmt: "%.1f"},
	{name: "create -> placed p50 (s) (Pod bound; Task admitted)", get: func(r *result) float64 { return r.tr.stats().placedP50.Seconds() }, fmt: "%.2f"},
	{name: "placed -> Running p50 (s)", get: func(r *result) float64 { return r.tr.stats().placedToRunP50.Seconds() }, fmt: "%.2f"},
	{name: "makespan (s)", short: true, get: func(r *result) float64 { return r.tr.stats().makespan.Seconds() }, fmt: "%.1f"},
	{name: "completed items/s", short: true, get: func(r *result) float64 { return r.tr.stats().completedPerSec }, fmt: "%.1f"},
	{name: "kube-apiserver CPU-s per item", get: func(r *result) float64 { return r.perItem(r.cpu["kube-apiserver"]) }, fmt: "%.4f"},
	{name: "API writes per item (all users)", get: func(r *result) float64 { return r.perItem(float64(r.totalWrites())) }, fmt: "%.2f"},
	{name: "scheduler's own writes per item (kube-scheduler; agora-controller + agora-executor)", get: func(r *result) float64 { return r.perItem(float64(r.ownWrites())) }, fmt: "%.2f"},
	{name: "scheduler CPU-s (kube-scheduler; controller + executor)", get: (*result).schedCPU, fmt: "%.1f"},
	{name: "scheduler peak RSS MiB (kube-scheduler; controller + executor)", get: (*result).schedPeak, fmt: "%.0f"},
	{name: "agora-controller CPU-s", noRatio: true, get: func(r *result) float64 { return r.cpu["agora-controller"] }, fmt: "%.1f"},
	{name: "agora-controller peak RSS MiB", noRatio: true, get: func(r *result) float64 { return r.peakMiB["agora-controller"] }, fmt: "%.0f"},
	{name: "agora-executor CPU-s", noRatio: true, get: func(r *result) float64 { return r.cpu["agora-executor"] }, fmt: "%.1f"},
	{name: "agora-executor peak RSS MiB", noRatio: true, get: func(r *result) float64 { return r.peakMiB["agora-executor"] }, fmt: "%.0f"},
	{name: "kube-scheduler CPU-s", noRatio: true, get: func(r *result) float64 { return r.cpu["kube-scheduler"] }, fmt: "%.1f"},
	{name: "kube-scheduler peak RSS MiB", noRatio: true, get: func(r *result) float64 { return r.peakMiB["kube-scheduler"] }, fmt: "%.0f"},
}

// report writes the Markdown report to stdout and to -out.
func (b *bench) report(all []*result) {
	var results []*result
	for _, r := range all {
		if !r.from.IsZero() {
			results = append(results, r)
		}
	}
	var sb strings.Builder
	b.writeReport(&sb, results)
	fmt.Print("\n" + sb.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(sb.String()), 0o644); err != nil {
			log.Printf("-out: %v", err)
		} else {
			log.Printf("report written to %s", *out)
		}
	}
}

func (b *bench) writeReport(w io.Writer, results []*result) {
	short := *workload == "short"
	fmt.Fprintf(w, "## Agora vs kube-scheduler: %s workload\n\n", *workload)
	what := "run until the end of the run"
	if short {
		what = fmt.Sprintf("each complete %s after it runs", *duration)
	}
	fmt.Fprintf(w, "%d kwok nodes (%s cpu, %s memory, %d pods); %d items of %s cpu / %s memory (requests = limits) that %s; %d rounds of %s.\n",
		*nodes, *nodeCPU, *nodeMemory, *nodePods, *items, *itemCPU, *itemMemory, what, *rounds, strings.Join(sideLabels(), ", "))
	fmt.Fprintf(w, "kube-scheduler: clientConnection qps %g burst %d, %d unthrottled pod creators. "+
		"Agora: agora-controller at its chart defaults %s; one agora-executor in simulation mode for all %d nodes, standing for %d DaemonSet pods (chart: qps 50, burst 100, 8 workers each), with `%s`; "+
		"SDK frameworks (unthrottled clients) fill each offer and suppress when done. "+
		"During Agora runs the invariants checker (test/invariants) watches Offers, Tasks and Pods and lists Nodes, Pods, Tasks and Offers every 2 s: its reads load kube-apiserver on Agora's side only.\n",
		*schedQPS, *schedBurst, *clients, argsNote(*controllerArgs), *nodes, *nodes, *executorArgs)
	fmt.Fprintf(w, "Machine: %d cores, %s; kube-apiserver at rest %.2f cores. Writes from the audit log (all users, write verbs); kwok writes as %q. "+
		"create = the create call returned to its client; placed = a Pod seen bound to a node, a Task seen admitted (Staging or later); Running = first seen by a watch.\n\n",
		runtime.NumCPU(), procstat.CPUModel(), b.idleCPU, b.adminUser)

	fmt.Fprintln(w, "### Runs")
	fmt.Fprintln(w)
	head := "| run | Running | created/s | items/s to Running | p50 | p99 | placed p50 |"
	sep := "|---|---|---|---|---|---|---|"
	if short {
		head += " finished | makespan | completed/s |"
		sep += "---|---|---|"
	}
	head += " apiserver CPU-s/item | writes/item | own writes/item | ctrl CPU-s / peak MiB | exec CPU-s / peak MiB | kube-scheduler CPU-s / peak MiB | violations | load start -> end |"
	sep += "---|---|---|---|---|---|---|---|"
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	for _, r := range results {
		s := r.tr.stats()
		row := fmt.Sprintf("| %s | %d/%d | %.1f | %.1f | %.2f | %.2f | %.2f |", r.label, r.tr.nRunning.Load(), r.items, s.creates, s.toRunning,
			s.p50.Seconds(), s.p99.Seconds(), s.placedP50.Seconds())
		if short {
			row += fmt.Sprintf(" %d | %.1f | %.1f |", r.tr.nFinished.Load(), s.makespan.Seconds(), s.completedPerSec)
		}
		viol := "-"
		if r.checked {
			viol = fmt.Sprint(len(r.violations))
		}
		row += fmt.Sprintf(" %.4f | %.2f | %.2f | %s | %s | %s | %s | %s -> %s |",
			r.perItem(r.cpu["kube-apiserver"]), r.perItem(float64(r.totalWrites())), r.perItem(float64(r.ownWrites())),
			procCell(r, "agora-controller"), procCell(r, "agora-executor"), procCell(r, "kube-scheduler"), viol,
			strings.TrimPrefix(r.loadStart, "load average "), strings.TrimPrefix(r.loadEnd, "load average "))
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)

	// Medians per side, and the ratio of each Agora side to kube-scheduler.
	labels := sideLabels()
	bySide := map[string][]*result{}
	for _, l := range labels {
		bySide[l] = medianSet(results, l)
	}
	fmt.Fprintln(w, "### Medians per side, and Agora / kube-scheduler")
	fmt.Fprintln(w)
	head, sep = "| metric |", "|---|"
	for _, l := range labels {
		head += fmt.Sprintf(" %s (%d) |", l, len(bySide[l]))
		sep += "---|"
	}
	for _, l := range labels[1:] {
		head += fmt.Sprintf(" %s / kube |", l)
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	for _, m := range metrics {
		if m.short && !short {
			continue
		}
		row := "| " + m.name + " |"
		med := map[string]float64{}
		for _, l := range labels {
			med[l] = median(bySide[l], m.get)
			row += " " + fmtNum(m.fmt, med[l]) + " |"
		}
		for _, l := range labels[1:] {
			if m.noRatio {
				row += " |"
			} else {
				row += " " + ratio(med[l], med["kube"]) + " |"
			}
		}
		fmt.Fprintln(w, row)
	}
	row := "| invariant violations (all runs) |"
	for _, l := range labels {
		if l == "kube" || len(bySide[l]) == 0 {
			row += " - |"
			continue
		}
		n := 0
		for _, r := range results {
			if r.side.label() == l {
				n += len(r.violations)
			}
		}
		row += fmt.Sprintf(" %d |", n)
	}
	fmt.Fprintln(w, row+strings.Repeat(" |", len(labels)-1))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Medians over the complete runs of each side (the count in parentheses); a side without one takes all its runs.")
	fmt.Fprintln(w)

	// Writes per item by user, resource and verb.
	keys := map[writeKey]bool{}
	for _, r := range results {
		for k := range r.writes {
			keys[k] = true
		}
	}
	sorted := make([]writeKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.user != b.user {
			return a.user < b.user
		}
		if a.resource != b.resource {
			return a.resource < b.resource
		}
		return a.verb < b.verb
	})
	fmt.Fprintln(w, "### API writes per item by user, resource and verb (medians)")
	fmt.Fprintln(w)
	head, sep = "| user | resource | verb |", "|---|---|---|"
	for _, l := range labels {
		head += " " + l + " |"
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	for _, k := range sorted {
		user := k.user
		if user == b.adminUser {
			user += " (kwok)"
		}
		row := fmt.Sprintf("| %s | %s | %s |", user, k.resource, k.verb)
		for _, l := range labels {
			v := median(bySide[l], func(r *result) float64 { return r.perItem(float64(r.writes[k])) })
			switch {
			case math.IsNaN(v):
				row += " - |"
			case v == 0:
				row += " |"
			default:
				row += fmt.Sprintf(" %.3f |", v)
			}
		}
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)

	// Violations and notes.
	var notes []string
	for _, r := range results {
		if !r.complete {
			notes = append(notes, fmt.Sprintf("%s: incomplete: %d of %d items Running, %d finished when its time (-run-timeout %s) ran out", r.label, r.tr.nRunning.Load(), r.items, r.tr.nFinished.Load(), *runTimeout))
		}
		if r.relaunched > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d tasks launched again", r.label, r.relaunched))
		}
		if len(r.failedWrites) > 0 {
			var fs []string
			for k, n := range r.failedWrites {
				fs = append(fs, fmt.Sprintf("%d %s", n, k))
			}
			sort.Strings(fs)
			notes = append(notes, fmt.Sprintf("%s: writes that failed (counted above too): %s", r.label, strings.Join(fs, ", ")))
		}
		for _, n := range r.notes {
			notes = append(notes, r.label+": "+n)
		}
		for i, v := range r.violations {
			if i == 10 {
				notes = append(notes, fmt.Sprintf("%s: ... %d violations in all", r.label, len(r.violations)))
				break
			}
			notes = append(notes, fmt.Sprintf("%s: VIOLATION %s", r.label, v))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "### Notes")
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
		fmt.Fprintln(w)
	}
}

func procCell(r *result, name string) string {
	if _, ok := r.peakMiB[name]; !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f / %.0f", r.cpu[name], r.peakMiB[name])
}

func sideLabels() []string {
	sides, _ := parseSides(*frameworksFlag)
	out := make([]string, len(sides))
	for i, s := range sides {
		out[i] = s.label()
	}
	return out
}

// medianSet is the runs of one side the medians are taken over: the complete ones, or all.
func medianSet(results []*result, label string) []*result {
	var all, complete []*result
	for _, r := range results {
		if r.side.label() != label {
			continue
		}
		all = append(all, r)
		if r.complete {
			complete = append(complete, r)
		}
	}
	if len(complete) > 0 {
		return complete
	}
	return all
}

func median(rs []*result, get func(*result) float64) float64 {
	if len(rs) == 0 {
		return math.NaN()
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fmtNum(f string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(f, v)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func argsNote(extra string) string {
	if extra == "" {
		return "(no extra flags)"
	}
	return "plus `" + extra + "`"
}
