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
	// spec.expireTime and its resources go back to the pool.
	ResourceOffers(d *Driver, offers []*agorav1alpha1.Offer)

	// OfferRescinded says the controller took an offer back before the framework answered it
	// (reason: Expired, NodeLost, FrameworkInactive, Suppressed, or Unknown when the reason was
	// not observed). Tasks launched on it afterwards end in Error. When the controller takes
	// back only some nodes of an offer (NodeLost), the Offer stays with a smaller spec.nodes
	// and a Rescinded condition; Driver.Offers shows it as it is now, and tasks launched on a
	// removed node end in Error with reason OfferRescinded.
	OfferRescinded(d *Driver, offer *agorav1alpha1.Offer, reason string)

	// StatusUpdate is called when a task's phase changes: Staging once admitted, then
	// Starting, Running and a terminal phase (Finished, Failed, Killed, Lost) or Error when the
	// controller rejected it. After a restart every existing task is delivered once, terminal
	// ones included.
	StatusUpdate(d *Driver, task *agorav1alpha1.Task)

	// Error reports a problem the Driver met in the background (a Lease renewal or a watch
	// failing, the Framework deleted by someone else). The Driver keeps going unless Run
	// returns.
	Error(d *Driver, err error)
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
