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

package helm

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/agora-sched/agora/controllers"
	"github.com/agora-sched/agora/pkg/executor"
)

// The Grafana dashboard the chart ships (grafana.dashboards.enabled) and the monitors its queries
// rely on (serviceMonitor, podMonitor); docs/monitoring.md.

const dashboardFile = "charts/agora/dashboards/agora.json"

// The dashboard's job variables: which binary each selects, as the chart's monitors scrape it.
const (
	controllerJob = "$controller_job"
	executorJob   = "$executor_job"
)

// Target labels Prometheus (Operator) adds to every series of a scrape: a ServiceMonitor's
// (controller) and the chart's PodMonitor's, which also labels each executor with its node.
var (
	serviceMonitorLabels = []string{"job", "instance", "namespace", "service", "endpoint", "pod", "container"}
	podMonitorLabels     = []string{"job", "instance", "namespace", "endpoint", "pod", "container", "node"}
)

// describe lists what a collector (a whole registry) exports, from its descriptors, so that a
// metric vector without series yet is listed too. A Desc tells its name and labels only through
// a metric made of it: one constant metric with as many label values as it takes, gathered by a
// registry of its own. gatherer's families add the type of those that already have series.
func describe(t *testing.T, c prometheus.Collector, gatherer prometheus.Gatherer) map[string]exportedMetric {
	t.Helper()
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	out := map[string]exportedMetric{}
	for d := range descs {
		name, labels, err := descNameLabels(d)
		if err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		out[name] = exportedMetric{labels: labels}
	}
	mfs, err := gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		m, ok := out[mf.GetName()]
		if !ok {
			t.Fatalf("%s is gathered but not described", mf.GetName())
		}
		m.typ = strings.ToLower(mf.GetType().String())
		out[mf.GetName()] = m
	}
	return out
}

type oneMetric struct{ m prometheus.Metric }

func (o oneMetric) Describe(ch chan<- *prometheus.Desc) { ch <- o.m.Desc() }
func (o oneMetric) Collect(ch chan<- prometheus.Metric) { ch <- o.m }

func descNameLabels(d *prometheus.Desc) (string, map[string]bool, error) {
	if err := d.Err(); err != nil {
		return "", nil, err
	}
	for n := 0; n <= 32; n++ {
		values := slices.Repeat([]string{"x"}, n)
		m, err := prometheus.NewConstMetric(d, prometheus.UntypedValue, 0, values...)
		if err != nil {
			continue // not the number of variable labels
		}
		reg := prometheus.NewRegistry()
		if err := reg.Register(oneMetric{m}); err != nil {
			return "", nil, err
		}
		mfs, err := reg.Gather()
		if err != nil {
			return "", nil, err
		}
		if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
			return "", nil, fmt.Errorf("gathered %v", mfs)
		}
		labels := map[string]bool{}
		for _, l := range mfs[0].GetMetric()[0].GetLabel() {
			labels[l.GetName()] = true
		}
		return mfs[0].GetName(), labels, nil
	}
	return "", nil, fmt.Errorf("no label count fits")
}

// exportedTargets: what each binary exports, as its code registers it.
//   - agora-controller serves controller-runtime's metrics.Registry: controller-runtime's own
//     metrics (registered when its packages are imported, as here through controllers) and
//     Agora's (registered by controllers.Setup, through RegisterMetrics).
//   - agora-executor serves executor.NewMetrics().Registry.
func exportedTargets(t *testing.T) map[string]scrapeTarget {
	t.Helper()
	controllers.RegisterMetrics()
	reg, ok := crmetrics.Registry.(prometheus.Collector)
	if !ok {
		t.Fatalf("controller-runtime's metrics.Registry %T cannot be described", crmetrics.Registry)
	}
	em := executor.NewMetrics()
	return map[string]scrapeTarget{
		controllerJob: {binary: "agora-controller", metrics: describe(t, reg, crmetrics.Registry), targetLabels: serviceMonitorLabels},
		executorJob:   {binary: "agora-executor", metrics: describe(t, em.Registry, em.Registry), targetLabels: podMonitorLabels},
	}
}

