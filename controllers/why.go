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
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// readyMessage is the Ready=True message: stable, so a framework that keeps receiving offers
// costs no status write.
const readyMessage = "the framework is eligible for offers"

// whyRefresh is how often a framework that is not Ready has its status.why counted again.
const whyRefresh = 30 * time.Second

// whyNodeCauses maps the allocator's node causes to the API's, in the allocator's order.
var whyNodeCauses = [allocator.NumNodeCauses]agorav1alpha1.WhyNodeCause{
	allocator.NodeSelectorMismatch:     agorav1alpha1.WhyNodeSelector,
	allocator.NodeUntolerated:          agorav1alpha1.WhyNodeTaints,
	allocator.NodeGPUWithoutCapability: agorav1alpha1.WhyNodeGPU,
	allocator.NodeDeclined:             agorav1alpha1.WhyNodeDeclined,
	allocator.NodePodsFull:             agorav1alpha1.WhyNodePodsFull,
	allocator.NodeOffered:              agorav1alpha1.WhyNodeOffered,
	allocator.NodeFull:                 agorav1alpha1.WhyNodeFull,
	allocator.NodeBelowMin:             agorav1alpha1.WhyNodeBelowMinAllocatable,
	allocator.NodeAvailable:            agorav1alpha1.WhyNodeAvailable,
}

// readyFromWhy turns what the allocator found in the last cycle into the Ready condition and
// status.why of an active, unsuppressed, valid framework. A framework holding offers is
// Ready whatever the last cycle gave it: it has something to launch on.
func readyFromWhy(fw *agorav1alpha1.Framework, e allocator.Explanation, outstanding int32) (metav1.Condition, *agorav1alpha1.FrameworkWhy) {
	ready := metav1.Condition{Type: agorav1alpha1.FrameworkConditionReady, Status: metav1.ConditionTrue,
		Reason: agorav1alpha1.ReasonReceivingOffers, Message: readyMessage, ObservedGeneration: fw.Generation}
	if outstanding > 0 {
		return ready, nil
	}
	reason, msg := "", ""
	switch e.Why {
	case allocator.WhyAtLimit:
		reason, msg = agorav1alpha1.ReasonAtLimit, atLimitMessage(e)
	case allocator.WhyAtRoleLimit:
		reason = agorav1alpha1.ReasonAtRoleLimit
		msg = fmt.Sprintf("the RoleQuota limit of role %s (or of a role above it) is reached: its frameworks hold all it allows; it gets offers again as their tasks end", fw.Spec.Role)
	case allocator.WhyHeldForGuarantees:
		reason = agorav1alpha1.ReasonHeldForGuarantees
		msg = fmt.Sprintf("%v of what is free is held back for roles below their RoleQuota guarantees (see kubectl get rolequotas); frameworks with the RevocableResources capability may borrow it, and their tasks there may be preempted", e.HeldBack)
	case allocator.WhyWaitingForShare:
		if e.Nodes[allocator.NodeAvailable] > 0 {
			break // room appeared since the cycle: the next one offers it
		}
		reason = agorav1alpha1.ReasonWaitingForShare
		msg = fmt.Sprintf("what is free on %d of the %d pool nodes it may use is in offers weighted DRF made first to %s (shares now, offers included); its share is %s. It gets what they decline or leave unused, and more as their shares pass its own",
			e.Nodes[allocator.NodeOffered], e.Matching(), namedShares(e.Ahead, 2), strconv.FormatFloat(e.Share, 'f', 2, 64))
	case allocator.WhyNoNodes:
		reason, msg = noNodes(fw, e)
	}
	if reason == "" {
		return ready, nil // offered, no cycle yet, or room appeared since the cycle
	}
	ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, reason, msg
	return ready, whyStatus(reason, e)
}

