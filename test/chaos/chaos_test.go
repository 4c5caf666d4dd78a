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

// Package chaos runs Agora under random faults and checks the invariants of docs/architecture.md
// from the API alone, with the checker of test/invariants. See RELIABILITY.md.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/test/invariants"
	"github.com/agora-sched/agora/test/testcluster"
)

const (
	leaderLease = "agora-controller"
	ns          = "chaos"
	// quotaRole is the role of the guaranteed framework "prod" and the name of its RoleQuota;
	// "borrow" (role borrow, RevocableResources) runs on what that guarantee lends.
	quotaRole = "prod"
	// convergenceBound is how long after the last fault the cluster has to settle.
	convergenceBound = 90 * time.Second
	// sharedNodes are nodes outside Agora's pool, for kube-scheduler's pods; Agora's pool nodes
	// carry the dedicated pool's taint (docs/install.md), so kube-scheduler places nothing there.
	sharedNodes = 3
	poolLabel   = "agora-pool"
)

// poolShape and sharedShape are the two kinds of node: the pool's (labelled, tainted) and the
// shared ones kube-scheduler fills.
var (
	poolShape = testcluster.NodeShape{CPU: "4", Memory: "16Gi", Labels: map[string]string{poolLabel: "true"},
		Taints: []corev1.Taint{{Key: agorav1alpha1.TaintPool, Effect: corev1.TaintEffectNoSchedule}}}
	sharedShape = testcluster.NodeShape{CPU: "4", Memory: "16Gi", Labels: map[string]string{poolLabel: "false"}}
)

type env struct {
	t      *testing.T
	c      *testcluster.Cluster
	ck     *invariants.Checker
	rng    *rand.Rand
	dir    string
	ctrls  []*proc
	ctrlMx []string // metrics address per controller
	exec   *proc
	fws    map[string]*proc
	mu     sync.Mutex
	faults []faultRecord
	shared map[string]bool   // nodes outside the pool
	placed map[string]string // foreign pod -> the node kube-scheduler bound it to
	// disruptions are the windows of faults that may rightly make tasks Unreachable or Lost
	// (executor, node and kube-apiserver faults); skews are the skew-leases windows.
	disruptions, skews []window
	// quota is the RoleQuota the suite keeps for role prod (changed by the quota faults).
	quota quotaSpec
}

// quotaSpec is RoleQuota prod's spec: CPU guarantee, memory guarantee and CPU limit ("" unset).
type quotaSpec struct{ cpu, memory, limitCPU string }

func (q quotaSpec) String() string {
	return fmt.Sprintf("guarantee cpu=%s memory=%s, limit cpu=%s", orUnset(q.cpu), orUnset(q.memory), orUnset(q.limitCPU))
}

func orUnset(v string) string {
	if v == "" {
		return "unset"
	}
	return v
}

func (q quotaSpec) object() *agorav1alpha1.RoleQuota {
	rq := &agorav1alpha1.RoleQuota{ObjectMeta: metav1.ObjectMeta{Name: quotaRole}, Spec: agorav1alpha1.RoleQuotaSpec{Role: quotaRole}}
	set := func(rl *corev1.ResourceList, name corev1.ResourceName, v string) {
		if v == "" {
			return
		}
		if *rl == nil {
			*rl = corev1.ResourceList{}
		}
		(*rl)[name] = resource.MustParse(v)
	}
	set(&rq.Spec.Guarantee, corev1.ResourceCPU, q.cpu)
	set(&rq.Spec.Guarantee, corev1.ResourceMemory, q.memory)
	set(&rq.Spec.Limit, corev1.ResourceCPU, q.limitCPU)
	return rq
}

// window is a time interval.
type window struct{ from, to time.Time }

func (w window) contains(t time.Time) bool { return !t.Before(w.from) && !t.After(w.to) }

