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

package testcluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// crashEnv makes the test binary start a cluster, print its processes' pids and SIGKILL itself:
// the crash TestReaper cleans up after.
const crashEnv = "TESTCLUSTER_CRASH_AFTER_START"

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) == "1" {
		crash()
	}
	os.Exit(m.Run())
}

func crash() {
	c, err := Start(context.Background(), Options{Nodes: 1})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	api := findProcess(filepath.Join(c.BinDir, "kube-apiserver"), "--cert-dir="+c.env.ControlPlane.APIServer.CertDir)
	etcd := findProcess(filepath.Join(c.BinDir, "etcd"), "--data-dir="+c.env.ControlPlane.Etcd.DataDir)
	fmt.Println("pids", api, etcd, c.kwok.Process.Pid)
	fmt.Println("dirs", c.Dir, c.env.ControlPlane.APIServer.CertDir, c.env.ControlPlane.Etcd.DataDir)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// A test binary that dies without Stop leaves no etcd, kube-apiserver or kwok behind.
func TestReaper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"=1")
	out, _ := cmd.Output() // it dies of SIGKILL, by design
	var pids []int
	var dirs []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "dirs" {
			dirs = f[1:]
		}
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "pids" {
			for _, s := range f[1:] {
				pid, err := strconv.Atoi(s)
				if err != nil || pid == 0 {
					t.Fatalf("bad pid line %q", sc.Text())
				}
				pids = append(pids, pid)
			}
		}
	}
	if len(pids) != 3 {
		t.Fatalf("the crashing child printed no pids:\n%s", out)
	}
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		for _, pid := range pids {
			if alive(pid) {
				return false, nil
			}
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		for _, pid := range pids {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("pid %d outlived its crashed test binary", pid)
			}
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("%s outlived its crashed test binary", d)
			}
		}
	}
}

// alive: the process exists and is not a zombie waiting for its (gone) parent to reap it.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	c, err := Start(ctx, Options{Nodes: 2, CPU: "4", Memory: "16Gi", GPU: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	t.Run("nodes", func(t *testing.T) {
		if got := c.Nodes(); len(got) != 2 || got[0] != "kwok-node-0" || got[1] != "kwok-node-1" {
			t.Fatalf("Nodes() = %v", got)
		}
		node, err := c.Kube.CoreV1().Nodes().Get(ctx, "kwok-node-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !isReady(node) || hasNotReadyTaint(node) {
			t.Errorf("node not Ready or still tainted: %+v %+v", node.Status.Conditions, node.Spec.Taints)
		}
		if node.Labels["type"] != "kwok" || node.Labels[corev1.LabelTopologyZone] != "zone-b" ||
			node.Annotations[KwokNodeAnnotation] != KwokNodeAnnotationValue {
			t.Errorf("labels %v annotations %v", node.Labels, node.Annotations)
		}
		gpu := node.Status.Allocatable[GPUResource]
		cpu := node.Status.Allocatable[corev1.ResourceCPU]
		if gpu.Value() != 1 || cpu.String() != "4" {
			t.Errorf("allocatable %v", node.Status.Allocatable)
		}
		if _, err := c.Kube.CoreV1().Namespaces().Get(ctx, SystemNamespace, metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
	})

	t.Run("kwok runs the project's pod stages", func(t *testing.T) {
		ns, err := c.CreateNamespace(ctx, "tc-", nil)
		if err != nil {
			t.Fatal(err)
		}
		mk := func(name string, ann map[string]string) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
				Spec: corev1.PodSpec{
					NodeName:      "kwok-node-0",
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
				},
			}
			if _, err := c.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		mk("ok", map[string]string{"agora.dev/complete-after": "0s"})
		mk("bad", map[string]string{"agora.dev/fail-after": "0s", "agora.dev/exit-code": "3", "agora.dev/fail-reason": "OOMKilled"})
		waitPhase := func(name string, phase corev1.PodPhase) *corev1.Pod {
			var pod *corev1.Pod
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				var err error
				pod, err = c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				return err == nil && pod.Status.Phase == phase, nil
			})
			if err != nil {
				t.Fatalf("pod %s never reached %s (last %v); kwok log:\n%s", name, phase, pod.Status.Phase, tail(c.KwokLog(), 20))
			}
			return pod
		}
		waitPhase("ok", corev1.PodSucceeded)
		bad := waitPhase("bad", corev1.PodFailed)
		term := bad.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 3 || term.Reason != "OOMKilled" {
			t.Errorf("terminated state %+v", bad.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("user without rights", func(t *testing.T) {
		cfg, kubeconfig, err := c.User("nobody")
		if err != nil {
			t.Fatal(err)
		}
		if cfg == nil || kubeconfig == "" {
			t.Fatal("empty user config")
		}
	})

	t.Run("kube-apiserver restart keeps address, objects and users", func(t *testing.T) {
		userCfg, _, err := c.User("restarter", "system:masters")
		if err != nil {
			t.Fatal(err)
		}
		user, err := kubernetes.NewForConfig(userCfg)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := c.CreateNamespace(ctx, "restart-", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RestartAPIServer(time.Second); err != nil {
			t.Fatal(err)
		}
		for name, cs := range map[string]kubernetes.Interface{"the cluster's own client": c.Kube, "a user made before": user} {
			if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
				t.Errorf("%s after the restart: %v", name, err)
			}
		}
	})

	host, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	kwokDone := c.kwokDone
	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kwokDone:
	default:
		t.Error("kwok still running after Stop")
	}
	if conn, err := net.DialTimeout("tcp", host.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("kube-apiserver still listens on %s after Stop", host.Host)
	}
}
