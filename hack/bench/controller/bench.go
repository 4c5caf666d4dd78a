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
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/hack/bench/internal/benchproc"
	"github.com/agora-sched/agora/hack/bench/internal/procstat"
	"github.com/agora-sched/agora/hack/bench/internal/progress"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

type bench struct {
	c        *testcluster.Cluster
	agora    versioned.Interface
	ctrlAddr string
	ctl      *benchproc.Process
	procs    map[string]int
	auditLog string
	machine  machine

	fws []*framework

	mu       sync.Mutex
	created  map[string]time.Time // namespace/name -> create returned
	admitted map[string]time.Time // namespace/name -> first seen Staging or later
	running  map[string]bool
	rejected map[string]int // reason -> count
	// Per framework namespace: tasks seen admitted and rejected.
	nsAdmitted, nsRejected map[string]*atomic.Int64
	nAdmit                 atomic.Int64
	nRunning               atomic.Int64
}

// snapshot is what is read at each edge of a measurement window.
type snapshot struct {
	at        time.Time
	cpu       map[string]float64
	mem       map[string]procstat.Mem
	apiserver benchproc.Metrics
	ctrl      benchproc.Metrics
	load      string
}

func (b *bench) snap(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now(), cpu: procstat.CPUSeconds(b.procs), mem: procstat.Memory(b.procs), load: b.machine.load()}
	raw, err := b.c.Kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return s, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	if s.apiserver, err = benchproc.ParseMetrics(bytesReader(raw)); err != nil {
		return s, err
	}
	if s.ctrl, err = benchproc.Scrape("http://" + b.ctrlAddr + "/metrics"); err != nil {
		return s, fmt.Errorf("agora-controller /metrics: %w", err)
	}
	return s, nil
}

func (b *bench) run(ctx, sigCtx context.Context) error {
	b.created, b.admitted, b.running, b.rejected = map[string]time.Time{}, map[string]time.Time{}, map[string]bool{}, map[string]int{}
	b.nsAdmitted, b.nsRejected = map[string]*atomic.Int64{}, map[string]*atomic.Int64{}
	quota := *tasks / *frameworks
	extra := *tasks % *frameworks
	for i := 0; i < *frameworks; i++ {
		ns, err := b.c.CreateNamespace(ctx, fmt.Sprintf("bench-fw%d-", i), nil)
		if err != nil {
			return err
		}
		q := quota
		if i < extra {
			q++
		}
		b.fws = append(b.fws, &framework{b: b, ns: ns, name: "fw", quota: q})
		b.nsAdmitted[ns], b.nsRejected[ns] = &atomic.Int64{}, &atomic.Int64{}
	}
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches() // before the processes and the cluster stop (defers run last first)
	if err := b.watchTasks(watchCtx); err != nil {
		return err
	}

	before, err := b.snap(ctx)
	if err != nil {
		return err
	}
	log.Printf("%d frameworks launch %d tasks of %s cpu / %s memory, one per offered node; %s", *frameworks, *tasks, *taskCPU, *taskMemory, before.load)
	var wg sync.WaitGroup
	for _, fw := range b.fws {
		if err := fw.start(watchCtx, &wg); err != nil {
			return err
		}
	}
	defer wg.Wait()

	partial := false
	if err := progress.WaitCount(ctx, "admitted", &b.nAdmit, int64(*tasks), b.machine.load); err != nil {
		if sigCtx.Err() != nil || ctx.Err() == nil {
			return err
		}
		log.Print(err)
		partial = true
	}
	admittedAt := time.Now()
	if !partial {
		if err := b.waitSettled(ctx); err != nil {
			if sigCtx.Err() != nil || ctx.Err() == nil {
				return err
			}
			log.Print(err)
			partial = true
		}
	}
	settledCtx, cancelSettled := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelSettled()
	settled, err := b.snap(settledCtx)
	if err != nil {
		return err
	}
	windows := []window{{name: "admission", from: before, to: settled, admittedAt: admittedAt}}

	if *waitRunning && !partial {
		if err := progress.WaitCount(ctx, "Running", &b.nRunning, int64(*tasks), b.machine.load); err != nil {
			if sigCtx.Err() != nil || ctx.Err() == nil {
				return err
			}
			log.Print(err)
		} else {
			// Framework status follows the phases a moment later.
			time.Sleep(3 * time.Second)
			runCtx, cancelRun := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancelRun()
			end, err := b.snap(runCtx)
			if err != nil {
				return err
			}
			windows = append(windows, window{name: "to Running", from: before, to: end})
		}
	}
	stopWatches()
	b.ctl.Stop() // flushes nothing, but its log is complete once it exited
	return b.report(windows, partial)
}

