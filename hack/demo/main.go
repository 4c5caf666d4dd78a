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

// Command demo is `make demo`: Agora doing its real job on one machine. It brings up the local
// cluster (etcd, kube-apiserver, kube-controller-manager's garbage collector, kwok nodes,
// agora-controller, agora-executor), runs three example frameworks side by side with different
// DRF weights — a batch job, a locality-aware job using delay scheduling, and a long-running
// service — shows a live view of shares, tasks and offers until the jobs finish (in the
// terminal, and in the live dashboard it serves on 127.0.0.1, see docs/dashboard.md), prints a
// summary, and tears the cluster down (KEEP=1 leaves it up).
//
// It also shows a guaranteed team taking its share back (docs/quotas.md): a RoleQuota guarantees
// role prod 3/8 of the pool, which is lent meanwhile to the batch job (role batch, --revocable) as
// revocable resources; once the batch job borrows, a service of role prod asks for its whole
// guarantee, and the controller preempts revocable batch tasks to give it.
//
//	go run ./hack/demo [--nodes 8] [--keep]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/examples/locality/blocks"
	"github.com/agora-sched/agora/examples/report"
	"github.com/agora-sched/agora/pkg/client/clientset/versioned"
	"github.com/agora-sched/agora/pkg/dashboard"
)

// namespace of the demo's frameworks; the README's kubectl walkthrough uses "demo", so the two
// can share a cluster kept with KEEP=1.
const namespace = "agora-demo"

type demo struct {
	root, local, kubeconfig string
	nodes                   int
	keep                    bool
	timeout                 time.Duration
	tty                     bool
	out                     io.Writer

	kube  kubernetes.Interface
	agora versioned.Interface
	procs []*proc
	start time.Time
	// startedCluster says whether this run started the cluster (and so may stop it).
	startedCluster bool
	last           map[string]*row // each framework's row as last seen while it existed
	q              quotaScene
	// notes are the quota scene's narration so far, and transcript the same with the kubectl
	// commands it ran and their output. Without a terminal the transcript is printed as it
	// comes; on one, the notes stay under the live view it redraws, and the transcript follows
	// the view once it ends.
	notes, transcript []string
	// dashboard is the live dashboard's address ("" if it could not start); stopDashboard ends it.
	dashboard     string
	stopDashboard context.CancelFunc
	// stopWatch ends the watch of preempted tasks.
	stopWatch context.CancelFunc
}

// proc is one example framework process.
type proc struct {
	name, example, weight string
	role                  string // "" is the default role
	report                string
	args                  []string
	batch                 bool // runs to completion (the demo waits for it)
	later                 bool // started by the quota scene, not at the start
	cmd                   *exec.Cmd
	done                  chan struct{}
	err                   error
	log                   string
}

func main() {
	d := &demo{out: os.Stdout}
	keepDefault, _ := strconv.ParseBool(os.Getenv("KEEP"))
	flag.IntVar(&d.nodes, "nodes", 8, "kwok nodes in the demo cluster (8 CPU, 32Gi each)")
	flag.BoolVar(&d.keep, "keep", keepDefault, "leave the cluster and the frameworks' objects up at the end (env KEEP=1)")
	flag.DurationVar(&d.timeout, "timeout", 5*time.Minute, "give up if the jobs have not finished by then")
	flag.Parse()
	if err := d.run(); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
		os.Exit(1)
	}
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "==> "+format+"\n", args...)
}

func (d *demo) run() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	d.root = wd
	if _, err := os.Stat(filepath.Join(d.root, "hack", "local-cluster.sh")); err != nil {
		return fmt.Errorf("run me from the repository root (make demo): %w", err)
	}
	d.local = os.Getenv("AGORA_LOCAL_DIR")
	if d.local == "" {
		d.local = filepath.Join(d.root, ".local")
	}
	d.kubeconfig = filepath.Join(d.local, "kubeconfig")
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
		d.tty = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := d.upCluster(ctx); err != nil {
		return err
	}
	defer d.cleanup()
	if err := d.setup(ctx); err != nil {
		return err
	}
	d.start = time.Now()
	if err := d.startFrameworks(); err != nil {
		return err
	}
	jobsErr := d.watch(ctx)
	if d.tty && len(d.transcript) > 0 {
		fmt.Fprintf(d.out, "\n%s", strings.Join(d.transcript, ""))
	}
	d.summary()
	return jobsErr
}

