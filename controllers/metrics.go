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
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

var (
	metricCycleDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "agora_allocation_cycle_duration_seconds",
		Help:    "Time the allocator takes for one allocation cycle (cycles skipped because nothing changed are not counted).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	metricOffersMade = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agora_offers_made_total",
		Help: "Offer objects created.",
	})
	metricOffersRescinded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agora_offers_rescinded_total",
		Help: "Offers, or node parts of offers, taken back by the controller, by reason.",
	}, []string{"reason"})
	metricOffersReleased = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agora_offers_released_total",
		Help: "Offers released (deleted) by their framework, by what it took of them: Declined (no task), PartlyUsed (tasks, and something went back), Used (nothing went back).",
	}, []string{"reason"})
	metricTasksAdmitted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agora_tasks_admitted_total",
		Help: "Tasks admitted (Staging) against an offer.",
	})
	metricTasksRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agora_tasks_rejected_total",
		Help: "Tasks rejected at admission (Error), by reason.",
	}, []string{"reason"})
	metricTasksPreempted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agora_tasks_preempted_total",
		Help: "Revocable tasks preempted (killed, reason Preempted) to raise a role to its guarantee, by that role.",
	}, []string{"role"})
	metricRoleGuarantee = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_role_guarantee",
		Help: "A quota'd role's guarantee (RoleQuota spec.guarantee; units as agora_framework_allocated).",
	}, []string{"role", "resource"})
	metricRoleHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_role_held",
		Help: "What a quota'd role's subtree holds, by kind: allocated (non-revocable tasks), offered (non-revocable offers), revocable (tasks and offers on revocable resources); units as agora_framework_allocated.",
	}, []string{"role", "resource", "kind"})
	metricTasksLost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agora_tasks_lost_total",
		Help: "Tasks marked Lost because their node was lost.",
	})
	metricDominantShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_framework_dominant_share",
		Help: "Weighted dominant share of a framework (tasks plus offers over the pool).",
	}, []string{"namespace", "framework"})
	metricAllocated = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_framework_allocated",
		Help: "What a framework's non-terminal tasks hold (cpu in cores, memory and storage in bytes, gpu in devices).",
	}, []string{"namespace", "framework", "resource"})
	metricOffered = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_framework_offered",
		Help: "What a framework's outstanding offers hold that no task took (units as agora_framework_allocated).",
	}, []string{"namespace", "framework", "resource"})
	metricOutstandingOffers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "agora_outstanding_offers",
		Help: "Offers outstanding in the allocator.",
	})
	metricPoolCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_pool_capacity",
		Help: "Capacity of the pool that shares are measured against (units as agora_framework_allocated).",
	}, []string{"resource"})
	metricPoolNodes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "agora_pool_nodes",
		Help: "Nodes in the pool.",
	})
	metricFencedWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "agora_leader_fenced_writes_total",
		Help: "API writes refused because this controller could not prove it still held the leader Lease.",
	})
	metricReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "agora_framework_ready",
		Help: "1 for the reason of a framework's Ready condition (ReceivingOffers, or why it gets no offers: Suppressed, Inactive, AtLimit, NoMatchingNodes, Declined, WaitingForShare, BelowMinAllocatable, PoolFull, Invalid), on the leader.",
	}, []string{"namespace", "framework", "reason"})
	metricTasks = &taskCollector{desc: prometheus.NewDesc("agora_framework_tasks",
		"Tasks of a framework in each phase (the counts of its status.tasks), on the leader.",
		[]string{"namespace", "framework", "phase"}, nil)}

	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() {
		metrics.Registry.MustRegister(metricCycleDuration, metricOffersMade, metricOffersRescinded, metricOffersReleased,
			metricTasksAdmitted, metricTasksRejected, metricTasksLost, metricTasksPreempted, metricRoleGuarantee, metricRoleHeld, metricDominantShare, metricAllocated, metricOffered,
			metricOutstandingOffers, metricPoolCapacity, metricPoolNodes, metricFencedWrites, metricTasks, metricReady)
	})
}

// RegisterMetrics registers the controller's metrics in controller-runtime's metrics.Registry, as
// Setup does; later calls do nothing. It is for whoever must know what agora-controller exports
// without running one: test/helm checks every query of the chart's Grafana dashboard against it.
func RegisterMetrics() { registerMetrics() }

// taskCollector reports agora_framework_tasks from the task counter at scrape time, so that a
// scrape sees one consistent count per framework and frameworks without tasks simply vanish.
// It reports nothing until the first allocation cycle points it at the counter (updateGauges):
// only the leader reports, like the other gauges, and replicas never add up twice.
type taskCollector struct {
	desc    *prometheus.Desc
	counter atomic.Pointer[taskCounter]
}

func (tc *taskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tc.desc }

