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

// Command executor benchmarks agora-executor at scale: one executor process, in simulation mode,
// serves N kwok nodes and launches T admitted tasks.
//
//	go run ./hack/bench/executor -nodes 1000 -tasks 10000
//
// It starts a private control plane (test/testcluster: etcd, kube-apiserver, kwok, N nodes),
// builds and starts bin-less `agora-executor` as a separate process (so that its CPU and memory
// are its own), waits until it serves every node, then plays the controller: it creates the
// Tasks and admits them (status phase Staging) from -stagers goroutines, as fast as the API
// server takes them (or at -rate per second). A watch on all Tasks timestamps each task's
// Starting, Running and Finished. With -mode burst it admits every task before starting the
// executor instead, which measures a restart onto a full backlog.
//
// Reported: tasks/s from Staging to Running, latency percentiles (Staging->Starting is the
// executor's reaction; Staging->Running adds kwok's), API requests per task by verb and resource
// (from the executor's own agora_executor_api_requests_total), and CPU seconds and peak memory
// of the executor, kube-apiserver, etcd and kwok over the run. Everything runs on this machine,
// so all of them share its cores; the report says how many.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/hack/bench/internal/progress"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	nodes          = flag.Int("nodes", 1000, "kwok nodes, all served by one executor")
	tasks          = flag.Int("tasks", 10000, "tasks to launch")
	namespaces     = flag.Int("namespaces", 10, "namespaces the tasks are spread over")
	stagers        = flag.Int("stagers", 32, "concurrent clients creating and admitting tasks")
	rate           = flag.Float64("rate", 0, "admissions per second (0: as fast as the API server takes them)")
	mode           = flag.String("mode", "stream", "stream: admit while the executor runs; burst: admit all, then start the executor")
	completeAfter  = flag.String("complete-after", "30s", "kwok finishes each pod this long after it runs (agora.dev/complete-after); empty: tasks run until the end")
	workers        = flag.Int("workers", 32, "executor --workers")
	qps            = flag.Int("qps", 2000, "executor --kube-api-qps (burst is twice this)")
	timeout        = flag.Duration("timeout", 15*time.Minute, "give up after this long")
	executorArgs   = flag.String("executor-args", "", "extra agora-executor flags, space separated")
	keepExecutorLg = flag.Bool("keep-executor-log", false, "print the executor's log at the end")
)

// rec is one task's timeline, as the bench saw it.
type rec struct {
	staged, starting, running, finished time.Time
}

type recorder struct {
	mu   sync.Mutex
	recs map[string]*rec // namespace/name
}

