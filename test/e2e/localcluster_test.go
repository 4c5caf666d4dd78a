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

// Package e2e drives the local cluster (hack/local-cluster.sh) with the real binaries, as a user
// would. It runs in its own state directory (AGORA_LOCAL_DIR), so a developer's .local/ cluster
// is left alone.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/test/testcluster"
)

var root = func() string {
	r, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return r
}()

// cluster is one `hack/local-cluster.sh up` in a temporary directory.
type cluster struct {
	t    *testing.T
	dir  string
	kube string
	// watchdog takes the cluster down if the test binary dies first (testcluster.LocalClusterWatchdog).
	watchdog io.Closer
}

func startCluster(t *testing.T, upArgs ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the local cluster")
	}
	c := &cluster{t: t, dir: t.TempDir()}
	c.kube = filepath.Join(c.dir, "kubeconfig")
	t.Cleanup(func() {
		if out, err := c.script(3*time.Minute, "down"); err != nil {
			t.Errorf("local-cluster.sh down: %v\n%s", err, out)
		}
		if c.watchdog != nil {
			_ = c.watchdog.Close()
		}
	})
	if out, err := c.script(10*time.Minute, append([]string{"up"}, upArgs...)...); err != nil {
		t.Fatalf("local-cluster.sh up: %v\n%s\nlogs in %s", err, out, c.dir)
	}
	wd, err := testcluster.LocalClusterWatchdog(root, c.dir)
	if err != nil {
		t.Fatal(err)
	}
	c.watchdog = wd
	return c
}

func (c *cluster) script(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "local-cluster.sh"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "AGORA_LOCAL_DIR="+c.dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "kubectl"), append([]string{"--kubeconfig", c.kube}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (c *cluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// eventually polls cond every 200ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
}

// pids reads the pid files `up` recorded.
func (c *cluster) pids() map[string]int {
	files, _ := filepath.Glob(filepath.Join(c.dir, "state", "*.pid"))
	out := map[string]int{}
	for _, f := range files {
		var pid int
		if b, err := os.ReadFile(f); err == nil {
			if _, err := fmt.Sscan(string(b), &pid); err == nil {
				out[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
			}
		}
	}
	return out
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie has exited; only its parent has not reaped it yet.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Taints []struct {
				Key string `json:"key"`
			} `json:"taints"`
		} `json:"spec"`
		Status struct {
			Allocatable map[string]string `json:"allocatable"`
			Conditions  []struct {
				Type   string `json:"type"`
				Status string `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	} `json:"items"`
}

func TestLocalClusterUpAndDown(t *testing.T) {
	c := startCluster(t, "--nodes", "3", "--node-cpu", "4", "--node-memory", "8Gi", "--node-gpu", "1")

	// The nodes are Ready, untainted (nothing else would clear the not-ready taint) and sized.
	var nodes nodeList
	if err := json.Unmarshal([]byte(c.mustKubectl("get", "nodes", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Fatalf("want 3 nodes, got %d", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		ready := false
		for _, cond := range n.Status.Conditions {
			ready = ready || (cond.Type == "Ready" && cond.Status == "True")
		}
		if !ready {
			t.Errorf("node %s is not Ready: %+v", n.Metadata.Name, n.Status.Conditions)
		}
		if len(n.Spec.Taints) != 0 {
			t.Errorf("node %s has taints %+v", n.Metadata.Name, n.Spec.Taints)
		}
		for res, want := range map[string]string{"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"} {
			if got := n.Status.Allocatable[res]; got != want {
				t.Errorf("node %s allocatable %s = %q, want %q", n.Metadata.Name, res, got, want)
			}
		}
	}
	node := nodes.Items[0].Metadata.Name

	// A second `up` notices and succeeds; `status` says it runs.
	if out, err := c.script(time.Minute, "up"); err != nil || !strings.Contains(out, "already up") {
		t.Errorf("second up: err=%v, output:\n%s", err, out)
	}
	if out, err := c.script(time.Minute, "status"); err != nil {
		t.Errorf("status: %v\n%s", err, out)
	}

	// The CRDs are installed with their docs.
	if out := c.mustKubectl("explain", "task.spec"); !strings.Contains(out, "offerName") {
		t.Errorf("kubectl explain task.spec:\n%s", out)
	}

	// kwok runs pods on the simulated nodes and ends them by Agora's annotations.
	pod := func(name string, annotations string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default, annotations: {%s}}
spec:
  nodeName: %s
  restartPolicy: Never
  containers: [{name: main, image: busybox}]
`, name, annotations, node)
	}
	for _, p := range []string{
		pod("completes", `agora.dev/complete-after: "1s"`),
		pod("fails", `agora.dev/fail-after: "1s", agora.dev/exit-code: "3", agora.dev/fail-reason: Crashed`),
		pod("runs", ""),
	} {
		cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), "--kubeconfig", c.kube, "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(p)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("create pod: %v\n%s", err, out)
		}
	}
	phase := func(name, want string) func() (bool, string) {
		return func() (bool, string) {
			out, err := c.kubectl("get", "pod", name, "-n", "default", "-o", "jsonpath={.status.phase}")
			return err == nil && out == want, out
		}
	}
	eventually(t, time.Minute, "pod runs", phase("runs", "Running"))
	eventually(t, time.Minute, "pod completes", phase("completes", "Succeeded"))
	eventually(t, time.Minute, "pod fails", phase("fails", "Failed"))
	exit := c.mustKubectl("get", "pod", "fails", "-n", "default", "-o",
		"jsonpath={.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}")
	if exit != "3 Crashed" {
		t.Errorf("failed pod's container: %q, want exit code 3 and reason Crashed", exit)
	}
	if got := c.mustKubectl("get", "pod", "runs", "-n", "default", "-o", "jsonpath={.status.phase}"); got != "Running" {
		t.Errorf("a pod without annotations must keep running, got %q", got)
	}

	// Agora itself runs: a Framework applied with kubectl gets an Offer; a Task accepting part of
	// it is admitted by the controller and run to Finished by the executor.
	c.acceptOneOffer(node)
	c.checkControllerMetrics()

	// `down` stops every process `up` recorded.
	pids := c.pids()
	for _, want := range []string{"etcd", "kube-apiserver", "kwok"} {
		if _, ok := pids[want]; !ok {
			t.Errorf("no pid recorded for %s (have %v)", want, pids)
		}
	}
	if out, err := c.script(3*time.Minute, "down"); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after down", name, pid)
		}
	}
	if out, err := c.script(time.Minute, "status"); err == nil {
		t.Errorf("status after down exits 0:\n%s", out)
	}
}

