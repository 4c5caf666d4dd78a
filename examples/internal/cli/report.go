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

package cli

import (
	"context"
	"flag"
	"strconv"
	"time"

	"github.com/agora-sched/agora/examples/report"
	"github.com/agora-sched/agora/pkg/sdk"
)

// Since returns the seconds since t, rounded to a tenth.
func Since(t time.Time) float64 {
	return float64(time.Since(t).Round(100*time.Millisecond)) / float64(time.Second)
}

// N says "1 task" or "3 tasks".
func N(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// JobFlags are the flags of an example that runs its work to completion.
type JobFlags struct {
	Keep   bool
	Report string
}

// Register adds --keep and --report to fs.
func (j *JobFlags) Register(fs *flag.FlagSet) {
	fs.BoolVar(&j.Keep, "keep", false, "keep the Framework and its Tasks when the work is done (default: tear down)")
	fs.StringVar(&j.Report, "report", "", "write the final report here as JSON")
}

// Finish ends a framework whose work is done: it prints the report (and writes it to --report),
// then either keeps the Framework, suppressed, and ends the process through stop (--keep), or
// tears the Framework down (TEARDOWN; Run then returns).
func (j *JobFlags) Finish(d *sdk.Driver, r report.Report, stop context.CancelFunc) {
	Say(r.Framework, "%s", r.Line())
	if j.Report != "" {
		if err := r.Save(j.Report); err != nil {
			Say(r.Framework, "writing report: %v", err)
		}
	}
	if j.Keep {
		_ = d.Suppress(context.TODO())
		stop()
		return
	}
	if err := d.Teardown(context.TODO()); err != nil {
		Say(r.Framework, "teardown: %v", err)
	}
}
