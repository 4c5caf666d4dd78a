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

package executor

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/rest"
)

// Metrics are the executor's Prometheus metrics, in their own registry (Registry), which
// cmd/agora-executor serves on --metrics-bind-address.
type Metrics struct {
	Registry *prometheus.Registry

	apiRequests        *prometheus.CounterVec
	podsCreated        prometheus.Counter
	podsDeleted        prometheus.Counter
	statusWrites       *prometheus.CounterVec
	finalizerWrites    prometheus.Counter
	podFinalizerWrites prometheus.Counter
	leaseRenewals      prometheus.Counter
	leaseErrors        prometheus.Counter
	nodes              prometheus.Gauge
	syncDuration       prometheus.Histogram
	syncErrors         prometheus.Counter
}

// NewMetrics returns the executor's metrics registered in a new registry, together with the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_executor_api_requests_total",
			Help: "Requests the executor sent to the API server, by verb (get, list, watch, create, update, patch, delete) and resource (e.g. pods, tasks/status, leases).",
		}, []string{"verb", "resource"}),
		podsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_pods_created_total", Help: "Pods created for tasks.",
		}),
		podsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_pods_deleted_total", Help: "Pods deleted (kills, stale and orphaned pods).",
		}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_executor_task_status_writes_total", Help: "Task status writes, by the phase written.",
		}, []string{"phase"}),
		finalizerWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_task_finalizer_writes_total", Help: "Task updates that added or removed the executor's finalizer.",
		}),
		podFinalizerWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_pod_finalizer_writes_total", Help: "Pods released: the executor's pod finalizer removed once the pod's end was recorded in its Task (or the Task was gone).",
		}),
		leaseRenewals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_lease_renewals_total", Help: "Successful node Lease writes (creates and renewals).",
		}),
		leaseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_lease_renewal_errors_total", Help: "Failed node Lease renewals.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agora_executor_nodes", Help: "Nodes served by this process.",
		}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agora_executor_sync_duration_seconds",
			Help:    "Time to sync one task (including its API calls).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_executor_sync_errors_total", Help: "Task syncs that failed and were retried (conflicts included).",
		}),
	}
	m.Registry.MustRegister(m.apiRequests, m.podsCreated, m.podsDeleted, m.statusWrites, m.finalizerWrites, m.podFinalizerWrites,
		m.leaseRenewals, m.leaseErrors, m.nodes, m.syncDuration, m.syncErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument makes every request through cfg count in agora_executor_api_requests_total.
func (m *Metrics) instrument(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			verb, resource := classify(req)
			m.apiRequests.WithLabelValues(verb, resource).Inc()
			return rt.RoundTrip(req)
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// classify turns a request into a Kubernetes verb and resource[/subresource]:
// /api/v1/namespaces/ns/pods/p -> pods, /apis/g/v/namespaces/ns/tasks/t/status -> tasks/status.
func classify(req *http.Request) (verb, resource string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(req.Method), "other"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		parts = parts[2:]
		if len(parts) == 0 {
			parts = []string{"namespaces"}
		}
	}
	named := len(parts) >= 2
	if len(parts) >= 3 {
		resource = parts[0] + "/" + parts[2]
	} else if len(parts) >= 1 {
		resource = parts[0]
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	default:
		verb = strings.ToLower(req.Method)
	}
	return verb, resource
}
