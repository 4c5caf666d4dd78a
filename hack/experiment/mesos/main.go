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

// Command mesos is `make experiment`: the Mesos paper's evaluation (NSDI 2011, §6) on Agora.
// Four frameworks shaped like the paper's — a Facebook-like mix of short Hadoop jobs reading
// data blocks (delay scheduling), a few large Hadoop jobs, iterative Spark jobs whose tasks come
// in waves, and gang-scheduled MPI jobs under Torque — run one job trace twice on a local
// cluster of kwok nodes: shared (all four on the whole pool by weighted DRF) and static (each
// confined to a quarter of the nodes by nodeSelector, nothing else changed). It writes a
// Markdown report, plots (PNG and SVG) and the raw results (results.json) to --out.
//
//	go run ./hack/experiment/mesos [--preset full|small] [--seed 1] [--out _output/experiment/mesos]
//
// The full preset is the paper's 96 nodes (of 8 CPU / 32 GiB) with jobs arriving over 4 minutes
// (~15 minutes in all); small is 16 nodes over 1 minute (~5 minutes), what make test runs.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	preset     string
	seed       int64
	out        string
	nodes      int
	window     time.Duration
	clusterDir string
	timeout    time.Duration
	replot     string
	order      string
	logf       func(string, ...any)
}

func main() {
	o := options{logf: func(format string, args ...any) {
		fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}}
	flag.StringVar(&o.preset, "preset", "full", "full (96 nodes, jobs arriving over 4 min) or small (16 nodes, over 1 min)")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the job trace (arrivals, sizes, durations, block placement)")
	flag.StringVar(&o.out, "out", "_output/experiment/mesos", "directory for report.md, the plots and results.json")
	flag.IntVar(&o.nodes, "nodes", 0, "override the preset's node count (a multiple of 4)")
	flag.DurationVar(&o.window, "window", 0, "override the preset's arrival window (job sizes scale with the nodes, counts with the window)")
	flag.StringVar(&o.clusterDir, "cluster-dir", "", "where the local cluster lives while it runs (default: a temporary directory)")
	flag.DurationVar(&o.timeout, "run-timeout", 0, "give up on a run after this long (default: 4 x the window + 5 min)")
	flag.StringVar(&o.order, "order", "shared,static", "the order of the two runs (static,shared to check that the order does not decide the result)")
	flag.StringVar(&o.replot, "replot", "", "run nothing: write the report and plots of an earlier run's results.json into --out")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var r *Results
	var err error
	if o.replot != "" {
		r, err = replot(o.replot, o.out)
	} else {
		r, err = experiment(ctx, o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "experiment: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(summary(r))
	fmt.Printf("report: %s\n", filepath.Join(o.out, "report.md"))
}

// experiment brings up the cluster, runs the trace shared then static, and writes the outputs.
func experiment(ctx context.Context, o options) (*Results, error) {
	p, ok := presets[o.preset]
	if !ok {
		return nil, fmt.Errorf("--preset %q: must be full or small", o.preset)
	}
	if o.nodes > 0 {
		p.nodes = o.nodes
	}
	if o.window > 0 {
		p.window = o.window
	}
	if o.timeout == 0 {
		o.timeout = 4*p.window + 5*time.Minute
	}
	if o.order == "" {
		o.order = "shared,static"
	}
	modes := strings.Split(o.order, ",")
	if o.order != "shared,static" && o.order != "static,shared" {
		return nil, fmt.Errorf("--order %q: must be shared,static or static,shared", o.order)
	}
	tr, err := draw(p, o.seed)
	if err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	dir := o.clusterDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "agora-experiment-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	o.logf("Mesos paper experiment, preset %s, seed %d: %d nodes, jobs arriving over %s", o.preset, o.seed, p.nodes, p.window)
	for _, name := range FrameworkOrder {
		o.logf("  %s: %s", name, tr.describe[name])
	}

	r := &Results{Started: time.Now(), Machine: machine(), Config: Config{
		Preset: o.preset, Seed: o.seed, Nodes: p.nodes, NodeCPU: nodeCPU, NodeMemoryGi: nodeMemGi,
		Window: p.window.Seconds(), Delay: p.delay.Seconds(), Replicas: p.replicas, Blocks: len(tr.replicas),
		StaticLocalityBound: tr.staticLocalityBound(),
		Workloads:           tr.describe,
	}}
	r.Config.WorkCPU, r.Config.WorkMemory = tr.work()
	c, err := upCluster(ctx, root, dir, p.nodes, o.logf)
	if err != nil {
		return nil, err
	}
	defer c.down()
	if err := c.label(ctx, tr); err != nil {
		return nil, err
	}
	o.logf("warming the cluster up: the pool filled twice with 10 s tasks")
	if err := c.warmUp(ctx, p); err != nil {
		return nil, err
	}
	for i, mode := range modes {
		o.logf("%s run: starting the four frameworks", mode)
		run, err := c.runMode(ctx, tr, p, mode, o.timeout, i == len(modes)-1)
		if err != nil {
			if len(r.Runs) > 0 {
				// Keep what the finished run measured.
				if werr := WriteJSON(r, o.out); werr == nil {
					o.logf("the %s run's results are in %s", r.Runs[0].Mode, filepath.Join(o.out, "results.json"))
				}
			}
			return nil, err
		}
		o.logf("%s run: done, makespan %.0f s", mode, run.Makespan)
		r.Runs = append(r.Runs, run)
	}
	if err := WriteJSON(r, o.out); err != nil {
		return nil, err
	}
	if _, err := WritePlots(r, o.out); err != nil {
		return nil, err
	}
	if err := WriteReport(r, o.out); err != nil {
		return nil, err
	}
	return r, nil
}

// replot reads results.json from an earlier run and writes its report and plots into out.
func replot(file, out string) (*Results, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r := &Results{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	if _, err := WritePlots(r, out); err != nil {
		return nil, err
	}
	return r, WriteReport(r, out)
}

// summary is the few lines printed at the end.
func summary(r *Results) string {
	var b strings.Builder
	if sh, st := runByMode(r, "shared"), runByMode(r, "static"); sh != nil && st != nil {
		fmt.Fprintf(&b, "makespan: shared %.0f s, static %.0f s\n", sh.Makespan, st.Makespan)
	}
	for _, name := range FrameworkOrder {
		st := frameworkStats(r, name)
		fmt.Fprintf(&b, "%-13s mean job completion: shared %6.1f s, static %6.1f s, speedup %.2fx (paper %.2fx)\n",
			name, st.shared.meanJCT, st.static.meanJCT, st.speedup, Paper.Speedup[name])
	}
	mix := frameworkStats(r, "hadoop-mix")
	fmt.Fprintf(&b, "locality of hadoop-mix: shared %.0f%%, static %.0f%%", 100*mix.shared.locality, 100*mix.static.locality)
	return b.String()
}

// machine says what the experiment ran on.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	return fmt.Sprintf("%s, %d cores, %s %s/%s", model, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// repoRoot is the nearest directory above the working directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "local-cluster.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the Agora repository (hack/local-cluster.sh not found above the working directory)")
		}
		dir = parent
	}
}