func (c *cluster) apply(manifest string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), "--kubeconfig", c.kube, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

func (c *cluster) acceptOneOffer(node string) {
	t := c.t
	t.Helper()
	c.mustKubectl("create", "namespace", "e2e")
	c.apply(`apiVersion: scheduling.agora.dev/v1alpha1
kind: Framework
metadata: {name: fw, namespace: e2e}
spec: {weight: "2", capabilities: [GPUResources]} # the nodes have a GPU: no offer without it
`)
	var offer string
	eventually(t, time.Minute, "an offer to the framework", func() (bool, string) {
		out, err := c.kubectl("get", "offers", "-n", "e2e", "-o", "jsonpath={.items[0].metadata.name}")
		offer = out
		return err == nil && out != "", out
	})
	c.apply(fmt.Sprintf(`apiVersion: scheduling.agora.dev/v1alpha1
kind: Task
metadata: {name: hello, namespace: e2e}
spec:
  offerName: %s
  nodeName: %s
  resources: {cpu: "1", memory: 1Gi}
  template:
    metadata: {annotations: {agora.dev/complete-after: "1s"}}
    spec: {containers: [{name: main, image: busybox}]}
`, offer, node))
	// Release what the task did not take.
	c.mustKubectl("delete", "offer", "-n", "e2e", offer, "--wait=false")
	eventually(t, time.Minute, "the task to finish", func() (bool, string) {
		out, err := c.kubectl("get", "task", "hello", "-n", "e2e", "-o", "jsonpath={.status.phase} {.status.reason} {.status.message}")
		return err == nil && strings.HasPrefix(out, "Finished"), out
	})
	if pod := c.mustKubectl("get", "pod", "hello", "-n", "e2e", "-o", "jsonpath={.spec.nodeName} {.status.phase}"); pod != node+" Succeeded" {
		t.Errorf("task pod: %q, want it on %s and Succeeded", pod, node)
	}
}

func (c *cluster) checkControllerMetrics() {
	t := c.t
	t.Helper()
	env, err := os.ReadFile(filepath.Join(c.dir, "state", "ports.env"))
	if err != nil {
		t.Fatal(err)
	}
	port := ""
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "CONTROLLER_METRICS_PORT="); ok {
			port = v
		}
	}
	if port == "" {
		t.Fatalf("no CONTROLLER_METRICS_PORT in ports.env:\n%s", env)
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
	if err != nil {
		t.Fatalf("controller metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"agora_allocation_cycle_duration_seconds_bucket", "agora_offers_made_total",
		"agora_tasks_admitted_total", "agora_framework_dominant_share", "agora_pool_capacity"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("controller /metrics lacks %s", want)
		}
	}
}
