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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/pkg/sdk"
	"github.com/agora-sched/agora/test/invariants"
)

// checker is what the bench needs of the invariants checker (test/invariants).
type checker interface {
	Run(ctx context.Context, interval time.Duration)
	Violations() []invariants.Violation
}

// runAgora: F SDK frameworks launch the items as Tasks on the offers of agora-controller;
// agora-executor runs them as pods on kwok.
func (b *bench) runAgora(ctx context.Context, res *result) error {
	F := res.side.frameworks
	for i := range F {
		ns, err := b.c.CreateNamespace(ctx, fmt.Sprintf("bench-agora-fw%d-", i), nil)
		if err != nil {
			return err
		}
		res.namespaces = append(res.namespaces, ns)
	}

	// Each is restarted should it exit during the run, as its DaemonSet or Deployment would (the
	// controller exits when it loses its leader Lease); the report says so.
	exPort, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	exAddr := fmt.Sprintf("127.0.0.1:%d", exPort)
	ex := &keeper{name: "agora-executor", label: res.label, bin: b.exBin, dir: b.work,
		args:  append([]string{"--kubeconfig", b.kubeconfigs[userExecutor], "--metrics-bind-address=" + exAddr}, strings.Fields(*executorArgs)...),
		ready: func() error { return benchproc.HTTPOK("http://" + exAddr + "/readyz") }}
	res.procs = append(res.procs, ex)
	if err := ex.start(ctx); err != nil {
		return err
	}
	log.Printf("agora-executor ready in %s, serving %d nodes (one simulated process for N DaemonSet pods: %s)", ex.proc().ReadyAfter.Round(time.Millisecond), *nodes, *executorArgs)

	ctrlPort, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	ctrlMetrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", ctrlPort)
	ctl := &keeper{name: "agora-controller", label: res.label, bin: b.ctrlBin, dir: b.work,
		args: append([]string{"--kubeconfig", b.kubeconfigs[userController], fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ctrlPort),
			"--health-probe-bind-address=0", "--node-selector=type=kwok"}, strings.Fields(*controllerArgs)...),
		ready: func() error {
			// Ready once it leads and its pool holds every node (their Leases seen fresh).
			n, err := benchproc.Gauge(ctrlMetrics, "agora_pool_nodes")
			if err != nil {
				return err
			}
			if int(n) != *nodes {
				return fmt.Errorf("pool has %v nodes", n)
			}
			return nil
		}}
	res.procs = append(res.procs, ctl)
	if err := ctl.start(ctx); err != nil {
		return err
	}
	log.Printf("agora-controller ready in %s (pool of %d nodes)", ctl.proc().ReadyAfter.Round(time.Millisecond), *nodes)
	go ex.keep(ctx)
	go ctl.keep(ctx)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var ck checker = invariants.New(b.kube, b.agora, log.Printf)
	var checkerDone sync.WaitGroup
	checkerDone.Add(1)
	go func() {
		defer checkerDone.Done()
		ck.Run(runCtx, 2*time.Second)
	}()
	res.checked = true

	ours := map[string]bool{}
	for _, ns := range res.namespaces {
		ours[ns] = true
	}
	tasks := b.agora.SchedulingV1alpha1().Tasks("")
	err = watchFresh(runCtx, tasks.List, tasks.Watch, func(o runtime.Object) {
		t, ok := o.(*agorav1alpha1.Task)
		if !ok || !ours[t.Namespace] {
			return
		}
		ph := t.Status.Phase
		res.tr.seen(t.Name, ph != "" && ph != agorav1alpha1.TaskError, ph == agorav1alpha1.TaskRunning, ph == agorav1alpha1.TaskFinished)
	})
	if err != nil {
		return err
	}

	// The frameworks' client notes when each Task create returns (inside Driver.Launch).
	fwCfg := rest.CopyConfig(b.frameworkCfg)
	fwCfg.QPS, fwCfg.Burst = -1, 0 // as the kube run's pod creators: the bench's clients are not throttled
	fwCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &createTimes{rt: rt, tr: res.tr} })

	before := b.snap(b.procs)
	ctlBefore, exBefore := ctl.cpu(), ex.cpu()
	profiled := b.profileWhenBusy(ctx, res)
	var fws []*filler
	var drivers sync.WaitGroup
	tmpl := b.podTemplate()
	for i, ns := range res.namespaces {
		f := &filler{label: res.label, ns: ns, shape: b.shape, tmpl: tmpl, tr: res.tr, ctx: runCtx, attempt: map[int]int{}}
		// Items split evenly: framework i launches items i, i+F, i+2F, ...
		for it := i; it < res.items; it += F {
			f.todo = append(f.todo, it)
		}
		fws = append(fws, f)
		d, err := sdk.NewForConfig(fwCfg, sdk.Config{Namespace: ns, Name: "bench"}, f)
		if err != nil {
			return err
		}
		drivers.Add(1)
		go func() {
			defer drivers.Done()
			if err := d.Run(runCtx); err != nil && runCtx.Err() == nil {
				log.Printf("%s: framework %s: %v", res.label, ns, err)
			}
		}()
	}
	res.complete = b.waitDone(ctx, res, func() string {
		s := res.tr.progress()
		if vs := ck.Violations(); len(vs) > 0 {
			s += fmt.Sprintf("; %d invariant violations", len(vs))
		}
		return s
	})
	b.finish(res, b.procs, before)
	res.cpu["agora-controller"], res.cpu["agora-executor"] = ctl.cpu()-ctlBefore, ex.cpu()-exBefore
	res.peakMiB["agora-controller"], res.peakMiB["agora-executor"] = ctl.peak(), ex.peak()
	for _, k := range []*keeper{ctl, ex} {
		if n, why := k.exits(); n > 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s exited %d times during the run and was restarted (last: %s)", k.name, n, why))
		}
	}
	<-profiled
	stopRun()
	drivers.Wait()
	checkerDone.Wait()
	res.violations = []string{}
	for _, v := range ck.Violations() {
		res.violations = append(res.violations, fmt.Sprintf("[%s] %s %s", v.Invariant, v.At.Format("15:04:05.000"), v.Detail))
	}
	for _, f := range fws {
		res.relaunched += f.relaunched
		for reason, n := range f.rejected {
			res.notes = append(res.notes, fmt.Sprintf("%s: %d tasks ended %s (launched again)", f.ns, n, reason))
		}
		if f.launchErrors > 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s: %d Launch calls returned errors (first: %v)", f.ns, f.launchErrors, f.firstLaunchErr))
		}
	}
	return nil
}