// sh runs a repository script with its output shown.
func (d *demo) sh(ctx context.Context, timeout time.Duration, name string, args ...string) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, filepath.Join(d.root, name), args...)
	cmd.Dir = d.root
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.Env = append(os.Environ(), "AGORA_LOCAL_DIR="+d.local)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func (d *demo) upCluster(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(d.local, "state", "kube-apiserver.pid")); err == nil {
		d.say("a local cluster is already up in %s: the demo runs on it and leaves it up", d.local)
	} else {
		d.startedCluster = true
		d.say("starting the local cluster: %d kwok nodes of 8 CPU / 32Gi (the first run builds the control plane into bin/ from the Go module proxy: ~5-10 min, progress below)", d.nodes)
		if err := d.sh(ctx, 10*time.Minute, "hack/local-cluster.sh", "up", "--nodes", strconv.Itoa(d.nodes), "--node-cpu", "8", "--node-memory", "32Gi"); err != nil {
			return err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	if d.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if d.agora, err = versioned.NewForConfig(cfg); err != nil {
		return err
	}
	d.startDashboard(cfg)
	return nil
}

// startDashboard serves the live dashboard (pkg/dashboard, as `kubectl agora dashboard`) on
// 127.0.0.1:8080, or a free loopback port if that one is taken, until the demo ends.
func (d *demo) startDashboard(cfg *rest.Config) {
	ln, err := dashboard.Listen("127.0.0.1:8080")
	if err != nil {
		ln, err = dashboard.Listen("127.0.0.1:0")
	}
	var srv *dashboard.Server
	opts := dashboard.Options{Namespace: namespace}
	if err == nil {
		opts.Token, err = dashboard.NewToken()
	}
	if err == nil {
		srv, err = dashboard.New(cfg, opts)
	}
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		d.say("the live dashboard could not start: %v", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stopDashboard = cancel
	go func() { _ = srv.Run(ctx) }()
	go func() { _ = srv.Serve(ctx, ln) }()
	d.dashboard = opts.URL(ln.Addr())
	d.say("Agora dashboard: %s  (live while the demo runs; open it in a browser)", d.dashboard)
}

// setup spreads the locality job's data blocks over the nodes (as labels), makes the demo
// namespace and builds the example frameworks.
func (d *demo) setup(ctx context.Context) error {
	nodes, err := d.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		return err
	}
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return errors.New("the local cluster has no kwok nodes")
	}
	d.say("placing 24 data blocks, 2 replicas each, on %d nodes (node labels %s<block>)", len(names), blocks.DefaultPrefix)
	for node, labels := range blocks.Labels(names, 24, 2, blocks.DefaultPrefix) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if _, err := d.kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("labelling node %s: %w", node, err)
		}
	}
	if _, err := d.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := d.setupQuotas(ctx, len(names)); err != nil {
		return err
	}
	d.watchPreemptions()
	d.say("building the example frameworks (examples/batch, locality, service) and kubectl-agora")
	plugin := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(d.root, "bin")+"/", "./cmd/kubectl-agora")
	plugin.Dir = d.root
	plugin.Stdout, plugin.Stderr = d.out, d.out
	if err := plugin.Run(); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(d.root, "bin", "examples")+"/", "./examples/batch", "./examples/locality", "./examples/service")
	build.Dir = d.root
	build.Stdout, build.Stderr = d.out, d.out
	return build.Run()
}

