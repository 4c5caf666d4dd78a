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
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Sample is one line of a Prometheus text exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is a Prometheus text exposition, one Sample a line, in its order.
type Metrics []Sample

// ParseMetrics reads a Prometheus text exposition. Comments, and lines whose value is not a
// number, are passed over; the error is only the reader's (or a line over 1 MiB).
func ParseMetrics(r io.Reader) (Metrics, error) {
	var out Metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s := Sample{Value: v, Labels: map[string]string{}}
		head := line[:i]
		if j := strings.IndexByte(head, '{'); j >= 0 {
			s.Name = head[:j]
			parseLabels(strings.TrimSuffix(head[j+1:], "}"), s.Labels)
		} else {
			s.Name = head
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y"` (values may hold escaped quotes).
func parseLabels(s string, into map[string]string) {
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return
		}
		key := strings.TrimLeft(s[:eq], ", ")
		var val strings.Builder
		i := eq + 2
		for ; i < len(s); i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				val.WriteByte(s[i])
				continue
			}
			if s[i] == '"' {
				break
			}
			val.WriteByte(s[i])
		}
		into[key] = val.String()
		if i+1 >= len(s) {
			return
		}
		s = s[i+1:]
	}
}

// Get sums the samples named name whose labels hold every label, value pair of match, e.g.
// Get("agora_framework_allocated", "resource", "cpu"); with no match, every sample so named.
func (ms Metrics) Get(name string, match ...string) float64 {
	var sum float64
	for _, s := range ms {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if s.Labels[match[i]] != match[i+1] {
				ok = false
				break
			}
		}
		if ok {
			sum += s.Value
		}
	}
	return sum
}

// Scrape reads the Prometheus text endpoint at url (e.g. a process's /metrics). On an error
// reading the body it returns what it read before it.
func Scrape(url string) (Metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// Gauge scrapes url and returns Get(name, match...): the sum of the samples named name whose
// labels hold every label, value pair of match (any labels without).
func Gauge(url, name string, match ...string) (float64, error) {
	ms, err := Scrape(url)
	return ms.Get(name, match...), err
}
