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
	lock := fencedLock{Interface: inner, fence: fence}
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

	// The renewal fails (the successor holds the Lease): still fenced.
	inner.err = errors.New("the object has been modified")
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err == nil {
		t.Fatal("scripted lock did not fail")
	}
	mustFence("after a failed renewal", http.MethodPost)

	// A failed renewal inside the window does not end the window early, nor extend it.
	inner.err = nil
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Second)
	inner.err = errors.New("timeout")
	_ = lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
	mustPass("a failed renewal 5 s after a good one", http.MethodPost)
	clk.Step(5 * time.Second)
	mustFence("10 s after the last good renewal", http.MethodPost)

	// Releasing the Lease (shutdown) ends leadership at once.
	inner.err = nil
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	mustPass("renewed", http.MethodPost)
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: ""}); err != nil {
		t.Fatal(err)
	}
	mustFence("released", http.MethodPost)
}
