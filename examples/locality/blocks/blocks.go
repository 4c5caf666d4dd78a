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

// Package blocks spreads the locality example's data blocks over nodes: it says which node holds
// a replica of which block, as the node labels the locality framework reads. make demo and the
// end-to-end tests use it to label kwok nodes; on a real cluster the labels would come from
// wherever the data lives.
package blocks

import "fmt"

// DefaultPrefix is the label prefix the locality example reads by default.
const DefaultPrefix = "blocks.agora.dev/"

// Labels returns, for each node, the labels naming the blocks it holds: block b's replicas go to
// nodes b, b+1, ..., b+replicas-1 (mod len(nodes)), so every node holds about
// blocks*replicas/len(nodes) blocks. Label keys are prefix+"b<index>", values "true".
func Labels(nodes []string, blocks, replicas int, prefix string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(nodes))
	if len(nodes) == 0 {
		return out
	}
	replicas = min(max(replicas, 1), len(nodes))
	for _, n := range nodes {
		out[n] = map[string]string{}
	}
	for b := 0; b < blocks; b++ {
		for r := 0; r < replicas; r++ {
			out[nodes[(b+r)%len(nodes)]][fmt.Sprintf("%sb%d", prefix, b)] = "true"
		}
	}
	return out
}