func (r *recorder) get(key string) *rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.recs[key]
	if x == nil {
		x = &rec{}
		r.recs[key] = x
	}
	return x
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// Ctrl-C or a timeout still stops everything this started (the deferred Stop below).
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, *timeout)
	defer cancel()

	log.Printf("starting a control plane with %d kwok nodes", *nodes)
	c, err := testcluster.Start(ctx, testcluster.Options{
		Nodes: *nodes, CPU: "32", Memory: "128Gi",
		// The benchmark measures the executor, not the API server's admission throttling.
		APIServerFlags: map[string]string{"max-requests-inflight": "2000", "max-mutating-requests-inflight": "1000"},
		Logf:           log.Printf,
	})
	if err != nil {
		return err
	}
	defer func() {
		log.Print("stopping the control plane")
		if err := c.Stop(); err != nil {
			log.Print(err)
		}
	}()

	bin := filepath.Join(c.Dir, "agora-executor")
	log.Print("building agora-executor")
	build := exec.Command("go", "build", "-o", bin, "./cmd/agora-executor")
	build.Dir = c.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}

	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0 // the bench's own clients are not the subject: no client-side limit
	agora, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	nss := make([]string, *namespaces)
	for i := range nss {
		if nss[i], err = c.CreateNamespace(ctx, fmt.Sprintf("bench-%d-", i), nil); err != nil {
			return err
		}
	}

	r := &recorder{recs: map[string]*rec{}}
	var running, finished atomic.Int64
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch() // before the cluster stops (defers run last-in first-out)
	if err := watchTasks(watchCtx, agora, r, &running, &finished); err != nil {
		return err
	}

	procs := procstat.Children(c.BinDir, "kube-apiserver", "etcd", "kwok")
	var ex *executorProc
	startEx := func() error {
		ex, err = startExecutor(ctx, bin, c.Kubeconfig)
		if err != nil {
			return err
		}
		procs["agora-executor"] = ex.cmd.Process.Pid
		log.Printf("executor ready in %s, serving %d nodes", ex.readyAfter.Round(time.Millisecond), *nodes)
		return nil
	}
	defer func() {
		if ex != nil {
			ex.stop()
			if *keepExecutorLg {
				fmt.Println(ex.log.String())
			}
		}
	}()

	if *mode == "stream" {
		if err := startEx(); err != nil {
			return err
		}
	}
	cpu0 := procstat.CPUSeconds(procs)
	start := time.Now()
	log.Printf("admitting %d tasks over %d namespaces with %d clients", *tasks, *namespaces, *stagers)
	if err := stage(ctx, agora, nss, r); err != nil {
		return err
	}
	admitted := time.Since(start)
	log.Printf("admitted %d tasks in %s (%.0f/s)", *tasks, admitted.Round(time.Millisecond), float64(*tasks)/admitted.Seconds())
	if *mode == "burst" {
		if err := startEx(); err != nil {
			return err
		}
		cpu0 = procstat.CPUSeconds(procs) // the executor's clock starts now; the others' too, for comparability
		start = time.Now()
	}

	partial := false
	if err := progress.WaitCount(ctx, "Running", &running, int64(*tasks), nil); err != nil {
		if ctx.Err() == nil || sigCtx.Err() != nil {
			return err
		}
		// Out of time: report what was reached, marked as such.
		log.Print(err)
		partial = true
	}
	allRunning := time.Since(start)
	cpuRunning := procstat.CPUSeconds(procs)
	metricsRunning, err := scrape(ex.addr)
	if err != nil {
		return err
	}
	memRunning := procstat.Memory(procs)

	var allFinished time.Duration
	var metricsFinished map[string]float64
	var cpuFinished map[string]float64
	if *completeAfter != "" && !partial {
		if err := progress.WaitCount(ctx, "Finished", &finished, int64(*tasks), nil); err != nil {
			return err
		}
		// Finished is written before the finalizer goes; wait for those writes too.
		if err := waitFinalizersGone(ctx, agora, nss); err != nil {
			return err
		}
		allFinished = time.Since(start)
		cpuFinished = procstat.CPUSeconds(procs)
		if metricsFinished, err = scrape(ex.addr); err != nil {
			return err
		}
	}
	mem := procstat.Memory(procs)

	report(r, start, admitted, allRunning, allFinished, cpu0, cpuRunning, cpuFinished, metricsRunning, metricsFinished, memRunning, mem, ex, partial)
	return nil
}

// ---- the controller's part: create and admit ----------------------------------------------------

func stage(ctx context.Context, agora versioned.Interface, nss []string, r *recorder) error {
	var ann map[string]string
	if *completeAfter != "" {
		ann = map[string]string{"agora.dev/complete-after": *completeAfter}
	}
	var next atomic.Int64
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) / *rate)
	}
	begin := time.Now()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	stopProgress := make(chan struct{})
	defer close(stopProgress)
	go func() {
		for {
			select {
			case <-stopProgress:
				return
			case <-progress.C:
				log.Printf("%d/%d tasks admitted", min(int(next.Load()), *tasks), *tasks)
			}
		}
	}()
	errs := make(chan error, *stagers)
	var wg sync.WaitGroup
	for w := 0; w < *stagers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *tasks {
					return
				}
				if interval > 0 {
					if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
						time.Sleep(d) // pacing the load generator, not waiting for a result
					}
				}
				ns := nss[i%len(nss)]
				name := fmt.Sprintf("task-%05d", i)
				task := &agorav1alpha1.Task{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
					Spec: agorav1alpha1.TaskSpec{
						OfferName: "bench",
						NodeName:  fmt.Sprintf("%s%d", testcluster.NodeNamePrefix, i%*nodes),
						Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
						Template: corev1.PodTemplateSpec{
							ObjectMeta: metav1.ObjectMeta{Annotations: ann},
							Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
						},
					},
				}
				created, err := agora.SchedulingV1alpha1().Tasks(ns).Create(ctx, task, metav1.CreateOptions{})
				if err != nil {
					errs <- fmt.Errorf("create %s/%s: %w", ns, name, err)
					return
				}
				created.Status.Phase = agorav1alpha1.TaskStaging
				created.Status.Reason = agorav1alpha1.ReasonAdmitted
				created.Status.Framework = "bench"
				r.get(ns + "/" + name).staged = time.Now()
				if _, err := agora.SchedulingV1alpha1().Tasks(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
					errs <- fmt.Errorf("admit %s/%s: %w", ns, name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// ---- observation ---------------------------------------------------------------------------------

// watchTasks timestamps every task's first Starting, Running and Finished, from a watch that
// resumes across the API server's watch timeouts.
func watchTasks(ctx context.Context, agora versioned.Interface, r *recorder, running, finished *atomic.Int64) error {
	list, err := agora.SchedulingV1alpha1().Tasks("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	lw := &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return agora.SchedulingV1alpha1().Tasks("").Watch(ctx, o)
		},
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, lw)
	if err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			task, ok := ev.Object.(*agorav1alpha1.Task)
			if !ok {
				continue
			}
			now := time.Now()
			x := r.get(task.Namespace + "/" + task.Name)
			r.mu.Lock()
			switch task.Status.Phase {
			case agorav1alpha1.TaskStarting:
				if x.starting.IsZero() {
					x.starting = now
				}
			case agorav1alpha1.TaskRunning:
				if x.running.IsZero() {
					x.running = now
					running.Add(1)
				}
			case agorav1alpha1.TaskFinished:
				if x.running.IsZero() { // ran and finished between two looks
					x.running = now
					running.Add(1)
				}
				if x.finished.IsZero() {
					x.finished = now
					finished.Add(1)
				}
			case agorav1alpha1.TaskFailed, agorav1alpha1.TaskError, agorav1alpha1.TaskLost:
				log.Printf("task %s/%s: %s %s: %s", task.Namespace, task.Name, task.Status.Phase, task.Status.Reason, task.Status.Message)
			}
			r.mu.Unlock()
		}
	}()
	return nil
}

