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
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/test/testcluster"
)

// The test binary doubles as agora-executor: run with this variable set it is the command
// itself, so these tests exercise the real main (flags, signals, SIGKILL) without a build step.
const runMainEnv = "AGORA_EXECUTOR_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestFlags(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	f, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.nodeName != "" || f.nodeSelector != "type=kwok" || f.leaseNamespace != agorav1alpha1.SystemNamespace ||
		f.leaseDuration != 90*time.Second || f.renewInterval != 30*time.Second || f.startingDelay != 2*time.Second || f.metricsAddr != "0" {
		t.Errorf("defaults: %+v", f)
	}
	t.Setenv("NODE_NAME", "node-7")
	if f, err = parseFlags([]string{"--workers=3", "-v=2"}); err != nil {
		t.Fatal(err)
	}
	if f.nodeName != "node-7" || f.workers != 3 {
		t.Errorf("NODE_NAME / --workers not taken: %+v", f)
	}
	if _, err := parseFlags([]string{"stray"}); err == nil {
		t.Error("a stray argument was accepted")
	}
	// The controller reads the Leases in agora-system only: naming it is fine, naming another
	// namespace is an error rather than nodes the controller never sees.
	if _, err := parseFlags([]string{"--lease-namespace=" + agorav1alpha1.SystemNamespace}); err != nil {
		t.Errorf("--lease-namespace=%s: %v", agorav1alpha1.SystemNamespace, err)
	}
	if _, err := parseFlags([]string{"--lease-namespace=elsewhere"}); err == nil || !strings.Contains(err.Error(), "reads the executor Leases in agora-system only") {
		t.Errorf("--lease-namespace=elsewhere: %v, want an error saying why", err)
	}
}

// process is agora-executor running as a child process.
type process struct {
	cmd  *exec.Cmd
	out  *testcluster.SyncBuffer
	done chan struct{} // closed once the process has exited; err is then set
	err  error
}

func startProcess(t *testing.T, kubeconfig string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--kubeconfig", kubeconfig, "--metrics-bind-address=127.0.0.1:0",
		"--lease-renew-interval=1s", "--lease-duration=5s")
	// No NODE_NAME: simulation mode with the default selector, as hack/local-cluster.sh runs it.
	env := []string{runMainEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NODE_NAME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	p := &process{cmd: cmd, out: &testcluster.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agora-executor output:\n%s", p.out.String())
		}
	})
	return p
}

var addrRE = regexp.MustCompile(`Serving metrics and health checks" address="([^"]+)"`)

// ready waits for /readyz and returns the metrics address.
func (p *process) ready(t *testing.T) string {
	t.Helper()
	var addr string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("agora-executor exited: %v", p.err)
		default:
		}
		if addr == "" {
			m := addrRE.FindStringSubmatch(p.out.String())
			if m == nil {
				return false, nil
			}
			addr = m[1]
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("agora-executor not ready: %v\n%s", err, p.out.String())
	}
	return addr
}

func TestBinarySimulationModeSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := testcluster.StartT(t, testcluster.Options{Nodes: 2})
	ctx := context.Background()
	ns, err := c.CreateNamespace(ctx, "bin-", nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := c.Agora.SchedulingV1alpha1().Tasks(ns)
	stage := func(name, node string) {
		t.Helper()
		task, err := tasks.Create(ctx, &agorav1alpha1.Task{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: agorav1alpha1.TaskSpec{
				OfferName: "o", NodeName: node,
				Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Template:  corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		task.Status.Phase = agorav1alpha1.TaskStaging
		if _, err := tasks.UpdateStatus(ctx, task, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return cond(), nil
		}); err != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	phase := func(name string) agorav1alpha1.TaskPhase {
		task, err := tasks.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "<" + agorav1alpha1.TaskPhase(err.Error()) + ">"
		}
		return task.Status.Phase
	}
	podUID := func(name string) string {
		pod, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return string(pod.UID)
	}

	p := startProcess(t, c.Kubeconfig)
	addr := p.ready(t)
	stage("a", "kwok-node-0")
	stage("b", "kwok-node-1")
	waitFor("a and b Running", func() bool { return phase("a") == agorav1alpha1.TaskRunning && phase("b") == agorav1alpha1.TaskRunning })
	for _, node := range c.Nodes() {
		if _, err := c.Kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).Get(ctx, agorav1alpha1.ExecutorLeaseName(node), metav1.GetOptions{}); err != nil {
			t.Errorf("lease of %s: %v", node, err)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`agora_executor_nodes 2`, `agora_executor_pods_created_total 2`,
		`agora_executor_api_requests_total{resource="pods",verb="create"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(string(body), "agora_executor_api_requests_total"))
		}
	}
	uidA, uidB := podUID("a"), podUID("b")

	// SIGKILL: no chance to clean up. Meanwhile a task is killed and one is admitted.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if err := tasks.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	stage("c", "kwok-node-1")

	p2 := startProcess(t, c.Kubeconfig)
	p2.ready(t)
	waitFor("c Running", func() bool { return phase("c") == agorav1alpha1.TaskRunning })
	waitFor("b gone", func() bool {
		_, err := tasks.Get(ctx, "b", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if phase("a") != agorav1alpha1.TaskRunning || podUID("a") != uidA {
		t.Errorf("a: phase %s, pod uid %s -> %s (must be adopted, not replaced)", phase("a"), uidA, podUID("a"))
	}
	if podUID("b") != "" {
		t.Errorf("b's pod (was %s) survived the kill", uidB)
	}

	// SIGTERM: a clean, prompt exit.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p2.done:
		if p2.err != nil {
			t.Errorf("exit after SIGTERM: %v", p2.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("agora-executor did not exit within 30s of SIGTERM")
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
