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
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// window is one measurement interval.
type window struct {
	name       string
	from, to   snapshot
	admittedAt time.Time
}

// auditEntry is the part of a kube-apiserver audit event the report needs.
type auditEntry struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Received time.Time `json:"requestReceivedTimestamp"`
}

// controllerRequests counts the controller's requests in [from, to) by "verb resource[/sub]"
// and, separately, those the API server refused (code >= 400, e.g. conflicts).
func controllerRequests(path string, from, to time.Time) (ok, failed map[string]int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ok, failed = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e auditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.User.Username != controllerUser || e.ObjectRef == nil {
			continue
		}
		if e.Received.Before(from) || !e.Received.Before(to) {
			continue
		}
		key := e.Verb + " " + e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			key += "/" + e.ObjectRef.Subresource
		}
		if e.ResponseStatus != nil && e.ResponseStatus.Code >= 400 {
			failed[key]++
			continue
		}
		ok[key]++
	}
	return ok, failed, sc.Err()
}

func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// cycleLine is the controller's debug line for one allocation cycle.
type cycleLine struct {
	Msg          string    `json:"msg"`
	TS           time.Time `json:"ts"` // --zap-time-encoding=rfc3339nano
	Offers       int       `json:"offers"`
	OfferedNodes int       `json:"offeredNodes"`
	Allocate     float64   `json:"allocateSeconds"`
	Cycle        float64   `json:"cycleSeconds"`
	PoolNodes    int       `json:"poolNodes"`
}

