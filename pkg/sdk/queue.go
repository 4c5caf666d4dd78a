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

package sdk

import (
	"context"
	"sync"
)

type eventKind int

const (
	evOffer eventKind = iota
	evOfferGone
	evTask
	evTaskGone
	evReconcile
	evFramework
	evFrameworkGone
	evError
	evFunc
	evSuperseded
)

type event struct {
	kind eventKind
	obj  any
	err  error
	fn   func(*Driver)
}

// queue is an unbounded FIFO: informer handlers must never block on a slow scheduler callback.
type queue struct {
	mu     sync.Mutex
	items  []event
	notify chan struct{}
}

func newQueue() queue { return queue{notify: make(chan struct{}, 1)} }

func (q *queue) push(ev event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// popAll waits for events and returns all queued ones, or false once ctx is done.
func (q *queue) popAll(ctx context.Context) ([]event, bool) {
	for {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		if len(items) > 0 {
			return items, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-q.notify:
		}
	}
}
