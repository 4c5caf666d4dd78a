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

// Command hello is the smallest useful Agora framework: it runs five 1-CPU tasks, then exits.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

var shape = sdk.Resources("cpu", "1", "memory", "1Gi")

type hello struct {
	sdk.NoopScheduler // the callbacks hello does not need
	launched, done    int
}

func (h *hello) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	for _, offer := range offers {
		var tasks []sdk.TaskInfo
		for node, free := range sdk.Remaining(offer) {
			for ; h.launched < 5 && sdk.Fits(free, shape); h.launched++ {
				free = sdk.Subtract(free, shape)
				tasks = append(tasks, sdk.TaskInfo{Name: fmt.Sprint("hello-", h.launched), NodeName: node,
					Resources: shape, Template: sdk.SleepTemplate(2 * time.Second)})
			}
		}
		_ = d.Launch(context.TODO(), []*agorav1alpha1.Offer{offer}, tasks...) // then releases the rest
	}
}

func (h *hello) StatusUpdate(d *sdk.Driver, task *agorav1alpha1.Task) {
	fmt.Println(task.Name, task.Status.Phase, task.Status.Message)
	if sdk.Terminal(task.Status.Phase) {
		if h.done++; h.done == 5 {
			_ = d.Teardown(context.TODO()) // deletes the Framework; Run returns
		}
	}
}

func main() {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err == nil {
		var d *sdk.Driver
		if d, err = sdk.NewForConfig(cfg, sdk.Config{Namespace: "default", Name: "hello"}, &hello{}); err == nil {
			err = d.Run(context.Background())
		}
	}
	if err != nil && err != sdk.ErrFrameworkDeleted {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}