func (d *demo) startFrameworks() error {
	logs := filepath.Join(d.local, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	keep := fmt.Sprint(d.keep)
	d.procs = []*proc{
		// The batch job is the borrower: its tasks can be retried, so it also runs them on
		// revocable resources (prod's idle guarantee), in a role of its own.
		{name: "analytics", example: "batch", weight: "1", role: roleBatch, batch: true, args: []string{
			"--tasks", "60", "--cpu", "2", "--memory", "4Gi", "--duration", "8s", "--fail-first", "4", "--revocable", "--keep=" + keep}},
		{name: "etl", example: "locality", weight: "2", batch: true, args: []string{
			"--tasks", "120", "--blocks", "24", "--cpu", "1", "--memory", "2Gi", "--duration", "3s", "--delay", "6s", "--keep=" + keep}},
		{name: "web", example: "service", weight: "1", args: []string{
			"--instances", "8", "--max-per-node", "2", "--cpu", "1", "--memory", "1Gi", "--failover-timeout", "10m"}},
		// The guaranteed team: asks for its whole guarantee once analytics borrows it.
		{name: prodFramework, example: "service", weight: "1", role: roleProd, later: true, args: []string{
			"--instances", strconv.Itoa(d.q.instances), "--max-per-node", "2", "--cpu", prodCPU, "--memory", prodMemory, "--failover-timeout", "10m"}},
	}
	for _, p := range d.procs {
		if p.later {
			continue
		}
		if err := d.startProc(p); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) startProc(p *proc) error {
	logs := filepath.Join(d.local, "logs")
	p.log = filepath.Join(logs, "demo-"+p.name+".log")
	f, err := os.Create(p.log)
	if err != nil {
		return err
	}
	args := append([]string{"--kubeconfig", d.kubeconfig, "--namespace", namespace, "--name", p.name, "--weight", p.weight}, p.args...)
	if p.role != "" {
		args = append(args, "--role", p.role)
	}
	if p.batch {
		p.report = filepath.Join(logs, "demo-"+p.name+".json")
		_ = os.Remove(p.report)
		args = append(args, "--report", p.report)
	}
	p.cmd = exec.Command(filepath.Join(d.root, "bin", "examples", p.example), args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Its own process group (Ctrl-C reaches the demo, which stops them in order), and
	// SIGKILL should the demo itself die.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		p.cmd = nil
		return fmt.Errorf("starting %s: %w", p.example, err)
	}
	p.done = make(chan struct{})
	go func(p *proc, f *os.File) {
		p.err = p.cmd.Wait()
		_ = f.Close()
		close(p.done)
	}(p, f)
	role := p.role
	if role == "" {
		role = agorav1alpha1.DefaultRole
	}
	d.say("framework %-10s (examples/%s, role %s, weight %s) started; log %s", p.name, p.example, role, p.weight, p.log)
	return nil
}

func exited(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// watch refreshes the live view until every batch framework has finished its job.
func (d *demo) watch(ctx context.Context) error {
	every := time.Second
	if !d.tty {
		every = 5 * time.Second
	}
	deadline := time.After(d.timeout)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		finished := d.q.done()
		for _, p := range d.procs {
			if p.batch && !exited(p) {
				finished = false
			}
			if exited(p) && p.err != nil {
				d.view(ctx)
				return fmt.Errorf("framework %s exited: %v (log %s)", p.name, p.err, p.log)
			}
		}
		d.view(ctx)
		if err := d.quotaStep(ctx); err != nil {
			return err
		}
		if finished {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-deadline:
			return fmt.Errorf("the jobs did not finish within %s (logs in %s)", d.timeout, filepath.Join(d.local, "logs"))
		case <-tick.C:
		}
	}
}

type row struct {
	name, weight, share, dominant string
	phases                        map[agorav1alpha1.TaskPhase]int
	offers                        int
	cpu, offeredCPU               int64 // milli-CPU held by tasks, and offered
	revocableCPU                  int64 // milli-CPU of the tasks on revocable resources
}

func (d *demo) view(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fws, err1 := d.agora.SchedulingV1alpha1().Frameworks(namespace).List(ctx, metav1.ListOptions{})
	tasks, err2 := d.agora.SchedulingV1alpha1().Tasks(namespace).List(ctx, metav1.ListOptions{})
	offers, err3 := d.agora.SchedulingV1alpha1().Offers(namespace).List(ctx, metav1.ListOptions{})
	nodes, err4 := d.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	quotas, err5 := d.agora.SchedulingV1alpha1().RoleQuotas().List(ctx, metav1.ListOptions{})
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		fmt.Fprintf(d.out, "(live view: %v)\n", err)
		return
	}
	rows := map[string]*row{}
	for _, p := range d.procs {
		rows[p.name] = &row{name: p.name, weight: p.weight, share: "-", phases: map[agorav1alpha1.TaskPhase]int{}}
	}
	for _, fw := range fws.Items {
		r := rows[fw.Name]
		if r == nil {
			continue
		}
		r.share, r.dominant = fw.Status.DominantShare, string(fw.Status.DominantResource)
		if r.share == "" {
			r.share = "0"
		}
		r.cpu = fw.Status.Allocated.Cpu().MilliValue()
		r.offeredCPU = fw.Status.Offered.Cpu().MilliValue()
	}
	for _, t := range tasks.Items {
		if r := rows[t.Labels[agorav1alpha1.LabelFramework]]; r != nil {
			r.phases[t.Status.Phase]++
			if t.Status.Revocable && t.Status.Phase != "" && !t.Status.Phase.IsTerminal() {
				r.revocableCPU += t.Spec.Resources.Cpu().MilliValue()
			}
		}
	}
	for _, o := range offers.Items {
		if r := rows[o.Spec.Framework]; r != nil {
			r.offers++
		}
	}
	// A finished job tears its Framework down and its Tasks go with it: show what it last had.
	for name, r := range rows {
		if d.last == nil {
			d.last = map[string]*row{}
		}
		if r.share == "-" && d.last[name] != nil {
			gone := *d.last[name]
			gone.cpu, gone.offeredCPU, gone.offers, gone.revocableCPU = 0, 0, 0, 0
			gone.phases = map[agorav1alpha1.TaskPhase]int{}
			for _, p := range d.procs {
				if rep, err := readReport(p); p.name == name && err == nil {
					gone.phases[agorav1alpha1.TaskFinished] = rep.Finished
					gone.phases[agorav1alpha1.TaskFailed] = rep.Relaunched
					if rep.Preempted != nil { // relaunches after a preemption are not failures
						gone.phases[agorav1alpha1.TaskFailed] -= *rep.Preempted
					}
				}
			}
			rows[name] = &gone
		} else if r.share != "-" {
			d.last[name] = r
		}
	}
	var capCPU resource.Quantity
	for _, n := range nodes.Items {
		capCPU.Add(*n.Status.Allocatable.Cpu())
	}

	var b strings.Builder
	if d.tty {
		b.WriteString("\033[H\033[2J")
	}
	fmt.Fprintf(&b, "Agora demo: %d kwok nodes (%s CPU), namespace %q, %s elapsed%s\n", len(nodes.Items), capCPU.String(), namespace,
		time.Since(d.start).Round(time.Second), map[bool]string{true: "  (Ctrl-C stops)"}[d.tty])
	if d.dashboard != "" {
		fmt.Fprintf(&b, "Agora dashboard: %s\n", d.dashboard)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FRAMEWORK\tKIND\tROLE\tWEIGHT\tSHARE\tDOMINANT\tCPU IN TASKS\tREVOCABLE\tCPU OFFERED\tSTAGING\tSTARTING\tRUNNING\tFINISHED\tFAILED\tPREEMPTED\tLOST\tERROR\tOFFERS\t")
	var used, offered, revocable int64
	preempted := d.q.preemptedBy()
	for _, p := range d.procs {
		r := rows[p.name]
		used += r.cpu
		offered += r.offeredCPU
		revocable += r.revocableCPU
		kind := p.example
		switch {
		case exited(p):
			kind += " (done)"
		case p.later && p.cmd == nil:
			kind += " (later)"
		}
		role := p.role
		if role == "" {
			role = agorav1alpha1.DefaultRole
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.name, kind, role, r.weight, r.share, r.dominant,
			milliCPU(r.cpu), milliCPU(r.revocableCPU), milliCPU(r.offeredCPU),
			r.phases[agorav1alpha1.TaskStaging], r.phases[agorav1alpha1.TaskStarting], r.phases[agorav1alpha1.TaskRunning],
			r.phases[agorav1alpha1.TaskFinished], r.phases[agorav1alpha1.TaskFailed], preempted[p.name], r.phases[agorav1alpha1.TaskLost],
			r.phases[agorav1alpha1.TaskError], r.offers)
	}
	_ = tw.Flush()
	if c := capCPU.MilliValue(); c > 0 {
		fmt.Fprintf(&b, "\npool: %s CPU in tasks (%s of it revocable) + %s offered, of %s (%d%% held). SHARE counts both, divided by WEIGHT.\n",
			milliCPU(used), milliCPU(revocable), milliCPU(offered), capCPU.String(), 100*(used+offered)/c)
	}
	b.WriteString("\n")
	writeQuotas(&b, quotas.Items)
	b.WriteString("\nlatest from each framework:\n")
	for _, p := range d.procs {
		if p.later && p.cmd == nil {
			fmt.Fprintf(&b, "  %s: not started yet (it starts once analytics borrows what role %s is guaranteed)\n", p.name, p.role)
			continue
		}
		fmt.Fprintf(&b, "  %s\n", lastLine(p.log))
	}
	if d.tty && len(d.notes) > 0 {
		b.WriteString("\n")
		for _, n := range d.notes {
			b.WriteString(strings.TrimSuffix(n, ":\n") + "\n")
		}
		b.WriteString("    (what kubectl shows at these moments follows the live view once the jobs are done)\n")
	}
	if !d.tty {
		b.WriteString("\n")
	}
	fmt.Fprint(d.out, b.String())
}

func milliCPU(m int64) string { return resource.NewMilliQuantity(m, resource.DecimalSI).String() }

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	l := lines[len(lines)-1]
	if len(l) > 150 {
		l = l[:150] + "…"
	}
	return l
}

func readReport(p *proc) (report.Report, error) {
	if p.report == "" {
		return report.Report{}, errors.New("no report")
	}
	return report.Read(p.report)
}

func (d *demo) summary() {
	fmt.Fprintf(d.out, "\n==> summary after %s\n", time.Since(d.start).Round(time.Second))
	for _, p := range d.procs {
		if !p.batch {
			continue
		}
		r, err := readReport(p)
		if err != nil {
			fmt.Fprintf(d.out, "  %-10s no report (%v); see %s\n", p.name, err, p.log)
			continue
		}
		failed := r.Relaunched // relaunches after failures, and with --revocable after preemptions
		if r.Preempted != nil {
			failed -= *r.Preempted
		}
		line := fmt.Sprintf("  %-10s %s job, weight %s: %d/%d tasks finished in %.0fs; %d relaunched after failures",
			p.name, p.example, p.weight, r.Finished, r.Tasks, r.Seconds, failed)
		if r.Local != nil && r.Finished > 0 {
			line += fmt.Sprintf("; %d%% ran on a node holding their data (delay scheduling)", 100**r.Local/r.Finished)
		}
		if r.Preempted != nil {
			line += fmt.Sprintf("; %d preempted on revocable resources and run again", *r.Preempted)
		}
		fmt.Fprintln(d.out, line)
	}
	for _, p := range d.procs {
		if p.batch {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		tasks, err := d.agora.SchedulingV1alpha1().Tasks(namespace).List(ctx, metav1.ListOptions{LabelSelector: agorav1alpha1.LabelFramework + "=" + p.name})
		cancel()
		if err != nil {
			continue
		}
		running := 0
		for _, t := range tasks.Items {
			if t.Status.Phase == agorav1alpha1.TaskRunning {
				running++
			}
		}
		role := ""
		if p.role != "" {
			role = ", role " + p.role
		}
		fmt.Fprintf(d.out, "  %-10s long-running service%s, weight %s: %d instances running at the end\n", p.name, role, p.weight, running)
	}
	d.quotaSummary()
}

// cleanup stops the frameworks and, unless asked to keep it, the cluster this run started.
func (d *demo) cleanup() {
	if d.stopDashboard != nil {
		d.stopDashboard() // before the cluster goes: its watches would only log refused connections
	}
	if d.stopWatch != nil {
		d.stopWatch()
	}
	for _, p := range d.procs {
		if p.cmd != nil && p.cmd.Process != nil && !exited(p) {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
	}
	if !d.keep {
		d.deleteQuotas()
	}
	if d.keep || !d.startedCluster {
		d.say("the cluster stays up. Look around:")
		down := "make cluster-down"
		if d.local != filepath.Join(d.root, ".local") {
			down = "AGORA_LOCAL_DIR=" + d.local + " " + down
		}
		fmt.Fprintf(d.out, "      export KUBECONFIG=%s PATH=%s:$PATH\n      kubectl get fw,ofr,tk -n %s\n      kubectl get rolequotas -o wide\n      kubectl agora top -n %s\n      kubectl agora dashboard -n %s    # the live dashboard again (the demo's stopped with it)\n      %s    # when done\n",
			d.kubeconfig, filepath.Join(d.root, "bin"), namespace, namespace, namespace, down)
		fmt.Fprintf(d.out, "    The demo's framework processes have stopped: their Leases go stale, so the Frameworks read\n    ACTIVE False, and web's and prod's instances are killed after their failoverTimeout (10m).\n")
		return
	}
	d.say("tearing the local cluster down (KEEP=1 leaves it up)")
	if err := d.sh(context.Background(), 3*time.Minute, "hack/local-cluster.sh", "down"); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	}
}
