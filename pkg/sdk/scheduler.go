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
	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
)

// Scheduler is what a framework implements: the callbacks of the Mesos scheduler API, on Agora's
// objects. The Driver calls them one at a time from one goroutine, in the order the events
// happened. The objects passed in are copies the scheduler may keep and modify.
type Scheduler interface {
	// Registered is called once, after the Framework exists with the spec given to the Driver
	// and the Driver's view of the framework's Offers and Tasks is in sync with the API server.
	// After a restart, d.Tasks() already lists every task the framework launched before.
	Registered(d *Driver, fw *agorav1alpha1.Framework)

	// ResourceOffers delivers offers made to the framework. Answer each one: Launch tasks on
	// it (which releases the rest) or Decline it. An offer left alone expires at
	// spec.expireTime and its resources go back to the pool. A framework with the
	// RevocableResources capability may get revocable slices (spec.nodes[].revocable,
	// [Revocable]): tasks launched on them may be preempted.
	ResourceOffers(d *Driver, offers []*agorav1alpha1.Offer)

	// OfferRescinded says the controller took an offer back before the framework answered it
	// (reason: one of the rescind reasons in api/v1alpha1 — Expired, NodeLost,
	// CapacityChanged, NodeChanged, FrameworkInactive, FrameworkChanged, FrameworkFailedOver —
	// or Unknown when the reason was not observed). Tasks launched on it afterwards end in
	// Error. When the controller takes back only some nodes of an offer, the Offer stays with a
	// smaller spec.nodes and a Rescinded condition: that is no OfferRescinded but an
	// OfferNodesRescinded, for a scheduler that implements OfferNodesRescinder.
	OfferRescinded(d *Driver, offer *agorav1alpha1.Offer, reason string)

	// StatusUpdate is called when a task's phase changes: Staging once admitted, then
	// Starting, Running and a terminal phase (Finished, Failed, Killed, Lost) or Error when the
	// controller rejected it. After a restart every existing task is delivered once, terminal
	// ones included.
	//
	// Killed with reason Preempted ([Preempted]) is a revocable task the controller took back
	// for another role's guarantee: the task did nothing wrong, launch it again if it must run.
	//
	// Unreachable is not terminal: the node's executor went silent, but the task's pod may
	// well still run and its resources stay charged. Do not launch a replacement for it (the
	// work would run twice); it returns to its real phase when the executor is back, or becomes
	// Lost when the node is. Treat any phase that Terminal does not call terminal the same way.
	StatusUpdate(d *Driver, task *agorav1alpha1.Task)

	// Error reports a problem the Driver met in the background (a Lease renewal or a watch
	// failing, the Framework deleted by someone else). The Driver keeps going unless Run
	// returns. An error for which errors.Is(err, ErrSuperseded) holds is the last callback:
	// another instance of the framework took it over, and Run returns that error next.
	Error(d *Driver, err error)
}

// OfferNodesRescinder is an optional callback a Scheduler may implement (the Driver finds it by
// type assertion, so a Scheduler without it still compiles and works).
type OfferNodesRescinder interface {
	// OfferNodesRescinded says the controller took some nodes out of an offer the scheduler
	// holds (a partial rescind: spec.nodes shrank; the reason, once the controller wrote it,
	// is in the offer's Rescinded condition). offer is the offer as it is now, without nodes.
	// Called on the callback goroutine, after ResourceOffers delivered the offer and before
	// any OfferRescinded for it. Whether or not a scheduler implements it, Driver.Launch refuses
	// a task on a node taken out of its offer (ErrNodeRescinded) and Driver.Offers shows the
	// offer as it is now.
	OfferNodesRescinded(d *Driver, offer *agorav1alpha1.Offer, nodes []string)
}

// NoopScheduler implements every Scheduler callback by doing nothing. Embed it to implement only
// the callbacks a framework needs.
type NoopScheduler struct{}

var _ Scheduler = NoopScheduler{}

// Registered does nothing.
func (NoopScheduler) Registered(*Driver, *agorav1alpha1.Framework) {}

// ResourceOffers does nothing: the offers expire unless the framework answers them elsewhere.
func (NoopScheduler) ResourceOffers(*Driver, []*agorav1alpha1.Offer) {}

// OfferRescinded does nothing.
func (NoopScheduler) OfferRescinded(*Driver, *agorav1alpha1.Offer, string) {}

// StatusUpdate does nothing.
func (NoopScheduler) StatusUpdate(*Driver, *agorav1alpha1.Task) {}

// Error does nothing.
func (NoopScheduler) Error(*Driver, error) {}