// noNodes names the cause when no pool node had room the framework could take, or "" when
// one has room now.
func noNodes(fw *agorav1alpha1.Framework, e allocator.Explanation) (string, string) {
	n := e.Nodes
	matching := e.Matching()
	if matching == 0 {
		var parts []string
		if c := n[allocator.NodeSelectorMismatch]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d fail nodeSelector %s", c, metav1.FormatLabelSelector(fw.Spec.NodeSelector)))
		}
		if c := n[allocator.NodeUntolerated]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d have NoSchedule/NoExecute taints it does not tolerate", c))
		}
		if c := n[allocator.NodeGPUWithoutCapability]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d have GPUs and it lacks the GPUResources capability", c))
		}
		msg := fmt.Sprintf("0 of %d pool nodes match", e.PoolNodes)
		if e.PoolNodes == 0 {
			msg = "the pool has no nodes (a node joins it when Ready, schedulable and running agora-executor)"
		} else {
			msg += ": " + strings.Join(parts, ", ")
		}
		if e.OutOfPool > 0 {
			msg += fmt.Sprintf("; %d node(s) outside the pool would match (cordoned, not Ready, without a live agora-executor, or outside the controller's --node-selector)", e.OutOfPool)
		}
		return agorav1alpha1.ReasonNoMatchingNodes, msg
	}
	declined, full, podsFull, below := n[allocator.NodeDeclined], n[allocator.NodeFull], n[allocator.NodePodsFull], n[allocator.NodeBelowMin]
	switch {
	case n[allocator.NodeAvailable] > 0:
		return "", ""
	case declined == matching:
		return agorav1alpha1.ReasonDeclined, fmt.Sprintf("all %d pool nodes it may use are under its decline filters (spec.refuseDuration) until %s; set spec.revivedAt (REVIVE) to clear them",
			matching, e.DeclinedUntil.UTC().Format(time.RFC3339))
	case below > 0 && full+podsFull == 0:
		return agorav1alpha1.ReasonBelowMinAllocatable, fmt.Sprintf("what is free on the %d pool nodes it may use is below the controller's --min-allocatable (%s); the largest is %s",
			below, quantities(e.Min), quantities(e.LargestFree))
	}
	var parts []string
	if full > 0 {
		parts = append(parts, fmt.Sprintf("%d with their CPU or their memory used up", full))
	}
	if podsFull > 0 {
		parts = append(parts, fmt.Sprintf("%d with no pod slot left", podsFull))
	}
	if below > 0 {
		parts = append(parts, fmt.Sprintf("%d with less than --min-allocatable free", below))
	}
	if declined > 0 {
		parts = append(parts, fmt.Sprintf("%d declined until %s", declined, e.DeclinedUntil.UTC().Format(time.RFC3339)))
	}
	msg := fmt.Sprintf("the %d pool nodes it may use are taken: %s", matching, strings.Join(parts, ", "))
	if len(e.Holders) > 0 {
		msg += fmt.Sprintf("; the tasks holding most there: %s (their shares)", namedShares(e.Holders, 2))
	}
	if e.Foreign[allocator.CPU] > 0 || e.Foreign[allocator.Memory] > 0 {
		msg += fmt.Sprintf("; other schedulers' pods hold %s there", quantities(e.Foreign))
	}
	return agorav1alpha1.ReasonPoolFull, msg + "; offers resume as tasks finish"
}

// atLimitMessage names the limits that leave less than the minimum.
func atLimitMessage(e allocator.Explanation) string {
	var parts []string
	for r := range allocator.NumResources {
		if e.Min[r] > 0 && e.Headroom[r] < e.Min[r] {
			name := r
			parts = append(parts, fmt.Sprintf("%s %s (limit %s)", name, allocator.FormatAmount(name, e.Held[r]), allocator.FormatAmount(name, e.Held[r]+e.Headroom[r])))
		}
	}
	return fmt.Sprintf("it holds %s under spec.limits, leaving less than --min-allocatable (%s); it is offered more as its tasks finish or if spec.limits is raised",
		strings.Join(parts, ", "), quantities(e.Min))
}

// whyStatus is status.why for a framework that is not Ready.
func whyStatus(reason string, e allocator.Explanation) *agorav1alpha1.FrameworkWhy {
	w := &agorav1alpha1.FrameworkWhy{Reason: reason, PoolNodes: int32(e.PoolNodes), OutOfPoolNodes: int32(e.OutOfPool)}
	if !e.DeclinedUntil.IsZero() {
		w.DeclinedUntil = &metav1.Time{Time: e.DeclinedUntil.Truncate(time.Second)}
	}
	for c, n := range e.Nodes {
		if n > 0 {
			w.Nodes = append(w.Nodes, agorav1alpha1.WhyNodeCount{Cause: whyNodeCauses[c], Count: int32(n)})
		}
	}
	for _, s := range e.Ahead {
		w.Ahead = append(w.Ahead, agorav1alpha1.FrameworkShareRef{Name: s.ID, DominantShare: strconv.FormatFloat(s.Share, 'f', 4, 64)})
	}
	for _, s := range e.Holders {
		w.Holders = append(w.Holders, agorav1alpha1.FrameworkShareRef{Name: s.ID, DominantShare: strconv.FormatFloat(s.Share, 'f', 4, 64)})
	}
	if !e.Foreign.IsZero() {
		w.ForeignPods = toResourceList(e.Foreign)
	}
	return w
}

// namedShares lists frameworks with their shares, "ns/a 0.12, ns/b 0.20".
func namedShares(s []allocator.FrameworkShare, places int) string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.ID + " " + strconv.FormatFloat(f.Share, 'f', places, 64)
	}
	if len(parts) == 0 {
		return "none named"
	}
	return strings.Join(parts, ", ")
}

// quantities formats the CPU and memory of r, "cpu 10m, memory 32Mi".
func quantities(r allocator.Resources) string {
	return fmt.Sprintf("cpu %s, memory %s", allocator.FormatAmount(allocator.CPU, r[allocator.CPU]), allocator.FormatAmount(allocator.Memory, r[allocator.Memory]))
}