// dashboard is the part of a Grafana dashboard's JSON the test reads.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID        string         `json:"refId"`
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		Datasource   *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T, b []byte) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// labelValuesRE is Grafana's Prometheus variable query label_values(selector, label).
var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// checkDashboard returns every mistake in the dashboard's queries: metrics the binaries do not
// export, labels they do not carry, malformed PromQL, panels without the data-source variable.
func checkDashboard(d dashboard, c *promChecker) []string {
	var errs []string
	ds := func(where string, ref *datasourceRef) {
		if ref == nil || ref.Type != "prometheus" || ref.UID != "${datasource}" {
			errs = append(errs, fmt.Sprintf("%s: data source %+v, want the variable ${datasource}", where, ref))
		}
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if other, dup := ids[p.ID]; dup {
			errs = append(errs, fmt.Sprintf("%s: id taken by %q", where, other))
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		ds(where, p.Datasource)
		if len(p.Targets) == 0 {
			errs = append(errs, where+": no query")
		}
		for _, tg := range p.Targets {
			ds(where+" "+tg.RefID, tg.Datasource)
			queries++
			v, perrs := c.check(tg.Expr)
			for _, err := range perrs {
				errs = append(errs, fmt.Sprintf("%s %s: %v\n\t%s", where, tg.RefID, err, tg.Expr))
			}
			if len(perrs) == 0 {
				if err := checkLegend(tg.LegendFormat, v); err != nil {
					errs = append(errs, fmt.Sprintf("%s %s: %v", where, tg.RefID, err))
				}
			}
		}
	}
	if queries == 0 {
		errs = append(errs, "no queries")
	}
	hasDatasource := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" {
			hasDatasource = string(v.Query) == `"prometheus"`
		}
		if v.Type != "query" {
			continue
		}
		ds("variable "+v.Name, v.Datasource)
		q := v.Definition
		var obj struct {
			Query string `json:"query"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Query, &obj) == nil && obj.Query != "":
			q = obj.Query
		case json.Unmarshal(v.Query, &s) == nil && s != "":
			q = s
		}
		if v.Definition != "" && v.Definition != q {
			errs = append(errs, fmt.Sprintf("variable %s: definition %q differs from its query %q", v.Name, v.Definition, q))
		}
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			errs = append(errs, fmt.Sprintf("variable %s: %q is not label_values(selector, label)", v.Name, q))
			continue
		}
		sel := m[1]
		if !strings.Contains(sel, "{") {
			// The job variables list the jobs themselves: their metric must be the binary's.
			job := "$" + v.Name
			if _, ok := c.targets[job]; !ok {
				errs = append(errs, fmt.Sprintf("variable %s: %s selects no job", v.Name, sel))
				continue
			}
			sel += `{job=~"` + job + `"}`
		}
		val, perrs := c.check(sel)
		for _, err := range perrs {
			errs = append(errs, fmt.Sprintf("variable %s: %v", v.Name, err))
		}
		if len(perrs) == 0 && val.known && !val.labels[m[2]] {
			errs = append(errs, fmt.Sprintf("variable %s: %s is not a label of %s", v.Name, m[2], m[1]))
		}
	}
	if !hasDatasource {
		errs = append(errs, "no Prometheus data-source variable named datasource")
	}
	return errs
}

// TestDashboardQueriesUseExportedMetrics: every query of the dashboard (panels and variables)
// parses, and names only metrics and labels the binaries export under the job it selects.
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	d := loadDashboard(t, b)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	c := &promChecker{targets: exportedTargets(t)}
	for _, e := range checkDashboard(d, c) {
		t.Error(e)
	}
	// The panels the dashboard exists for.
	var exprs []string
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range []string{"agora_framework_dominant_share", "agora_offers_made_total", "agora_offers_rescinded_total",
		"agora_offers_released_total", "agora_tasks_admitted_total", "agora_tasks_rejected_total",
		"agora_allocation_cycle_duration_seconds_bucket", "agora_framework_tasks", "agora_outstanding_offers",
		"agora_pool_capacity", "agora_framework_allocated", "agora_framework_offered", "leader_election_master_status",
		"agora_executor_task_status_writes_total", "agora_executor_pods_created_total", "agora_executor_sync_errors_total",
		"agora_executor_lease_renewal_errors_total", "agora_framework_ready"} {
		if !strings.Contains(all, m+"{") {
			t.Errorf("no panel queries %s", m)
		}
	}
}

// TestPromCheckerCatchesMistakes: the checker rejects what a typo in the dashboard would be.
func TestPromCheckerCatchesMistakes(t *testing.T) {
	c := &promChecker{targets: exportedTargets(t)}
	for expr, want := range map[string]string{
		// good
		`sum by (reason) (rate(agora_offers_rescinded_total{job=~"$controller_job"}[$__rate_interval]))`:                           "",
		`histogram_quantile(0.99, sum by (le) (rate(agora_allocation_cycle_duration_seconds_bucket{job=~"$controller_job"}[5m])))`: "",
		`sum(a_total{job=~"$controller_job"})`:                                                                                                                   "exports no such metric",
		`sum(rate(agora_offer_made_total{job=~"$controller_job"}[5m]))`:                                                                                          "exports no such metric",
		`sum(rate(agora_offers_made_total{job=~"$executor_job"}[5m]))`:                                                                                           "agora-executor exports no such metric",
		`sum(rate(agora_offers_made_total[5m]))`:                                                                                                                 "no job matcher",
		`sum by (reson) (rate(agora_offers_rescinded_total{job=~"$controller_job"}[5m]))`:                                                                        "reson is not a label",
		`sum(agora_framework_tasks{job=~"$controller_job", phse="Running"})`:                                                                                     "phse is not a label",
		`histogram_quantile(0.9, sum(rate(agora_allocation_cycle_duration_seconds_bucket{job=~"$controller_job"}[5m])))`:                                         "without le",
		`rate(agora_offers_made_total_bucket{job=~"$controller_job"}[5m])`:                                                                                       "exports no such metric",
		`rate(agora_pool_nodes{job=~"$controller_job"}[5m])`:                                                                                                     "not a counter",
		`rate(agora_offers_made_total{job=~"$controller_job"})`:                                                                                                  "range vector",
		`sum(rat(agora_offers_made_total{job=~"$controller_job"}[5m]))`:                                                                                          "unknown",
		`sum by (node) (agora_framework_allocated{job=~"$controller_job"})`:                                                                                      "node is not a label",
		`sum by (resource) (agora_framework_allocated{job=~"$controller_job"}) / max(agora_pool_capacity{job=~"$controller_job"})`:                               "matches nothing",
		`sum by (resource) (agora_framework_allocated{job=~"$controller_job"}) / on (framework) max by (resource) (agora_pool_capacity{job=~"$controller_job"})`: "not a label of both sides",
		`sum(agora_pool_nodes{job=~"$controller_job"}`:                                                                                                           "want )",
		`sum(agora_framework_tasks{job=~"$controller_job", phase=~"Stagin|Running"})`:                                                                            `"Stagin" is not a value of phase`,
		`sum(agora_pool_capacity{job=~"$controller_job", resource="cpus"})`:                                                                                      `"cpus" is not a value of resource`,
		`sum(agora_framework_tasks{job=~"$controller_job", phase=~"Run.*"})`:                                                                                     "",
	} {
		_, errs := c.check(expr)
		got := fmt.Sprint(errs)
		switch {
		case want == "" && len(errs) != 0:
			t.Errorf("%s: %v", expr, errs)
		case want != "" && !strings.Contains(got, want):
			t.Errorf("%s: errors %s, want one containing %q", expr, got, want)
		}
	}
	v, errs := c.check(`sum by (namespace, framework) (agora_framework_dominant_share{job=~"$controller_job"})`)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if err := checkLegend("{{namespace}}/{{framework}}", v); err != nil {
		t.Error(err)
	}
	if err := checkLegend("{{namespace}}/{{pod}}", v); err == nil {
		t.Error("legend {{pod}} over by (namespace, framework) passed")
	}
}

// TestTemplateMonitoring: the dashboard ConfigMap, the ServiceMonitor and the PodMonitor render
// only when asked, with what the Grafana sidecar and the dashboard's queries need.
func TestTemplateMonitoring(t *testing.T) {
	monitoring := []string{"ConfigMap", "ServiceMonitor", "PodMonitor"}
	if got := keys(ofKind(mustTemplate(t), monitoring...)); len(got) != 0 {
		t.Errorf("the default install renders %v", got)
	}

	file, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args              []string
		namespace         string
		label, value      string
		folderKey, folder string
		annotations       map[string]string
	}{
		"dashboard": {
			args:      []string{"--set", "grafana.dashboards.enabled=true"},
			namespace: namespace, label: "grafana_dashboard", value: "1",
		},
		"dashboard elsewhere, in a folder": {
			args: []string{"--set", "grafana.dashboards.enabled=true", "--set", "grafana.dashboards.namespace=monitoring",
				"--set", "grafana.dashboards.label=dashboards", "--set", "grafana.dashboards.labelValue=agora",
				"--set", "grafana.dashboards.folder=Scheduling", "--set", "grafana.dashboards.annotations.owner=sched"},
			namespace: "monitoring", label: "dashboards", value: "agora",
			folderKey: "k8s-sidecar-target-directory", folder: "Scheduling",
			annotations: map[string]string{"owner": "sched"},
		},
		"dashboard with the folder annotation of another sidecar": {
			args: []string{"--set", "grafana.dashboards.enabled=true", "--set", "grafana.dashboards.folder=Agora",
				"--set", "grafana.dashboards.folderAnnotation=grafana_folder"},
			namespace: namespace, label: "grafana_dashboard", value: "1", folderKey: "grafana_folder", folder: "Agora",
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs := mustTemplate(t, tc.args...)
			cm := find(objs, "ConfigMap", "agora-grafana-dashboard")
			if cm == nil {
				t.Fatalf("no dashboard ConfigMap in %v", keys(objs))
			}
			if cm.GetNamespace() != tc.namespace || cm.GetLabels()[tc.label] != tc.value || cm.GetLabels()["app.kubernetes.io/part-of"] != "agora" {
				t.Errorf("ConfigMap in %q labelled %v", cm.GetNamespace(), cm.GetLabels())
			}
			want := map[string]string{}
			if tc.folderKey != "" {
				want[tc.folderKey] = tc.folder
			}
			for k, v := range tc.annotations {
				want[k] = v
			}
			if got := cm.GetAnnotations(); !cmp.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
				t.Errorf("annotations %v, want %v", got, want)
			}
			data := typed[corev1.ConfigMap](t, cm).Data
			if len(data) != 1 || data["agora.json"] == "" {
				t.Fatalf("data keys %v, want agora.json", slices.Collect(maps.Keys(data)))
			}
			if !json.Valid([]byte(data["agora.json"])) || strings.TrimSpace(data["agora.json"]) != strings.TrimSpace(string(file)) {
				t.Errorf("agora.json is not %s", dashboardFile)
			}
			if d := loadDashboard(t, []byte(data["agora.json"])); d.UID != "agora-overview" {
				t.Errorf("dashboard uid %q", d.UID)
			}
			if got := keys(ofKind(objs, "ServiceMonitor", "PodMonitor")); len(got) != 0 {
				t.Errorf("monitors rendered without being asked: %v", got)
			}
		})
	}

	t.Run("ServiceMonitor keeps the framework namespace", func(t *testing.T) {
		objs := mustTemplate(t, "--set", "serviceMonitor.enabled=true")
		eps, _, _ := unstructured.NestedSlice(find(objs, "ServiceMonitor", "agora-controller").Object, "spec", "endpoints")
		if len(eps) != 1 || eps[0].(map[string]any)["honorLabels"] != true {
			t.Errorf("endpoints %v: agora_framework_*'s namespace label would become exported_namespace", eps)
		}
		if pm := ofKind(objs, "PodMonitor", "ConfigMap"); len(pm) != 0 {
			t.Errorf("rendered %v", keys(pm))
		}
	})

	t.Run("PodMonitor", func(t *testing.T) {
		objs := mustTemplate(t, "--set", "podMonitor.enabled=true", "--set", "podMonitor.labels.release=prometheus",
			"--set", "podMonitor.interval=15s", "--set", "podMonitor.scrapeTimeout=10s", "--set", "executor.metricsPort=9999")
		pm := find(objs, "PodMonitor", "agora-executor")
		if pm == nil {
			t.Fatalf("no PodMonitor in %v", keys(objs))
		}
		if pm.GetNamespace() != namespace || pm.GetLabels()["release"] != "prometheus" || pm.GetLabels()["app.kubernetes.io/component"] != "executor" {
			t.Errorf("PodMonitor %s labelled %v", pm.GetNamespace(), pm.GetLabels())
		}
		ds := typed[appsv1.DaemonSet](t, find(objs, "DaemonSet", "agora-executor"))
		sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
		if len(sel) == 0 {
			t.Error("PodMonitor selects every pod")
		}
		for k, v := range sel {
			if ds.Spec.Template.Labels[k] != v {
				t.Errorf("PodMonitor selects %s=%s; the executor pods have %v", k, v, ds.Spec.Template.Labels)
			}
		}
		if ns, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames"); !cmp.Equal(ns, []string{namespace}) {
			t.Errorf("namespaceSelector %v", ns)
		}
		eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
		if len(eps) != 1 {
			t.Fatalf("podMetricsEndpoints %v", eps)
		}
		ep := eps[0].(map[string]any)
		if !slices.ContainsFunc(ds.Spec.Template.Spec.Containers[0].Ports, func(p corev1.ContainerPort) bool {
			return p.Name == ep["port"] && p.ContainerPort == 9999
		}) || ep["path"] != "/metrics" || ep["interval"] != "15s" || ep["scrapeTimeout"] != "10s" {
			t.Errorf("endpoint %v does not scrape the executor's metrics port %v", ep, ds.Spec.Template.Spec.Containers[0].Ports)
		}
		// The dashboard's per-node executor panels read node.
		relabel, _ := ep["relabelings"].([]any)
		if !slices.ContainsFunc(relabel, func(r any) bool {
			m := r.(map[string]any)
			src, _ := m["sourceLabels"].([]any)
			return m["targetLabel"] == "node" && len(src) == 1 && src[0] == "__meta_kubernetes_pod_node_name"
		}) {
			t.Errorf("relabelings %v do not set node", relabel)
		}
		if !slices.Contains(podMonitorLabels, "node") {
			t.Error("the dashboard checker does not know the PodMonitor's node label")
		}
		if got := keys(ofKind(objs, "ServiceMonitor", "ConfigMap")); len(got) != 0 {
			t.Errorf("rendered %v", got)
		}
	})
}