// createTimes notes, for every Task create that succeeds, when its response came back: when
// Driver.Launch's create for that task returned.
type createTimes struct {
	rt http.RoundTripper
	tr *tracker
}

func (c *createTimes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/tasks") || resp.StatusCode != http.StatusCreated {
		return resp, err
	}
	at := time.Now()
	body, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	var obj struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if json.Unmarshal(body, &obj) == nil {
		c.tr.markCreated(obj.Metadata.Name, at)
	}
	return resp, nil
}

// filler is a framework as one would write it with the SDK: on each offer it launches as many of
// its remaining items as fit on each offered node (filling the offer), and Launch releases what
// they did not take; once nothing is left to launch it suppresses offers. A task that ends
// without running to completion (rejected at admission: Error; or Failed, Killed, Lost) is
// launched again under a new name, reviving offers if it had suppressed them.
type filler struct {
	sdk.NoopScheduler
	label string
	ns    string
	shape corev1.ResourceList
	tmpl  corev1.PodTemplateSpec
	tr    *tracker
	ctx   context.Context

	todo           []int       // items still to launch
	attempt        map[int]int // item -> its current attempt
	suppressed     bool
	relaunched     int
	rejected       map[string]int // phase/reason -> tasks
	launchErrors   int
	firstLaunchErr error
}

func (f *filler) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	for _, o := range offers {
		var tasks []sdk.TaskInfo
		rem := sdk.Remaining(o)
		for _, n := range o.Spec.Nodes {
			for k := sdk.Slots(rem[n.NodeName], f.shape); k > 0 && len(f.todo) > 0; k-- {
				it := f.todo[0]
				f.todo = f.todo[1:]
				tasks = append(tasks, sdk.TaskInfo{Name: fmt.Sprintf("%s-%d", itemName(it), f.attempt[it]), NodeName: n.NodeName,
					Resources: f.shape, Template: f.tmpl})
			}
		}
		if err := d.Launch(f.ctx, []*agorav1alpha1.Offer{o}, tasks...); err != nil && f.ctx.Err() == nil {
			f.launchErrors++
			if f.firstLaunchErr == nil {
				f.firstLaunchErr = err
				log.Printf("%s: framework %s: launch on offer %s: %v", f.label, f.ns, o.Name, err)
			}
		}
		// A task whose create did not go through is launched again on a later offer.
		for _, t := range tasks {
			if !f.tr.wasCreated(t.Name) {
				f.again(f.tr.itemOf(t.Name))
			}
		}
	}
	f.suppressOrRevive(d)
}