type faultRecord struct {
	Kind   string
	At     time.Time
	Detail string
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run: not under -short")
	}
	duration := envDuration("CHAOS_DURATION", 2*time.Minute)
	seed := time.Now().UnixNano()
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", v, err)
		}
		seed = s
	}
	nodes := 20
	if v, err := strconv.Atoi(os.Getenv("CHAOS_NODES")); err == nil && v > 0 {
		nodes = v
	}
	t.Logf("chaos: seed %d (replay with CHAOS_SEED=%d), duration %s, %d nodes", seed, seed, duration, nodes)

	dir := t.TempDir()
	if keep := os.Getenv("CHAOS_LOGS"); keep != "" {
		dir = keep
		_ = os.MkdirAll(dir, 0o755)
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	auditLog := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testcluster.StartT(t, testcluster.Options{
		APIServerFlags: map[string]string{"audit-policy-file": policy, "audit-log-path": auditLog,
			"audit-log-format": "json", "audit-log-maxsize": "0", "audit-log-maxbackup": "0",
			// As on most clusters: setting an owner reference with blockOwnerDeletion needs the
			// right to set finalizers on the owner (the components' roles grant it).
			"enable-admission-plugins": "OwnerReferencesPermissionEnforcement"}})
	for _, b := range []string{"kube-scheduler", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(c.BinDir, b)); err != nil {
			t.Fatalf("bin/%s is missing: hack/tools.sh %s", b, b)
		}
	}
	e := &env{t: t, c: c, rng: rand.New(rand.NewSource(seed)), dir: dir, fws: map[string]*proc{},
		shared: map[string]bool{}, placed: map[string]string{}}
	if _, err := c.AddNodes(context.Background(), nodes, poolShape); err != nil {
		t.Fatal(err)
	}
	shared, err := c.AddNodes(context.Background(), sharedNodes, sharedShape)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range shared {
		e.shared[n] = true
	}

	t.Log("building the binaries")
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/agora-controller", "./cmd/agora-executor",
		"./examples/batch", "./examples/service", "./examples/gang", "./test/chaos/churn")
	build.Dir = c.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	e.ck = invariants.New(c.Kube, c.Agora, t.Logf)
	go e.ck.Run(ctx, 500*time.Millisecond)
	select { // nothing starts before the checker watches: it must see every Offer
	case <-e.ck.Watching():
	case <-time.After(time.Minute):
		t.Fatal("the invariant checker's watches did not open within a minute")
	}

	// Processes: executor, two controllers (own users, so the audit log tells them apart; with
	// exactly the rights of their generated roles), kube-scheduler for foreign pods, frameworks.
	ctrlNames := []string{"agora-controller-a", "agora-controller-b"}
	if err := c.GrantRoles(ctx, "executor_role.yaml", "agora-executor"); err != nil {
		t.Fatal(err)
	}
	if err := c.GrantRoles(ctx, "role.yaml", ctrlNames...); err != nil {
		t.Fatal(err)
	}
	_, exKC, err := c.User("agora-executor")
	if err != nil {
		t.Fatal(err)
	}
	e.exec = newProc(dir, "agora-executor", filepath.Join(dir, "agora-executor"), "--kubeconfig", exKC,
		"--shared-watches", "--kube-api-qps=500", "--kube-api-burst=1000", "--lease-duration=20s", "--lease-renew-interval=5s")
	ctrlUsers := map[string]bool{}
	for _, name := range ctrlNames {
		_, kc, err := c.User(name)
		if err != nil {
			t.Fatal(err)
		}
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ctrlUsers[name] = true
		e.ctrlMx = append(e.ctrlMx, addr)
		e.ctrls = append(e.ctrls, newProc(dir, name, filepath.Join(dir, "agora-controller"), "--kubeconfig", kc,
			"--metrics-bind-address="+addr, "--health-probe-bind-address=0", "--node-selector="+poolLabel+"=true",
			"--node-lost-timeout=30s", "--offer-timeout=20s"))
	}
	sched := newProc(dir, "kube-scheduler", filepath.Join(c.BinDir, "kube-scheduler"), "--kubeconfig", c.Kubeconfig,
		"--leader-elect=false", "--secure-port=0")
	// As on a real cluster: the garbage collector (owner references) and pod GC (which removes
	// the terminating pods of a deleted node, where no kubelet is left to finish them).
	kcm := newProc(dir, "kube-controller-manager", filepath.Join(c.BinDir, "kube-controller-manager"), "--kubeconfig", c.Kubeconfig,
		"--controllers=garbagecollector,podgc", "--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false")
	all := append([]*proc{e.exec, sched, kcm}, e.ctrls...)
	go e.supervise(ctx, all)
	for _, p := range all {
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, p := range all {
			p.stop(10 * time.Second)
		}
		for _, p := range e.frameworkProcs() {
			p.kill()
		}
		if t.Failed() {
			t.Logf("logs in %s (set CHAOS_LOGS=<dir> to keep them)", dir)
		}
	}()

	// Load.
	fwBin := func(ex string) string { return filepath.Join(dir, ex) }
	common := func(name string) []string {
		return []string{"--kubeconfig", c.Kubeconfig, "--namespace", ns, "--name", name}
	}
	e.fws["batch"] = newProc(dir, "fw-batch", fwBin("batch"), append(common("batch"), "--tasks", "40", "--cpu", "500m",
		"--memory", "512Mi", "--duration", "4s", "--max-retries", "1000")...)
	e.fws["service"] = newProc(dir, "fw-service", fwBin("service"), append(common("service"), "--instances", "6", "--max-per-node", "1")...)
	e.fws["gang"] = newProc(dir, "fw-gang", fwBin("gang"), append(common("gang"), "--groups", "3", "--group-size", "3",
		"--cpu", "1", "--memory", "1Gi", "--duration", "4s", "--max-retries", "1000")...)
	e.fws["churn"] = newProc(dir, "fw-churn", fwBin("churn"), append(common("churn"), "--tasks", "6", "--kill-every", "3s")...)
	// Quotas: role prod is guaranteed CPU; its framework comes and goes (guaranteedDemand), and
	// while it is away the guarantee is lent to borrow as revocable resources, reclaimed (offers
	// rescinded, tasks preempted) each time prod comes back.
	e.quota = quotaSpec{cpu: "40"}
	if _, err := c.Agora.SchedulingV1alpha1().RoleQuotas().Create(ctx, e.quota.object(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.fws["borrow"] = newProc(dir, "fw-borrow", fwBin("batch"), append(common("borrow"), "--role", "borrow", "--revocable", "--tasks", "80",
		"--cpu", "1", "--memory", "1Gi", "--duration", "8s", "--max-retries", "1000")...)
	for _, p := range e.fws {
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	go e.foreignPods(ctx)

	// Faults.
	start := time.Now()
	faultsDone := make(chan struct{})
	go e.rerunJobs(ctx, faultsDone)
	go e.guaranteedDemand(ctx, faultsDone, common, fwBin("batch"))
	go func() {
		defer close(faultsDone)
		e.injectFaults(ctx, start.Add(duration))
	}()
	<-faultsDone
	lastFault := time.Now()
	t.Logf("chaos: faults stopped after %s; waiting up to %s for convergence", time.Since(start).Round(time.Second), convergenceBound)
	convErr := e.converge(ctx, lastFault.Add(convergenceBound))
	cancel()

	// Audit: no write by a deposed leader.
	events, err := readAudit(auditLog)
	if err != nil {
		t.Errorf("reading the audit log: %v", err)
	}
	for _, v := range checkLeaderFencing(events, ctrlUsers, leaderLease) {
		e.ck.Violate("4/fencing", "%s", v)
	}
	for _, v := range e.unreachableInSkew() {
		e.ck.Violate("5/skew", "%s", v)
	}
	e.summary(seed)
	vs := e.ck.Violations()
	if convErr != nil {
		t.Errorf("convergence (seed %d): %v", seed, convErr)
	}
	if len(vs) > 0 {
		// Every violation was logged as it happened; the failure shows the first few of each
		// invariant and the counts.
		var b strings.Builder
		count := map[string]int{}
		for _, v := range vs {
			if count[v.Invariant]++; count[v.Invariant] <= 3 {
				fmt.Fprintf(&b, "\n[invariant %s] %s %s", v.Invariant, v.At.Format("15:04:05.000"), v.Detail)
			}
		}
		fmt.Fprintf(&b, "\nviolations by invariant: %v", count)
		t.Errorf("%d invariant violations with seed %d (replay: CHAOS_SEED=%d go test ./test/chaos/ -run TestChaos -v):%s",
			len(vs), seed, seed, b.String())
	}
}

// supervise restarts a system process (controller, executor, kube-scheduler,
// kube-controller-manager) that exited by itself, as a Deployment or DaemonSet would: e.g. a
// controller exits when it cannot renew its leader Lease while kube-apiserver is down. A
// process is restarted once it has been down for supervisorDelay, so the faults' own restarts
// (1-4 s) come first.
func (e *env) supervise(ctx context.Context, procs []*proc) {
	const supervisorDelay = 5 * time.Second
	downSince := map[*proc]time.Time{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range procs {
			if p.running() {
				delete(downSince, p)
				continue
			}
			since, ok := downSince[p]
			if !ok {
				downSince[p] = time.Now()
				continue
			}
			if time.Since(since) >= supervisorDelay {
				e.record("supervisor-restart", "%s exited (%v); started again", p.name, p.exitError())
				// A controller exits, by design, when it loses the leader Lease; anything
				// else of Agora's that exits by itself crashed.
				if strings.HasPrefix(p.name, "agora-") && !strings.Contains(tailOf(p.logPath, 4096), "leader election lost") {
					e.ck.Violate("crash", "%s exited by itself (%v); the end of its log:\n%s", p.name, p.exitError(), tailOf(p.logPath, 2048))
				}
				_ = p.start()
				delete(downSince, p)
			}
		}
	}
}

// unreachableInSkew lists the tasks that became Unreachable during a skew-leases window while
// no executor, node or kube-apiserver fault could explain it.
func (e *env) unreachableInSkew() []string {
	e.mu.Lock()
	skews, disruptions := append([]window(nil), e.skews...), append([]window(nil), e.disruptions...)
	e.mu.Unlock()
	var out []string
	for task, at := range e.ck.UnreachableSince() {
		explained := false
		for _, d := range disruptions {
			explained = explained || d.contains(at)
		}
		if explained {
			continue
		}
		for _, s := range skews {
			if s.contains(at) {
				out = append(out, fmt.Sprintf("task %s became Unreachable at %s while executor Lease clocks were skewed (%s-%s) and no executor, node or kube-apiserver fault was under way",
					task, at.Format("15:04:05.000"), s.from.Format("15:04:05"), s.to.Format("15:04:05")))
			}
		}
	}
	sort.Strings(out)
	return out
}

// tailOf returns the last n bytes of a file.
func tailOf(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// rerunJobs starts the batch, gang and borrow jobs again (same Framework names, so names are
// reused) each time one finishes, until the faults stop: the load lasts as long as the faults.
// One that exited by itself with an error (e.g. it started while kube-apiserver was down) is
// started again too, as a Job would be; one killed by a fault is left to that fault.
func (e *env) rerunJobs(ctx context.Context, stop <-chan struct{}) {
	for sleepUnless(ctx, stop, 2*time.Second) {
		for _, name := range []string{"batch", "gang", "borrow"} {
			e.mu.Lock()
			p := e.fws[name]
			e.mu.Unlock()
			if exited, err := p.wait(0); exited && (err == nil || exitedByItself(err)) {
				e.t.Logf("chaos: job %s ended (%v); running it again", name, err)
				_ = p.start()
			}
		}
	}
}

// sleepUnless sleeps for d and reports true, or reports false as soon as ctx ends or stop closes.
func sleepUnless(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// exitedByItself reports whether a process's exit error is a non-zero exit status (not a signal).
func exitedByItself(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.Exited()
}

// guaranteedDemand runs the guaranteed framework prod (role prod: 1-CPU tasks of 5 s, 8 to 40
// of them) again and again, idle 3-12 s in between (its Framework torn down), until the faults
// stop: each time it comes back its role is below its guarantee and reclaims what was lent.
// Its sizes and pauses come from the seed.
func (e *env) guaranteedDemand(ctx context.Context, stop <-chan struct{}, common func(string) []string, bin string) {
	rng := rand.New(rand.NewSource(e.rng.Int63()))
	idle := 10 * time.Second // borrow borrows first
	for sleepUnless(ctx, stop, idle) {
		n := 8 + rng.Intn(33)
		p := newProc(e.dir, "fw-prod", bin, append(common("prod"), "--role", quotaRole, "--tasks", strconv.Itoa(n), "--cpu", "1",
			"--memory", "1Gi", "--duration", "5s", "--max-retries", "1000")...)
		e.mu.Lock()
		e.fws["prod"] = p
		e.mu.Unlock()
		e.t.Logf("chaos: guaranteed framework prod starts with %d tasks of 1 CPU", n)
		if err := p.start(); err != nil {
			e.t.Errorf("start prod: %v", err)
			return
		}
		// Until this run ends by itself (a kill-framework fault restarts it; a second instance
		// replaces it in fws).
		for done := false; !done; {
			if !sleepUnless(ctx, stop, time.Second) {
				return
			}
			e.mu.Lock()
			cur := e.fws["prod"]
			e.mu.Unlock()
			exited, err := cur.wait(0)
			done = exited && (err == nil || exitedByItself(err))
		}
		idle = time.Duration(3+rng.Intn(10)) * time.Second
	}
}

func (e *env) frameworkProcs() []*proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*proc
	for _, p := range e.fws {
		out = append(out, p)
	}
	return out
}

func (e *env) record(kind, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := faultRecord{Kind: kind, At: time.Now(), Detail: fmt.Sprintf(format, args...)}
	e.faults = append(e.faults, r)
	e.t.Logf("FAULT %s %s: %s", r.At.Format("15:04:05.000"), kind, r.Detail)
}

// leader returns the index of the controller that reports leading on /metrics, or -1.
func (e *env) leader() int {
	for i, addr := range e.ctrlMx {
		if !e.ctrls[i].running() || e.ctrls[i].stopped {
			continue
		}
		out, err := httpGet("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "leader_election_master_status") && strings.HasSuffix(l, " 1") {
				return i
			}
		}
	}
	return -1
}

var faultKinds = []string{"kill-leader", "stop-leader", "kill-executor", "stop-executor", "kill-framework",
	"second-framework", "delete-node", "node-notready", "framework-spec", "taint-node", "restart-apiserver", "skew-leases",
	"quota-guarantee", "quota-limit", "quota-recreate", "kill-leader-in-reclaim"}

func (e *env) injectFaults(ctx context.Context, until time.Time) {
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var wg, leaderWG sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		// A fault every 3-10 s; long ones (stops, NotReady) recover in the background.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(3000+e.rng.Intn(7000)) * time.Millisecond):
		}
		kind := faultKinds[e.rng.Intn(len(faultKinds))]
		pause := time.Duration(20+e.rng.Intn(20)) * time.Second
		restartAfter := time.Duration(1+e.rng.Intn(4)) * time.Second
		pick := e.rng.Intn(1 << 30)
		leaderFault := kind == "stop-leader" || kind == "kill-leader" || kind == "kill-leader-in-reclaim"
		if leaderFault {
			// one leader fault at a time, so that failover times are measurable
			leaderWG.Wait()
			leaderWG.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if leaderFault {
				defer leaderWG.Done()
			}
			e.fault(kind, pause, restartAfter, pick)
		}()
	}
}