func waitFinalizersGone(ctx context.Context, agora versioned.Interface, nss []string) error {
	for {
		held := 0
		for _, ns := range nss {
			list, err := agora.SchedulingV1alpha1().Tasks(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, t := range list.Items {
				if len(t.Finalizers) > 0 {
					held++
				}
			}
		}
		if held == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d tasks still hold the finalizer", held)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ---- the executor process ------------------------------------------------------------------------

type executorProc struct {
	cmd        *exec.Cmd
	log        *testcluster.SyncBuffer
	addr       string
	readyAfter time.Duration
	done       chan struct{}
}

var addrRE = regexp.MustCompile(`Serving metrics and health checks" address="([^"]+)"`)

func startExecutor(ctx context.Context, bin, kubeconfig string) (*executorProc, error) {
	args := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address=127.0.0.1:0",
		fmt.Sprintf("--workers=%d", *workers), fmt.Sprintf("--kube-api-qps=%d", *qps), fmt.Sprintf("--kube-api-burst=%d", 2**qps)}
	args = append(args, strings.Fields(*executorArgs)...)
	cmd := exec.Command(bin, args...)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NODE_NAME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	p := &executorProc{cmd: cmd, log: &testcluster.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("agora-executor exited:\n%s", p.log.String())
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("agora-executor not ready in time:\n%s", tailString(p.log.String(), 20))
		case <-time.After(100 * time.Millisecond):
		}
		if p.addr == "" {
			if m := addrRE.FindStringSubmatch(p.log.String()); m != nil {
				p.addr = m[1]
			}
			continue
		}
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			p.readyAfter = time.Since(start)
			return p, nil
		}
	}
}

func (p *executorProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// scrape returns the executor's metrics as "name{labels}" -> value.
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// ---- processes: CPU and memory from /proc --------------------------------------------------------

// ---- report --------------------------------------------------------------------------------------

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(d)))) - 1
	if i < 0 {
		i = 0
	}
	return d[i]
}