func (f *filler) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	p := t.Status.Phase
	if !p.IsTerminal() || p == agorav1alpha1.TaskFinished {
		return
	}
	it := f.tr.itemOf(t.Name)
	if it < 0 || t.Name != fmt.Sprintf("%s-%d", itemName(it), f.attempt[it]) {
		return // an earlier attempt's news
	}
	if f.rejected == nil {
		f.rejected = map[string]int{}
	}
	key := string(p) + "/" + t.Status.Reason
	if f.rejected[key]++; f.rejected[key] <= 3 {
		log.Printf("%s: task %s/%s ended %s: %s (launched again)", f.label, f.ns, t.Name, key, t.Status.Message)
	}
	f.again(it)
	f.suppressOrRevive(d)
}

func (f *filler) again(it int) {
	if it < 0 {
		return
	}
	f.attempt[it]++
	f.relaunched++
	f.todo = append(f.todo, it)
}

// suppressOrRevive suppresses offers when nothing is left to launch and revives them when
// something is again.
func (f *filler) suppressOrRevive(d *sdk.Driver) {
	var err error
	switch {
	case len(f.todo) == 0 && !f.suppressed:
		err = d.Suppress(f.ctx)
		f.suppressed = err == nil
	case len(f.todo) > 0 && f.suppressed:
		err = d.Revive(f.ctx)
		f.suppressed = err != nil
	}
	if err != nil && f.ctx.Err() == nil {
		log.Printf("%s: framework %s: %v", f.label, f.ns, err)
	}
}

// keeper runs one process under test for a run and restarts it when it exits by itself, as a
// Deployment or DaemonSet would. Its CPU and peak RSS add up over every process it ran.
type keeper struct {
	name, label, bin, dir string
	args                  []string
	ready                 func() error

	mu       sync.Mutex
	cur      *benchproc.Process
	starts   int
	stopping bool
	deadCPU  float64 // CPU seconds of the processes that exited
	deadPeak float64
	lastWhy  string
}

// start starts the process and waits (up to 3 minutes) until it is ready.
func (k *keeper) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	k.mu.Lock()
	k.starts++
	name := fmt.Sprintf("%s-%s", k.name, k.label)
	if k.starts > 1 {
		name += fmt.Sprintf("-%d", k.starts)
	}
	k.mu.Unlock()
	p, err := benchproc.Start(ctx, name, k.bin, k.dir, k.args, k.ready)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur = p
	if k.stopping {
		go p.Stop()
	}
	return nil
}

// keep restarts the process whenever it exits, until Stop or ctx ends.
func (k *keeper) keep(ctx context.Context) {
	for {
		p := k.proc()
		select {
		case <-ctx.Done():
			return
		case <-p.Done():
		}
		k.mu.Lock()
		cpu, peak := p.Usage()
		k.deadCPU += cpu
		k.deadPeak = max(k.deadPeak, peak)
		if k.stopping {
			k.mu.Unlock()
			return
		}
		last := benchproc.TailFile(p.LogPath, 1)
		if len(last) > 200 {
			last = last[:200] + "..."
		}
		k.lastWhy = fmt.Sprintf("%s; its log's last line: %s", p.ExitStatus(), last)
		k.mu.Unlock()
		log.Printf("%s: %s exited by itself (%s); restarting it. Last lines of its log:\n%s", k.label, k.name, p.ExitStatus(), benchproc.TailFile(p.LogPath, 5))
		if err := k.start(ctx); err != nil {
			log.Printf("%s: restarting %s: %v", k.label, k.name, err)
			return
		}
	}
}

func (k *keeper) proc() *benchproc.Process {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur
}

// Stop stops the process for good.
func (k *keeper) Stop() {
	k.mu.Lock()
	k.stopping = true
	p := k.cur
	k.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// cpu is the CPU seconds of every process run so far.
func (k *keeper) cpu() float64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur == nil {
		return k.deadCPU
	}
	return k.deadCPU + procstat.CPUSeconds(map[string]int{k.name: k.cur.Pid()})[k.name]
}

// peak is the largest peak RSS (MiB) of the processes run so far.
func (k *keeper) peak() float64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur == nil {
		return k.deadPeak
	}
	return max(k.deadPeak, procstat.Memory(map[string]int{k.name: k.cur.Pid()})[k.name].Peak)
}

// exits is how many times the process exited by itself, and the last line of the last one's log.
func (k *keeper) exits() (int, string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.starts - 1, k.lastWhy
}
