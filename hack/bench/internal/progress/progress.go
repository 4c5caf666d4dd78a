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

// Package progress holds what the whole-system benchmarks under hack/bench share while they
// wait for the system under test.
package progress

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"
)

// WaitCount waits until n reaches want (tasks that reached the state what), logging progress
// every 10 s — with note(), when given, appended — and fails when ctx ends first.
func WaitCount(ctx context.Context, what string, n *atomic.Int64, want int64, note func() string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for n.Load() < want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d tasks %s when the time ran out", n.Load(), want, what)
		case <-tick.C:
		}
		if time.Since(last) > 10*time.Second {
			if note != nil {
				log.Printf("%d/%d tasks %s; %s", n.Load(), want, what, note())
			} else {
				log.Printf("%d/%d tasks %s", n.Load(), want, what)
			}
			last = time.Now()
		}
	}
	log.Printf("all %d tasks %s", want, what)
	return nil
}
