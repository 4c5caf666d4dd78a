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

package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:0", "10.1.2.3:0", "example.com:80"} {
		if ln, err := Listen(addr); err == nil {
			_ = ln.Close()
			t.Errorf("Listen(%q) succeeded; want a refusal", addr)
		}
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
}

func staticServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, hist := Synthetic(20, 5, 4, time.Now())
	s := NewStatic(st, hist, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	return ts
}

func TestHostGuard(t *testing.T) {
	ts := staticServer(t)
	req, _ := http.NewRequest("GET", ts.URL+"/api/snapshot", nil)
	req.Host = "evil.example:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host evil.example: status %d, want 403", resp.StatusCode)
	}
	for _, host := range []string{"localhost:1234", "[::1]:80", strings.TrimPrefix(ts.URL, "http://")} {
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: status %d, want 200", host, resp.StatusCode)
		}
	}
}

// With a token, nothing is served without it; the printed address sets it as a cookie and
// sends the browser on without it in the address bar.
func TestToken(t *testing.T) {
	st, hist := Synthetic(4, 2, 1, time.Now())
	token, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	s := NewStatic(st, hist, Options{Token: token})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookie *http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/", "/api/snapshot", "/api/stream", "/assets/common.js", "/?token=wrong"} {
		if resp := get(p, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", p, resp.StatusCode)
		}
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	name := tokenCookie + "-" + port
	if resp := get("/api/snapshot", &http.Cookie{Name: name, Value: "wrong"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong cookie: %d, want 401", resp.StatusCode)
	}
	resp := get("/frameworks?token="+token, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/frameworks" {
		t.Fatalf("the printed address: %d to %q, want 303 to /frameworks", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != token || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", cookie)
	}
	if resp := get("//evil.example/?token="+token, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/evil.example/" {
		t.Errorf("a path of two slashes: %d to %q, want 303 to a path on this server", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/frameworks", "/api/snapshot", "/assets/common.js"} {
		if resp := get(p, cookie); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the cookie: %d, want 200", p, resp.StatusCode)
		}
	}
	if u := (Options{Token: "abc"}).URL(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}); u != "http://127.0.0.1:8080/?token=abc" {
		t.Errorf("URL = %s", u)
	}
}

func TestPagesAndAPI(t *testing.T) {
	ts := staticServer(t)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	for _, p := range []string{"/", "/frameworks", "/nodes", "/events", "/quotas", "/assets/quotas.js", "/frameworks/team-0/fw-0", "/assets/vendor/uplot/uPlot.iife.min.js", "/assets/common.js"} {
		get(p)
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(get("/api/snapshot")), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 20 || len(snap.Frameworks) != 5 || snap.Pool.ActiveTasks != 20 {
		t.Errorf("snapshot: %d nodes, %d frameworks, %d active tasks; want 20, 5, 20", len(snap.Nodes), len(snap.Frameworks), snap.Pool.ActiveTasks)
	}
	var alloc int64
	for _, n := range snap.Nodes {
		alloc += n.Allocated.CPU
	}
	if alloc != 20000 {
		t.Errorf("allocated CPU over the nodes = %dm, want 20000m", alloc)
	}
	var roles []string
	for _, q := range snap.Quotas {
		roles = append(roles, q.Role)
	}
	if want := []string{"batch", "batch/nightly", "default", "ml"}; strings.Join(roles, " ") != strings.Join(want, " ") {
		t.Errorf("snapshot quotas %q, want %q", roles, want)
	}
	var hist Series
	if err := json.Unmarshal([]byte(get("/api/history?top=3")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist.T) != 900 || len(hist.Shares) != 3 || hist.Truncated != 2 {
		t.Errorf("history: %d points, %d lines, %d truncated; want 900, 3, 2", len(hist.T), len(hist.Shares), hist.Truncated)
	}
	if len(hist.Preemptions) != 4 || hist.Preemptions[1].Key != "batch/nightly" || *hist.Preemptions[1].Values[899] != 7 {
		t.Errorf("history of preemptions: %+v, want 4 roles and batch/nightly at 7 now", hist.Preemptions)
	}
	var d Detail
	if err := json.Unmarshal([]byte(get("/api/frameworks/team-0/fw-0")), &d); err != nil {
		t.Fatal(err)
	}
	if d.TasksTotal != 4 || len(d.Offers) != 3 {
		t.Errorf("detail: %d tasks, %d offered nodes; want 4, 3", d.TasksTotal, len(d.Offers))
	}
	if !strings.Contains(get("/api/events"), "Expired") {
		t.Error("no Expired event in /api/events")
	}

	// The stream sends the current snapshot at once.
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(ts.URL + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "event: snapshot\n" {
		t.Errorf("stream's first line %q, %v", line, err)
	}
}
