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

// Package dashboard is Agora's live web dashboard: `kubectl agora dashboard` serves it on
// 127.0.0.1 with the user's own kubeconfig, so their RBAC decides what it shows and nothing new
// listens inside the cluster. Shared informers watch Frameworks, Offers, Tasks, Nodes, Agora's
// Events, the executors' Leases and the RoleQuotas; a small model derives the pool, the
// frameworks' shares, each node's allocated / offered / free amounts and each role's quota,
// keeps a ring of samples for the over-time plots, and pushes a snapshot to the pages over Server-Sent Events at most once a second when
// something changed. Pages are html/template plus a little vanilla JS and uPlot, embedded with
// `embed`: no build step.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
)

//go:embed assets
var assets embed.FS

// Options configures a Server.
type Options struct {
	// Namespace scopes frameworks, offers, tasks and events; "" means all namespaces.
	Namespace string
	// SampleInterval is how often the over-time plots get a point (default 2s).
	SampleInterval time.Duration
	// History is how far back the plots reach (default 30m).
	History time.Duration
	// Coalesce is the least time between two pushes to the pages (default 1s).
	Coalesce time.Duration
	// Token, when set, is asked of every request: other users of this machine can reach
	// 127.0.0.1 too, and the dashboard shows what its user's credentials may read. The
	// address to open carries it once (URL); the browser keeps it in a cookie.
	Token string
}

// NewToken returns a random session token for Options.Token.
func NewToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// URL is the address to open for a server listening on addr: with the token, if any.
func (o Options) URL(addr net.Addr) string {
	u := "http://" + addr.String() + "/"
	if o.Token != "" {
		u += "?token=" + o.Token
	}
	return u
}

// tokenCookie, with the server's port after it, holds the session token in the browser.
const tokenCookie = "agora-dashboard-token"

// portOf is the port of a Host header, "80" when it names none.
func portOf(hostport string) string {
	if _, port, err := net.SplitHostPort(hostport); err == nil && port != "" {
		return port
	}
	return "80"
}

// Server serves the dashboard.
type Server struct {
	opts   Options
	src    *watchSource
	static *State
	hist   *ring
	pages  *template.Template

	dirty   atomic.Bool
	mu      sync.RWMutex
	state   *State
	snap    *Snapshot
	payload []byte        // the snapshot as pushed
	notify  chan struct{} // closed and replaced on each new snapshot
	version uint64
	ready   chan struct{}
}

func (o *Options) defaults() {
	if o.SampleInterval <= 0 {
		o.SampleInterval = 2 * time.Second
	}
	if o.History <= 0 {
		o.History = 30 * time.Minute
	}
	if o.Coalesce <= 0 {
		o.Coalesce = time.Second
	}
}

