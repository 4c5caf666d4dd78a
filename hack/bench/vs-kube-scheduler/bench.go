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
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/hack/bench/internal/progress"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

type bench struct {
	c        *testcluster.Cluster
	work     string
	auditLog string
	shape    corev1.ResourceList

	ctrlBin, exBin, schedBin string

	admin        *rest.Config // unthrottled, the cluster's admin user (also kwok's)
	adminUser    string
	kube         kubernetes.Interface
	agora        versioned.Interface
	kubeconfigs  map[string]string // user -> kubeconfig file
	frameworkCfg *rest.Config      // the SDK frameworks' user
	podsCfg      *rest.Config      // the kube run's pod creators' user

	procs    map[string]int // kube-apiserver, etcd, kwok
	idleCPU  float64        // kube-apiserver cores at rest, after setup
	probeNS  string
	quietMax float64
}

// result is what one run measured.
type result struct {
	label string
	side  side
	items int
	tr    *tracker

	from, to     time.Time // the measured window: before the first create -> the last item done
	cpu          map[string]float64
	peakMiB      map[string]float64
	loadStart    string
	loadEnd      string
	writes       map[writeKey]int
	failedWrites map[string]int // "user verb resource code" -> writes
	violations   []string       // nil: not checked (kube runs)
	checked      bool
	relaunched   int
	namespaces   []string
	complete     bool // every item reached Running (and, short, finished)
	notes        []string
	procs        []interface{ Stop() } // started for the run; cleanup stops them, last first
}

func (b *bench) procPid(name string) map[string]int {
	return map[string]int{name: b.procs[name]}
}

// measureIdle reads kube-apiserver's CPU at rest, to tell when it is quiet again between runs.
func (b *bench) measureIdle(ctx context.Context) error {
	ns, err := b.c.CreateNamespace(ctx, "bench-probe-", nil)
	if err != nil {
		return err
	}
	b.probeNS = ns
	time.Sleep(3 * time.Second) // the nodes' first heartbeats settle
	b.idleCPU = b.apiserverCores(5 * time.Second)
	b.quietMax = *quietCPU
	if b.quietMax == 0 {
		b.quietMax = 1.5*b.idleCPU + 0.1
	}
	log.Printf("kube-apiserver at rest: %.2f cores; quiet between runs below %.2f cores; %s", b.idleCPU, b.quietMax, procstat.LoadAvg())
	return nil
}

// apiserverCores is kube-apiserver's CPU use over the next d, in cores.
func (b *bench) apiserverCores(d time.Duration) float64 {
	p := b.procPid("kube-apiserver")
	before := procstat.CPUSeconds(p)["kube-apiserver"]
	time.Sleep(d)
	return (procstat.CPUSeconds(p)["kube-apiserver"] - before) / d.Seconds()
}

// snap is what is read at each edge of a run's window.
type snap struct {
	at       time.Time
	cpu      map[string]float64
	load     string
	auditOff int64
}

func (b *bench) snap(procs map[string]int) snap {
	s := snap{at: time.Now(), cpu: procstat.CPUSeconds(procs), load: procstat.LoadAvg()}
	if fi, err := os.Stat(b.auditLog); err == nil {
		s.auditOff = fi.Size()
	}
	return s
}

// finish closes the run's window: CPU per process, peak RSS, writes from the audit log.
func (b *bench) finish(res *result, procs map[string]int, before snap) {
	after := b.snap(procs)
	res.from, res.to = before.at, after.at
	res.loadStart, res.loadEnd = before.load, after.load
	res.cpu = map[string]float64{}
	for name, v := range after.cpu {
		res.cpu[name] = v - before.cpu[name]
	}
	res.peakMiB = map[string]float64{}
	for name, m := range procstat.Memory(procs) {
		res.peakMiB[name] = m.Peak
	}
	w, failed, err := readWrites(b.auditLog, before.auditOff, res.from, res.to)
	if err != nil {
		res.notes = append(res.notes, "audit log: "+err.Error())
	}
	res.writes, res.failedWrites = w, failed
}

