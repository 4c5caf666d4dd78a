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

// Command churn is the chaos suite's name-reusing framework: it keeps --tasks tasks named
// <name>-0..N-1 running, kills one every --kill-every, and launches it again under the same name
// once the old Task object is gone, so a name outlives its objects (checks that everything is
// keyed by UID).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

type churn struct {
	sdk.NoopScheduler
	name      string
	tasks     int
	killEvery time.Duration
	shape     map[string]string
}

func (c *churn) taskName(i int) string { return fmt.Sprintf("%s-%d", c.name, i) }

func (c *churn) Registered(d *sdk.Driver, _ *agorav1alpha1.Framework) {
	d.AfterFunc(c.killEvery, c.killOne)
}

func (c *churn) killOne(d *sdk.Driver) {
	var live []string
	for i := 0; i < c.tasks; i++ {
		if t := d.Task(c.taskName(i)); t != nil && t.DeletionTimestamp == nil && !sdk.Terminal(t.Status.Phase) {
			live = append(live, t.Name)
		}
	}
	if len(live) > 0 {
		victim := live[rand.Intn(len(live))]
		fmt.Printf("%s kill %s\n", time.Now().Format("15:04:05.000"), victim)
		_ = d.Kill(context.TODO(), victim)
	}
	d.AfterFunc(c.killEvery, c.killOne)
}

func (c *churn) StatusUpdate(d *sdk.Driver, t *agorav1alpha1.Task) {
	// A terminal task that is not being deleted is removed, to free its name.
	if sdk.Terminal(t.Status.Phase) && t.DeletionTimestamp == nil {
		_ = d.Kill(context.TODO(), t.Name)
	}
}

func (c *churn) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	shape := sdk.Resources("cpu", c.shape["cpu"], "memory", c.shape["memory"])
	for _, o := range offers {
		free := sdk.Remaining(o)
		var launch []sdk.TaskInfo
		for i := 0; i < c.tasks; i++ {
			if d.Task(c.taskName(i)) != nil {
				continue // the name is still taken (live, or its old object not gone yet)
			}
			for node, f := range free {
				if sdk.Fits(f, shape) {
					free[node] = sdk.Subtract(f, shape)
					launch = append(launch, sdk.TaskInfo{Name: c.taskName(i), NodeName: node, Resources: shape, Template: sdk.SleepTemplate(0)})
					break
				}
			}
		}
		if len(launch) == 0 {
			_ = d.Decline(context.TODO(), o)
			continue
		}
		_ = d.Launch(context.TODO(), []*agorav1alpha1.Offer{o}, launch...)
	}
}

func main() {
	c := &churn{shape: map[string]string{}}
	var kubeconfig, namespace string
	cpu, mem := "500m", "256Mi"
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	flag.StringVar(&namespace, "namespace", "default", "namespace")
	flag.StringVar(&c.name, "name", "churn", "Framework name")
	flag.IntVar(&c.tasks, "tasks", 6, "task names kept running")
	flag.DurationVar(&c.killEvery, "kill-every", 3*time.Second, "kill one task this often")
	flag.Parse()
	c.shape["cpu"], c.shape["memory"] = cpu, mem
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d, err := sdk.NewForConfig(rc, sdk.Config{Namespace: namespace, Name: c.name}, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Run(ctx); err != nil && !errors.Is(err, sdk.ErrFrameworkDeleted) && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
}