func cycles(path string, from, to time.Time) ([]cycleLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []cycleLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"msg":"cycle"`)) {
			continue
		}
		var c cycleLine
		if json.Unmarshal(sc.Bytes(), &c) != nil || c.Msg != "cycle" {
			continue
		}
		if c.TS.Before(from) || !c.TS.Before(to) {
			continue
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func ms(sec float64) string {
	switch {
	case sec >= 1:
		return fmt.Sprintf("%.2f s", sec)
	case sec >= 0.01:
		return fmt.Sprintf("%.1f ms", sec*1000)
	default:
		return fmt.Sprintf("%.2f ms", sec*1000)
	}
}

func (b *bench) report(windows []window, partial bool) error {
	first := windows[0]
	nAdmitted := float64(b.nAdmit.Load())
	fmt.Printf("\n## agora-controller benchmark: %d nodes, %d frameworks, %d tasks\n\n", *nodes, *frameworks, *tasks)
	if partial {
		fmt.Printf("**PARTIAL: the time ran out (-timeout %s) with %.0f of %d tasks admitted; the figures are for those.**\n\n", *timeout, nAdmitted, *tasks)
	}
	fmt.Printf("Command: `go run ./hack/bench/controller %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("Machine: %d cores (%s), %s; shared by kube-apiserver, etcd, kwok, agora-executor, agora-controller and the frameworks. "+
		"%s at the start, %s at the end of admission.\n\n", b.machine.cores, b.machine.model, runtime.Version(), first.from.load, first.to.load)
	fmt.Printf("Nodes %s cpu / %s memory; tasks %s cpu / %s memory; refuseDuration %s; controller defaults (allocation interval 1s, QPS 200) plus `%s`.\n\n",
		*nodeCPU, *nodeMemory, *taskCPU, *taskMemory, *refuse, *controllerArgs)

	// Admission.
	var lat []float64
	var firstCreate, lastAdmit time.Time
	b.mu.Lock()
	for key, at := range b.admitted {
		c, ok := b.created[key]
		if at.IsZero() || !ok {
			continue
		}
		lat = append(lat, at.Sub(c).Seconds())
		if firstCreate.IsZero() || c.Before(firstCreate) {
			firstCreate = c
		}
		if at.After(lastAdmit) {
			lastAdmit = at
		}
	}
	rejected := map[string]int{}
	for k, v := range b.rejected {
		rejected[k] = v
	}
	b.mu.Unlock()
	span := lastAdmit.Sub(firstCreate).Seconds()
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| tasks admitted (Staging) | %.0f in %.1f s from the first create, **%.0f tasks/s** |\n", nAdmitted, span, nAdmitted/span)
	fmt.Printf("| task create -> seen Staging, p50 / p99 / max | %s / %s / %s |\n", ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(lat, 100)))
	if len(rejected) > 0 {
		fmt.Printf("| tasks rejected (Error) | %v |\n", rejected)
	}
	var creates, deletes, createErrs int64
	for _, fw := range b.fws {
		creates += fw.taskCreates.Load()
		deletes += fw.offerDeletes.Load()
		createErrs += fw.createErrors.Load()
	}
	fmt.Printf("| frameworks' own writes | %d Task creates (%d failed), %d Offer deletes (releases), %d Framework creates and suppress patches |\n", creates, createErrs, deletes, 2*len(b.fws))

	cs, err := cycles(b.ctl.LogPath, first.from.at, first.to.at)
	if err != nil {
		return err
	}
	var alloc, whole, offers, offered, perOffer []float64
	offering := 0
	var firstBig string
	for _, c := range cs {
		alloc = append(alloc, c.Allocate)
		if c.Offers > 0 {
			whole = append(whole, c.Cycle)
			if firstBig == "" && c.OfferedNodes == c.PoolNodes {
				firstBig = fmt.Sprintf("%d nodes in %d Offers, %s", c.OfferedNodes, c.Offers, ms(c.Cycle))
			}
			offering++
			offers = append(offers, float64(c.Offers))
			offered = append(offered, float64(c.OfferedNodes))
			perOffer = append(perOffer, float64(c.OfferedNodes)/float64(c.Offers))
		}
	}
	dur := first.to.at.Sub(first.from.at).Seconds()
	fmt.Printf("| allocation cycles run (a cycle with nothing changed is skipped) | %d in %.1f s |\n", len(cs), dur)
	fmt.Printf("| Allocate() p50 / p99 / max | %s / %s / %s |\n", ms(pct(alloc, 50)), ms(pct(alloc, 99)), ms(pct(alloc, 100)))
	fmt.Printf("| offering cycle incl. building and creating the Offers, p50 / p99 / max | %s / %s / %s |\n", ms(pct(whole, 50)), ms(pct(whole, 99)), ms(pct(whole, 100)))
	if firstBig != "" {
		fmt.Printf("| first cycle that offered the whole pool | %s |\n", firstBig)
	}
	hc := first.to.ctrl.Get("agora_allocation_cycle_duration_seconds_count") - first.from.ctrl.Get("agora_allocation_cycle_duration_seconds_count")
	hs := first.to.ctrl.Get("agora_allocation_cycle_duration_seconds_sum") - first.from.ctrl.Get("agora_allocation_cycle_duration_seconds_sum")
	if hc > 0 {
		fmt.Printf("| agora_allocation_cycle_duration_seconds: count, mean | %.0f, %s |\n", hc, ms(hs/hc))
	}
	fmt.Printf("| cycles that made offers | %d |\n", offering)
	fmt.Printf("| **Offers per offering cycle**, mean / max (frameworks: %d) | **%.1f / %.0f** |\n", *frameworks, mean(offers), pct(offers, 100))
	fmt.Printf("| nodes offered per offering cycle, mean / max (nodes: %d) | %.0f / %.0f |\n", *nodes, mean(offered), pct(offered, 100))
	fmt.Printf("| nodes per Offer object, mean / max | %.1f / %.0f |\n", mean(perOffer), pct(perOffer, 100))
	made := first.to.ctrl.Get("agora_offers_made_total") - first.from.ctrl.Get("agora_offers_made_total")
	released := first.to.ctrl.Get("agora_offers_released_total") - first.from.ctrl.Get("agora_offers_released_total")
	rescinded := first.to.ctrl.Get("agora_offers_rescinded_total") - first.from.ctrl.Get("agora_offers_rescinded_total")
	fmt.Printf("| Offers made / released / rescinded (metrics) | %.0f / %.0f / %.0f |\n", made, released, rescinded)

	for _, w := range windows {
		n := nAdmitted
		ok, failed, err := controllerRequests(b.auditLog, w.from.at, w.to.at)
		if err != nil {
			return err
		}
		fmt.Printf("\nagora-controller's API requests, %s window (%.1f s; kube-apiserver audit log, user %s), per admitted task:\n\n",
			w.name, w.to.at.Sub(w.from.at).Seconds(), controllerUser)
		fmt.Printf("| verb resource | requests | per task |\n|---|---|---|\n")
		keys := make([]string, 0, len(ok))
		for k := range ok {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var writes, leaseWrites, reads int
		for _, k := range keys {
			verb, res, _ := strings.Cut(k, " ")
			if res == "leases" && isWrite(verb) {
				leaseWrites += ok[k]
			} else if isWrite(verb) {
				writes += ok[k]
			} else {
				reads += ok[k]
			}
			fmt.Printf("| %s | %d | %.3f |\n", k, ok[k], float64(ok[k])/n)
		}
		fmt.Printf("| **writes (all but the leader-election Lease)** | %d | **%.3f** |\n", writes, float64(writes)/n)
		fmt.Printf("| leader-election Lease writes | %d | |\n", leaseWrites)
		fmt.Printf("| reads (get, list, watch) | %d | %.3f |\n", reads, float64(reads)/n)
		nf := 0
		for _, v := range failed {
			nf += v
		}
		if nf > 0 {
			fmt.Printf("| refused by the API server (conflicts, not found; not counted above) | %d | %v |\n", nf, failed)
		}
	}

	for _, w := range windows {
		fmt.Printf("\nAll clients' writes, %s window (kube-apiserver apiserver_request_total, after - before):\n\n| verb resource | requests | per task |\n|---|---|---|\n", w.name)
		type row struct {
			k string
			v float64
		}
		agg := map[string]float64{}
		for _, s := range w.to.apiserver {
			if s.Name == "apiserver_request_total" {
				agg[apiKey(s.Labels)] += s.Value
			}
		}
		for _, s := range w.from.apiserver {
			if s.Name == "apiserver_request_total" {
				agg[apiKey(s.Labels)] -= s.Value
			}
		}
		var rows []row
		for k, v := range agg {
			verb, _, _ := strings.Cut(k, " ")
			if v >= 1 && isWrite(verb) {
				rows = append(rows, row{k, v})
			}
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].k < rows[j].k })
		for _, r := range rows {
			fmt.Printf("| %s | %.0f | %.2f |\n", r.k, r.v, r.v/nAdmitted)
		}
	}

	fmt.Printf("\nagora-controller's reconciles, admission window (controller-runtime metrics):\n\n| controller | reconciles | total time | mean |\n|---|---|---|---|\n")
	for _, name := range []string{"framework", "offer", "task", "node"} {
		cnt := first.to.ctrl.Get("controller_runtime_reconcile_time_seconds_count", "controller", name) - first.from.ctrl.Get("controller_runtime_reconcile_time_seconds_count", "controller", name)
		sum := first.to.ctrl.Get("controller_runtime_reconcile_time_seconds_sum", "controller", name) - first.from.ctrl.Get("controller_runtime_reconcile_time_seconds_sum", "controller", name)
		if cnt > 0 {
			fmt.Printf("| %s | %.0f | %.2f s | %s |\n", name, cnt, sum, ms(sum/cnt))
		}
	}

	last := windows[len(windows)-1]
	fmt.Printf("\nCPU seconds and memory (MiB) per process:\n\n| process | CPU s, admission window | CPU s, %s window | RSS at end | peak RSS |\n|---|---|---|---|---|\n", last.name)
	names := make([]string, 0, len(b.procs))
	for k := range b.procs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Printf("| %s | %.1f | %.1f | %.0f | %.0f |\n", k, first.to.cpu[k]-first.from.cpu[k], last.to.cpu[k]-last.from.cpu[k], last.to.mem[k].RSS, last.to.mem[k].Peak)
	}
	fmt.Println()
	return nil
}

// apiKey is "verb resource[/subresource]" of an apiserver_request_total sample, with the
// metric's HTTP-ish verbs turned into Kubernetes verbs.
func apiKey(l map[string]string) string {
	verb := strings.ToLower(l["verb"])
	switch verb {
	case "post":
		verb = "create"
	case "put":
		verb = "update"
	case "apply":
		verb = "patch"
	}
	res := l["resource"]
	if l["subresource"] != "" {
		res += "/" + l["subresource"]
	}
	return verb + " " + res
}