func fmtD(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

func report(r *recorder, start time.Time, admitted, allRunning, allFinished time.Duration,
	cpu0, cpuRunning, cpuFinished map[string]float64, mRunning, mFinished map[string]float64,
	memRunning, memEnd map[string]procstat.Mem, ex *executorProc, partial bool) {

	var toStarting, toRunning []time.Duration
	var firstStaged, lastRunning time.Time
	r.mu.Lock()
	for _, x := range r.recs {
		if x.staged.IsZero() || x.running.IsZero() {
			continue
		}
		from := x.staged
		if *mode == "burst" {
			from = start // the backlog was there before the executor
		}
		if !x.starting.IsZero() {
			toStarting = append(toStarting, x.starting.Sub(from))
		}
		toRunning = append(toRunning, x.running.Sub(from))
		if firstStaged.IsZero() || x.staged.Before(firstStaged) {
			firstStaged = x.staged
		}
		if x.running.After(lastRunning) {
			lastRunning = x.running
		}
	}
	r.mu.Unlock()
	sort.Slice(toStarting, func(i, j int) bool { return toStarting[i] < toStarting[j] })
	sort.Slice(toRunning, func(i, j int) bool { return toRunning[i] < toRunning[j] })
	window := lastRunning.Sub(firstStaged)
	if *mode == "burst" {
		window = lastRunning.Sub(start)
	}

	n := float64(len(toRunning))
	fmt.Printf("\n## agora-executor benchmark: %d nodes, %d tasks, mode %s\n\n", *nodes, *tasks, *mode)
	if partial {
		fmt.Printf("**PARTIAL: the time ran out (-timeout %s) with %d of %d tasks Running; the figures below are for those %d.**\n\n",
			*timeout, len(toRunning), *tasks, len(toRunning))
	}
	fmt.Printf("Machine: %d cores (GOMAXPROCS %d), shared by kube-apiserver, etcd, kwok, the executor and this load generator. Go %s.\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("Executor: --workers=%d --kube-api-qps=%d --kube-api-burst=%d %s; ready (all %d nodes' caches synced) %s after start.\n\n",
		*workers, *qps, 2**qps, *executorArgs, *nodes, fmtD(ex.readyAfter))
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| tasks admitted (create + status Staging), by %d clients | %s, %.0f tasks/s |\n", *stagers, fmtD(admitted), float64(*tasks)/admitted.Seconds())
	fmt.Printf("| Staging -> Running, all tasks | %s, **%.0f tasks/s** |\n", fmtD(window), n/window.Seconds())
	fmt.Printf("| latency Staging -> Starting (executor) p50 / p90 / p99 / max | %s / %s / %s / %s |\n",
		fmtD(percentile(toStarting, 50)), fmtD(percentile(toStarting, 90)), fmtD(percentile(toStarting, 99)), fmtD(percentile(toStarting, 100)))
	fmt.Printf("| latency Staging -> Running (executor + kwok) p50 / p90 / p99 / max | %s / %s / %s / %s |\n",
		fmtD(percentile(toRunning, 50)), fmtD(percentile(toRunning, 90)), fmtD(percentile(toRunning, 99)), fmtD(percentile(toRunning, 100)))
	if allFinished > 0 {
		fmt.Printf("| all Finished and released (complete-after %s) | %s after the first admission |\n", *completeAfter, fmtD(allFinished))
	}

	writes := func(m map[string]float64, until string) {
		type row struct {
			k string
			v float64
		}
		var rows []row
		var taskWrites, leaseWrites, reads float64
		for k, v := range m {
			if !strings.HasPrefix(k, "agora_executor_api_requests_total{") {
				continue
			}
			rows = append(rows, row{k, v})
			isWrite := !strings.Contains(k, `verb="get"`) && !strings.Contains(k, `verb="list"`) && !strings.Contains(k, `verb="watch"`)
			switch {
			case strings.Contains(k, `resource="leases"`):
				if isWrite {
					leaseWrites += v
				}
			case isWrite:
				taskWrites += v
			default:
				reads += v
			}
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].k < rows[j].k })
		fmt.Printf("\nExecutor API requests until %s (agora_executor_api_requests_total):\n\n| verb, resource | total | per task |\n|---|---|---|\n", until)
		for _, x := range rows {
			k := strings.TrimSuffix(strings.TrimPrefix(x.k, "agora_executor_api_requests_total{"), "}")
			fmt.Printf("| %s | %.0f | %.2f |\n", k, x.v, x.v/n)
		}
		fmt.Printf("| **writes for tasks (pods, tasks, tasks/status, events)** | %.0f | **%.2f** |\n", taskWrites, taskWrites/n)
		fmt.Printf("| lease writes (%d nodes, renewal every 10s) | %.0f | |\n", *nodes, leaseWrites)
		fmt.Printf("| reads (get, list, watch) | %.0f | %.2f |\n", reads, reads/n)
		fmt.Printf("| sync errors (conflicts included), retried | %.0f | |\n", m["agora_executor_sync_errors_total"])
	}
	writes(mRunning, "all Running")
	if mFinished != nil {
		writes(mFinished, "all Finished")
	}

	fmt.Printf("\nCPU seconds and memory (MiB) per process:\n\n| process | CPU s to all Running | CPU s to all Finished | RSS at all Running | RSS at end | peak RSS |\n|---|---|---|---|---|---|\n")
	names := make([]string, 0, len(cpu0))
	for k := range cpu0 {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fin := "-"
		if cpuFinished != nil {
			fin = fmt.Sprintf("%.1f", cpuFinished[k]-cpu0[k])
		}
		fmt.Printf("| %s | %.1f | %s | %.0f | %.0f | %.0f |\n", k, cpuRunning[k]-cpu0[k], fin, memRunning[k].RSS, memEnd[k].RSS, memEnd[k].Peak)
	}
	fmt.Println()
}
