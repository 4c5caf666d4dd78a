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
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/pkg/client/informers/externalversions"
	"github.com/agora-sched/agora/pkg/sdk"
	"github.com/agora-sched/agora/test/testcluster"
)

// partitionLabel puts each node in one framework's static partition (node i goes to framework
// i mod 4). Outside agora.dev, so it does not take one of the 32 attribute labels of an Offer.
const partitionLabel = "experiment/partition"

// cluster is the local cluster (hack/local-cluster.sh) the experiment runs on.
type cluster struct {
	root, dir string
	rc        *rest.Config
	kube      kubernetes.Interface
	agora     versioned.Interface
	nodes     []string // kwok-node-0 .. N-1, in that order
	watchdog  interface{ Close() error }
	logf      func(string, ...any)
}

// upCluster starts `hack/local-cluster.sh up` in dir with the pool's nodes.
func upCluster(ctx context.Context, root, dir string, nodes int, logf func(string, ...any)) (*cluster, error) {
	c := &cluster{root: root, dir: dir, logf: logf}
	wd, err := testcluster.LocalClusterWatchdog(root, dir)
	if err != nil {
		return nil, err
	}
	c.watchdog = wd
	logf("starting the local cluster in %s: %d kwok nodes of %d CPU / %dGi", dir, nodes, nodeCPU, nodeMemGi)
	if out, err := c.script(ctx, 15*time.Minute, "up", "--nodes", strconv.Itoa(nodes),
		"--node-cpu", strconv.Itoa(nodeCPU), "--node-memory", fmt.Sprintf("%dGi", nodeMemGi)); err != nil {
		c.down()
		return nil, fmt.Errorf("local-cluster.sh up: %w\n%s", err, tailLines(out, 40))
	}
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		c.down()
		return nil, err
	}
	rc.QPS, rc.Burst = 200, 400
	c.rc = rc
	if c.kube, err = kubernetes.NewForConfig(rc); err == nil {
		c.agora, err = versioned.NewForConfig(rc)
	}
	if err != nil {
		c.down()
		return nil, err
	}
	for i := range nodes {
		c.nodes = append(c.nodes, testcluster.NodeNamePrefix+strconv.Itoa(i))
	}
	return c, nil
}

func (c *cluster) script(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "hack", "local-cluster.sh"), args...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "AGORA_LOCAL_DIR="+c.dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// down stops the cluster (by the pids local-cluster.sh recorded).
func (c *cluster) down() {
	if out, err := c.script(context.Background(), 3*time.Minute, "down"); err != nil {
		c.logf("local-cluster.sh down: %v\n%s", err, tailLines(out, 20))
	}
	_ = c.watchdog.Close()
}

// label gives every node its partition and the labels of the blocks it holds.
func (c *cluster) label(ctx context.Context, tr *trace) error {
	held := make([][]int, len(c.nodes))
	for b, nodes := range tr.replicas {
		for _, n := range nodes {
			held[n] = append(held[n], b)
		}
	}
	for i, name := range c.nodes {
		l := map[string]string{partitionLabel: FrameworkOrder[i%len(FrameworkOrder)]}
		for _, b := range held[i] {
			l[blockLabel(b)] = "true"
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": l}})
		if err != nil {
			return err
		}
		if _, err := c.kube.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("labelling node %s: %w", name, err)
		}
	}
	return nil
}