// waitSettled waits until every framework has launched its share, holds no Offer, and reads the
// right counts in its status: the controller has nothing left to do for admission.
func (b *bench) waitSettled(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not settled when the time ran out: %s", last)
		case <-tick.C:
		}
		ok := true
		for _, fw := range b.fws {
			offers, err := b.agora.SchedulingV1alpha1().Offers(fw.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			f, err := b.agora.SchedulingV1alpha1().Frameworks(fw.ns).Get(ctx, fw.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			n := f.Status.Tasks
			launched := int(n.Staging + n.Starting + n.Running + n.Finished)
			if len(offers.Items) > 0 || launched != fw.quota {
				ok = false
				last = fmt.Sprintf("%s: %d offers, status.tasks %+v, want %d launched", fw.ns, len(offers.Items), n, fw.quota)
				break
			}
		}
		if ok {
			log.Print("settled: every framework suppressed, no offer left, task counts right")
			return nil
		}
	}
}

// watchTasks notes when each task is first seen admitted and Running.
func (b *bench) watchTasks(ctx context.Context) error {
	tasks := b.agora.SchedulingV1alpha1().Tasks("")
	list, err := tasks.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return tasks.Watch(ctx, o)
	}}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, lw)
	if err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			t, ok := ev.Object.(*agorav1alpha1.Task)
			if !ok {
				continue
			}
			key := t.Namespace + "/" + t.Name
			now := time.Now()
			b.mu.Lock()
			switch t.Status.Phase {
			case "":
			case agorav1alpha1.TaskError:
				if _, seen := b.admitted[key]; !seen {
					b.admitted[key] = time.Time{}
					b.rejected[t.Status.Reason]++
					if n := b.nsRejected[t.Namespace]; n != nil {
						n.Add(1)
					}
					if b.rejected[t.Status.Reason] <= 3 {
						log.Printf("task %s rejected: %s: %s", key, t.Status.Reason, t.Status.Message)
					}
				}
			default:
				if _, seen := b.admitted[key]; !seen {
					b.admitted[key] = now
					b.nAdmit.Add(1)
					if n := b.nsAdmitted[t.Namespace]; n != nil {
						n.Add(1)
					}
				}
				if (t.Status.Phase == agorav1alpha1.TaskRunning || t.Status.Phase == agorav1alpha1.TaskFinished) && !b.running[key] {
					b.running[key] = true
					b.nRunning.Add(1)
				}
			}
			b.mu.Unlock()
		}
	}()
	return nil
}

// ---- the frameworks -----------------------------------------------------------------------------

// framework is one simulated framework: it accepts every offer with one task per offered node
// while its quota lasts, then releases the offer; once its whole quota is admitted it suppresses
// offers. A task rejected at admission is launched again on a later offer, and an offer about to
// expire is only released.
type framework struct {
	b     *bench
	ns    string
	name  string
	quota int

	launched   int // tasks created so far, against quota
	seq        int // names handed out (a failed create does not reuse its name)
	suppressed bool
	handled    map[string]bool

	// What this framework wrote, to tell its writes from the controller's.
	taskCreates, offerDeletes, createErrors atomic.Int64
}

