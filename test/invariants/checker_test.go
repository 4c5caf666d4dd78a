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
	"testing"
	"time"

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
