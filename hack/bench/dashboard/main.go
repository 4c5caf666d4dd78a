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

// Command dashboard measures how long the dashboard's pages take to draw in headless Chromium
// for a large synthetic cluster (no Kubernetes: the model is filled directly, so this is a
// benchmark of the pages, not of the API server). For each page it navigates --runs times and
// reads window.agoraRenderedAt, which each page's script sets (performance.now(), i.e. ms since
// the navigation started) once its data is fetched, its DOM built and its plots drawn.
//
//	go run ./hack/bench/dashboard [--nodes 1000] [--frameworks 100] [--tasks 100] [--runs 7]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agora-sched/agora/pkg/dashboard"
)

func main() {
	nodes := flag.Int("nodes", 1000, "synthetic nodes")
	frameworks := flag.Int("frameworks", 100, "synthetic frameworks")
	tasks := flag.Int("tasks", 100, "running tasks per framework")
	runs := flag.Int("runs", 7, "loads of each page")
	chrome := flag.String("chrome", os.Getenv("CHROME"), "Chromium binary (default: chromium, chromium-browser or google-chrome on the PATH)")
	flag.StringVar(&screenshots, "screenshots", "", "also write a PNG of each page into this directory")
	flag.Parse()
	if err := run(*nodes, *frameworks, *tasks, *runs, *chrome); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

var screenshots string

func run(nodes, frameworks, tasks, runs int, chrome string) error {
	if chrome == "" {
		for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(n); err == nil {
				chrome = p
				break
			}
		}
	}
	if chrome == "" {
		return fmt.Errorf("no Chromium found: install the Debian package chromium or pass --chrome")
	}
	st, hist := dashboard.Synthetic(nodes, frameworks, tasks, time.Now())
	srv := dashboard.NewStatic(st, hist, dashboard.Options{})
	ln, err := dashboard.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	go func() { _ = srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1440, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser and must run on bctx itself (the browser lives as
	// long as that action's context).
	timer := time.AfterFunc(time.Minute, cancelBrowser)
	err = chromedp.Do(bctx, chromedp.Navigate("about:blank"))
	timer.Stop()
	if err != nil {
		return fmt.Errorf("starting %s: %w", chrome, err)
	}

	fmt.Printf("%d nodes, %d frameworks, %d running tasks, %d history samples; %s; GOMAXPROCS %d\n",
		nodes, frameworks, frameworks*tasks, len(hist), chrome, runtime.GOMAXPROCS(0))
	fmt.Printf("%-24s %8s %8s %8s   (ms from navigation start to the page's rendered marker)\n", "page", "median", "min", "max")
	pages := []string{"/", "/frameworks", "/quotas", "/nodes", "/events", "/frameworks/team-0/fw-0"}
	for _, p := range pages {
		var ms []float64
		for i := 0; i < runs+1; i++ {
			c, cancel := context.WithTimeout(bctx, time.Minute)
			err := chromedp.Do(c, chromedp.Navigate(base+p), chromedp.WaitReady(`body[data-rendered="1"]`))
			var v float64
			if err == nil {
				v, err = chromedp.Run(c, chromedp.Evaluate[float64]("window.agoraRenderedAt"))
			}
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if i > 0 { // the first load warms Chromium's caches
				ms = append(ms, v)
			}
		}
		sort.Float64s(ms)
		if screenshots != "" {
			c, cancel := context.WithTimeout(bctx, time.Minute)
			png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				return err
			}
			name := strings.Trim(strings.ReplaceAll(p, "/", "-"), "-")
			if name == "" {
				name = "pool"
			}
			if err := os.WriteFile(filepath.Join(screenshots, name+".png"), png, 0o644); err != nil {
				return err
			}
		}
		fmt.Printf("%-24s %8.0f %8.0f %8.0f\n", p, ms[len(ms)/2], ms[0], ms[len(ms)-1])
	}
	return nil
}
