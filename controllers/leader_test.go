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
	"net/http"
	"net/url"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"
)

// scriptedLock is a resourcelock.Interface whose writes return what the test says.
type scriptedLock struct {
	resourcelock.Interface
	err error
}

func (l *scriptedLock) Create(context.Context, resourcelock.LeaderElectionRecord) error { return l.err }
func (l *scriptedLock) Update(context.Context, resourcelock.LeaderElectionRecord) error { return l.err }

// countingTransport counts the requests that reach the wire.
type countingTransport struct{ sent []string }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.sent = append(c.sent, req.Method)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// TestLeaderFence walks one leader through acquiring, renewing, pausing past its renew deadline
// (the SIGSTOP of the chaos suite), failing to renew, renewing again and releasing, and checks
// which writes reach the API server at each step.
func TestLeaderFence(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	fence := NewLeaderFence("me", 10*time.Second, clk)
	inner := &scriptedLock{}
	lock := &fencedLock{Interface: inner, fence: fence}
	wire := &countingTransport{}
	rt := fence.WrapTransport(wire)
	ctx := context.Background()

	write := func(method string) error {
		req := &http.Request{Method: method, URL: &url.URL{Path: "/apis/scheduling.agora.dev/v1alpha1/namespaces/ns/offers"}}
		_, err := rt.RoundTrip(req)
		return err
	}
	mustPass := func(step, method string) {
		t.Helper()
		before := len(wire.sent)
		if err := write(method); err != nil || len(wire.sent) != before+1 {
			t.Fatalf("%s: %s was not sent: %v", step, method, err)
		}
	}
	mustFence := func(step, method string) {
		t.Helper()
		before := len(wire.sent)
		err := write(method)
		var notLeader *ErrNotLeader
		if !errors.As(err, &notLeader) || len(wire.sent) != before {
			t.Fatalf("%s: %s reached the API server (err %v)", step, method, err)
		}
	}

	mustFence("never led", http.MethodPost)
	mustPass("reads are never fenced", http.MethodGet)

	if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	mustPass("just acquired", http.MethodPost)
	mustPass("just acquired", http.MethodPatch)
	mustPass("just acquired", http.MethodDelete)
	mustPass("just acquired", http.MethodPut)

	clk.Step(9 * time.Second)
	mustPass("inside the renew deadline", http.MethodPost)
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}

	// Paused for 30 s: a standby took the Lease 15 s after the last renewal. On resuming, the
	// workers run before the elector notices; the fence stops them.
	clk.Step(30 * time.Second)
	mustFence("resumed after a pause past the lease", http.MethodPost)
	mustFence("resumed after a pause past the lease", http.MethodPatch)
	mustPass("resumed after a pause past the lease", http.MethodGet)

	// Its renewal, late, lapses it for good, whether or not the Lease still names it: someone
	// may have led in between, and its model would miss what they admitted.
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); !errors.Is(err, ErrLeadershipLapsed) {
		t.Fatalf("a renewal after the fence window: %v, want ErrLeadershipLapsed", err)
	}
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); !errors.Is(err, ErrLeadershipLapsed) {
		t.Fatalf("a second try: %v, want ErrLeadershipLapsed", err)
	}
	mustFence("lapsed", http.MethodPost)

	// A failed renewal inside the window does not end the window early, nor extend it.
	fence2 := NewLeaderFence("me", 10*time.Second, clk)
	inner2 := &scriptedLock{}
	lock2 := &fencedLock{Interface: inner2, fence: fence2}
	rt = fence2.WrapTransport(wire)
	if err := lock2.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Second)
	inner2.err = errors.New("timeout")
	_ = lock2.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
	mustPass("a failed renewal 5 s after a good one", http.MethodPost)
	clk.Step(5 * time.Second)
	mustFence("10 s after the last good renewal", http.MethodPost)

	// Releasing the Lease (shutdown) ends leadership at once.
	fence3 := NewLeaderFence("me", 10*time.Second, clk)
	lock3 := &fencedLock{Interface: &scriptedLock{}, fence: fence3}
	rt = fence3.WrapTransport(wire)
	if err := lock3.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	mustPass("acquired", http.MethodPost)
	if err := lock3.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: ""}); err != nil {
		t.Fatal(err)
	}
	mustFence("released", http.MethodPost)
}

// scriptedRecordLock is a scriptedLock whose Get returns a record with the given holder.
type scriptedRecordLock struct {
	scriptedLock
	holder string
}

func (l *scriptedRecordLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	return &resourcelock.LeaderElectionRecord{HolderIdentity: l.holder}, []byte(l.holder), nil
}

