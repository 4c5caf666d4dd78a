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

package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// make demo, as a newcomer runs it (but in its own state directory): it must reach its summary
// with every job done, then leave nothing running.
func TestMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: runs the demo on a local cluster")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "demo")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "AGORA_LOCAL_DIR="+dir, "KEEP=")
	cmd.WaitDelay = time.Minute
	start := time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("make demo took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	summary := out[strings.LastIndex(out, "==> summary"):]
	for _, want := range []string{
		"analytics  batch job, weight 1: 120/120 tasks finished",
		"etl        locality job, weight 2: 120/120 tasks finished",
		"web        long-running service, weight 1: 8 instances running at the end",
		"local cluster down",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary)
		}
	}
	if m := regexp.MustCompile(`(\d+)% ran on a node holding their data`).FindStringSubmatch(summary); m == nil {
		t.Errorf("no locality figure in the summary:\n%s", summary)
	} else if pct, _ := strconv.Atoi(m[1]); pct < 90 {
		t.Errorf("the locality job ran %d%% local, want ≥ 90%%", pct)
	}
	if !strings.Contains(out, "FRAMEWORK  KIND") {
		t.Errorf("no live view in the output:\n%s", out)
	}
	// The live dashboard's address, with its session token, at the start and in the live view.
	if n := len(regexp.MustCompile(`Agora dashboard: http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{48}`).FindAllString(out, -1)); n < 2 {
		t.Errorf("the dashboard's address is printed %d times, want at the start and in the live view:\n%s", n, out)
	}
	c := &cluster{t: t, dir: dir}
	if pids := c.pids(); len(pids) != 0 {
		t.Errorf("pid files left after the demo: %v", pids)
	}
}
