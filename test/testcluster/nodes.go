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
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// nodeObject is the harness's node i: KwokNode named NodeNamePrefix<i>, zones in turn.
func nodeObject(i int, shape NodeShape) (*corev1.Node, error) {
	return KwokNode(NodeNamePrefix+strconv.Itoa(i), Zones[i%len(Zones)], shape)
}

// KwokNode is a Node as hack/local-cluster.sh writes it (node_manifests), so that tests and the
// local cluster agree on labels and annotations: kwok manages it, the executor's simulation
// mode serves it (label type=kwok), in the given zone, with shape's size, labels and taints.
func KwokNode(name, zone string, shape NodeShape) (*corev1.Node, error) {
	cpu, mem, pods := shape.CPU, shape.Memory, shape.Pods
	if cpu == "" {
		cpu = "8"
	}
	if mem == "" {
		mem = "32Gi"
	}
	if pods <= 0 {
		pods = 110
	}
	cpuQ, err := resource.ParseQuantity(cpu)
	if err != nil {
		return nil, fmt.Errorf("node cpu %q: %w", cpu, err)
	}
	memQ, err := resource.ParseQuantity(mem)
	if err != nil {
		return nil, fmt.Errorf("node memory %q: %w", mem, err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    cpuQ,
		corev1.ResourceMemory: memQ,
		corev1.ResourcePods:   *resource.NewQuantity(int64(pods), resource.DecimalSI),
	}
	if shape.GPU > 0 {
		capacity[GPUResource] = *resource.NewQuantity(int64(shape.GPU), resource.DecimalSI)
	}
	labels := map[string]string{
		KwokNodeLabel:            KwokNodeLabelValue,
		corev1.LabelHostname:     name,
		corev1.LabelOSStable:     "linux",
		corev1.LabelArchStable:   "amd64",
		corev1.LabelTopologyZone: zone,
	}
	for k, v := range shape.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: labels,
			Annotations: map[string]string{
				KwokNodeAnnotation:             KwokNodeAnnotationValue,
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{Taints: shape.Taints},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
		},
	}, nil
}

func (c *Cluster) addNodes(ctx context.Context, n int, shape NodeShape) ([]string, error) {
	c.mu.Lock()
	first := c.nextNode
	c.nextNode += n
	c.mu.Unlock()

	nodes := make([]*corev1.Node, n)
	for i := range nodes {
		var err error
		if nodes[i], err = nodeObject(first+i, shape); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	// A few concurrent creates: 1,000 nodes one by one would take seconds on their own.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan *corev1.Node)
	for w := 0; w < min(16, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for node := range work {
				if _, err := c.Kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create node %s: %w", node.Name, err)
				}
			}
		}()
	}
	for _, node := range nodes {
		work <- node
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}

	names := make(map[string]bool, n)
	list := make([]string, 0, n)
	for _, node := range nodes {
		names[node.Name] = true
		list = append(list, node.Name)
	}
	if err := c.waitNodesReady(ctx, names); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, list...)
	c.mu.Unlock()
	c.opts.Logf("testcluster: %d nodes Ready and untainted in %s", n, time.Since(start).Round(time.Millisecond))
	return list, nil
}

// waitNodesReady waits until every named node is Ready and has no not-ready taint. kwok's
// node-untaint stage (hack/kwok/node-untaint.yaml) lifts the taint; should a Ready node still
// carry it (stages without that one), the harness lifts it, as kube-controller-manager would.
func (c *Cluster) waitNodesReady(ctx context.Context, names map[string]bool) error {
	var pending []string
	// Only a node seen Ready-but-tainted on two polls in a row is untainted here: kwok's stage
	// usually follows Ready within milliseconds, and racing it would only cost conflicts.
	taintedBefore := map[string]bool{}
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.kwokExited(); err != nil {
			return false, err
		}
		list, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: KwokNodeLabel + "=" + KwokNodeLabelValue})
		if err != nil {
			return false, nil // transient; the deadline bounds it
		}
		pending = pending[:0]
		var readyTainted []string
		seen := 0
		for i := range list.Items {
			node := &list.Items[i]
			if !names[node.Name] {
				continue
			}
			seen++
			ready := isReady(node)
			tainted := hasNotReadyTaint(node)
			switch {
			case ready && !tainted:
			case ready && tainted:
				readyTainted = append(readyTainted, node.Name)
				pending = append(pending, node.Name)
			default:
				pending = append(pending, node.Name)
			}
		}
		stillTainted := make(map[string]bool, len(readyTainted))
		for _, name := range readyTainted {
			stillTainted[name] = true
			if !taintedBefore[name] {
				continue
			}
			if err := c.untaint(ctx, name); err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		taintedBefore = stillTainted
		return seen == len(names) && len(pending) == 0, nil
	})
	if err != nil {
		if len(pending) > 5 {
			pending = append(pending[:5], "...")
		}
		return fmt.Errorf("waiting for %d kwok nodes to be Ready and untainted (still waiting for %v): %w; last lines of kwok's log:\n%s",
			len(names), pending, err, tail(c.KwokLog(), 20))
	}
	return nil
}

func (c *Cluster) untaint(ctx context.Context, name string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !hasNotReadyTaint(node) {
			return nil
		}
		taints := node.Spec.Taints[:0:0]
		for _, t := range node.Spec.Taints {
			if t.Key != NotReadyTaint {
				taints = append(taints, t)
			}
		}
		node.Spec.Taints = taints
		_, err = c.Kube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

func isReady(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasNotReadyTaint(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == NotReadyTaint {
			return true
		}
	}
	return false
}
