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

// Package testcluster starts a real, throwaway Kubernetes control plane with simulated nodes for
// Agora's integration tests, end-to-end tests and benchmarks:
//
//   - etcd and kube-apiserver from bin/ through envtest (KUBEBUILDER_ASSETS, default <repo>/bin),
//     loopback only, free ports, with Agora's CRDs from config/crd/bases and their admission
//     policies from config/crd/policy installed;
//   - bin/kwok as the kubelet of the simulated nodes, with the project's stages in hack/kwok/
//     (pods annotated agora.dev/complete-after finish, agora.dev/fail-after fail; see there). kwok
//     serves no port of its own;
//   - N Nodes shaped like those of hack/local-cluster.sh (names kwok-node-<i>, label type=kwok,
//     annotation kwok.x-k8s.io/node=fake, zones zone-a/b/c, cpu/memory/pods and optionally
//     nvidia.com/gpu), Ready and without the node.kubernetes.io/not-ready taint;
//   - the namespace agora-system.
//
// Use it from TestMain:
//
//	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: 3})
//	if err != nil { ... }
//	defer c.Stop()
//
// or from one test, which stops it at cleanup:
//
//	c := testcluster.StartT(t, testcluster.Options{Nodes: 3, CPU: "4", Memory: "16Gi"})
//
// Nothing is shared between two clusters; several may run at once (e.g. parallel packages).
// Stop stops kwok, then kube-apiserver, then etcd, waiting for each to exit. If the test binary
// dies without calling Stop (a test timeout panics it), kwok dies with it (parent-death signal)
// and a small reaper process stops kube-apiserver and etcd (see reaper.go).
package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
)

// Names shared with hack/local-cluster.sh, so tests and the local cluster see the same nodes.
const (
	// SystemNamespace is where agora-controller and agora-executor keep their Leases.
	SystemNamespace = "agora-system"
	// NodeNamePrefix starts the name of every node the harness creates: kwok-node-0, -1, ...
	NodeNamePrefix = "kwok-node-"
	// KwokNodeAnnotation marks the nodes kwok manages (its --manage-nodes-with-annotation-selector).
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// KwokNodeAnnotationValue is the value of KwokNodeAnnotation on those nodes.
	KwokNodeAnnotationValue = "fake"
	// KwokNodeLabel / KwokNodeLabelValue label every simulated node (type=kwok); agora-executor's
	// default simulation selector.
	KwokNodeLabel      = "type"
	KwokNodeLabelValue = "kwok"
	// GPUResource is the extended resource a node's GPUs are counted in.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// NotReadyTaint is the taint kube-apiserver puts on every new Node (TaintNodesByCondition);
	// the harness waits until it is gone.
	NotReadyTaint = "node.kubernetes.io/not-ready"
)

// Zones are given to the nodes round-robin (label topology.kubernetes.io/zone).
var Zones = []string{"zone-a", "zone-b", "zone-c"}

// Options shape the cluster. The zero value is a control plane with kwok and no nodes.
type Options struct {
	// Nodes is how many kwok nodes to create, named kwok-node-0 .. kwok-node-<Nodes-1>.
	Nodes int
	// CPU, Memory and GPU are each node's capacity (= allocatable). Defaults "8" and "32Gi";
	// GPU 0 adds no nvidia.com/gpu. Pods defaults to 110.
	CPU    string
	Memory string
	GPU    int
	Pods   int

	// NoKwok starts only etcd and kube-apiserver (and creates no nodes): for tests of the API alone.
	NoKwok bool

	// Root is the repository root; default: the nearest directory above the working directory
	// holding go.mod (go test runs in the package directory).
	Root string
	// BinDir holds etcd, kube-apiserver, kubectl and kwok. Default $KUBEBUILDER_ASSETS, else
	// <Root>/bin.
	BinDir string
	// KwokConfigs are the files passed to kwok --config. Default <Root>/hack/kwok/*.yaml.
	KwokConfigs []string
	// APIServerFlags are extra kube-apiserver flags without the leading "--", e.g.
	// {"max-requests-inflight": "1000"} for a benchmark.
	APIServerFlags map[string]string

	// Timeout bounds Start (and each AddNodes). Default 2 minutes plus 1 s per 20 nodes.
	Timeout time.Duration
	// Logf, if set, receives progress messages (e.g. t.Logf, log.Printf).
	Logf func(format string, args ...any)
}

// NodeShape is the capacity and extra metadata of nodes added with AddNodes.
type NodeShape struct {
	CPU    string // default "8"
	Memory string // default "32Gi"
	GPU    int
	Pods   int // default 110
	// Labels are added to the standard ones (type=kwok, hostname, os, arch, zone).
	Labels map[string]string
	// Taints are set on the node in addition to the transient not-ready taint.
	Taints []corev1.Taint
}

