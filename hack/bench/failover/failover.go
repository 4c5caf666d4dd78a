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

package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"syscall"
	"time"
)

// failoverSample is one leader SIGKILL; the durations count from the kill.
type failoverSample struct {
	killed, survivor string
	acquired         time.Duration // the leader Lease seen with the survivor as holder
	workers          time.Duration // the survivor's reconcilers started (log)
	rebuilt          time.Duration // the survivor's model rebuilt (log)
	cycle            time.Duration // the survivor's first offering cycle began (log)
	offer            time.Duration // the first Offer ADDED seen after the takeover
}

// replica is one of the two controllers under leader election: its user and current process.
type replica struct {
	name, kubeconfig string
	starts           int
	p                *process
}

func (b *bench) leaderArgs() []string {
	return []string{"--leader-elect=true",
		"--leader-elect-lease-duration=" + leaseDuration.String(),
		"--leader-elect-renew-deadline=" + renewDeadline.String(),
		"--leader-elect-retry-period=" + retryPeriod.String()}
}

func (b *bench) startReplica(r *replica) error {
	r.starts++
	p, err := b.startController(fmt.Sprintf("%s-%d", r.name, r.starts), r.kubeconfig, b.leaderArgs()...)
	if err != nil {
		return err
	}
	r.p = p
	return nil
}

// failover times -kills leader SIGKILLs with two controllers on -failover-nodes nodes.
func (b *bench) failover(ctx context.Context) error {
	replicas := []*replica{{name: "a"}, {name: "b"}}
	for _, r := range replicas {
		var err error
		if _, r.kubeconfig, err = b.c.User("agora-controller-"+r.name, "system:masters"); err != nil {
			return err
		}
		if err := b.startReplica(r); err != nil {
			return err
		}
	}
	defer func() {
		for _, r := range replicas {
			r.p.Stop()
		}
	}()
	nodes := len(b.c.Nodes())
	log.Printf("two agora-controllers (%v) under leader election; waiting for a leader with a pool of %d nodes", b.leaderArgs()[1:], nodes)
	for k := 1; k <= *kills; k++ {
		leader, survivor, err := b.leader(ctx, replicas)
		if err != nil {
			return err
		}
		if err := leader.p.waitPool(ctx, nodes); err != nil {
			return err
		}
		old := b.seen.holder()
		// Offers flow: the frameworks release each one and the next cycle offers it again.
		flowing, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = b.seen.firstOffer(flowing, time.Now(), 0)
		cancel()
		if err != nil {
			return fmt.Errorf("before kill %d: %w", k, err)
		}

		kill := time.Now()
		leader.p.StopWith(syscall.SIGKILL)
		took, cancel := context.WithTimeout(ctx, 2*time.Minute)
		hc, err := b.seen.newHolder(took, kill, old)
		if err != nil {
			cancel()
			return fmt.Errorf("kill %d: %w", k, err)
		}
		// Not told by its ID (the survivor's IDs count from its own start), but nothing the
		// killed leader wrote is still on its way seconds after it died.
		offerAt, err := b.seen.firstOffer(took, hc.at, 0)
		cancel()
		if err != nil {
			return fmt.Errorf("kill %d: %w", k, err)
		}
		m, err := survivor.p.milestones(kill)
		if err != nil {
			return err
		}
		s := failoverSample{
			killed: leader.p.name, survivor: survivor.p.name,
			acquired: hc.at.Sub(kill), workers: since(kill, m.workers), rebuilt: since(kill, m.rebuilt), cycle: since(kill, m.cycle),
			offer: offerAt.Sub(kill),
		}
		if survivor.p.gauge("leader_election_master_status") != 1 {
			return fmt.Errorf("kill %d: an Offer came, but %s does not say it leads", k, survivor.p.name)
		}
		b.failovers = append(b.failovers, s)
		log.Printf("kill %d of %s: Lease taken over by %s after %s, first Offer after %s; %s", k, s.killed, s.survivor,
			s.acquired.Round(time.Millisecond), s.offer.Round(time.Millisecond), loadavg())

		// Two replicas again before the next kill, the new standby's caches synced.
		if err := b.startReplica(leader); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*standbyWarmup):
		}
	}
	b.load = append(b.load, loadavg())
	return nil
}

// leader waits until one replica reports leader_election_master_status 1, and returns it and
// the other.
func (b *bench) leader(ctx context.Context, rs []*replica) (leader, other *replica, err error) {
	for {
		for i, r := range rs {
			if r.p.gauge("leader_election_master_status") == 1 {
				return r, rs[1-i], nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, errors.New("no controller leads")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// since is t - from, or 0 when t is unknown.
func since(from, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(from)
}