func newServer(opts Options) *Server {
	opts.defaults()
	s := &Server{opts: opts, hist: newRing(int(opts.History / opts.SampleInterval)), notify: make(chan struct{}), ready: make(chan struct{})}
	s.pages = template.Must(template.New("").Funcs(template.FuncMap{"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	}}).ParseFS(assets, "assets/*.html"))
	return s
}

// New returns a Server that watches the cluster of cfg with cfg's credentials.
func New(cfg *rest.Config, opts Options) (*Server, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS < 20 {
		cfg.QPS, cfg.Burst = 20, 40
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	agora, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewForClients(kube, agora, opts), nil
}

// NewForClients returns a Server that watches with the given clients.
func NewForClients(kube kubernetes.Interface, agora versioned.Interface, opts Options) *Server {
	s := newServer(opts)
	s.src = &watchSource{kube: kube, agora: agora, namespace: opts.Namespace, changed: func() { s.dirty.Store(true) }}
	return s
}

// NewStatic returns a Server that shows a fixed state and history, without a cluster: for
// benchmarks of the pages and for tests. Run it like any other Server.
func NewStatic(st *State, history []Sample, opts Options) *Server {
	s := newServer(opts)
	s.static = st
	if len(history) > len(s.hist.buf) {
		s.hist = newRing(len(history))
	}
	for _, h := range history {
		s.hist.add(h)
	}
	return s
}

// Run starts the watches and keeps the model current until ctx ends. The HTTP handler
// answers meanwhile (pages wait for the first snapshot).
func (s *Server) Run(ctx context.Context) error {
	if s.src != nil {
		s.src.start(ctx)
		s.src.waitSynced(ctx)
	}
	s.rebuild()
	close(s.ready)
	push := time.NewTicker(s.opts.Coalesce)
	defer push.Stop()
	sample := time.NewTicker(s.opts.SampleInterval)
	defer sample.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-push.C:
			// Executor Leases age without an event: rebuild now and then anyway.
			if s.dirty.Load() || time.Since(last) > 5*time.Second {
				s.rebuild()
				last = time.Now()
			}
		case <-sample.C:
			if s.static == nil {
				s.mu.RLock()
				snap := s.snap
				s.mu.RUnlock()
				smp := sampleOf(snap)
				smp.T = float64(time.Now().UnixMilli()) / 1000
				s.hist.add(smp)
			}
		}
	}
}

// rebuild derives a new snapshot from the watches and wakes the streams.
func (s *Server) rebuild() {
	s.dirty.Store(false)
	st := s.static
	if st == nil {
		st = s.src.state()
	}
	snap := build(st, time.Now())
	if s.static != nil {
		if h := s.hist.all(); len(h) > 0 {
			snap.Sample = &h[len(h)-1]
		}
	} else {
		smp := sampleOf(snap)
		snap.Sample = &smp
	}
	s.mu.Lock()
	s.version++
	snap.Version = s.version
	payload, _ := json.Marshal(snap)
	s.state, s.snap, s.payload = st, snap, payload
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) current(ctx context.Context) (*State, *Snapshot, []byte, error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, nil, nil, ctx.Err()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state, s.snap, s.payload, nil
}

// Listen opens a TCP listener on a loopback address only: the dashboard serves what the
// user's own credentials can read, so it must not be reachable from elsewhere.
func Listen(address string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("--address %q: %w", address, err)
	}
	if host == "" {
		return nil, fmt.Errorf("--address %q listens on every interface; the dashboard serves your credentials' view and listens on loopback only (e.g. 127.0.0.1:8080)", address)
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("--address %q is not a loopback address; the dashboard serves your credentials' view and listens on loopback only", address)
		}
	}
	return net.Listen("tcp", address)
}

// Serve serves the dashboard on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	srv.RegisterOnShutdown(func() {})
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopbackHost says whether a request's Host names this machine's loopback: anything else
// is a DNS-rebinding attempt (a page elsewhere resolving its own name to 127.0.0.1).
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the dashboard's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	page := func(name, title string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			data := map[string]any{"Page": name, "Title": title, "NS": r.PathValue("ns"), "Name": r.PathValue("name"), "Scope": s.opts.Namespace}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := s.pages.ExecuteTemplate(w, name+".html", data); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	}
	mux.HandleFunc("GET /{$}", page("pool", "Pool"))
	mux.HandleFunc("GET /frameworks", page("frameworks", "Frameworks"))
	mux.HandleFunc("GET /frameworks/{ns}/{name}", page("framework", "Framework"))
	mux.HandleFunc("GET /nodes", page("nodes", "Nodes"))
	mux.HandleFunc("GET /events", page("events", "Events"))
	mux.HandleFunc("GET /quotas", page("quotas", "Quotas"))
	mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, r *http.Request) {
		_, _, payload, err := s.current(r.Context())
		if err != nil {
			return
		}
		writeJSONBytes(w, payload)
	})
	mux.HandleFunc("GET /api/history", func(w http.ResponseWriter, r *http.Request) {
		top, _ := strconv.Atoi(r.URL.Query().Get("top"))
		writeJSON(w, columns(s.hist.all(), top))
	})
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		st, _, _, err := s.current(r.Context())
		if err != nil {
			return
		}
		writeJSON(w, map[string]any{"events": events(st, 1000), "forbidden": st.Forbidden})
	})
	mux.HandleFunc("GET /api/frameworks/{ns}/{name}", func(w http.ResponseWriter, r *http.Request) {
		st, _, _, err := s.current(r.Context())
		if err != nil {
			return
		}
		d, ok := detail(st, r.PathValue("ns"), r.PathValue("name"))
		if !ok {
			msg := "no framework " + r.PathValue("ns") + "/" + r.PathValue("name")
			if f, forbidden := st.Forbidden["frameworks"]; forbidden {
				msg = "frameworks: forbidden: " + f
			}
			http.Error(w, msg, http.StatusNotFound)
			return
		}
		writeJSON(w, d)
	})
	mux.HandleFunc("GET /api/stream", s.stream)
	return guard(s.opts.Token, mux)
}

// guard refuses requests not addressed to loopback and, with a token, requests that do not
// carry it (as ?token= once, then as a cookie), and sets headers that keep other sites'
// pages from framing or scripting the dashboard.
func guard(token string, next http.Handler) http.Handler {
	same := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the Agora dashboard answers only requests to 127.0.0.1, ::1 or localhost (Host "+strconv.Quote(r.Host)+")", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		if token != "" {
			// Browsers do not keep cookies apart by port: one name per port, so two
			// dashboards at once (make demo and kubectl agora dashboard) keep their own.
			name := tokenCookie + "-" + portOf(r.Host)
			if q := r.URL.Query(); q.Has("token") {
				if !same(q.Get("token")) {
					http.Error(w, "wrong token: open the address `kubectl agora dashboard` printed", http.StatusUnauthorized)
					return
				}
				// Keep it in a cookie and take it out of the address bar and history.
				http.SetCookie(w, &http.Cookie{Name: name, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
				q.Del("token")
				// Back to the same page on this server: one leading slash, so a path like
				// //evil.example/ cannot turn the Location into another host.
				u := url.URL{Path: "/" + strings.TrimLeft(r.URL.Path, "/"), RawQuery: q.Encode()}
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			if c, err := r.Cookie(name); err != nil || !same(c.Value) {
				http.Error(w, "this dashboard needs its session token: open the address `kubectl agora dashboard` printed (it ends in ?token=...)", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, b)
}

func writeJSONBytes(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// stream pushes each new snapshot as a Server-Sent Event named "snapshot"; a snapshot is
// made at most once per Options.Coalesce, and only when something changed.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	if _, _, _, err := s.current(ctx); err != nil {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	var sent uint64
	for {
		s.mu.RLock()
		version, payload, notify := s.version, s.payload, s.notify
		s.mu.RUnlock()
		if version != sent {
			if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", payload); err != nil {
				return
			}
			fl.Flush()
			sent = version
		}
		select {
		case <-ctx.Done():
			return
		case <-notify:
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