func (tc *taskCollector) Collect(ch chan<- prometheus.Metric) {
	c := tc.counter.Load()
	if c == nil {
		return
	}
	c.mu.Lock()
	counts := make(map[types.NamespacedName]agorav1alpha1.TaskCounts, len(c.counts))
	for fw, n := range c.counts {
		counts[fw] = *n
	}
	c.mu.Unlock()
	for fw, n := range counts {
		for _, p := range []struct {
			phase agorav1alpha1.TaskPhase
			n     int32
		}{
			{agorav1alpha1.TaskStaging, n.Staging}, {agorav1alpha1.TaskStarting, n.Starting},
			{agorav1alpha1.TaskRunning, n.Running}, {agorav1alpha1.TaskUnreachable, n.Unreachable},
			{agorav1alpha1.TaskFinished, n.Finished}, {agorav1alpha1.TaskFailed, n.Failed},
			{agorav1alpha1.TaskKilled, n.Killed}, {agorav1alpha1.TaskLost, n.Lost}, {agorav1alpha1.TaskError, n.Error},
		} {
			ch <- prometheus.MustNewConstMetric(tc.desc, prometheus.GaugeValue, float64(p.n), fw.Namespace, fw.Name, string(p.phase))
		}
	}
}

// unitValue converts an allocator amount to the metric's unit (cores for cpu).
func unitValue(name allocator.ResourceName, v int64) float64 {
	if name == allocator.CPU {
		return float64(v) / 1000
	}
	return float64(v)
}

func setShareMetrics(namespace, name string, s allocator.Share) {
	metricDominantShare.WithLabelValues(namespace, name).Set(s.Weighted)
	for i := allocator.ResourceName(0); i < allocator.NumResources; i++ {
		metricAllocated.WithLabelValues(namespace, name, i.String()).Set(unitValue(i, s.Allocated[i]))
		metricOffered.WithLabelValues(namespace, name, i.String()).Set(unitValue(i, s.Offered[i]))
	}
}

// readyReasons is the reason agora_framework_ready shows for each framework.
var readyReasons = struct {
	sync.Mutex
	m map[types.NamespacedName]string
}{m: map[types.NamespacedName]string{}}

// setReadyMetric points agora_framework_ready of a framework at its Ready reason: one series
// per framework, its reason a label.
func setReadyMetric(key types.NamespacedName, reason string) {
	readyReasons.Lock()
	defer readyReasons.Unlock()
	old, ok := readyReasons.m[key]
	if ok && old == reason {
		return
	}
	if ok {
		metricReady.DeleteLabelValues(key.Namespace, key.Name, old)
	}
	readyReasons.m[key] = reason
	metricReady.WithLabelValues(key.Namespace, key.Name, reason).Set(1)
}

func deleteShareMetrics(key types.NamespacedName) {
	readyReasons.Lock()
	if old, ok := readyReasons.m[key]; ok {
		metricReady.DeleteLabelValues(key.Namespace, key.Name, old)
		delete(readyReasons.m, key)
	}
	readyReasons.Unlock()
	metricDominantShare.DeleteLabelValues(key.Namespace, key.Name)
	for i := allocator.ResourceName(0); i < allocator.NumResources; i++ {
		metricAllocated.DeleteLabelValues(key.Namespace, key.Name, i.String())
		metricOffered.DeleteLabelValues(key.Namespace, key.Name, i.String())
	}
}

// updateGauges sets the pool gauges from the allocator, and points agora_framework_tasks at
// this (leading) controller's task counter.
func (c *Controller) updateGauges() {
	metricTasks.counter.Store(c.counts)
	c.m.mu.Lock()
	st := c.m.alloc.Stats()
	c.m.mu.Unlock()
	metricOutstandingOffers.Set(float64(st.Offers))
	metricPoolNodes.Set(float64(st.PoolNodes))
	for i := allocator.ResourceName(0); i < allocator.NumResources; i++ {
		metricPoolCapacity.WithLabelValues(i.String()).Set(unitValue(i, st.Pool[i]))
	}
	c.m.mu.Lock()
	quotas := c.m.alloc.Quotas()
	c.m.mu.Unlock()
	for role := range c.gaugedRoles {
		if _, ok := quotas[role]; !ok {
			metricRoleGuarantee.DeletePartialMatch(prometheus.Labels{"role": role})
			metricRoleHeld.DeletePartialMatch(prometheus.Labels{"role": role})
			delete(c.gaugedRoles, role)
		}
	}
	for role, u := range quotas {
		c.gaugedRoles[role] = true
		for i := allocator.ResourceName(0); i < allocator.NumResources; i++ {
			metricRoleGuarantee.WithLabelValues(role, i.String()).Set(unitValue(i, u.Guarantee[i]))
			metricRoleHeld.WithLabelValues(role, i.String(), "allocated").Set(unitValue(i, u.Allocated[i]))
			metricRoleHeld.WithLabelValues(role, i.String(), "offered").Set(unitValue(i, u.Offered[i]))
			metricRoleHeld.WithLabelValues(role, i.String(), "revocable").Set(unitValue(i, u.Revocable[i]))
		}
	}
}