func (b *bench) runOne(ctx context.Context, label string, s side) (*result, error) {
	log.Printf("==> run %s: %d %s items of %s cpu / %s memory on %d nodes; %s", label, *items, *workload, *itemCPU, *itemMemory, *nodes, procstat.LoadAvg())
	res := &result{label: label, side: s, items: *items, tr: newTracker(*items)}
	var err error
	if s.frameworks == 0 {
		err = b.runKube(ctx, res)
	} else {
		err = b.runAgora(ctx, res)
	}
	if res.from.IsZero() { // failed before the window opened: nothing to report
		return res, err
	}
	log.Printf("<== run %s: %s", label, res.summary())
	return res, err
}

// waitDone waits until every item reached Running (and, for short items, finished), bounded by
// -run-timeout. It returns whether they did.
func (b *bench) waitDone(ctx context.Context, res *result, note func() string) bool {
	ctx, cancel := context.WithTimeout(ctx, *runTimeout)
	defer cancel()
	tr := res.tr
	if err := progress.WaitCount(ctx, "Running", &tr.nRunning, int64(res.items), note); err != nil {
		log.Print(err)
		return false
	}
	if *workload == "short" {
		if err := progress.WaitCount(ctx, "finished", &tr.nFinished, int64(res.items), note); err != nil {
			log.Print(err)
			return false
		}
	}
	return true
}

// profileWhenBusy takes a 20 s CPU profile of kube-apiserver once a fifth of the items are
// created, into -pprof/<label>.pprof. The returned channel closes when it is done.
func (b *bench) profileWhenBusy(ctx context.Context, res *result) <-chan struct{} {
	done := make(chan struct{})
	if *pprofDir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		for res.tr.nCreated.Load() < int64(res.items/5) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		raw, err := b.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "20").DoRaw(pctx)
		if err != nil {
			log.Printf("%s: kube-apiserver profile: %v", res.label, err)
			return
		}
		path := filepath.Join(*pprofDir, res.label+".pprof")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			log.Printf("%s: %v", res.label, err)
			return
		}
		log.Printf("%s: kube-apiserver CPU profile (20 s from %d items created) in %s", res.label, res.items/5, path)
	}()
	return done
}

// ---- item tracking ------------------------------------------------------------------------------

// tracker notes, per item, when its create returned, when it was first seen placed (a Pod bound
// to a node; a Task admitted), Running and finished. Items are named item-<index> (Pods) or
// item-<index>-<attempt> (Tasks).
type tracker struct {
	mu                                 sync.Mutex
	created, placed, running, finished []time.Time
	nCreated, nRunning, nFinished      atomic.Int64
	nPlaced                            atomic.Int64
	createdNames                       map[string]bool
}

func newTracker(n int) *tracker {
	return &tracker{created: make([]time.Time, n), placed: make([]time.Time, n), running: make([]time.Time, n),
		finished: make([]time.Time, n), createdNames: map[string]bool{}}
}

func itemName(i int) string { return fmt.Sprintf("item-%06d", i) }

// itemOf returns the item index of a Pod or Task name, or -1.
func (t *tracker) itemOf(name string) int {
	var i int
	if _, err := fmt.Sscanf(name, "item-%d", &i); err != nil || i < 0 || i >= len(t.created) {
		return -1
	}
	return i
}

func (t *tracker) markCreated(name string, at time.Time) {
	i := t.itemOf(name)
	if i < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.createdNames[name] = true
	if t.created[i].IsZero() {
		t.created[i] = at
		t.nCreated.Add(1)
	}
}

func (t *tracker) wasCreated(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.createdNames[name]
}

