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

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/test/testcluster"
)

// LabelPool marks the kwok nodes one test made for itself; its frameworks select them with
// --node-selector, so tests sharing the cluster never compete for nodes.
const LabelPool = "e2e.agora.dev/pool"

// shared is one local cluster (no nodes of its own) for every framework test of the package,
// started by the first test that needs it and stopped by TestMain.
var shared struct {
	once  sync.Once
	c     *cluster
	dir   string
	err   error
	cfg   *rest.Config
	kube  kubernetes.Interface
	agora versioned.Interface
	bin   string // the example frameworks, built once
	// watchdog is the write end of the pipe that keeps the clean-up process waiting.
	watchdog io.Closer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		if out, err := shared.c.script(3*time.Minute, "down"); err != nil {
			fmt.Fprintf(os.Stderr, "local-cluster.sh down: %v\n%s", err, out)
			code = 1
		}
	}
	if shared.watchdog != nil {
		_ = shared.watchdog.Close() // the watchdog's down finds nothing up; it removes the dir
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// env is what a framework test gets: the shared cluster's clients, its own namespace and its
// own pool of nodes.
type env struct {
	t         *testing.T
	c         *cluster
	kube      kubernetes.Interface
	agora     versioned.Interface
	ns        string
	pool      string
	nodes     []string
	bin       string
	kubconfig string
}

func sharedCluster(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the local cluster")
	}
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "agora-e2e-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		c := &cluster{t: t, dir: dir, kube: filepath.Join(dir, "kubeconfig")}
		if out, err := c.script(10*time.Minute, "up", "--nodes", "0"); err != nil {
			shared.err = fmt.Errorf("local-cluster.sh up: %v\n%s\nlogs in %s", err, out, dir)
			return
		}
		shared.c = c
		// If this test binary dies without reaching TestMain's end (a panic in a test, a
		// timeout, SIGKILL), the cluster must not outlive it: a watchdog takes it down when
		// the pipe whose only writer is this process closes, however the process ends.
		if shared.watchdog, err = testcluster.LocalClusterWatchdog(root, dir); err != nil {
			shared.err = err
			return
		}
		bin := filepath.Join(dir, "examples")
		build := exec.Command("go", "build", "-o", bin+"/", "./examples/...", "./cmd/kubectl-agora")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("go build ./examples/...: %v\n%s", err, out)
			return
		}
		shared.bin = bin
		if shared.cfg, err = clientcmd.BuildConfigFromFlags("", c.kube); err != nil {
			shared.err = err
			return
		}
		shared.cfg.QPS, shared.cfg.Burst = 100, 200
		shared.kube = kubernetes.NewForConfigOrDie(shared.cfg)
		shared.agora = versioned.NewForConfigOrDie(shared.cfg)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	c := *shared.c
	c.t = t
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-")
	e := &env{t: t, c: &c, kube: shared.kube, agora: shared.agora, ns: name, pool: name, bin: shared.bin, kubconfig: c.kube}
	ctx := context.Background()
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", e.ns, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.dump()
		}
		ctx := context.Background()
		_ = e.kube.CoreV1().Namespaces().Delete(ctx, e.ns, metav1.DeleteOptions{})
		for _, n := range e.nodes {
			_ = e.kube.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{})
		}
	})
	return e
}

// addNodes creates n kwok nodes of the given size in the test's pool and waits until they are
// Ready, untainted and served by an executor (its Lease is fresh), i.e. in Agora's pool.
func (e *env) addNodes(n int, cpu, mem string, extraLabels func(i int, name string) map[string]string) []string {
	e.t.Helper()
	ctx := context.Background()
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", e.pool, len(e.nodes))
		labels := map[string]string{LabelPool: e.pool}
		if extraLabels != nil {
			for k, v := range extraLabels(i, name) {
				labels[k] = v
			}
		}
		node, err := testcluster.KwokNode(name, testcluster.Zones[i%len(testcluster.Zones)], testcluster.NodeShape{CPU: cpu, Memory: mem, Labels: labels})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			e.t.Fatalf("creating node %s: %v", name, err)
		}
		e.nodes = append(e.nodes, name)
		names = append(names, name)
	}
	for _, name := range names {
		eventually(e.t, 2*time.Minute, "node "+name+" Ready, untainted, with a fresh executor Lease", func() (bool, string) {
			node, err := e.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			ready := false
			for _, c := range node.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			if !ready || len(node.Spec.Taints) > 0 {
				return false, fmt.Sprintf("ready=%v taints=%v", ready, node.Spec.Taints)
			}
			lease, err := e.kube.CoordinationV1().Leases(testcluster.SystemNamespace).Get(ctx, "executor-"+name, metav1.GetOptions{})
			if err != nil {
				return false, "executor lease: " + err.Error()
			}
			return fresh(lease), "executor lease stale"
		})
	}
	return names
}

