// Command hello is the smallest useful Agora framework: it runs five 1-CPU tasks and exits.
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

type hello struct {
	sdk.NoopScheduler
	launched, done int
}

var shape = sdk.Resources("cpu", "1", "memory", "1Gi")

func (h *hello) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	for _, offer := range offers {
		var tasks []sdk.TaskInfo
		for node, free := range sdk.Remaining(offer) {
			for ; h.launched < 5 && sdk.Fits(free, shape); h.launched++ {
				free = sdk.Subtract(free, shape)
				tasks = append(tasks, sdk.TaskInfo{Name: fmt.Sprintf("hello-%d", h.launched),
					NodeName: node, Resources: shape, Template: sdk.SleepTemplate(2 * time.Second)})
			}
		}
		_ = d.Launch(context.TODO(), []*agorav1alpha1.Offer{offer}, tasks...) // then releases the rest
	}
}

func (h *hello) StatusUpdate(d *sdk.Driver, task *agorav1alpha1.Task) {
	fmt.Println(task.Name, task.Status.Phase, task.Status.Message)
	if h.done += btoi(sdk.Terminal(task.Status.Phase)); h.done == 5 {
		_ = d.Teardown(context.TODO()) // remove the Framework; Run returns
	}
}

func btoi(b bool) int { return map[bool]int{true: 1}[b] }

func main() {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err == nil {
		var d *sdk.Driver
		d, err = sdk.NewForConfig(cfg, sdk.Config{Namespace: "default", Name: "hello"}, &hello{})
		if err == nil {
			err = d.Run(context.Background())
		}
	}
	if err != nil && err != sdk.ErrFrameworkDeleted {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}