// Cluster is a running control plane with kwok nodes. Its fields are read-only.
type Cluster struct {
	// Config talks to the API server as a system:masters user (QPS 1000, burst 2000).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same user (for bin/kubectl and for
	// binaries under test, e.g. --kubeconfig).
	Kubeconfig string
	// Kube, Agora and Client are clients built on Config; Client knows Agora's kinds.
	Kube   kubernetes.Interface
	Agora  versioned.Interface
	Client client.Client
	Scheme *runtime.Scheme
	// Root and BinDir are the repository root and the tools' directory in use.
	Root   string
	BinDir string
	// Dir is a temporary directory removed by Stop: kubeconfig, kwok's work dir and log.
	Dir string

	opts   Options
	env    *envtest.Environment
	reaper *reaper

	mu       sync.Mutex
	nodes    []string
	nextNode int

	kwok     *exec.Cmd
	kwokDone chan struct{}
	kwokErr  error
	kwokLog  *os.File

	restartMu sync.Mutex
	stopOnce  sync.Once
	stopErr   error
}

// StartT starts a cluster for one test (or benchmark) and stops it in t.Cleanup; it fails the test
// if the cluster does not come up.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("testcluster: stop: %v", err)
		}
	})
	return c
}

// Start brings up etcd, kube-apiserver (with Agora's CRDs), kwok and opts.Nodes Ready nodes, and
// creates namespace agora-system. On error everything started is stopped again.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2*time.Minute + time.Duration(opts.Nodes/20)*time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	root := opts.Root
	if root == "" {
		if root, err = findRoot(); err != nil {
			return nil, err
		}
	}
	bin := opts.BinDir
	if bin == "" {
		bin = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if bin == "" {
		bin = filepath.Join(root, "bin")
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	need := []string{"etcd", "kube-apiserver", "kubectl"}
	if !opts.NoKwok {
		need = append(need, "kwok")
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s is missing in %s: run `make tools` (or hack/tools.sh %s)", b, bin, b)
		}
	}

	dir, err := os.MkdirTemp("", "agora-testcluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Root: root, BinDir: bin, Dir: dir, opts: opts}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				opts.Logf("testcluster: stopping after a failed start: %v", stopErr)
			}
			c = nil
		}
	}()

	c.Scheme = runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(c.Scheme); err != nil {
		return c, err
	}
	if err := agorav1alpha1.AddToScheme(c.Scheme); err != nil {
		return c, err
	}

	start := time.Now()
	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   c.Scheme,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	api := c.env.ControlPlane.GetAPIServer()
	// A cert dir of our own (envtest would make a random one and forget it on Stop) keeps the
	// serving certificate across RestartAPIServer; the client CA lives in envtest's memory.
	api.CertDir = filepath.Join(dir, "apiserver")
	if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
		return c, err
	}
	args := api.Configure()
	// Without it kube-apiserver waits for every open watch to end by itself before it exits, so a
	// test that leaves a watch open would make Stop wait for the stop timeout.
	args.Set("shutdown-watch-termination-grace-period", "2s")
	for k, v := range opts.APIServerFlags {
		args.Set(k, v)
	}
	if c.Config, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	opts.Logf("testcluster: control plane up at %s in %s", c.Config.Host, time.Since(start).Round(time.Millisecond))
	if c.reaper, err = c.startReaper(); err != nil {
		// Only the safety net for a test binary that dies without Stop is missing.
		opts.Logf("testcluster: warning: etcd and kube-apiserver would outlive a crashed test: %v", err)
		err = nil
	}

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return c, err
	}
	if c.Kube, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, err
	}
	if c.Agora, err = versioned.NewForConfig(c.Config); err != nil {
		return c, err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: c.Scheme}); err != nil {
		return c, err
	}
	if err := InstallPolicies(ctx, c.Kube, root); err != nil {
		return c, fmt.Errorf("install the admission policies: %w", err)
	}
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}, metav1.CreateOptions{}); err != nil {
		return c, fmt.Errorf("create namespace %s: %w", SystemNamespace, err)
	}

	if opts.NoKwok {
		return c, nil
	}
	if err := c.startKwok(); err != nil {
		return c, err
	}
	if opts.Nodes > 0 {
		shape := NodeShape{CPU: opts.CPU, Memory: opts.Memory, GPU: opts.GPU, Pods: opts.Pods}
		if _, err := c.addNodes(ctx, opts.Nodes, shape); err != nil {
			return c, err
		}
	}
	opts.Logf("testcluster: up with %d kwok nodes in %s", opts.Nodes, time.Since(start).Round(time.Millisecond))
	return c, nil
}

// Nodes returns the names of the nodes created so far, in creation order.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.nodes...)
}

// AddNodes creates n more kwok nodes of the given shape and waits until they are Ready and
// untainted. It returns their names.
func (c *Cluster) AddNodes(ctx context.Context, n int, shape NodeShape) ([]string, error) {
	if c.kwok == nil {
		return nil, errors.New("testcluster: AddNodes needs kwok (Options.NoKwok is set)")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(n/20)*time.Second)
	defer cancel()
	return c.addNodes(ctx, n, shape)
}

