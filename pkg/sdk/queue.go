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