// seen notes a watch event of the item named name: whether it reads placed, running, or finished
// (succeeded). An item seen finished without a Running seen counts as running then.
func (t *tracker) seen(name string, placed, running, finished bool) {
	i := t.itemOf(name)
	if i < 0 {
		return
	}
	now := time.Now()
	if placed || running || finished {
		t.mark(t.placed, &t.nPlaced, i, now)
	}
	if running || finished {
		t.mark(t.running, &t.nRunning, i, now)
	}
	if finished {
		t.mark(t.finished, &t.nFinished, i, now)
	}
}

func (t *tracker) mark(at []time.Time, n *atomic.Int64, i int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at[i].IsZero() {
		at[i] = now
		n.Add(1)
	}
}

func (t *tracker) progress() string {
	return fmt.Sprintf("%d created, %d Running, %d finished; %s", t.nCreated.Load(), t.nRunning.Load(), t.nFinished.Load(), procstat.LoadAvg())
}

// stats are the run's speed numbers.
type stats struct {
	firstCreate, lastCreate, lastRunning, lastFinished time.Time
	toRunning                                          float64 // items/s
	creates                                            float64 // items created per second (first -> last create)
	p50, p99                                           time.Duration
	placedP50, placedToRunP50                          time.Duration // create -> placed, placed -> Running
	makespan                                           time.Duration
	completedPerSec                                    float64
}

func (t *tracker) stats() stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s stats
	var lat, toPlaced, placedToRun []time.Duration
	for i := range t.created {
		c, p, r, f := t.created[i], t.placed[i], t.running[i], t.finished[i]
		if !c.IsZero() && (s.firstCreate.IsZero() || c.Before(s.firstCreate)) {
			s.firstCreate = c
		}
		if c.After(s.lastCreate) {
			s.lastCreate = c
		}
		// A watch event may arrive before the create call returns to its caller.
		if !c.IsZero() && !p.IsZero() {
			toPlaced = append(toPlaced, max(p.Sub(c), 0))
		}
		if !p.IsZero() && !r.IsZero() {
			placedToRun = append(placedToRun, r.Sub(p))
		}
		if r.After(s.lastRunning) {
			s.lastRunning = r
		}
		if f.After(s.lastFinished) {
			s.lastFinished = f
		}
		if !c.IsZero() && !r.IsZero() {
			lat = append(lat, max(r.Sub(c), 0))
		}
	}
	s.p50, s.p99 = quantile(lat, 0.50), quantile(lat, 0.99)
	s.placedP50, s.placedToRunP50 = quantile(toPlaced, 0.50), quantile(placedToRun, 0.50)
	if n := t.nCreated.Load(); n > 1 && s.lastCreate.After(s.firstCreate) {
		s.creates = float64(n) / s.lastCreate.Sub(s.firstCreate).Seconds()
	}
	if n := t.nRunning.Load(); n > 0 && s.lastRunning.After(s.firstCreate) {
		s.toRunning = float64(n) / s.lastRunning.Sub(s.firstCreate).Seconds()
	}
	if n := t.nFinished.Load(); n > 0 && s.lastFinished.After(s.firstCreate) {
		s.makespan = s.lastFinished.Sub(s.firstCreate)
		s.completedPerSec = float64(n) / s.makespan.Seconds()
	}
	return s
}

// quantile sorts d and returns its q-quantile.
func quantile(d []time.Duration, q float64) time.Duration {
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// watchFresh watches from the resourceVersion of an (empty) list, re-opening the watch when it
// ends, and hands every object seen to on, until ctx ends.
func watchFresh[L interface{ GetResourceVersion() string }](ctx context.Context, list func(context.Context, metav1.ListOptions) (L, error),
	open func(context.Context, metav1.ListOptions) (watch.Interface, error), on func(runtime.Object)) error {
	l, err := list(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, l.GetResourceVersion(), &cache.ListWatch{WatchFuncWithContext: open})
	if err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if ev.Type != watch.Error {
				on(ev.Object)
			}
		}
	}()
	return nil
}
