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

package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// LeaderElection is the timing of the controller's leader election (client-go's terms).
type LeaderElection struct {
	// Namespace and Name of the Lease.
	Namespace, Name string
	// LeaseDuration is how long a candidate waits, after it last saw the Lease change, before it
	// takes the Lease over.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it gives up leading.
	RenewDeadline time.Duration
	// RetryPeriod is the time between renewals (and between a candidate's attempts).
	RetryPeriod time.Duration
}

// Validate checks the timing against what the fence needs. The Lease records its duration in
// whole seconds (client-go truncates it), and standbys wait exactly that long; the leader stops
// writing RenewDeadline after its last renewal began, so that must come at least a second
// before a standby can take over. client-go itself needs RenewDeadline > 1.2 × RetryPeriod.
func (le LeaderElection) Validate() error {
	lease := le.LeaseDuration.Truncate(time.Second)
	switch {
	case le.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period (%s) must be positive", le.RetryPeriod)
	case float64(le.RenewDeadline) <= 1.2*float64(le.RetryPeriod):
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must be more than 1.2 × --leader-elect-retry-period (%s)", le.RenewDeadline, le.RetryPeriod)
	case lease < 2*time.Second || le.RenewDeadline > lease-time.Second:
		return fmt.Errorf("--leader-elect-lease-duration (%s, counted in whole seconds: %s) must be at least 2s and at least 1s more than --leader-elect-renew-deadline (%s), so that a leader stops writing before a standby may take over",
			le.LeaseDuration, lease, le.RenewDeadline)
	}
	return nil
}

// LeaderFence keeps a deposed leader from writing. client-go's leader election does not fence:
// a leader that was paused (SIGSTOP, a long GC or VM pause, a network partition) past its
// LeaseDuration resumes believing it leads, and its workers write next to the new leader until
// its own renewal fails — up to RenewDeadline later. Agora's controller decides offers and
// admissions from memory, so two leaders double-book.
//
// The fence is the leader's own record of its Lease: the start of the last lock write (create,
// takeover or renewal) that succeeded with this process as holder. Another candidate can take
// the Lease only after seeing it unchanged for LeaseDuration, measured from when it saw that
// write, which is after the write started; so while less than RenewDeadline (< LeaseDuration)
// has passed since that start on this process's monotonic clock, no one else holds the Lease.
// Every write to the API server (any request but GET) passes through Check just before it is
// sent; a write outside the window fails with ErrNotLeader and is never sent. Reads are not
// fenced. What remains is a request that passed the check and is then held up (in the HTTP/2
// connection, the network or kube-apiserver) for longer than the margin LeaseDuration -
// RenewDeadline, and pauses the monotonic clock does not count (a suspended VM); only a check
// by the API server itself could close those.
type LeaderFence struct {
	identity string
	window   time.Duration
	clock    clock.PassiveClock

	mu      sync.Mutex
	renewed time.Time // start of the last successful lock write as holder; zero if not leading
}

// ErrNotLeader is the error of a write the fence stopped.
type ErrNotLeader struct {
	Identity string
	Since    time.Duration // since the last successful renewal; 0 if this process never led
	Window   time.Duration
	Method   string
	Path     string
}

func (e *ErrNotLeader) Error() string {
	if e.Since == 0 {
		return fmt.Sprintf("%s %s refused: %s does not hold the leader Lease", e.Method, e.Path, e.Identity)
	}
	return fmt.Sprintf("%s %s refused: %s last renewed the leader Lease %s ago (fence %s); another controller may lead",
		e.Method, e.Path, e.Identity, e.Since.Round(time.Millisecond), e.Window)
}

// NewLeaderFence returns a fence for the holder identity; window is the leader's RenewDeadline.
func NewLeaderFence(identity string, window time.Duration, clk clock.PassiveClock) *LeaderFence {
	return &LeaderFence{identity: identity, window: window, clock: clk}
}

// Identity is the holder identity this process writes into the Lease.
func (f *LeaderFence) Identity() string { return f.identity }

// Check returns nil if this process holds the leader Lease by its own record.
func (f *LeaderFence) Check(method, path string) error {
	f.mu.Lock()
	renewed := f.renewed
	f.mu.Unlock()
	if renewed.IsZero() {
		return &ErrNotLeader{Identity: f.identity, Window: f.window, Method: method, Path: path}
	}
	if since := f.clock.Since(renewed); since >= f.window {
		return &ErrNotLeader{Identity: f.identity, Since: since, Window: f.window, Method: method, Path: path}
	}
	return nil
}

// observeWrite records a lock write that started at start and ended with err.
func (f *LeaderFence) observeWrite(start time.Time, holder string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil:
		// A failed renewal proves nothing either way: the previous record stands and ages out.
	case holder == f.identity:
		f.renewed = start
	default:
		f.renewed = time.Time{} // released
	}
}

// close stops every write from now on.
func (f *LeaderFence) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = time.Time{}
}