// TestLeaderNeverLeadsTwice: a leader paused past its Lease resumes inside client-go's renew
// loop; the successor meanwhile released the Lease (it shut down), so the renewal's Get sees no
// holder and client-go would take the Lease again, keeping the model from before the pause
// (chaos, the long run: an Offer for a whole node on which the successor had admitted four
// tasks). Once another holder, or none, was seen, this process never writes the Lease as its
// holder again.
func TestLeaderNeverLeadsTwice(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for name, holder := range map[string]string{"released by the successor": "", "held by the successor": "successor"} {
		t.Run(name, func(t *testing.T) {
			fence := NewLeaderFence("me", 10*time.Second, clk)
			inner := &scriptedRecordLock{holder: "me"}
			lock := &fencedLock{Interface: inner, fence: fence}
			ctx := context.Background()
			if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := lock.Get(ctx); err != nil { // its own record: nothing lapses
				t.Fatal(err)
			}
			if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
				t.Fatalf("renewing its own Lease: %v", err)
			}
			inner.holder = holder
			if _, _, err := lock.Get(ctx); err != nil {
				t.Fatal(err)
			}
			if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); !errors.Is(err, ErrLeadershipLapsed) {
				t.Fatalf("taking the Lease again: %v, want ErrLeadershipLapsed", err)
			}
			if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); !errors.Is(err, ErrLeadershipLapsed) {
				t.Fatalf("creating the Lease again: %v, want ErrLeadershipLapsed", err)
			}
			if err := fence.Check(http.MethodPost, "/"); err == nil {
				t.Fatal("still writing after seeing the Lease held by another (or by none)")
			}
		})
	}
}

// TestLeaderLockDoesNotReleaseAnothersLease: client-go releases the Lease on shutdown even after
// it lost it (chaos seed 2: a controller back from SIGSTOP failed to renew, then its release
// read the new leader's Lease and wrote an empty holder over it; a third process took it at
// once while the real leader still wrote). The lock refuses that release, against a real API
// server.
func TestLeaderLockDoesNotReleaseAnothersLease(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx := context.Background()
	name := "leader-release-test"
	lock, fence, err := NewLeaderLock(testCfg, LeaderElection{Namespace: SystemNamespace, Name: name, LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NewTime(time.Now())
	mine := resourcelock.LeaderElectionRecord{HolderIdentity: fence.Identity(), LeaseDurationSeconds: 4, AcquireTime: now, RenewTime: now}
	if err := lock.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := fence.Check(http.MethodPost, "/"); err != nil {
		t.Fatalf("fenced right after acquiring: %v", err)
	}

	// Another controller takes the Lease over (this one was paused past it).
	if err := writeLease(ctx, types.NamespacedName{Namespace: SystemNamespace, Name: name}, "successor", time.Now(), 4); err != nil {
		t.Fatal(err)
	}

	// client-go's release: read the Lease, then write an empty holder with duration 1 s.
	if _, _, err := lock.Get(ctx); err != nil {
		t.Fatal(err)
	}
	release := resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1, AcquireTime: now, RenewTime: now}
	if err := lock.Update(ctx, release); err == nil {
		t.Fatal("released a Lease another process holds")
	}
	if err := fence.Check(http.MethodPost, "/"); err == nil {
		t.Fatal("still writing after trying to release")
	}
	var l coordinationv1.Lease
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: SystemNamespace, Name: name}, &l); err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "successor" {
		t.Fatalf("Lease holder %v, want the successor's", l.Spec.HolderIdentity)
	}

	// Its own Lease it does release.
	if err := writeLease(ctx, types.NamespacedName{Namespace: SystemNamespace, Name: name}, fence.Identity(), time.Now(), 4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lock.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lock.Update(ctx, release); err != nil {
		t.Fatalf("releasing its own Lease: %v", err)
	}
}

func TestLeaderElectionValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		lease, renew, retry time.Duration
		ok                  bool
	}{
		"defaults":                         {4 * time.Second, 3 * time.Second, 500 * time.Millisecond, true},
		"kube-scheduler's":                 {15 * time.Second, 10 * time.Second, 2 * time.Second, true},
		"lease rounds down under renew":    {3500 * time.Millisecond, 3 * time.Second, 500 * time.Millisecond, false},
		"under a second of margin":         {1500 * time.Millisecond, 1200 * time.Millisecond, 500 * time.Millisecond, false},
		"renew too close to retry":         {4 * time.Second, 2 * time.Second, 1900 * time.Millisecond, false},
		"no retry":                         {4 * time.Second, 3 * time.Second, 0, false},
		"sub-second lease (standbys at 0)": {900 * time.Millisecond, 600 * time.Millisecond, 100 * time.Millisecond, false},
	} {
		t.Run(name, func(t *testing.T) {
			err := LeaderElection{LeaseDuration: tc.lease, RenewDeadline: tc.renew, RetryPeriod: tc.retry}.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
