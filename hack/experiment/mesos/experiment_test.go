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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSmallExperiment runs the small preset end to end on a local cluster (real kube-apiserver,
// etcd, kwok, agora-controller and agora-executor) and checks the direction of the paper's
// results: sharing finishes the trace sooner than static partitioning, and delay scheduling on
// the shared pool keeps the Hadoop mix's tasks local. EXPERIMENT_SEED picks another trace.
func TestSmallExperiment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster and runs two 2-minute traces")
	}
	seed := int64(1)
	if s := os.Getenv("EXPERIMENT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("EXPERIMENT_SEED=%q: %v", s, err)
		}
	}
	out := t.TempDir()
	// A run takes about 2 minutes on an idle machine; make test runs other clusters beside it.
	ctx, cancel := context.WithTimeout(context.Background(), 18*time.Minute)
	defer cancel()
	r, err := experiment(ctx, options{preset: "small", seed: seed, out: out, timeout: 7 * time.Minute, logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d\n%s", seed, summary(r))

	if len(r.Runs) != 2 || r.Runs[0].Mode != "shared" || r.Runs[1].Mode != "static" {
		t.Fatalf("runs: want shared then static, got %d", len(r.Runs))
	}
	shared, static := r.Runs[0], r.Runs[1]
	for _, run := range r.Runs {
		if len(run.Frameworks) != len(FrameworkOrder) {
			t.Fatalf("%s run: %d frameworks, want %d", run.Mode, len(run.Frameworks), len(FrameworkOrder))
		}
		for _, f := range run.Frameworks {
			if len(f.Jobs) == 0 {
				t.Errorf("%s run: %s ran no jobs", run.Mode, f.Name)
			}
			for _, j := range f.Jobs {
				if !(j.Arrival <= j.Start && j.Start < j.End && j.End <= run.Makespan) {
					t.Errorf("%s run: %s job %d: arrival %.1f, start %.1f, end %.1f, makespan %.1f out of order",
						run.Mode, f.Name, j.ID, j.Arrival, j.Start, j.End, run.Makespan)
				}
			}
		}
		if len(run.Samples) < int(run.Makespan)/2 {
			t.Errorf("%s run: %d samples over %.0f s", run.Mode, len(run.Samples), run.Makespan)
		}
	}
	if shared.Makespan >= static.Makespan {
		t.Errorf("shared makespan %.1f s, static %.1f s: sharing should finish the trace sooner", shared.Makespan, static.Makespan)
	}
	mix := frameworkStats(r, "hadoop-mix")
	if l := mix.shared.locality; !(l >= 0.9) { // NaN (no data tasks) fails too
		t.Errorf("locality of the Hadoop mix on the shared pool with delay scheduling: %.0f%%, want >= 90%%", 100*l)
	} else {
		t.Logf("locality: shared %.0f%% (>= 90%%), static %.0f%% (bound %.0f%%)", 100*l, 100*mix.static.locality, 100*r.Config.StaticLocalityBound)
	}
	// Static partitioning cannot place a task local when no replica of its block is in the
	// partition: more than that bound means the nodeSelector did not confine the framework.
	if l, bound := mix.static.locality, r.Config.StaticLocalityBound; !(l <= bound+1e-9) {
		t.Errorf("static locality %.1f%% exceeds what the partition holds (%.1f%%)", 100*l, 100*bound)
	}
	// In the static run no framework holds more than its quarter of either resource.
	for _, s := range static.Samples {
		for name, cpu := range s.FrameworkCPU {
			if cpu > 0.25+1e-9 || s.FrameworkMemory[name] > 0.25+1e-9 {
				t.Fatalf("static run t=%.0fs: %s holds cpu %.2f memory %.2f of the pool, more than its quarter", s.T, name, cpu, s.FrameworkMemory[name])
			}
		}
	}

	for _, f := range []string{"report.md", "results.json"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	for _, base := range []string{"utilization", "shares", "jct", "jct-cdf", "locality", "rampup"} {
		for _, ext := range []string{".png", ".svg"} {
			if fi, err := os.Stat(filepath.Join(out, base+ext)); err != nil || fi.Size() == 0 {
				t.Errorf("plot %s%s: missing or empty (%v)", base, ext, err)
			}
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range FrameworkOrder {
		if !strings.Contains(string(report), Paper.Title[name]) {
			t.Errorf("report.md does not name %s (%s)", name, Paper.Title[name])
		}
	}
}
