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
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/locality/blocks"
	"github.com/agora-sched/agora/pkg/dashboard"
)

// findChromium returns a Chromium or Chrome binary: $CHROME, else chromium, chromium-browser
// or google-chrome on the PATH.
func findChromium() string {
	if c := os.Getenv("CHROME"); c != "" {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts a headless Chromium for the test and stops it (the process chromedp
// started, by its own handle) when the test ends.
func browser(t *testing.T, chrome string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // the CI machines run tests as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, and must run on bctx itself: the browser lives as
	// long as the context of that first action. Bound it by a timer instead.
	timer := time.AfterFunc(time.Minute, cancel)
	err := chromedp.Do(bctx, chromedp.Navigate("about:blank"))
	timer.Stop()
	if err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	return bctx
}

// artifactDir is where the browser tests write their screenshots (gitignored).
func artifactDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(root, "_output", "test-artifacts", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The dashboard in a real browser, against the local cluster running the demo's three
// frameworks: every page loads and shows them, it updates without a reload when a task
// starts, a framework whose selector matches no node says why it gets no offers, and the
// quotas page shows RoleQuotas with what their roles hold.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs the local cluster and Chromium")
	}
	chrome := findChromium()
	if chrome == "" {
		const msg = "no Chromium found (set CHROME, or install the Debian package `chromium`, as .ci/run does): the dashboard's browser test cannot run"
		if os.Getenv("AGORA_REQUIRE_BROWSER") != "" {
			t.Fatal(msg + "; AGORA_REQUIRE_BROWSER is set (CI installs Chromium), so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	e := sharedCluster(t)
	// Four demo-sized nodes (8 CPU, 32Gi) holding the locality job's data blocks.
	var names []string
	for i := 0; i < 4; i++ {
		names = append(names, fmt.Sprintf("%s-%d", e.pool, i))
	}
	blockLabels := blocks.Labels(names, 24, 2, blocks.DefaultPrefix)
	e.addNodes(4, "8", "32Gi", func(_ int, name string) map[string]string { return blockLabels[name] })

	// The demo's frameworks (hack/demo), with fewer and longer tasks: the jobs outlast the test
	// and leave room (6 of the 32 CPU) for the task the live-update check starts.
	e.start("service", "web", "--weight", "1", "--instances", "4", "--max-per-node", "2", "--cpu", "1", "--memory", "1Gi")
	e.start("batch", "analytics", "--weight", "1", "--tasks", "6", "--cpu", "2", "--memory", "4Gi", "--duration", "10m", "--keep=true")
	e.start("locality", "etl", "--weight", "2", "--tasks", "10", "--blocks", "24", "--cpu", "1", "--memory", "2Gi", "--duration", "10m", "--delay", "6s", "--keep=true")

	// The dashboard, in-process, on a free loopback port, scoped to the test's namespace.
	token, err := dashboard.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	opts := dashboard.Options{Namespace: e.ns, SampleInterval: time.Second, Token: token}
	srv := dashboard.NewForClients(e.kube, e.agora, opts)
	ln, err := dashboard.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone, serveDone := make(chan error, 1), make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	go func() { serveDone <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{runDone, serveDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("dashboard: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("the dashboard did not stop within 30s")
			}
		}
	})
	base := "http://" + ln.Addr().String()
	t.Logf("dashboard at %s", base)
	// Without the session token nothing is served.
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + "/api/snapshot"); err != nil {
		t.Fatal(err)
	} else if _ = resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/snapshot without the token: %d, want 401", resp.StatusCode)
	}

	bctx := browser(t, chrome)
	shots := artifactDir(t, "dashboard")
	t.Logf("screenshots in %s", shots)
	// The address the command prints: the token becomes the browser's cookie.
	{
		c, cancel := context.WithTimeout(bctx, time.Minute)
		if err := chromedp.Do(c, chromedp.Navigate(opts.URL(ln.Addr())), chromedp.WaitReady(`body[data-rendered="1"]`)); err != nil {
			cancel()
			t.Fatalf("open the printed address: %v", err)
		}
		cancel()
	}

	// do runs browser actions, bounded.
	do := func(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// eval evaluates a JS expression in the page into v.
	eval := func(js string, v any) error {
		c, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		raw, err := chromedp.Run(c, chromedp.Evaluate[json.RawMessage]("JSON.stringify("+js+")"))
		if err != nil {
			return err
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		return json.Unmarshal([]byte(s), v)
	}
	// open loads a page and waits until its script says it has drawn it.
	open := func(t *testing.T, path string) {
		t.Helper()
		do(t, "open "+path, chromedp.Navigate(base+path), chromedp.WaitReady(`body[data-rendered="1"]`))
		var ms float64
		if err := eval("window.agoraRenderedAt", &ms); err == nil {
			t.Logf("%s drawn %.0f ms after navigation started", path, ms)
		}
	}
	shot := func(t *testing.T, name string) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, time.Minute)
		defer cancel()
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type fwRow struct {
		Key, Share, Running, State, Why string
	}
	rows := func() (map[string]fwRow, error) {
		var list []fwRow
		err := eval(`[...document.querySelectorAll('#fw-table tr.fw')].map(r => {
			const w = document.querySelector('#fw-table tr.why-row[data-key="' + r.dataset.key + '"]');
			return {Key: r.dataset.key, Share: r.querySelector('.sv').textContent, Running: r.querySelector('td.running').textContent,
				State: r.querySelector('.state').textContent, Why: w ? w.textContent : ''};
		})`, &list)
		out := map[string]fwRow{}
		for _, r := range list {
			out[r.Key] = r
		}
		return out, err
	}
	key := func(name string) string { return e.ns + "/" + name }

	t.Run("pool", func(t *testing.T) {
		open(t, "/")
		eventually(t, 2*time.Minute, "the pool page to count the 4 nodes and some active tasks", func() (bool, string) {
			var got struct {
				Nodes, Tasks string
				Canvas       int
			}
			err := eval(`({Nodes: document.getElementById('pool-nodes').textContent, Tasks: document.getElementById('pool-tasks').textContent,
				Canvas: document.querySelectorAll('#chart-cpu canvas, #chart-memory canvas').length})`, &got)
			n, _ := strconv.Atoi(got.Tasks)
			return err == nil && strings.HasPrefix(got.Nodes, "4 ") && n > 0 && got.Canvas == 2, fmt.Sprintf("%+v %v", got, err)
		})
		time.Sleep(3 * time.Second) // a few more samples on the plots
		shot(t, "pool")
	})

	t.Run("frameworks", func(t *testing.T) {
		open(t, "/frameworks")
		eventually(t, 2*time.Minute, "analytics, etl and web listed with non-zero shares", func() (bool, string) {
			r, err := rows()
			if err != nil {
				return false, err.Error()
			}
			for _, n := range []string{"analytics", "etl", "web"} {
				if s, _ := strconv.ParseFloat(r[key(n)].Share, 64); s <= 0 {
					return false, fmt.Sprintf("%+v", r)
				}
			}
			return true, ""
		})
		var canvases int
		if err := eval(`document.querySelectorAll('#chart-shares canvas').length`, &canvases); err != nil || canvases == 0 {
			t.Errorf("no share plot drawn (%d canvases, %v)", canvases, err)
		}
		shot(t, "frameworks")
	})

	t.Run("live update when a task starts", func(t *testing.T) {
		// The page stays loaded: a marker on window survives only if nothing reloads it.
		var ok bool
		if err := eval(`(window.__noReload = true)`, &ok); err != nil {
			t.Fatal(err)
		}
		e.start("service", "late", "--instances", "1", "--cpu", "500m", "--memory", "256Mi")
		eventually(t, 2*time.Minute, "framework late to show a Running task without a reload", func() (bool, string) {
			r, err := rows()
			if err != nil {
				return false, err.Error()
			}
			var still bool
			_ = eval(`window.__noReload === true`, &still)
			if !still {
				t.Fatal("the frameworks page reloaded")
			}
			n, _ := strconv.Atoi(r[key("late")].Running)
			return n >= 1, fmt.Sprintf("%+v", r[key("late")])
		})
		shot(t, "frameworks-live")
	})

	t.Run("framework detail", func(t *testing.T) {
		open(t, "/frameworks/"+e.ns+"/web")
		eventually(t, time.Minute, "web's detail page to list its Running tasks and its conditions", func() (bool, string) {
			var got struct {
				Running, Conditions, OffersTable int
				State                            string
			}
			err := eval(`({Running: [...document.querySelectorAll('#tasks tr.task')].filter(r => r.cells[1].textContent === 'Running').length,
				Conditions: [...document.querySelectorAll('#conditions tbody tr')].filter(r => ['Active', 'Ready'].includes(r.cells[0].textContent)).length,
				OffersTable: document.querySelectorAll('#offers tbody tr').length, State: document.getElementById('fw-state').textContent})`, &got)
			return err == nil && got.Running >= 1 && got.Conditions == 2 && got.OffersTable > 0 && got.State != "", fmt.Sprintf("%+v %v", got, err)
		})
		shot(t, "framework-web")
	})

	t.Run("nodes", func(t *testing.T) {
		open(t, "/nodes")
		eventually(t, time.Minute, "one heat-map cell per node", func() (bool, string) {
			nodes, err := e.kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var cells int
			if err := eval(`document.querySelectorAll('#heatmap .cell').length`, &cells); err != nil {
				return false, err.Error()
			}
			return cells == len(nodes.Items) && cells >= 4, fmt.Sprintf("%d cells, %d nodes", cells, len(nodes.Items))
		})
		shot(t, "nodes")
	})

	t.Run("events", func(t *testing.T) {
		open(t, "/events")
		eventually(t, time.Minute, "the events page to list an Agora event", func() (bool, string) {
			var n int
			err := eval(`document.querySelectorAll('#events tr.ev').length`, &n)
			return err == nil && n > 0, fmt.Sprintf("%d rows %v", n, err)
		})
		shot(t, "events")
	})

	// Last: it depends on the controller explaining Ready=False (reason NoMatchingNodes).
	t.Run("why for a selector that matches nothing", func(t *testing.T) {
		fw := &agorav1alpha1.Framework{
			ObjectMeta: metav1.ObjectMeta{Name: "nowhere", Namespace: e.ns},
			Spec:       agorav1alpha1.FrameworkSpec{NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "nowhere"}}},
		}
		if _, err := e.agora.SchedulingV1alpha1().Frameworks(e.ns).Create(context.Background(), fw, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		open(t, "/frameworks")
		eventually(t, 30*time.Second, "the frameworks page to say why nowhere gets no offers (NoMatchingNodes)", func() (bool, string) {
			r, err := rows()
			if err != nil {
				return false, err.Error()
			}
			got := r[key("nowhere")]
			return strings.Contains(got.Why, agorav1alpha1.ReasonNoMatchingNodes), fmt.Sprintf("%+v", got)
		})
		shot(t, "frameworks-why")
		open(t, "/frameworks/"+e.ns+"/nowhere")
		var why string
		if err := eval(`document.getElementById('why').textContent`, &why); err != nil || !strings.Contains(why, agorav1alpha1.ReasonNoMatchingNodes) {
			t.Errorf("the detail page's why box reads %q (%v)", why, err)
		}
		shot(t, "framework-why")
	})

	// After the others: a guarantee for role default (the role of every framework here) puts it
	// first in the allocator's order. RoleQuotas are cluster-scoped: the test deletes its own.
	t.Run("quotas", func(t *testing.T) {
		// The frameworks hold about 25 CPU and 45Gi: more than the guarantee.
		for _, q := range []*agorav1alpha1.RoleQuota{
			{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "default",
				Guarantee: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("8Gi")},
				Limit:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "default.e2e"}, Spec: agorav1alpha1.RoleQuotaSpec{Role: "default/e2e",
				Limit: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}},
		} {
			if _, err := e.agora.SchedulingV1alpha1().RoleQuotas().Create(context.Background(), q, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = e.agora.SchedulingV1alpha1().RoleQuotas().Delete(context.Background(), q.Name, metav1.DeleteOptions{})
			})
		}
		open(t, "/quotas")
		type quotaRow struct{ Role, Held, Satisfied, Fits string }
		eventually(t, time.Minute, "the quotas page to show role default holding its guarantee, and default/e2e below it", func() (bool, string) {
			var rows []quotaRow
			err := eval(`[...document.querySelectorAll('#quota-table tr.quota')].map(r => ({Role: r.dataset.role,
				Held: r.querySelector('td.held').textContent, Satisfied: r.querySelector('td.satisfied').textContent, Fits: r.querySelector('td.fits').textContent}))`, &rows)
			if err != nil || len(rows) != 2 {
				return false, fmt.Sprintf("%+v %v", rows, err)
			}
			d, c := rows[0], rows[1]
			ok := d.Role == "default" && d.Satisfied == agorav1alpha1.ReasonGuaranteeMet && d.Fits == agorav1alpha1.ReasonFits && strings.Contains(d.Held, " of 8 CPU") &&
				c.Role == "default/e2e" && c.Satisfied == agorav1alpha1.ReasonNoGuarantee
			return ok, fmt.Sprintf("%+v", rows)
		})
		shot(t, "quotas")
		var card string
		open(t, "/")
		if err := eval(`document.getElementById('quota-card').textContent`, &card); err != nil || !strings.Contains(card, "2 roles") {
			t.Errorf("the pool page's quota card reads %q (%v)", card, err)
		}
	})
}