func fresh(l *coordinationv1.Lease) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return false
	}
	return time.Since(l.Spec.RenewTime.Time) < time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second
}

// plugin runs `kubectl agora ARGS` as a user would: kubectl finds kubectl-agora on the PATH.
func (e *env) plugin(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "kubectl"), append([]string{"agora"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+e.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+e.kubconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("kubectl agora %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// framework is an example framework process.
type framework struct {
	name string
	cmd  *exec.Cmd
	out  *testcluster.SyncBuffer
	done chan struct{}
	err  error
}

// start runs examples/<example> as framework name in the test's namespace and pool. It is
// killed at the end of the test if still running.
func (e *env) start(example, name string, args ...string) *framework {
	e.t.Helper()
	f := &framework{name: name, out: &testcluster.SyncBuffer{}, done: make(chan struct{})}
	args = append([]string{"--kubeconfig", e.kubconfig, "--namespace", e.ns, "--name", name,
		"--node-selector", LabelPool + "=" + e.pool}, args...)
	f.cmd = exec.Command(filepath.Join(e.bin, example), args...)
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	// Its own process group (kill takes its children too), and SIGKILL if this test process
	// dies without its clean-ups (a panic or timeout in another test).
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := f.cmd.Start(); err != nil {
		e.t.Fatalf("starting %s: %v", example, err)
	}
	go func() {
		f.err = f.cmd.Wait()
		close(f.done)
	}()
	e.t.Cleanup(func() {
		f.kill()
		if e.t.Failed() {
			e.t.Logf("output of framework %s:\n%s", name, f.out.String())
		}
	})
	return f
}

// wait waits for the framework process to exit by itself and fails the test if it does not
// within timeout or exits with an error.
func (f *framework) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-f.done:
		if f.err != nil {
			t.Fatalf("framework %s exited: %v\n%s", f.name, f.err, f.out.String())
		}
	case <-time.After(timeout):
		t.Fatalf("framework %s did not finish within %s; output:\n%s", f.name, timeout, f.out.String())
	}
}

// kill stops the process at once (SIGKILL: no clean-up runs, as in a crash).
func (f *framework) kill() {
	select {
	case <-f.done:
		return
	default:
	}
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
	<-f.done
}

func (e *env) tasks(framework string) []agorav1alpha1.Task {
	e.t.Helper()
	list, err := e.agora.SchedulingV1alpha1().Tasks(e.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: agorav1alpha1.LabelFramework + "=" + framework,
	})
	if err != nil {
		e.t.Fatalf("listing tasks: %v", err)
	}
	return list.Items
}

func (e *env) framework(name string) *agorav1alpha1.Framework {
	e.t.Helper()
	return e.frameworkIn(e.ns, name)
}

func (e *env) frameworkIn(ns, name string) *agorav1alpha1.Framework {
	e.t.Helper()
	fw, err := e.agora.SchedulingV1alpha1().Frameworks(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("getting framework %s: %v", name, err)
	}
	return fw
}

// dump logs what a person debugging a failure would look at first.
func (e *env) dump() {
	for _, args := range [][]string{
		{"get", "fw,ofr,tk", "-n", e.ns, "-o", "wide"},
		{"get", "nodes", "-l", LabelPool + "=" + e.pool},
		{"get", "events", "-n", e.ns, "--sort-by=.lastTimestamp"},
	} {
		out, err := e.c.kubectl(args...)
		e.t.Logf("kubectl %s:\n%s%v", strings.Join(args, " "), out, errOrEmpty(err))
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func countPhases(tasks []agorav1alpha1.Task) map[agorav1alpha1.TaskPhase]int {
	out := map[agorav1alpha1.TaskPhase]int{}
	for _, t := range tasks {
		out[t.Status.Phase]++
	}
	return out
}
