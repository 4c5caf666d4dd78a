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
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// staticPartitions is how many parts the static run splits the nodes into (one per framework).
const staticPartitions = 4

// WriteJSON writes r, indented, as dir/results.json.
func WriteJSON(r *Results, dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("results.json: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644)
}

// WriteReport writes dir/report.md: what was run, the results beside the paper's, the plots
// WritePlots draws (linked by file name) and why the numbers differ from the paper. The same
// Results always give the same report.
func WriteReport(r *Results, dir string) error {
	var b strings.Builder
	reportIntro(&b, r)
	reportSetup(&b, r)
	reportResults(&b, r)
	reportRampUp(&b, r)
	reportPlots(&b)
	reportDifferences(&b, r)
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

// ---- what the report and the plots compute from Results ----

// runByMode returns r's run of that mode ("shared" or "static"), or nil.
func runByMode(r *Results, mode string) *Run {
	for i := range r.Runs {
		if r.Runs[i].Mode == mode {
			return &r.Runs[i]
		}
	}
	return nil
}

// frameworkOf returns the run's result for the named framework, or nil (also for a nil run).
func frameworkOf(run *Run, name string) *FrameworkResult {
	if run == nil {
		return nil
	}
	for i := range run.Frameworks {
		if run.Frameworks[i].Name == name {
			return &run.Frameworks[i]
		}
	}
	return nil
}

// frameworkNames lists FrameworkOrder, then any other framework found in the runs, by name.
func frameworkNames(r *Results) []string {
	names := slices.Clone(FrameworkOrder)
	var extra []string
	for _, run := range r.Runs {
		for _, f := range run.Frameworks {
			if !slices.Contains(names, f.Name) && !slices.Contains(extra, f.Name) {
				extra = append(extra, f.Name)
			}
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

// completionTimes are End - Arrival of the framework's finished jobs (nil for no framework).
// A job is finished when it has an End no earlier than its Arrival.
func completionTimes(f *FrameworkResult) []float64 {
	if f == nil {
		return nil
	}
	var out []float64
	for _, j := range f.Jobs {
		if j.End > 0 && j.End >= j.Arrival {
			out = append(out, j.End-j.Arrival)
		}
	}
	return out
}

// meanOf is the average of xs, NaN if empty.
func meanOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// medianOf is the middle of xs, NaN if empty.
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// poolUtilization is a run's mean allocation, as fractions of the pool.
type poolUtilization struct{ cpu, memory float64 }

// meanUtilization averages the run's samples up to its makespan; NaN without samples.
func meanUtilization(run *Run) poolUtilization {
	if run == nil {
		return poolUtilization{math.NaN(), math.NaN()}
	}
	var cpu, mem []float64
	for _, s := range run.Samples {
		if run.Makespan > 0 && s.T > run.Makespan {
			break
		}
		cpu = append(cpu, s.CPU)
		mem = append(mem, s.Memory)
	}
	return poolUtilization{meanOf(cpu), meanOf(mem)}
}

// workUtilization is the share of the pool a run spent doing the trace's work: the work
// (Config.WorkCPU, WorkMemory) over the pool's capacity times the run's makespan. Both runs do
// the same work, so it is the inverse of the makespan, scaled. NaN where the results do not
// carry the work (older results.json) or the run has no makespan.
func workUtilization(r *Results, run *Run) poolUtilization {
	share := func(work float64, capacity int) float64 {
		if run == nil || run.Makespan <= 0 || work <= 0 || capacity <= 0 {
			return math.NaN()
		}
		return work / (float64(capacity) * run.Makespan)
	}
	c := r.Config
	return poolUtilization{share(c.WorkCPU, c.Nodes*c.NodeCPU), share(c.WorkMemory, c.Nodes*c.NodeMemoryGi)}
}

// hasWork says whether the results carry the trace's work (Config.WorkCPU), which older
// results.json do not.
func hasWork(r *Results) bool { return r.Config.WorkCPU > 0 }

// dataLocality is the fraction of the framework's data tasks that ran local; NaN if it had none.
func dataLocality(f *FrameworkResult) float64 {
	if f == nil || f.DataTasks == 0 {
		return math.NaN()
	}
	return float64(f.LocalTasks) / float64(f.DataTasks)
}

// staticLocalityBound is the chance that at least one of a block's replicas, placed on
// random nodes, lies in a given one of partitions equal parts of the cluster:
// 1 - ((partitions-1)/partitions)^replicas. It is the most locality a framework confined to its
// part can get when its tasks read blocks uniformly: a task can run local only if its block has a
// replica there. NaN if either count is not positive.
func staticLocalityBound(replicas, partitions int) float64 {
	if replicas <= 0 || partitions <= 0 {
		return math.NaN()
	}
	return 1 - math.Pow(float64(partitions-1)/float64(partitions), float64(replicas))
}

// traceLocalityBound is the most locality the static Hadoop mix could reach on this trace: the
// share of its tasks whose block has a replica in its partition (Config.StaticLocalityBound),
// or the random-placement figure for results that do not carry it.
func traceLocalityBound(r *Results) float64 {
	if r.Config.StaticLocalityBound > 0 {
		return r.Config.StaticLocalityBound
	}
	return staticLocalityBound(r.Config.Replicas, staticPartitions)
}

// paperSpeedup is the paper's speedup for the framework, NaN if the paper has none.
func paperSpeedup(name string) float64 {
	if s, ok := Paper.Speedup[name]; ok {
		return s
	}
	return math.NaN()
}

// modeStats is one framework in one run, summarised.
type modeStats struct {
	jobs     int     // finished jobs
	meanJCT  float64 // seconds, NaN without jobs
	locality float64 // NaN without data tasks
	present  bool    // the run has this framework
	ramp     FrameworkResult
}

// fwStats is one framework in both runs; speedup is static mean JCT / shared mean JCT.
type fwStats struct {
	shared, static modeStats
	speedup        float64
}

func frameworkStats(r *Results, name string) fwStats {
	get := func(mode string) modeStats {
		f := frameworkOf(runByMode(r, mode), name)
		jcts := completionTimes(f)
		m := modeStats{jobs: len(jcts), meanJCT: meanOf(jcts), locality: dataLocality(f)}
		if f != nil {
			m.present, m.ramp = true, *f
		}
		return m
	}
	st := fwStats{shared: get("shared"), static: get("static")}
	st.speedup = st.static.meanJCT / st.shared.meanJCT
	return st
}

// allJCTs are the completion times of every framework's jobs in the run of that mode.
func allJCTs(r *Results, mode string) []float64 {
	var out []float64
	for _, name := range frameworkNames(r) {
		out = append(out, completionTimes(frameworkOf(runByMode(r, mode), name))...)
	}
	return out
}

// ---- formatting ----

// fmtNum formats v with the given decimals, "n/a" for NaN or infinity.
func fmtNum(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

// fmtPct formats a fraction as a percentage with one decimal, "n/a" for NaN.
func fmtPct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

// rampSeconds formats a ramp-up: seconds, or "never" for -1, or "n/a" without the framework.
func rampSeconds(m modeStats) string {
	switch {
	case !m.present:
		return "n/a"
	case m.ramp.RampUp < 0:
		return "never"
	default:
		return fmtNum(m.ramp.RampUp, 1)
	}
}

// ---- sections ----

func reportIntro(b *strings.Builder, r *Results) {
	b.WriteString("# Mesos §6 on Agora: a shared pool against static partitions\n\n")
	b.WriteString("This report repeats, on Agora, the macrobenchmark of the Mesos paper " +
		"(Hindman et al., *Mesos: A Platform for Fine-Grained Resource Sharing in the Data Center*, " +
		"NSDI 2011, §6). Four frameworks run the same job trace twice. In the **shared** run every " +
		"framework may use every node, and Agora's allocator offers resources to the frameworks by " +
		"weighted Dominant Resource Fairness (DRF), as the Mesos master does. In the **static** run each " +
		"framework is confined to its own quarter of the nodes, as if the cluster had been split into " +
		"four dedicated clusters. The question is the paper's: does sharing one cluster through " +
		"resource offers let jobs finish sooner, and what does it cost frameworks that need data " +
		"locality or whole gangs of tasks at once?\n\n")
	b.WriteString("*Speedup* below is always the mean job completion time (arrival to last task done) " +
		"with static partitions divided by the mean in the shared pool; the jobs are the same, so it is " +
		"also the ratio of the sums, the measure of the paper's Table 4. Above 1 means the jobs finished " +
		"sooner when sharing.\n\n")
}

func reportSetup(b *strings.Builder, r *Results) {
	c := r.Config
	b.WriteString("## Setup\n\n")
	fmt.Fprintf(b, "- **Cluster:** %d simulated ([kwok](https://kwok.sigs.k8s.io/)) nodes of %d CPU and %d GiB "+
		"each, %d CPU and %d GiB in all. Pods on kwok nodes run no process: kwok moves them to Running "+
		"and completes them after the task's drawn duration.\n",
		c.Nodes, c.NodeCPU, c.NodeMemoryGi, c.Nodes*c.NodeCPU, c.Nodes*c.NodeMemoryGi)
	fmt.Fprintf(b, "- **Trace:** preset `%s`, seed %d; jobs arrive over %s s. The workloads:\n", c.Preset, c.Seed, fmtNum(c.Window, 0))
	for _, name := range workloadNames(c.Workloads) {
		title := Paper.Title[name]
		if title != "" {
			title = " (the paper's " + title + ")"
		}
		fmt.Fprintf(b, "  - `%s`%s: %s\n", name, title, c.Workloads[name])
	}
	fmt.Fprintf(b, "- **Data:** %d blocks, %d replicas each on random nodes. The Hadoop mix uses delay scheduling: "+
		"a job waits up to %s s (since it last launched a local task) for an offer on a node holding a block "+
		"its next task reads, before it launches that task anywhere.\n",
		c.Blocks, c.Replicas, fmtNum(c.Delay, 1))
	b.WriteString(runOrderNote(r))
	fmt.Fprintf(b, "- **Machine:** %s. Started %s.\n", orNA(r.Machine), startedString(r.Started))
	fmt.Fprintf(b, "- **Reproduce:** `go run ./hack/experiment/mesos --preset %s --seed %d` (`make experiment` is the full "+
		"preset, seed 1) writes this report, its plots and `results.json` into `_output/experiment/mesos`; "+
		"`--replot results.json` redraws them from the numbers without running again; `-h` lists the flags.\n\n",
		orNA(c.Preset), c.Seed)
}

// runModes are the modes of r's runs, in the order they ran.
func runModes(r *Results) []string {
	var modes []string
	for _, run := range r.Runs {
		modes = append(modes, run.Mode)
	}
	return modes
}

// runOrderNote is the Setup bullet saying which run went first.
func runOrderNote(r *Results) string {
	switch modes := runModes(r); {
	case len(modes) == 0:
		return ""
	case len(modes) == 1:
		return fmt.Sprintf("- **Runs:** only the %s run is in these results.\n", modes[0])
	case modes[0] == "shared":
		return "- **Runs:** one after the other on the same cluster, the shared run first, then the static one " +
			"(the default order; `--order static,shared` flips it).\n"
	default:
		return fmt.Sprintf("- **Runs:** one after the other on the same cluster, the %s run first, then the %s one "+
			"(`--order static,shared`; the default, `--order shared,static`, runs the shared one first).\n", modes[0], modes[1])
	}
}

// workloadNames are the workloads' keys in FrameworkOrder, then the others sorted.
func workloadNames(w map[string]string) []string {
	var names []string
	for _, n := range FrameworkOrder {
		if _, ok := w[n]; ok {
			names = append(names, n)
		}
	}
	var extra []string
	for n := range w {
		if !slices.Contains(FrameworkOrder, n) {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

func orNA(s string) string {
	if strings.TrimSpace(s) == "" {
		return "n/a"
	}
	return s
}

func startedString(t time.Time) string {
	if t.IsZero() {
		return "at an unrecorded time"
	}
	return t.UTC().Format(time.RFC3339)
}

func reportResults(b *strings.Builder, r *Results) {
	b.WriteString("## Results\n\n### Job completion times\n\n")
	b.WriteString("| Framework | Paper workload | Paper speedup | Jobs | Mean JCT static (s) | Mean JCT shared (s) | Speedup |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|\n")
	for _, name := range frameworkNames(r) {
		st := frameworkStats(r, name)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", name, orNA(Paper.Title[name]),
			formatSpeedup(paperSpeedup(name)), jobCount(st.static.jobs, st.shared.jobs),
			fmtNum(st.static.meanJCT, 1), fmtNum(st.shared.meanJCT, 1), formatSpeedup(st.speedup))
	}
	static, shared := allJCTs(r, "static"), allJCTs(r, "shared")
	fmt.Fprintf(b, "| **all** | | | %s | %s | %s | %s |\n\n", jobCount(len(static), len(shared)),
		fmtNum(meanOf(static), 1), fmtNum(meanOf(shared), 1), formatSpeedup(meanOf(static)/meanOf(shared)))

	b.WriteString("### The pool\n\n")
	b.WriteString("| Measure | Agora static | Agora shared | Paper static | Paper on Mesos |\n")
	b.WriteString("|---|--:|--:|--:|--:|\n")
	sr, hr := runByMode(r, "static"), runByMode(r, "shared")
	fmt.Fprintf(b, "| Makespan: last job done (s) | %s | %s | — | — |\n", makespan(sr), makespan(hr))
	su, hu := meanUtilization(sr), meanUtilization(hr)
	fmt.Fprintf(b, "| Mean CPU held by tasks (admitted to terminal) | %s | %s | — | — |\n", fmtPct(su.cpu), fmtPct(hu.cpu))
	fmt.Fprintf(b, "| Mean memory held by tasks (admitted to terminal) | %s | %s | — | — |\n", fmtPct(su.memory), fmtPct(hu.memory))
	sw, hw := workUtilization(r, sr), workUtilization(r, hr)
	fmt.Fprintf(b, "| CPU doing the trace's work: its core-seconds ÷ (pool × makespan) | %s | %s | — | — |\n", fmtPct(sw.cpu), fmtPct(hw.cpu))
	fmt.Fprintf(b, "| Memory doing the trace's work: its GiB-seconds ÷ (pool × makespan) | %s | %s | — | — |\n", fmtPct(sw.memory), fmtPct(hw.memory))
	mix := frameworkStats(r, "hadoop-mix")
	fmt.Fprintf(b, "| Hadoop mix data tasks run local | %s | %s | %s | %s |\n",
		fmtPct(mix.static.locality), fmtPct(mix.shared.locality), fmtPct(Paper.LocalityStatic), fmtPct(Paper.LocalityShared))
	fmt.Fprintf(b, "| Static locality bound: tasks whose block has a replica in the partition | %s (%d partitions; random placement %s) | — | %s (16 partitions) | — |\n\n",
		fmtPct(traceLocalityBound(r)), staticPartitions, fmtPct(staticLocalityBound(r.Config.Replicas, staticPartitions)), fmtPct(staticLocalityBound(3, 16)))
	b.WriteString("The *held* rows average, over the per-second samples up to the run's makespan, what Tasks not yet " +
		"terminal hold as a share of the pool: a task counts from its admission (Staging) to its end, so its " +
		"launch and end count as use, not only its drawn duration. ")
	if hasWork(r) {
		fmt.Fprintf(b, "The *work* rows divide what the trace's tasks need over their drawn durations (%s core-seconds, "+
			"%s GiB-seconds; first attempts) by the pool's capacity times the run's makespan; ",
			fmtNum(r.Config.WorkCPU, 0), fmtNum(r.Config.WorkMemory, 0))
	} else {
		b.WriteString("The *work* rows divide what the trace's tasks need over their drawn durations by the pool's " +
			"capacity times the run's makespan (these results predate recording that work, hence n/a); ")
	}
	b.WriteString("both runs do the same work, so these rows are just the inverse of the makespan. The paper gives " +
		"utilization as a plot rather than a single number, so only locality has a paper figure in this table. ")
	fmt.Fprintf(b, "Locality counts the finished data tasks of `hadoop-mix` "+
		"that ran on a node holding a replica of their block. The paper ran 16 Hadoop instances, so each "+
		"static instance had 1/16 of the nodes and found at most 1−(15/16)³ ≈ %s of the blocks on them "+
		"(3 replicas); here the static run has %d partitions and %d replicas, a bound of 1−(3/4)%s ≈ %s, so "+
		"the static columns are not comparable one to one.\n\n",
		fmtPct(staticLocalityBound(3, 16)), staticPartitions, r.Config.Replicas, superscript(r.Config.Replicas),
		fmtPct(staticLocalityBound(r.Config.Replicas, staticPartitions)))
}

// jobCount writes the finished jobs of both runs, once if they agree.
func jobCount(static, shared int) string {
	if static == shared {
		return fmt.Sprint(shared)
	}
	return fmt.Sprintf("%d static, %d shared", static, shared)
}

func makespan(run *Run) string {
	if run == nil {
		return "n/a"
	}
	return fmtNum(run.Makespan, 1)
}

func reportRampUp(b *strings.Builder, r *Results) {
	b.WriteString("### Ramp-up\n\n")
	b.WriteString("How fast a framework gets resources after it registers: the seconds from registration until it " +
		"first held its target dominant share, which is 90% of the smaller of its fair share (¼) and what its " +
		"first job asks for at once. *never* means it did not reach the target in that run.\n\n")
	b.WriteString("| Framework | Target share | Ramp-up shared (s) | Ramp-up static (s) |\n")
	b.WriteString("|---|--:|--:|--:|\n")
	var small []string
	for _, name := range frameworkNames(r) {
		st := frameworkStats(r, name)
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name, targetPair(st), rampSeconds(st.shared), rampSeconds(st.static))
		if s := smallFirstJob(st); s != "" {
			small = append(small, s)
		}
	}
	b.WriteString("\nShares are sampled once a second, so a ramp-up is good to about 1 s.")
	if len(small) > 0 {
		fmt.Fprintf(b, " A target below %s is 90%% of what the framework's first job asks for, so its ramp-up is the "+
			"time until that job held nearly all it asked for: here %s.", fmtPct(rampFairTarget), strings.Join(small, "; "))
	}
	b.WriteString("\n\n")
}

// rampFairTarget is the ramp-up target of a framework whose first job asks for at least its
// fair share: 90% of ¼.
const rampFairTarget = 0.9 / staticPartitions

// smallFirstJob describes a framework whose ramp-up target is set by its first job (it asks for
// less than the fair share), in words for the ramp-up note; "" otherwise.
func smallFirstJob(st fwStats) string {
	m := st.shared
	if !m.present {
		m = st.static
	}
	if !m.present || m.ramp.RampTarget <= 0 || m.ramp.RampTarget >= rampFairTarget-1e-9 || len(m.ramp.Jobs) == 0 {
		return ""
	}
	switch n := m.ramp.Jobs[0].Tasks; n {
	case 1:
		return fmt.Sprintf("`%s`, whose first job is of one task, so its target is that task's demand and its ramp-up "+
			"the time to its first task", m.ramp.Name)
	default:
		return fmt.Sprintf("`%s`, whose first job is of %d tasks, so its ramp-up is the time until nearly all of them "+
			"were launched", m.ramp.Name, n)
	}
}

// targetPair writes the ramp-up targets, once if both runs agree.
func targetPair(st fwStats) string {
	t := func(m modeStats) string {
		if !m.present {
			return "n/a"
		}
		return fmtPct(m.ramp.RampTarget)
	}
	if t(st.shared) == t(st.static) {
		return t(st.shared)
	}
	return t(st.shared) + " shared, " + t(st.static) + " static"
}

func reportPlots(b *strings.Builder) {
	b.WriteString("## Plots\n\nEach plot is also in SVG beside the PNG.\n\n")
	for _, p := range []struct{ base, alt, say string }{
		{plotUtilization, "CPU and memory held by tasks over time, shared vs static",
			"How much of the pool's CPU (top) and memory (bottom) tasks held at each second, from their admission " +
				"(Staging) to their end; where a line ends is that run's makespan. The gap between the solid (shared) " +
				"and dashed (static) lines is the difference in what the pool held, which includes each task's launch " +
				"and end, not only the trace's work: the pool table's *doing the trace's work* rows give that share."},
		{plotShares, "Each framework's dominant share over time, stacked, shared and static",
			"Each framework's dominant share stacked in one colour per framework: in the shared pool a " +
				"framework can grow past ¼ while others are idle; in the static run each is capped by its quarter."},
		{plotJCT, "Mean job completion time per framework, static vs shared, with speedups",
			"Mean completion time per framework, one panel each on its own scale, static (light) beside " +
				"shared (full); above the bars the speedup in bold and the paper's beneath it."},
		{plotJCTCDF, "CDF of job completion times, shared vs static",
			"The distribution of completion times over all jobs (left) and per framework (right): a curve " +
				"further left means jobs finished sooner."},
		{plotLocality, "Data locality of the Hadoop mix, static vs shared, beside the paper",
			"The share of the Hadoop mix's data tasks that ran on a node holding their block, beside the " +
				"paper's; the dashed and dotted lines are what random placement gives a static partition of ¼ " +
				"(here) and 1/16 (the paper) of the nodes."},
		{plotRampUp, "Ramp-up: dominant shares over the first minute and ramp-up times",
			"The first minute or so of each run: each framework's dominant share (solid shared, dashed static), " +
				"its target (dotted) and the moment it first held it (dot), and on the right the ramp-up times."},
	} {
		fmt.Fprintf(b, "![%s](%s.png)\n\n%s\n\n", p.alt, p.base, p.say)
	}
}

func reportDifferences(b *strings.Builder, r *Results) {
	c := r.Config
	b.WriteString("## Why the numbers differ from the paper\n\n")
	b.WriteString("The paper measured Hadoop, Spark and Torque themselves on a real cluster; this experiment " +
		"measures Agora's allocation and offers with simulated frameworks and simulated nodes. The direction " +
		"of each effect is the thing to compare, not the size.\n\n")
	fmt.Fprintf(b, "- **The workload is synthetic.** The trace is drawn from stated distributions with seed %d "+
		"(see Setup), shaped after the paper's four workloads but not replayed from Facebook's logs; its %d "+
		"jobs are not the paper's jobs.\n", c.Seed, totalJobs(r))
	b.WriteString("- **A task's run time does not depend on where or beside what it runs.** On kwok a task " +
		"lasts its drawn duration whatever the node, so locality here measures placement only. In the paper " +
		"local tasks also ran faster (they read from local disk), which is part of why the Hadoop mix gained " +
		"on Mesos; that part of the gain cannot appear here. Nor can contention slow the shared run down.\n")
	b.WriteString(timeCompression(r))
	fmt.Fprintf(b, "- **The whole cluster runs on one machine** (%s): the API server, etcd, kwok, Agora's "+
		"controller and the four frameworks share it, so API latency adds to every task launch, in both "+
		"runs, and likely more when the shared run keeps more tasks moving (the per-task overhead is below).\n", orNA(r.Machine))
	b.WriteString(orderNote(r))
	b.WriteString(scaleNote(c.Nodes, c.NodeCPU, c.NodeMemoryGi))
	fmt.Fprintf(b, "- **Static partitions for locality: %d, not 16.** With %d replicas on random nodes, a quarter of "+
		"the nodes holds some replica of about %s of the blocks (%s of this trace's Hadoop mix tasks), against %s "+
		"for a sixteenth, so the static run starts from a much better locality than the paper's 18%%.\n",
		staticPartitions, c.Replicas, fmtPct(staticLocalityBound(c.Replicas, staticPartitions)), fmtPct(traceLocalityBound(r)),
		fmtPct(staticLocalityBound(3, 16)))
	overheadTable(b, r)
	b.WriteString("What this run shows, framework by framework:\n\n")
	for _, name := range frameworkNames(r) {
		b.WriteString("- " + frameworkFinding(r, name) + "\n")
	}
	b.WriteString("- " + localityFinding(r) + "\n")
	b.WriteString("- " + poolFinding(r) + "\n")
}

// orderNote is the bullet on the order of the runs: one pass in one order cannot tell an
// effect of the order from one of the mode.
func orderNote(r *Results) string {
	modes := runModes(r)
	if len(modes) < 2 {
		return ""
	}
	other := "`--order static,shared`"
	if modes[0] != "shared" {
		other = "the default order, shared first"
	}
	return fmt.Sprintf("- **One pass, in one order.** The two runs share one cluster, %s first here, after a warm-up "+
		"that fills the pool twice with short tasks (without it the first run paid about a second more per task); "+
		"what is left of an order effect, and the run-to-run spread, only a pass in the other order (%s) or "+
		"another seed shows (the repository's docs/experiment.md, \"Run to run\", compares them for the "+
		"checked-in run).\n", modes[0], other)
}

// paperNodes is the size of the paper's macrobenchmark cluster (EC2 nodes).
const paperNodes = 96

// scaleNote is the bullet on cluster size against the paper's. The nodes here (8 CPU / 32 GiB
// in both presets) are larger than the paper's EC2 nodes, so the count alone is not the size.
func scaleNote(nodes, nodeCPU, nodeMemGi int) string {
	s := fmt.Sprintf("- **Scale.** %d simulated nodes of %d CPU / %d GiB here, %d EC2 nodes in the paper: ",
		nodes, nodeCPU, nodeMemGi, paperNodes)
	switch {
	case nodes == paperNodes:
		s += "as many nodes, but each larger than the paper's EC2 nodes, so a node holds more tasks at once " +
			"and the pool more tasks than the paper's."
	case nodes > paperNodes:
		s += "more nodes, and each larger than the paper's EC2 nodes: a node holds more tasks at once, and " +
			"the pool more tasks than the paper's."
	default:
		s += "fewer nodes, though each larger than the paper's EC2 nodes and so holding more tasks at once: " +
			"there are fewer places for a task, so one large job or gang is a bigger part of the pool, and " +
			"the shares move in coarser steps."
	}
	return s + "\n"
}

// overheadPhases are the parts of a task's overhead, as FrameworkResult records them.
var overheadPhases = []struct {
	name string
	get  func(*FrameworkResult) float64
}{
	{"launch→Running", func(f *FrameworkResult) float64 { return f.LaunchToRunning }},
	{"Running beyond its duration", func(f *FrameworkResult) float64 { return f.RunBeyondDuration }},
	{"Completion→seen", func(f *FrameworkResult) float64 { return f.CompletionSeen }},
}

// hasSplit says whether f carries the split of its task overhead (older results.json do not).
func hasSplit(f *FrameworkResult) bool {
	return f != nil && (f.LaunchToRunning != 0 || f.RunBeyondDuration != 0 || f.CompletionSeen != 0)
}

// overheadTable writes every framework's per-task overhead and its split, shared / static.
func overheadTable(b *strings.Builder, r *Results) {
	b.WriteString("\nPer-task overhead: the mean seconds a finished task took from its launch to the framework " +
		"seeing it Finished, beyond its drawn duration, and where it went by the Task's status times " +
		"(whole-second timestamps, so each part is good to about ½ s); each cell is shared / static.\n\n")
	b.WriteString("| Framework | Overhead (s) |")
	for _, ph := range overheadPhases {
		b.WriteString(" " + strings.ToUpper(ph.name[:1]) + ph.name[1:] + " (s) |")
	}
	b.WriteString("\n|---|--:|--:|--:|--:|\n")
	split := false
	for _, name := range frameworkNames(r) {
		shF, stF := frameworkOf(runByMode(r, "shared"), name), frameworkOf(runByMode(r, "static"), name)
		if shF == nil && stF == nil {
			continue
		}
		cell := func(get func(*FrameworkResult) float64, ok func(*FrameworkResult) bool) string {
			v := func(f *FrameworkResult) string {
				if !ok(f) {
					return "n/a"
				}
				return fmtNum(get(f), 1)
			}
			return v(shF) + " / " + v(stF)
		}
		fmt.Fprintf(b, "| %s | %s |", name, cell(func(f *FrameworkResult) float64 { return f.TaskOverhead },
			func(f *FrameworkResult) bool { return f != nil && f.TaskOverhead > 0 }))
		for _, ph := range overheadPhases {
			fmt.Fprintf(b, " %s |", cell(ph.get, hasSplit))
		}
		b.WriteString("\n")
		split = split || hasSplit(shF) || hasSplit(stF)
	}
	if !split {
		b.WriteString("\nThese results predate recording the split, hence n/a.\n")
	}
	b.WriteString("\n")
}

// coresRE finds the core count in Results.Machine ("AMD EPYC, 2 cores, go1.26 linux/amd64").
var coresRE = regexp.MustCompile(`\b(\d+) cores?\b`)

// oneMachine is "one machine", with its core count when Results.Machine gives it.
func oneMachine(machine string) string {
	if m := coresRE.FindStringSubmatch(machine); m != nil {
		return "one " + m[1] + "-core machine"
	}
	return "one machine"
}

// totalJobs counts the trace's jobs, in the first run (both runs have the same trace).
func totalJobs(r *Results) int {
	n := 0
	if len(r.Runs) > 0 {
		for _, f := range r.Runs[0].Frameworks {
			n += len(f.Jobs)
		}
	}
	return n
}

// timeCompression is the bullet on time: jobs last seconds here, minutes in the paper.
func timeCompression(r *Results) string {
	med := medianOf(allJCTs(r, "shared"))
	s := fmt.Sprintf("- **Time is compressed.** The whole trace arrives within %s s", fmtNum(r.Config.Window, 0))
	if !math.IsNaN(med) {
		s += fmt.Sprintf(" and the median job completed in %s s (shared run)", fmtNum(med, 1))
	}
	s += ", where the paper's jobs ran for minutes. Agora allocates in cycles of 1 s, and a launch takes a few API round trips (offer, accept, " +
		"Task, Pod, binding, kwok's status), so this fixed cost weighs far more against a job than in the paper. " +
		"A cost that both runs pay alike pulls every speedup towards 1.\n"
	return s
}

// frameworkFinding compares one framework's speedup with the paper's, in words.
func frameworkFinding(r *Results, name string) string {
	st := frameworkStats(r, name)
	paper := paperSpeedup(name)
	head := fmt.Sprintf("**%s**: speedup %s (paper %s). ", name, formatSpeedup(st.speedup), formatSpeedup(paper))
	if math.IsNaN(st.speedup) || math.IsInf(st.speedup, 0) {
		return head + "Not measured: a run is missing or no job of this framework finished in one of them."
	}
	s := speedupVerdict(st.speedup, paper)
	shF, stF := frameworkOf(runByMode(r, "shared"), name), frameworkOf(runByMode(r, "static"), name)
	waitSh, waitSt := meanWait(shF), meanWait(stF)
	var overSh, overSt float64
	if shF != nil && stF != nil {
		overSh, overSt = shF.TaskOverhead, stF.TaskOverhead
	}
	if !math.IsNaN(waitSh) && !math.IsNaN(waitSt) {
		s += fmt.Sprintf(" Its jobs waited %s s on average from arrival to their first launch shared, %s s static",
			fmtNum(waitSh, 1), fmtNum(waitSt, 1))
		if overSh > 0 && overSt > 0 {
			s += fmt.Sprintf("; a task took %s s beyond its duration from launch to Finished shared, %s s static",
				fmtNum(overSh, 1), fmtNum(overSt, 1))
		}
		s += "."
	}
	if st.speedup <= 0.97 {
		switch {
		case name == "torque" && waitSh-waitSt >= 0.5:
			s += " A gang job starts only when offers for the whole gang have gathered; in a busy shared " +
				"pool freed resources go to other frameworks too, so gangs wait longer than in a quarter of " +
				"their own."
		case overSh > 0 && overSt > 0 && overSh-overSt >= 0.5:
			s += overheadGrowth(r, shF, stF)
		case waitSh-waitSt >= 0.5:
			s += fmt.Sprintf(" Tasks held %s of the shared pool's CPU on average, and Agora does not preempt them, "+
				"so a job arriving there waits for running tasks of other frameworks to end; alone in its "+
				"quarter it rarely had to.", fmtPct(meanUtilization(runByMode(r, "shared")).cpu))
		case name == "hadoop-mix":
			s += " Its first launches were not later, so the time went to its later tasks: under delay " +
				"scheduling they wait for nodes holding their data, which the other frameworks' tasks keep busy " +
				"in the shared pool, where alone in its quarter a task took any free node after the delay."
		}
	}
	switch name {
	case "torque":
		if st.speedup > 0.97 {
			s += fmt.Sprintf(" Gangs gathered from offers about as fast as in a quarter of their own; tasks "+
				"held on average %s of the shared pool's CPU, which left room for whole gangs.",
				fmtPct(meanUtilization(runByMode(r, "shared")).cpu))
		}
	case "hadoop-large":
		if st.speedup > 1 && st.speedup >= maxSpeedup(r) {
			s += " Its gain is the largest of the four, as in the paper: a few large jobs confined to a " +
				"quarter queue behind each other, while in the shared pool they spread over what the others leave idle."
		} else if st.speedup > 1 {
			s += " The paper's largest gain came from large jobs spreading over what the others left idle; " +
				"here another framework gained more."
		}
	case "spark":
		if st.speedup >= 1.03 {
			s += " Each of its waves could spread over whatever the pool had idle instead of queueing in one quarter."
		}
	}
	return head + s
}

// overheadGrowth explains a framework's loss by its per-task overhead, which grew from the
// static run (stF) to the shared one (shF): the split as measured, the phase that grew most, and
// the likely cause as a hypothesis. Without the split (older results.json) only the hypothesis.
func overheadGrowth(r *Results, shF, stF *FrameworkResult) string {
	cause := "the shared run keeps more tasks in flight at once, on " + oneMachine(r.Machine) + " that runs the " +
		"API server, etcd, kwok and Agora, so each step of a task's life waits longer there"
	if !hasSplit(shF) || !hasSplit(stF) {
		return " The loss is likely mostly that per-task overhead: " + cause + " (the split of the overhead is " +
			"not in these results) — a cost the paper's real cluster did not pay per task."
	}
	var parts []string
	most, grew := "", math.Inf(-1)
	for _, ph := range overheadPhases {
		a, b := ph.get(shF), ph.get(stF)
		parts = append(parts, fmt.Sprintf("%s %s s vs %s s", ph.name, fmtNum(a, 1), fmtNum(b, 1)))
		if a-b > grew {
			most, grew = ph.name, a-b
		}
	}
	s := " Split by the Task's status times, shared vs static: " + strings.Join(parts, ", ") + "; "
	if grew >= 0.5 {
		s += fmt.Sprintf("%s grew most (%s s more).", most, fmtNum(grew, 1))
	} else {
		s += "no part grew by more than the ½ s the timestamps resolve, so the growth is spread over them."
	}
	return s + " A likely cause, not measured here: " + cause + "; the paper's real cluster paid no such cost per task."
}

// meanWait is the mean seconds from a job's arrival to its first task's launch; NaN without jobs.
func meanWait(f *FrameworkResult) float64 {
	if f == nil || len(f.Jobs) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, j := range f.Jobs {
		sum += j.Start - j.Arrival
	}
	return sum / float64(len(f.Jobs))
}

// speedupVerdict says whether sharing helped (speedup at least 3% above 1), cost time (3%
// below) or made no real difference, and whether the paper saw the same.
func speedupVerdict(speedup, paper float64) string {
	const tol = 0.03
	sign := func(v float64) int {
		switch {
		case math.IsNaN(v):
			return 2
		case v >= 1+tol:
			return 1
		case v <= 1-tol:
			return -1
		}
		return 0
	}
	here := map[int]string{1: "Sharing helped", -1: "Sharing cost it time", 0: "Sharing made little difference"}[sign(speedup)]
	switch p := sign(paper); {
	case p == 2:
		return here + "."
	case p == sign(speedup):
		return here + ", as in the paper."
	case p == 1:
		return here + ", where the paper saw a gain."
	case p == -1:
		return here + ", where the paper saw a small loss."
	default:
		return here + ", where the paper saw little difference."
	}
}

// maxSpeedup is the largest per-framework speedup (NaN-free), or 0.
func maxSpeedup(r *Results) float64 {
	best := 0.0
	for _, name := range frameworkNames(r) {
		if s := frameworkStats(r, name).speedup; !math.IsNaN(s) && !math.IsInf(s, 0) {
			best = math.Max(best, s)
		}
	}
	return best
}

// localityFinding describes the Hadoop mix's locality against the paper and the static bound.
func localityFinding(r *Results) string {
	st := frameworkStats(r, "hadoop-mix")
	bound := traceLocalityBound(r)
	s := fmt.Sprintf("**Locality**: static %s → shared %s (paper 18%% → 95%%). ", fmtPct(st.static.locality), fmtPct(st.shared.locality))
	if math.IsNaN(st.static.locality) || math.IsNaN(st.shared.locality) {
		return s + "Not measured in both runs."
	}
	if !math.IsNaN(bound) {
		switch d := st.static.locality - bound; {
		case d > 1e-9:
			s += fmt.Sprintf("The static figure is above the %s of tasks whose block has a replica in the Hadoop "+
				"mix's quarter, which cannot be: the nodeSelector did not confine it. ", fmtPct(bound))
		case d >= -0.05:
			s += fmt.Sprintf("The static figure is at its bound: %s of the tasks read a block with a replica in "+
				"the Hadoop mix's quarter (about 1−(3/4)^%d for random placement), and delay scheduling found "+
				"nearly all of those, as the paper's 18%% was at its bound for a sixteenth. ", fmtPct(bound), r.Config.Replicas)
		default:
			s += fmt.Sprintf("The static figure is below its bound of %s (the tasks whose block has a replica in "+
				"the Hadoop mix's quarter): within its quarter the mix often stopped waiting before a node "+
				"holding the block came free. ", fmtPct(bound))
		}
	}
	switch {
	case st.shared.locality >= 0.9:
		s += fmt.Sprintf("Shared, with a %s s delay, nearly every data task ran local, as in the paper.", fmtNum(r.Config.Delay, 1))
	case st.shared.locality > st.static.locality:
		s += fmt.Sprintf("Shared, delay scheduling (%s s) raised locality, though short of the paper's 95%%: "+
			"a task waits only as long as the delay for a node with its block to free up, and here slots "+
			"turn over on a compressed clock.", fmtNum(r.Config.Delay, 1))
	default:
		s += "Shared locality did not exceed static here; the delay was too short for nodes holding the " +
			"blocks to free up while other frameworks held them."
	}
	return s
}

// poolFinding compares utilization, held and doing the trace's work, and makespan across the runs.
func poolFinding(r *Results) string {
	sr, hr := runByMode(r, "static"), runByMode(r, "shared")
	su, hu := meanUtilization(sr), meanUtilization(hr)
	sw, hw := workUtilization(r, sr), workUtilization(r, hr)
	s := fmt.Sprintf("**The pool**: tasks held (admitted to terminal) %s of the CPU static vs %s shared and %s vs %s "+
		"of the memory; ", fmtPct(su.cpu), fmtPct(hu.cpu), fmtPct(su.memory), fmtPct(hu.memory))
	if hasWork(r) {
		s += fmt.Sprintf("doing the trace's work, %s vs %s of the CPU and %s vs %s of the memory; ",
			fmtPct(sw.cpu), fmtPct(hw.cpu), fmtPct(sw.memory), fmtPct(hw.memory))
	}
	s += fmt.Sprintf("makespan %s s vs %s s. ", makespan(sr), makespan(hr))
	if sr == nil || hr == nil {
		return s + "Not measured in both runs."
	}
	switch d := hu.cpu - su.cpu; {
	case d >= 0.01:
		s += "Sharing kept more of the pool's CPU held"
	case d <= -0.01:
		s += "Sharing kept less of the pool's CPU held"
	default:
		s += "Both runs kept about as much of the pool's CPU held"
	}
	switch ratio := hr.Makespan / sr.Makespan; {
	case ratio <= 0.99:
		s += ", and the shared run finished the whole trace sooner, so, the work being the same, more of the pool was doing it."
	case ratio >= 1.01:
		s += ", and the shared run took longer to finish the whole trace, so, the work being the same, less of the pool was doing it."
	default:
		s += ", and both runs finished the trace at about the same time."
	}
	if ds, dh := su.cpu-sw.cpu, hu.cpu-hw.cpu; ds >= 0 && dh >= 0 { // false for NaN, without the work
		s += fmt.Sprintf(" What tasks held exceeds what the work needed by %s points of CPU static and %s shared: "+
			"each task's launch and end, and any retried attempt, count as held.",
			fmtNum(100*ds, 1), fmtNum(100*dh, 1))
	}
	return s
}