// runMode runs the whole trace once, in mode "shared" or "static", in its own namespace, and
// returns what it measured. Unless last (the cluster goes next), the frameworks are torn down
// and their tasks and pods gone when it returns, so that the next run starts on an empty pool.
func (c *cluster) runMode(ctx context.Context, tr *trace, p params, mode string, timeout time.Duration, last bool) (Run, error) {
	ns := "mesos-" + mode
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return Run{}, fmt.Errorf("namespace %s: %w", ns, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// What the API shows: every Task of the run, by an informer.
	factory := externalversions.NewSharedInformerFactoryWithOptions(c.agora, 0, externalversions.WithNamespace(ns))
	taskLister := factory.Scheduling().V1alpha1().Tasks().Lister()
	factory.Scheduling().V1alpha1().Tasks().Informer()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	defer factory.Shutdown()

	capCPU, capMem := float64(len(c.nodes)*nodeCPU), float64(len(c.nodes)*nodeMemGi)*(1<<30)
	run := Run{Mode: mode, Start: time.Now()}
	frameworks := map[string]*framework{}
	drivers := map[string]*sdk.Driver{}
	errs := make(chan error, len(FrameworkOrder))
	var wg sync.WaitGroup
	for _, name := range FrameworkOrder {
		f := newFramework(name, tr.jobs[name], p.delay, run.Start, c.logf)
		w := resource.MustParse("1")
		spec := agorav1alpha1.FrameworkSpec{Role: name, Weight: &w,
			RefuseDuration: &metav1.Duration{Duration: time.Second}}
		if mode == "static" {
			spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{partitionLabel: name}}
		}
		d, err := sdk.NewForConfig(c.rc, sdk.Config{Namespace: ns, Name: name, Spec: spec}, f)
		if err != nil {
			return run, err
		}
		frameworks[name], drivers[name] = f, d
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil && !errors.Is(err, sdk.ErrFrameworkDeleted) && ctx.Err() == nil {
				errs <- fmt.Errorf("framework %s: %w", name, err)
			}
		}()
	}

	// Sample the pool every second until every framework is done.
	sample := func() Sample {
		s := Sample{T: time.Since(run.Start).Seconds(), FrameworkCPU: map[string]float64{}, FrameworkMemory: map[string]float64{}, Share: map[string]float64{}}
		tasks, _ := taskLister.List(labels.Everything())
		for _, t := range tasks {
			switch t.Status.Phase {
			case agorav1alpha1.TaskStaging, agorav1alpha1.TaskStarting, agorav1alpha1.TaskRunning, agorav1alpha1.TaskUnreachable:
			default:
				continue
			}
			fw := t.Labels[agorav1alpha1.LabelFramework]
			cpu := t.Spec.Resources.Cpu().AsApproximateFloat64() / capCPU
			mem := t.Spec.Resources.Memory().AsApproximateFloat64() / capMem
			s.CPU += cpu
			s.Memory += mem
			s.FrameworkCPU[fw] += cpu
			s.FrameworkMemory[fw] += mem
		}
		for _, name := range FrameworkOrder {
			s.Share[name] = max(s.FrameworkCPU[name], s.FrameworkMemory[name])
		}
		return s
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	allDone := make(chan struct{})
	go func() {
		for _, name := range FrameworkOrder {
			<-frameworks[name].done
		}
		close(allDone)
	}()
	lastLog := time.Now()
wait:
	for {
		select {
		case <-allDone:
			run.Samples = append(run.Samples, sample())
			break wait
		case <-tick.C:
			s := sample()
			run.Samples = append(run.Samples, s)
			if time.Since(lastLog) >= 15*time.Second {
				lastLog = time.Now()
				c.logf("%s t=%3.0fs: cpu %3.0f%% memory %3.0f%%  shares %s", mode, s.T, 100*s.CPU, 100*s.Memory, shares(s))
			}
		case err := <-errs:
			return run, err
		case <-deadline:
			var left []string
			for _, name := range FrameworkOrder {
				left = append(left, frameworks[name].pendingSummary()) // racy read, for a message only
			}
			return run, fmt.Errorf("%s run not done after %s: %s", mode, timeout, strings.Join(left, "; "))
		case <-ctx.Done():
			return run, ctx.Err()
		}
	}

	// Stop the frameworks (their callbacks end before the results are read below).
	for _, name := range FrameworkOrder {
		if last {
			break
		}
		if err := drivers[name].Teardown(ctx); err != nil {
			return run, err
		}
	}
	cancel()
	wg.Wait()
	for _, name := range FrameworkOrder {
		f := frameworks[name]
		fr := FrameworkResult{Name: name, Registered: f.registered.Sub(run.Start).Seconds()}
		if f.overheadN > 0 {
			fr.TaskOverhead = (f.overhead / time.Duration(f.overheadN)).Seconds()
		}
		if n := time.Duration(f.phasesN); n > 0 {
			fr.LaunchToRunning = (f.toRunning / n).Seconds()
			fr.RunBeyondDuration = (f.beyondDuration / n).Seconds()
			fr.CompletionSeen = (f.toSeen / n).Seconds()
		}
		for _, j := range f.jobs {
			jr := JobResult{ID: j.spec.id, Tasks: len(j.tasks), Arrival: j.spec.arrival.Seconds(),
				Start: j.start.Sub(run.Start).Seconds(), End: j.end.Sub(run.Start).Seconds()}
			fr.Jobs = append(fr.Jobs, jr)
			run.Makespan = max(run.Makespan, jr.End)
			if j.spec.local {
				for _, t := range j.tasks {
					fr.DataTasks++
					if t.local {
						fr.LocalTasks++
					}
				}
			}
		}
		fr.RampTarget = 0.9 * min(0.25, firstDemand(tr.jobs[name], capCPU, capMem))
		fr.RampUp = -1
		for _, s := range run.Samples {
			if s.Share[name] >= fr.RampTarget {
				fr.RampUp = s.T - fr.Registered
				break
			}
		}
		run.Frameworks = append(run.Frameworks, fr)
	}

	if last {
		return run, nil
	}
	if err := c.waitEmpty(context.Background(), ns, 5*time.Minute); err != nil {
		return run, err
	}
	return run, nil
}

