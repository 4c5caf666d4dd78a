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

package benchproc

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const exposition = `# HELP agora_framework_allocated What a framework's non-terminal tasks hold.
# TYPE agora_framework_allocated gauge
agora_framework_allocated{framework="a",namespace="ns1",resource="cpu"} 1.5
agora_framework_allocated{framework="a",namespace="ns1",resource="memory"} 1024
agora_framework_allocated{framework="say \"b\", c",namespace="ns2",resource="cpu"} 2
agora_pool_nodes 1000
agora_pool_nodes_total 7
not_a_number{a="b"} x
`

func TestParseMetrics(t *testing.T) {
	ms, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("%d samples, want 5 (comments and non-numbers passed over): %v", len(ms), ms)
	}
	if got := ms[2].Labels["framework"]; got != `say "b", c` {
		t.Errorf("escaped label value read as %q", got)
	}
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"agora_pool_nodes", nil, 1000},
		{"agora_framework_allocated", []string{"resource", "cpu"}, 3.5},
		{"agora_framework_allocated", []string{"resource", "cpu", "namespace", "ns1"}, 1.5},
		{"agora_framework_allocated", nil, 1027.5},
		{"agora_framework_allocated", []string{"resource", "gpu"}, 0},
		{"absent", nil, 0},
	} {
		if got := ms.Get(c.name, c.match...); got != c.want {
			t.Errorf("Get(%q, %q) = %v, want %v", c.name, c.match, got, c.want)
		}
	}
}

func TestGauge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = fmt.Fprint(w, exposition)
	}))
	defer srv.Close()
	if v, err := Gauge(srv.URL+"/metrics", "agora_framework_allocated", "resource", "cpu"); err != nil || v != 3.5 {
		t.Errorf("Gauge = %v, %v; want 3.5, nil", v, err)
	}
	if v, err := Gauge(srv.URL+"/other", "agora_pool_nodes"); err == nil || v != 0 {
		t.Errorf("Gauge of a 404 = %v, %v; want 0 and an error", v, err)
	}
	if err := HTTPOK(srv.URL + "/metrics"); err != nil {
		t.Errorf("HTTPOK: %v", err)
	}
}
