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

package sdk_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/clientcmd"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/sdk"
)

// sleeper runs one 10-second task per offer, on the first node it fits, and releases the rest.
type sleeper struct {
	sdk.NoopScheduler
	n int
}

func (s *sleeper) ResourceOffers(d *sdk.Driver, offers []*agorav1alpha1.Offer) {
	shape := sdk.Resources("cpu", "500m", "memory", "256Mi")
	for _, o := range offers {
		var tasks []sdk.TaskInfo
		for node, free := range sdk.Remaining(o) {
			if len(tasks) == 0 && sdk.Fits(free, shape) {
				s.n++
				tasks = append(tasks, sdk.TaskInfo{Name: fmt.Sprintf("sleeper-%d", s.n), NodeName: node,
					Resources: shape, Template: sdk.SleepTemplate(10 * time.Second)})
			}
		}
		if err := d.Launch(context.TODO(), []*agorav1alpha1.Offer{o}, tasks...); err != nil {
			fmt.Println("launch:", err)
		}
	}
}

func (s *sleeper) StatusUpdate(_ *sdk.Driver, t *agorav1alpha1.Task) {
	fmt.Printf("%s is %s: %s\n", t.Name, t.Status.Phase, t.Status.Message)
}

// A framework with weight 2 in namespace team-a that runs a sleeping task on every offer, until
// interrupted. Its tasks survive a restart of the process: the new Driver delivers their state.
func Example() {
	cfg, err := clientcmd.BuildConfigFromFlags("", clientcmd.RecommendedHomeFile)
	if err != nil {
		panic(err)
	}
	weight := resource.MustParse("2")
	d, err := sdk.NewForConfig(cfg, sdk.Config{
		Namespace: "team-a", Name: "sleeper",
		Spec: agorav1alpha1.FrameworkSpec{Weight: &weight},
	}, &sleeper{})
	if err != nil {
		panic(err)
	}
	if err := d.Run(context.Background()); err != nil {
		panic(err)
	}
}
