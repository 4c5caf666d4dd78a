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

package invariants

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// A task admitted against an Offer the checker never saw is a breach of invariant 3, unless it
// was created while the Offer watch was blind (kube-apiserver restarted and the watch could only
// start afresh): then the Offer may have come and gone unseen, and the task is not verifiable.
func TestNeverSeenOfferInABlindWindow(t *testing.T) {
	c := New(nil, nil, t.Logf)
	gapStart := time.Date(2026, 12, 1, 14, 30, 57, 0, time.UTC)
	c.offerGaps = [][2]time.Time{{gapStart, gapStart.Add(3 * time.Second)}}
	admitted := func(name string, created time.Time) *agorav1alpha1.Task {
		return &agorav1alpha1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(created)},
			Spec:       agorav1alpha1.TaskSpec{OfferName: "gone", NodeName: "n"},
			Status:     agorav1alpha1.TaskStatus{Phase: agorav1alpha1.TaskStaging},
		}
	}
	c.onTask(watch.Added, admitted("in-gap", gapStart.Add(3*time.Second)))
	if v := c.Violations(); len(v) != 0 {
		t.Errorf("a task created in the blind window: %v", v)
	}
	if got := c.Stats().Tolerated["3"]; got != 1 {
		t.Errorf("tolerated %d, want 1", got)
	}
	c.onTask(watch.Added, admitted("after-gap", gapStart.Add(10*time.Second)))
	if v := c.Violations(); len(v) != 1 || v[0].Invariant != "3" {
		t.Errorf("a task created after the blind window: %v", v)
	}
}

// A watch that a restarted kube-apiserver accepts at the old resourceVersion and then ends with
// 410 Gone delivered nothing: the blind window runs from the end of the watch before it, which
// did, to the opening of the fresh one.
func TestBlindWindowStartsAtTheLastWatchThatDelivered(t *testing.T) {
	c := New(nil, nil, t.Logf)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var opens []string
	var blinds [][2]time.Time
	var firstEnded time.Time
	open := func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
		opens = append(opens, o.ResourceVersion)
		w := watch.NewFakeWithChanSize(2, false)
		switch len(opens) {
		case 1: // delivers an Offer, then kube-apiserver goes
			w.Add(&agorav1alpha1.Offer{ObjectMeta: metav1.ObjectMeta{Name: "o", Namespace: "ns", UID: "u", ResourceVersion: "7"}})
			w.Stop()
			firstEnded = time.Now()
		case 2: // accepted at resourceVersion 7, then 410 Gone
			time.Sleep(20 * time.Millisecond)
			w.Error(&metav1.Status{Code: http.StatusGone, Reason: metav1.StatusReasonExpired})
			w.Stop()
		default: // fresh; the test ends here
			cancel()
			w.Stop()
		}
		return w, nil
	}
	c.watchLoop(ctx, watchSpec{open: open, on: c.onOffer, opened: func() {},
		blind: func(from, to time.Time) { blinds = append(blinds, [2]time.Time{from, to}) }})
	if diff := cmp.Diff([]string{"", "7", ""}, opens); diff != "" {
		t.Fatalf("watches opened at (-want +got):\n%s", diff)
	}
	if len(blinds) != 1 || blinds[0][0].After(firstEnded.Add(10*time.Millisecond)) {
		t.Errorf("blind windows %v; want one from the end of the first watch (%s)", blinds, firstEnded.Format("15:04:05.000"))
	}
}