func (f *framework) start(ctx context.Context, wg *sync.WaitGroup) error {
	fw := &agorav1alpha1.Framework{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.name},
		Spec:       agorav1alpha1.FrameworkSpec{RefuseDuration: &metav1.Duration{Duration: *refuse}},
	}
	if _, err := f.b.agora.SchedulingV1alpha1().Frameworks(f.ns).Create(ctx, fw, metav1.CreateOptions{}); err != nil {
		return err
	}
	offers := f.b.agora.SchedulingV1alpha1().Offers(f.ns)
	list, err := offers.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return offers.Watch(ctx, o)
	}}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, lw)
	if err != nil {
		return err
	}
	f.handled = map[string]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.Stop()
		for ev := range w.ResultChan() {
			o, ok := ev.Object.(*agorav1alpha1.Offer)
			if !ok || ev.Type == watch.Deleted || !o.DeletionTimestamp.IsZero() || f.handled[o.Name] {
				continue
			}
			f.handled[o.Name] = true
			if err := f.answer(ctx, o); err != nil && ctx.Err() == nil {
				log.Printf("framework %s: offer %s: %v", f.ns, o.Name, err)
			}
		}
	}()
	return nil
}

// answer launches one task on each node of the offer that can hold it, then releases the offer.
func (f *framework) answer(ctx context.Context, o *agorav1alpha1.Offer) error {
	want := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(*taskCPU), corev1.ResourceMemory: resource.MustParse(*taskMemory)}
	var ann map[string]string
	if *completeAfter != "" {
		ann = map[string]string{"agora.dev/complete-after": *completeAfter}
	}
	type launch struct{ name, node string }
	var todo []launch
	// In flight or admitted: what was launched minus what admission refused.
	launched := f.launched - int(f.b.nsRejected[f.ns].Load())
	fresh := time.Until(o.Spec.ExpireTime.Time) > 5*time.Second
	for _, n := range o.Spec.Nodes {
		if !fresh || launched+len(todo) >= f.quota {
			break
		}
		if !fits(want, n.Resources) {
			continue
		}
		todo = append(todo, launch{fmt.Sprintf("task-%05d", f.seq), n.NodeName})
		f.seq++
	}
	work := make(chan launch)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range min(*launchers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				t := &agorav1alpha1.Task{
					ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: l.name},
					Spec: agorav1alpha1.TaskSpec{
						OfferName: o.Name, NodeName: l.node, Resources: want,
						Template: corev1.PodTemplateSpec{
							ObjectMeta: metav1.ObjectMeta{Annotations: ann},
							Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
						},
					},
				}
				f.taskCreates.Add(1)
				if _, err := f.b.agora.SchedulingV1alpha1().Tasks(f.ns).Create(ctx, t, metav1.CreateOptions{}); err != nil {
					f.createErrors.Add(1)
					failed.Add(1)
					if ctx.Err() == nil {
						log.Printf("framework %s: create task %s: %v", f.ns, l.name, err)
					}
					continue
				}
				f.b.mu.Lock()
				f.b.created[f.ns+"/"+l.name] = time.Now()
				f.b.mu.Unlock()
			}
		}()
	}
	for _, l := range todo {
		work <- l
	}
	close(work)
	wg.Wait()
	f.launched += len(todo) - int(failed.Load())
	// Release: what no task took goes back, with the decline filter.
	f.offerDeletes.Add(1)
	if err := f.b.agora.SchedulingV1alpha1().Offers(f.ns).Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if int(f.b.nsAdmitted[f.ns].Load()) >= f.quota && !f.suppressed {
		f.suppressed = true
		patch := []byte(`{"spec":{"suppressOffers":true}}`)
		if _, err := f.b.agora.SchedulingV1alpha1().Frameworks(f.ns).Patch(ctx, f.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	return nil
}

func fits(want, have corev1.ResourceList) bool {
	for name, q := range want {
		h, ok := have[name]
		if !ok || h.Cmp(q) < 0 {
			return false
		}
	}
	return true
}