func (e *env) fault(kind string, pause, restartAfter time.Duration, pick int) {
	ctx := context.Background()
	kube := e.c.Kube
	switch kind {
	case "kill-executor", "stop-executor", "delete-node", "node-notready", "restart-apiserver":
		// Its effects (stale Leases, Unreachable and Lost tasks) may show a little after it
		// ends: the executor's Lease lasts 20 s.
		w := window{from: time.Now()}
		defer func() {
			w.to = time.Now().Add(25 * time.Second)
			e.mu.Lock()
			e.disruptions = append(e.disruptions, w)
			e.mu.Unlock()
		}()
	}
	switch kind {
	case "kill-leader", "stop-leader":
		l := e.leader()
		if l < 0 {
			return
		}
		p := e.ctrls[l]
		if kind == "kill-leader" {
			e.record(kind, "SIGKILL %s (pid %d), restart in %s", p.name, p.pid(), restartAfter)
			p.kill()
			time.Sleep(restartAfter)
			_ = p.start()
			return
		}
		e.record(kind, "SIGSTOP %s (pid %d) for %s", p.name, p.pid(), pause)
		_ = p.signal(syscall.SIGSTOP)
		time.Sleep(pause)
		_ = p.signal(syscall.SIGCONT)
		e.record("stop-leader-cont", "SIGCONT %s", p.name)
		// controller-runtime exits when it lost the Lease: bring it back as a standby.
		if exited, _ := p.wait(10 * time.Second); exited {
			_ = p.start()
		}
	case "kill-executor":
		e.record(kind, "SIGKILL agora-executor (pid %d), restart in %s", e.exec.pid(), restartAfter)
		e.exec.kill()
		time.Sleep(restartAfter)
		_ = e.exec.start()
	case "stop-executor":
		if e.exec.stopped {
			return
		}
		e.record(kind, "SIGSTOP agora-executor for %s (its Leases go stale)", pause)
		_ = e.exec.signal(syscall.SIGSTOP)
		time.Sleep(pause)
		_ = e.exec.signal(syscall.SIGCONT)
		e.record("stop-executor-cont", "SIGCONT agora-executor")
	case "kill-framework", "second-framework":
		names := []string{"batch", "service", "gang", "churn", "prod", "borrow"}
		name := names[pick%len(names)]
		e.mu.Lock()
		p := e.fws[name]
		e.mu.Unlock()
		if p == nil || !p.running() {
			return // prod is between runs
		}
		if kind == "kill-framework" {
			e.record(kind, "SIGKILL framework %s, restart in %s", name, restartAfter)
			p.kill()
			time.Sleep(restartAfter)
			_ = p.start()
			return
		}
		// A second instance of the same framework: it takes the framework over and the first
		// one must stop (SDK failover).
		q := newProc(e.dir, p.name+"-"+strconv.Itoa(pick%1000), p.bin, p.args...)
		e.record(kind, "second instance of framework %s (%s)", name, q.name)
		if q.start() == nil {
			e.mu.Lock()
			e.fws[name] = q
			e.mu.Unlock()
			if exited, _ := p.wait(30 * time.Second); !exited {
				e.record("second-framework-stale", "the first instance of %s still runs 30 s after it was superseded: killing it", name)
				p.kill()
			}
		}
	case "kill-leader-in-reclaim":
		e.killLeaderInReclaim(ctx, restartAfter)
	case "quota-guarantee", "quota-limit", "quota-recreate":
		e.quotaFault(ctx, kind, restartAfter, pick)
	case "delete-node":
		nodes := e.c.Nodes()
		node := nodes[pick%len(nodes)]
		e.record(kind, "delete node %s, add a new one in %s", node, restartAfter)
		_ = kube.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
		time.Sleep(restartAfter)
		e.mu.Lock()
		wasShared := e.shared[node]
		e.mu.Unlock()
		shape := poolShape
		if wasShared {
			shape = sharedShape
		}
		if added, err := e.c.AddNodes(ctx, 1, shape); err == nil {
			e.record("add-node", "added %v (shared %v)", added, wasShared)
			e.mu.Lock()
			for _, n := range added {
				e.shared[n] = wasShared
			}
			e.mu.Unlock()
		}
	case "node-notready":
		nodes := e.c.Nodes()
		node := nodes[pick%len(nodes)]
		// kwok stops acting for the node (no heartbeats, its pods freeze) and the node reports
		// NotReady; giving the annotation back lets kwok's node-initialize stage make it Ready.
		e.record(kind, "node %s NotReady for %s (kwok stops managing it)", node, pause)
		if err := patchNode(ctx, kube, node, `{"metadata":{"annotations":{"`+testcluster.KwokNodeAnnotation+`":null}}}`, false); err != nil {
			return
		}
		_ = patchNode(ctx, kube, node, fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"False","reason":"ChaosNotReady","lastHeartbeatTime":%q,"lastTransitionTime":%q}]}}`,
			time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)), true)
		time.Sleep(pause)
		_ = patchNode(ctx, kube, node, `{"metadata":{"annotations":{"`+testcluster.KwokNodeAnnotation+`":"`+testcluster.KwokNodeAnnotationValue+`"}}}`, false)
		e.record("node-ready", "node %s handed back to kwok", node)
	case "framework-spec":
		names := []string{"batch", "service", "gang"}
		name := names[pick%len(names)]
		cpu := []string{"4", "8", "16", "100"}[pick%4]
		sel := `null`
		if pick%3 == 1 {
			sel = `{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-a","zone-b"]}]}`
		}
		patch := fmt.Sprintf(`{"spec":{"limits":{"cpu":%q},"nodeSelector":%s}}`, cpu, sel)
		e.record(kind, "framework %s: %s", name, patch)
		_, _ = e.c.Agora.SchedulingV1alpha1().Frameworks(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	case "skew-leases":
		// Every executor Lease says its holder's clock is minutes off (ahead or behind) while
		// the holder keeps renewing: the controller must judge freshness by the renewals it
		// observes, never by comparing renewTime with its own clock. No task may become
		// Unreachable for it (checked at the end).
		skew := time.Duration(3+pick%8) * time.Minute
		if pick%2 == 0 {
			skew = -skew
		}
		e.record(kind, "executor Leases renewed with clocks %s off for %s", skew, pause)
		w := window{from: time.Now()}
		for end := time.Now().Add(pause); time.Now().Before(end); time.Sleep(time.Second) {
			e.exec.mu.Lock()
			silent := e.exec.stopped
			e.exec.mu.Unlock()
			if silent || !e.exec.running() {
				continue // these writes stand for the executor's own renewals
			}
			list, err := kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range list.Items {
				l := &list.Items[i]
				if !strings.HasPrefix(l.Name, agorav1alpha1.ExecutorLeasePrefix) {
					continue
				}
				at := metav1.NewMicroTime(time.Now().Add(skew))
				l.Spec.RenewTime = &at
				_, _ = kube.CoordinationV1().Leases(agorav1alpha1.SystemNamespace).Update(ctx, l, metav1.UpdateOptions{})
			}
		}
		w.to = time.Now()
		e.mu.Lock()
		e.skews = append(e.skews, w)
		e.mu.Unlock()
		e.record("skew-leases-end", "executor Leases renewed by their holder's clock again")
	case "restart-apiserver":
		// Every client loses its connection and its watches; kwok's heartbeats and the Leases
		// pause for as long as it is down.
		e.record(kind, "stop kube-apiserver, start it again in %s", restartAfter)
		if err := e.c.RestartAPIServer(restartAfter); err != nil {
			e.t.Errorf("restart kube-apiserver: %v", err)
			return
		}
		e.record("apiserver-up", "kube-apiserver serving again")
	case "taint-node":
		nodes := e.c.Nodes()
		node := nodes[pick%len(nodes)]
		e.record(kind, "taint node %s chaos=true:NoSchedule for %s", node, pause)
		n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return
		}
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "chaos", Value: "true", Effect: corev1.TaintEffectNoSchedule})
		if _, err := kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return
		}
		time.Sleep(pause)
		if n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err == nil {
			var keep []corev1.Taint
			for _, tt := range n.Spec.Taints {
				if tt.Key != "chaos" {
					keep = append(keep, tt)
				}
			}
			n.Spec.Taints = keep
			_, _ = kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		}
		e.record("untaint-node", "node %s untainted", node)
	}
}