// WrapTransport fences every request but reads; for rest.Config.Wrap.
func (f *LeaderFence) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return fencedTransport{fence: f, next: rt}
}

type fencedTransport struct {
	fence *LeaderFence
	next  http.RoundTripper
}

func (t fencedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != http.MethodOptions {
		if err := t.fence.Check(req.Method, req.URL.Path); err != nil {
			metricFencedWrites.Inc()
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
	}
	return t.next.RoundTrip(req)
}

// fencedLock is the leader-election lock that tells the fence about its writes, never releases
// a Lease another process holds, and never lets a process lead twice.
//
// Leading twice is what client-go allows and Agora must not: a leader paused past its Lease
// resumes inside its renew loop; if the Lease was released meanwhile (its successor shut down),
// or expired unclaimed, the renewal simply takes it again, and the process goes on with the
// model it had before the pause, missing whatever its successor admitted. So once this process
// has led, a Get that shows another holder (or none), or a renewal attempted after the fence
// window, lapses it for good: its writes of the Lease fail, client-go reports leadership lost,
// the process exits, and a new process rebuilds its model from the API before it leads.
type fencedLock struct {
	resourcelock.Interface
	fence *LeaderFence

	mu         sync.Mutex
	lastHolder string // holder in the last record read with Get
	read       bool
	led        bool // a write of the Lease with this process as holder succeeded
	lapsed     bool // it led, and then lost the Lease: it never leads again
}

func (l *fencedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if err == nil {
		l.mu.Lock()
		l.lastHolder, l.read = rec.HolderIdentity, true
		if l.led && rec.HolderIdentity != l.fence.identity {
			l.lapsed = true
			l.fence.close()
		}
		l.mu.Unlock()
	}
	return rec, raw, err
}

// ErrLeadershipLapsed is returned for a Lease write by a process whose leadership lapsed.
var ErrLeadershipLapsed = errors.New("this process's leadership lapsed (another process held the leader Lease, or it went unrenewed past the renew deadline); only a new process, which rebuilds its model from the API, may lead")

// claim checks a write of the Lease with this process as holder.
func (l *fencedLock) claim() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.led && !l.lapsed && l.fence.Check("PUT", "lease") != nil {
		l.lapsed = true // the renewal comes too late: someone may have led in between
		l.fence.close()
	}
	if l.lapsed {
		return ErrLeadershipLapsed
	}
	return nil
}

func (l *fencedLock) wrote(start time.Time, holder string, err error) {
	l.fence.observeWrite(start, holder, err)
	if err == nil && holder == l.fence.identity {
		l.mu.Lock()
		l.led = true
		l.mu.Unlock()
	}
}

func (l *fencedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if ler.HolderIdentity == l.fence.identity {
		if err := l.claim(); err != nil {
			return err
		}
	}
	start := l.fence.clock.Now()
	err := l.Interface.Create(ctx, ler)
	l.wrote(start, ler.HolderIdentity, err)
	return err
}

func (l *fencedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if ler.HolderIdentity == l.fence.identity {
		if err := l.claim(); err != nil {
			return err
		}
	} else {
		// A release (client-go's ReleaseOnCancel). This process stops writing first: a standby
		// may take the Lease one second after it sees the release.
		l.fence.observeWrite(l.fence.clock.Now(), ler.HolderIdentity, nil)
		l.mu.Lock()
		holder, read := l.lastHolder, l.read
		l.mu.Unlock()
		// client-go releases after it has lost the Lease too: it reads the Lease (another
		// holder's, with its resourceVersion) and then writes an empty holder over it, which
		// lets a third process in at once while the real leader believes it leads.
		if read && holder != l.fence.identity {
			return fmt.Errorf("not releasing the leader Lease: it is held by %q, not by %q", holder, l.fence.identity)
		}
	}
	start := l.fence.clock.Now()
	err := l.Interface.Update(ctx, ler)
	l.wrote(start, ler.HolderIdentity, err)
	return err
}

// NewLeaderLock builds the leader-election Lease lock (for ctrl.Options'
// LeaderElectionResourceLockInterface) and the fence that goes with it. cfg must be the
// unfenced config: the lock's own writes are what the fence is made of. The identity is the
// host name and a random suffix, as controller-runtime makes it.
func NewLeaderLock(cfg *rest.Config, le LeaderElection) (resourcelock.Interface, *LeaderFence, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, nil, err
	}
	identity := host + "_" + string(uuid.NewUUID())
	cfg = rest.AddUserAgent(cfg, "leader-election")
	// One hung request must not cost the leadership (controller-runtime's heuristic).
	cfg.Timeout = max(le.RenewDeadline/2, time.Second)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(clientgoscheme.Scheme, corev1.EventSource{Component: "agora-controller", Host: host})
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, le.Namespace, le.Name, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: identity, EventRecorder: recorder})
	if err != nil {
		return nil, nil, err
	}
	fence := NewLeaderFence(identity, le.RenewDeadline, clock.RealClock{})
	return &fencedLock{Interface: lock, fence: fence}, fence, nil
}