// User returns a client config (QPS 1000, burst 2000) and a kubeconfig file for a new user with
// the given name and groups, who has no rights until RBAC grants some: for testing a
// component's least-privilege role.
func (c *Cluster) User(name string, groups ...string) (*rest.Config, string, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, "", err
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return nil, "", err
	}
	f, err := os.CreateTemp(c.Dir, "kubeconfig-"+sanitize(name)+"-")
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	if _, err := f.Write(kc); err != nil {
		return nil, "", err
	}
	return u.Config(), f.Name(), nil
}

// RestartAPIServer stops kube-apiserver, waits down, and starts it again on the same address
// with the same serving certificate and client CA, so that every kubeconfig written so far
// (Kubeconfig, User) works again once it is up; etcd, and so every object, stays. Clients see
// connection errors while it is down and their watches end, as on a real control-plane restart.
func (c *Cluster) RestartAPIServer(down time.Duration) error {
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	if c.reaper != nil {
		c.reaper.disarm() // it knows the old pid
		c.reaper = nil
	}
	api := c.env.ControlPlane.GetAPIServer()
	if err := api.Stop(); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	time.Sleep(down)
	if err := api.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver again: %w", err)
	}
	var err error
	if c.reaper, err = c.startReaper(); err != nil {
		c.opts.Logf("testcluster: warning: etcd and kube-apiserver would outlive a crashed test: %v", err)
	}
	return nil
}

// CreateNamespace creates a namespace named prefix + a random suffix, with the given labels
// (e.g. pod-security.kubernetes.io/enforce=restricted), and returns its name.
func (c *Cluster) CreateNamespace(ctx context.Context, prefix string, labels map[string]string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Labels: labels}}
	ns, err := c.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return ns.Name, nil
}

// KwokLog returns the path of kwok's log file ("" without kwok), worth printing when a test
// that depends on pod phases fails.
func (c *Cluster) KwokLog() string {
	if c.kwokLog == nil {
		return ""
	}
	return c.kwokLog.Name()
}

// Stop stops kwok, kube-apiserver and etcd, in that order, waiting for each to exit, and removes
// Dir. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.restartMu.Lock() // not in the middle of a restart
		defer c.restartMu.Unlock()
		var errs []error
		if c.kwok != nil {
			if err := c.stopKwok(10 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if c.reaper != nil {
			c.reaper.disarm()
		}
		if c.env != nil {
			// envtest stops kube-apiserver first, then etcd, each waited for.
			if err := c.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop kube-apiserver and etcd: %w", err))
			}
		}
		if c.Dir != "" {
			if err := os.RemoveAll(c.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// ---- kwok -------------------------------------------------------------------------------------

func (c *Cluster) startKwok() error {
	configs := c.opts.KwokConfigs
	if len(configs) == 0 {
		var err error
		configs, err = filepath.Glob(filepath.Join(c.Root, "hack", "kwok", "*.yaml"))
		if err != nil {
			return err
		}
		if len(configs) == 0 {
			return fmt.Errorf("no kwok stages in %s", filepath.Join(c.Root, "hack", "kwok"))
		}
		sort.Strings(configs)
	}
	work := filepath.Join(c.Dir, "kwok")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(c.Dir, "kwok.log"))
	if err != nil {
		return err
	}
	c.kwokLog = logf

	// No --server-address and no --node-port: kwok then listens on no port at all.
	args := []string{
		"--kubeconfig", c.Kubeconfig,
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=" + KwokNodeAnnotationValue,
	}
	for _, f := range configs {
		args = append(args, "--config", f)
	}
	cmd := exec.Command(filepath.Join(c.BinDir, "kwok"), args...)
	// KWOK_WORKDIR keeps a personal ~/.kwok/kwok.yaml (which kwok would load first) out of it.
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+work)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group (a Ctrl-C to the test reaches it only through Stop), and killed if the
	// test binary dies without calling Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kwok: %w", err)
	}
	c.kwok = cmd
	c.kwokDone = make(chan struct{})
	go func() {
		c.kwokErr = cmd.Wait()
		close(c.kwokDone)
	}()
	c.opts.Logf("testcluster: kwok started (pid %d, log %s)", cmd.Process.Pid, logf.Name())
	return nil
}

func (c *Cluster) stopKwok(grace time.Duration) error {
	defer c.kwokLog.Close()
	select {
	case <-c.kwokDone:
		return nil // already gone (its exit is reported where it mattered, in waits)
	default:
	}
	_ = c.kwok.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.kwokDone:
		return nil
	case <-time.After(grace):
	}
	_ = c.kwok.Process.Kill()
	select {
	case <-c.kwokDone:
		return nil
	case <-time.After(grace):
		return fmt.Errorf("kwok (pid %d) did not exit after SIGKILL", c.kwok.Process.Pid)
	}
}

// kwokExited returns an error with the tail of kwok's log if kwok is no longer running.
func (c *Cluster) kwokExited() error {
	select {
	case <-c.kwokDone:
		return fmt.Errorf("kwok exited (%v); last lines of its log:\n%s", c.kwokErr, tail(c.kwokLog.Name(), 20))
	default:
		return nil
	}
}

// ---- helpers ----------------------------------------------------------------------------------

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/agora-sched/agora\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testcluster: no go.mod of github.com/agora-sched/agora above the working directory; set Options.Root")
		}
		dir = parent
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