// warmUp fills the pool twice with short tasks of one framework, in a namespace of its own, and
// waits until they are gone: the first run then does not pay alone for a cold cluster (watch
// caches, etcd, the components' queues and heaps). Without it the run that went first paid
// about a second more per task, whichever mode it was.
func (c *cluster) warmUp(ctx context.Context, p params) error {
	const ns = "mesos-warmup"
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	slots := len(c.nodes) * nodeCPU / 2
	js := jobSpec{shape: shape{2, 4}, waveSize: slots}
	for range 2 * slots {
		js.tasks = append(js.tasks, taskSpec{dur: time.Duration(10 * p.durScale * float64(time.Second)), block: -1})
	}
	f := newFramework("warmup", []jobSpec{js}, p.delay, time.Now(), func(string, ...any) {})
	w := resource.MustParse("1")
	d, err := sdk.NewForConfig(c.rc, sdk.Config{Namespace: ns, Name: "warmup",
		Spec: agorav1alpha1.FrameworkSpec{Weight: &w, RefuseDuration: &metav1.Duration{Duration: time.Second}}}, f)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(runCtx) }()
	select {
	case <-f.done:
	case err := <-errc:
		return fmt.Errorf("warm-up framework: %w", err)
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("warm-up not done after 10 minutes: %s", f.pendingSummary())
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := d.Teardown(ctx); err != nil {
		return err
	}
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, sdk.ErrFrameworkDeleted) && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		c.logf("warm-up framework: %v", err)
	}
	return c.waitEmpty(ctx, ns, 5*time.Minute)
}

// firstDemand is the dominant share of what a framework's first job asks for at once (a wave,
// a gang, or all its tasks).
func firstDemand(jobs []jobSpec, capCPU, capMem float64) float64 {
	if len(jobs) == 0 {
		return 0
	}
	j := jobs[0]
	n := len(j.tasks)
	if j.waveSize > 0 {
		n = min(n, j.waveSize)
	}
	return max(float64(n*j.shape.cpu)/capCPU, float64(n*j.shape.memGi)*(1<<30)/capMem)
}

// waitEmpty waits until namespace ns holds no Tasks, Offers or Pods, then deletes it.
func (c *cluster) waitEmpty(ctx context.Context, ns string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		tasks, err := c.agora.SchedulingV1alpha1().Tasks(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pods, err := c.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		last = fmt.Sprintf("%d tasks, %d pods", len(tasks.Items), len(pods.Items))
		return len(tasks.Items) == 0 && len(pods.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s not empty after the teardown (%s): %w", ns, last, err)
	}
	err = c.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func shares(s Sample) string {
	var b strings.Builder
	for _, name := range FrameworkOrder {
		fmt.Fprintf(&b, " %s %.2f", name, s.Share[name])
	}
	return strings.TrimSpace(b.String())
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