// killLeaderInReclaim waits (up to 30 s) for the leader to be in the middle of a preemption — a
// Task with status.preemptedFor written and not deleted yet, its batch's other kills perhaps not
// written at all — and SIGKILLs it then, restarting it restartAfter later. The next leader must
// count the preempted tasks as on their way back (not preempt again for the same need) and
// finish the kills that were recorded but not sent.
func (e *env) killLeaderInReclaim(ctx context.Context, restartAfter time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := e.c.Agora.SchedulingV1alpha1().Tasks(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		t, ok := ev.Object.(*agorav1alpha1.Task)
		if !ok || t.Status.PreemptedFor == "" || t.DeletionTimestamp != nil {
			continue
		}
		l := e.leader()
		if l < 0 {
			return
		}
		p := e.ctrls[l]
		e.record("kill-leader-in-reclaim", "task %s just preempted for %s, not deleted yet: SIGKILL %s (pid %d), restart in %s",
			t.Name, t.Status.PreemptedFor, p.name, p.pid(), restartAfter)
		p.kill()
		time.Sleep(restartAfter)
		_ = p.start()
		return
	}
	e.t.Logf("chaos: kill-leader-in-reclaim: no preemption within 30 s; no fault")
}

// quotaFault changes RoleQuota prod: its guarantee (raised or lowered, memory sometimes), its
// limit (never below the guarantee: the API refuses that), or deletes it and creates it again
// restartAfter later.
func (e *env) quotaFault(ctx context.Context, kind string, restartAfter time.Duration, pick int) {
	rqs := e.c.Agora.SchedulingV1alpha1().RoleQuotas()
	e.mu.Lock()
	q := e.quota
	switch kind {
	case "quota-guarantee":
		q.cpu = []string{"16", "24", "32", "40", "48"}[pick%5]
		q.memory = []string{"", "24Gi"}[(pick/5)%2]
		if lim, g := quantityOr(q.limitCPU), resource.MustParse(q.cpu); q.limitCPU != "" && lim.Cmp(g) < 0 {
			q.limitCPU = q.cpu
		}
	case "quota-limit":
		g := resource.MustParse(q.cpu)
		q.limitCPU = []string{"", q.cpu, strconv.FormatInt(g.Value()+8, 10), "60"}[pick%4]
	}
	e.quota = q
	e.mu.Unlock()
	if kind == "quota-recreate" {
		e.record(kind, "delete RoleQuota %s, create it again in %s (%s)", quotaRole, restartAfter, q)
		if err := rqs.Delete(ctx, quotaRole, metav1.DeleteOptions{}); err != nil {
			e.t.Logf("chaos: delete RoleQuota: %v", err)
		}
		time.Sleep(restartAfter)
		e.mu.Lock()
		q = e.quota // a change meanwhile is in it
		e.mu.Unlock()
		for i := 0; i < 30; i++ { // kube-apiserver may be restarting
			if _, err := rqs.Create(ctx, q.object(), metav1.CreateOptions{}); err == nil || apierrors.IsAlreadyExists(err) {
				e.record("quota-created", "RoleQuota %s created again (%s)", quotaRole, q)
				return
			}
			time.Sleep(time.Second)
		}
		e.t.Errorf("RoleQuota %s could not be created again", quotaRole)
		return
	}
	e.record(kind, "RoleQuota %s: %s", quotaRole, q)
	for i := 0; i < 30; i++ {
		cur, err := rqs.Get(ctx, quotaRole, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return // being re-created: the re-creation takes e.quota
		}
		if err == nil {
			cur.Spec = q.object().Spec
			if _, err = rqs.Update(ctx, cur, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
		time.Sleep(time.Second)
	}
	e.t.Errorf("RoleQuota %s could not be changed", quotaRole)
}

// quantityOr parses v, or is 0 for "".
func quantityOr(v string) resource.Quantity {
	if v == "" {
		return resource.Quantity{}
	}
	return resource.MustParse(v)
}

func patchNode(ctx context.Context, kube kubernetes.Interface, node, patch string, status bool) error {
	var sub []string
	if status {
		sub = []string{"status"}
	}
	_, err := kube.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, sub...)
	return err
}

// foreignPods keeps about 15 plain pods (no Agora labels) for kube-scheduler to place on the same
// nodes; each runs 5-20 s (kwok completes it) and finished ones are deleted.
func (e *env) foreignPods(ctx context.Context) {
	rng := rand.New(rand.NewSource(e.rng.Int63()))
	kube := e.c.Kube
	for i := 0; ctx.Err() == nil; i++ {
		list, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "chaos/foreign=true"})
		if err == nil {
			live := 0
			e.mu.Lock()
			for _, p := range list.Items {
				if p.Spec.NodeName != "" {
					e.placed[p.Name] = p.Spec.NodeName
				}
			}
			e.mu.Unlock()
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					_ = kube.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{})
					continue
				}
				live++
			}
			for ; live < 15; live++ {
				cpu := []string{"250m", "500m", "1"}[rng.Intn(3)]
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{GenerateName: "foreign-", Labels: map[string]string{"chaos/foreign": "true"},
						Annotations: map[string]string{"agora.dev/complete-after": fmt.Sprintf("%ds", 5+rng.Intn(15))}},
					Spec: corev1.PodSpec{
						Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
						Containers: []corev1.Container{{Name: "main", Image: "busybox",
							Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
								corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Mi")}}}},
					},
				}
				_, _ = kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// converge waits until the cluster has settled after the faults, or returns what has not.
func (e *env) converge(ctx context.Context, deadline time.Time) error {
	var last string
	from := time.Now()
	for time.Now().Before(deadline) {
		last = e.settled(ctx)
		if last == "" {
			e.t.Logf("chaos: converged %s after the last fault", time.Since(from).Round(time.Second))
			return nil
		}
		time.Sleep(2 * time.Second)
	}
	return fmt.Errorf("not converged within %s of the last fault: %s", convergenceBound, last)
}

func (e *env) settled(ctx context.Context) string {
	ag := e.c.Agora.SchedulingV1alpha1()
	tasks, err := ag.Tasks(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	pods, err := e.c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	fws, err := ag.Frameworks(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	offers, err := ag.Offers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var problems []string
	taskUID := map[types.UID]*agorav1alpha1.Task{}
	running := map[string]int{}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		taskUID[t.UID] = t
		if t.Status.Phase == agorav1alpha1.TaskRunning {
			running[t.Labels[agorav1alpha1.LabelFramework]]++
		}
	}
	for _, p := range pods.Items {
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "Task" && taskUID[ref.UID] == nil {
				problems = append(problems, "orphan pod "+p.Name+" (its Task is gone)")
			}
		}
	}
	havePod := map[types.UID]bool{}
	for _, p := range pods.Items {
		for _, ref := range p.OwnerReferences {
			havePod[ref.UID] = true
		}
	}
	for _, t := range taskUID {
		if t.Status.Phase.IsTerminal() && !havePod[t.UID] && len(t.Finalizers) > 0 && t.DeletionTimestamp != nil {
			problems = append(problems, fmt.Sprintf("task %s is %s, its pod is gone, and it keeps finalizers %v", t.Name, t.Status.Phase, t.Finalizers))
		}
	}
	fwNames := map[string]*agorav1alpha1.Framework{}
	for i := range fws.Items {
		fwNames[fws.Items[i].Name] = &fws.Items[i]
	}
	for _, o := range offers.Items {
		if fwNames[o.Spec.Framework] == nil {
			problems = append(problems, "offer "+o.Name+" of deleted framework "+o.Spec.Framework)
		}
	}
	if n := running["service"]; n != 6 {
		problems = append(problems, fmt.Sprintf("service has %d of 6 instances Running", n))
	}
	for _, name := range []string{"batch", "gang", "borrow", "prod"} {
		e.mu.Lock()
		p := e.fws[name]
		e.mu.Unlock()
		if p != nil && p.running() {
			problems = append(problems, name+" job not finished")
		}
	}
	for _, t := range taskUID {
		// A preemption is a write, then a delete: a preempted task still there is a kill that
		// was recorded and never finished (a new leader must finish it).
		if t.Status.PreemptedFor != "" {
			problems = append(problems, fmt.Sprintf("task %s/%s preempted for %s is still there (%s, deleted %v)", t.Namespace, t.Name,
				t.Status.PreemptedFor, t.Status.Phase, t.DeletionTimestamp != nil))
		}
	}
	if rq, err := ag.RoleQuotas().Get(ctx, quotaRole, metav1.GetOptions{}); err != nil {
		problems = append(problems, "RoleQuota "+quotaRole+": "+err.Error())
	} else if rq.Status.ObservedGeneration != rq.Generation {
		problems = append(problems, fmt.Sprintf("RoleQuota %s status describes generation %d of %d", quotaRole, rq.Status.ObservedGeneration, rq.Generation))
	}
	for _, t := range taskUID {
		if t.Status.Phase == agorav1alpha1.TaskUnreachable {
			// Every executor is back by now: Unreachable must have gone back to the real phase.
			problems = append(problems, fmt.Sprintf("task %s/%s still Unreachable (%s)", t.Namespace, t.Name, t.Status.Message))
		}
	}
	for _, fw := range fws.Items {
		active := int32(0)
		for _, t := range taskUID {
			switch t.Status.Phase {
			case agorav1alpha1.TaskStaging, agorav1alpha1.TaskStarting, agorav1alpha1.TaskRunning, agorav1alpha1.TaskUnreachable:
				if t.Labels[agorav1alpha1.LabelFramework] == fw.Name {
					active++
				}
			}
		}
		if fw.Status.Tasks.Active != active {
			problems = append(problems, fmt.Sprintf("framework %s status says %d active tasks, the Tasks say %d", fw.Name, fw.Status.Tasks.Active, active))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

func (e *env) summary(seed int64) {
	e.mu.Lock()
	faults := append([]faultRecord(nil), e.faults...)
	e.mu.Unlock()
	st := e.ck.Stats()
	offerTimes, runTimes := st.OfferTimes, st.RunTimes
	snaps, tol := st.Snapshots, fmt.Sprint(st.Tolerated)
	next := func(ts []time.Time, after time.Time) (time.Duration, bool) {
		for _, x := range ts {
			if x.After(after) {
				return x.Sub(after), true
			}
		}
		return 0, false
	}
	byKind := map[string][]faultRecord{}
	for _, f := range faults {
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	var kinds []string
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "\n## chaos summary (seed %d)\n\n%d faults, %d consistent snapshots checked, tolerated terminating-pod transients %s\n\n", seed, len(faults), snaps, tol)
	fmt.Fprintf(&b, "| fault | count | fault→next offer p50 / max | fault→next Running p50 / max |\n|---|---|---|---|\n")
	for _, k := range kinds {
		var o, r []time.Duration
		for _, f := range byKind[k] {
			if d, ok := next(offerTimes, f.At); ok {
				o = append(o, d)
			}
			if d, ok := next(runTimes, f.At); ok {
				r = append(r, d)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", k, len(byKind[k]), pct(o), pct(r))
	}
	var fo []time.Duration
	for _, f := range byKind["kill-leader"] {
		if d, ok := next(offerTimes, f.At); ok {
			fo = append(fo, d)
		}
	}
	fmt.Fprintf(&b, "\nleader failover (SIGKILL → first Offer after it): %s\n", pct(fo))
	e.mu.Lock()
	onPool := 0
	for _, node := range e.placed {
		if !e.shared[node] {
			onPool++
		}
	}
	fmt.Fprintf(&b, "foreign pods placed by kube-scheduler: %d (on pool nodes: %d)\n", len(e.placed), onPool)
	e.mu.Unlock()
	e.preemptionSummary(&b, st, byKind)
	fmt.Fprintf(&b, "violations: %d\n", len(e.ck.Violations()))
	e.t.Log(b.String())
}

// preemptionSummary says how much reclaim the run saw, and how much of it met a leader fault:
// preempted tasks still stopping when a leader was killed or stopped (the new leader must count
// them as on their way back and finish their kills), and preemptions made in the 30 s after.
func (e *env) preemptionSummary(b *strings.Builder, st invariants.Stats, byKind map[string][]faultRecord) {
	byRole := map[string]int{}
	for _, p := range st.Preemptions {
		byRole[p.Role]++
	}
	fmt.Fprintf(b, "preemptions: %d %v, judged by 6c: %d (not judgeable, a watch was blind: %d); offers rescinded for the guarantee: %d\n",
		len(st.Preemptions), byRole, st.SameNeedChecked, st.Tolerated["6c"], st.RescindedForGuarantee)
	if sl := append([]float64(nil), st.SameNeedSlack...); len(sl) > 0 {
		sort.Float64s(sl)
		fmt.Fprintf(b, "6c room left under the bound at each preemption, in tasks of its size, min / p50 / max: %.1f / %.1f / %.1f\n", sl[0], sl[len(sl)/2], sl[len(sl)-1])
	}
	leaderFaults := append(append(append([]faultRecord(nil), byKind["kill-leader"]...), byKind["stop-leader"]...), byKind["kill-leader-in-reclaim"]...)
	withInFlight, inFlight, after := 0, 0, 0
	for _, f := range leaderFaults {
		n := 0
		for _, p := range st.Preemptions {
			if p.At.Before(f.At) && (p.Ended.IsZero() || p.Ended.After(f.At)) {
				n++
			}
			if p.At.After(f.At) && p.At.Before(f.At.Add(30*time.Second)) {
				after++
			}
		}
		if n > 0 {
			withInFlight++
			inFlight += n
		}
	}
	fmt.Fprintf(b, "leader faults with preempted tasks still stopping: %d of %d (%d tasks); preemptions within 30 s after a leader fault: %d\n",
		withInFlight, len(leaderFaults), inFlight, after)
	var quotaFaults []string
	for _, k := range []string{"quota-guarantee", "quota-limit", "quota-recreate"} {
		quotaFaults = append(quotaFaults, fmt.Sprintf("%s %d", k, len(byKind[k])))
	}
	fmt.Fprintf(b, "quota faults: %s\n", strings.Join(quotaFaults, ", "))
}

func pct(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return fmt.Sprintf("%s / %s", ds[len(ds)/2].Round(100*time.Millisecond), ds[len(ds)-1].Round(100*time.Millisecond))
}

func httpGet(url string) (string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
