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

package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// shape is what one task asks for: whole CPUs and GiB.
type shape struct{ cpu, memGi int }

// taskSpec is one task of a job, as drawn.
type taskSpec struct {
	dur   time.Duration
	block int // the data block it reads, -1 for none
}

// jobSpec is one job of the trace.
type jobSpec struct {
	id      int
	arrival time.Duration // after the run's start
	shape   shape
	tasks   []taskSpec
	// waveSize > 0 splits the tasks into waves of that many: a wave becomes runnable when the
	// one before it has finished (an iterative job). 0: every task is runnable at arrival.
	waveSize int
	// gang: every task of the job launches together or none does (an MPI job).
	gang bool
	// local: tasks prefer a node holding their block (delay scheduling).
	local bool
}

// trace is the whole experiment's work: each framework's jobs in arrival order, and where the
// data blocks are. Both runs replay the same trace.
type trace struct {
	jobs map[string][]jobSpec
	// replicas[b] are the nodes (indices into the sorted node list) holding block b.
	replicas [][]int
	// describe is each framework's workload in words, for the report.
	describe map[string]string
}

// work is the core-seconds and GiB-seconds the trace's tasks run for.
func (t *trace) work() (cpu, memGi float64) {
	for _, jobs := range t.jobs {
		for _, j := range jobs {
			for _, ts := range j.tasks {
				cpu += float64(j.shape.cpu) * ts.dur.Seconds()
				memGi += float64(j.shape.memGi) * ts.dur.Seconds()
			}
		}
	}
	return cpu, memGi
}

// staticLocalityBound is the share of the data-reading tasks whose block has a replica on a
// node of their framework's static partition (node i belongs to FrameworkOrder[i%4]).
func (t *trace) staticLocalityBound() float64 {
	var data, reachable int
	for k, name := range FrameworkOrder {
		for _, j := range t.jobs[name] {
			if !j.local {
				continue
			}
			for _, ts := range j.tasks {
				data++
				for _, n := range t.replicas[ts.block] {
					if n%len(FrameworkOrder) == k {
						reachable++
						break
					}
				}
			}
		}
	}
	if data == 0 {
		return 0
	}
	return float64(reachable) / float64(data)
}

// params are the knobs a preset sets; the trace is drawn from them and the seed.
type params struct {
	nodes    int
	window   time.Duration // jobs arrive over [0, window]
	durScale float64       // multiplies every task duration
	delay    time.Duration // delay scheduling
	replicas int
	// blocksPerNode bounds the block labels a node carries: an Offer passes on at most 32
	// agora.dev labels of a node as attributes.
	blocksPerNode int
}

// presets are the two configurations: the paper's 96 nodes, and a small one for make test.
var presets = map[string]params{
	"full":  {nodes: 96, window: 240 * time.Second, durScale: 1, delay: 5 * time.Second, replicas: 3, blocksPerNode: 24},
	"small": {nodes: 16, window: 60 * time.Second, durScale: 0.6, delay: 5 * time.Second, replicas: 3, blocksPerNode: 24},
}

// The pool's nodes are nodeCPU cores and nodeMemGi GiB, as the paper's EC2 nodes were scaled up.
const (
	nodeCPU   = 8
	nodeMemGi = 32
)

// draw makes the trace. A quarter of the pool (what static partitioning gives each framework)
// holds slots = nodes/4 * 4 tasks of 2 CPU / 4 GiB; job sizes are drawn relative to it, so a
// preset of another size keeps the same balance of load.
func draw(p params, seed int64) (*trace, error) {
	if p.nodes < 8 || p.nodes%4 != 0 {
		return nil, fmt.Errorf("nodes must be a multiple of 4, at least 8 (four static partitions), got %d", p.nodes)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	q := p.nodes / 4 // nodes per quarter
	slots := q * 4   // 2-CPU / 4-GiB tasks a quarter holds
	w := p.window.Seconds()
	dur := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * p.durScale * float64(time.Second)).Round(100 * time.Millisecond)
	}
	// arrivals: the first job at 0, the rest uniform over the window (a Poisson process
	// given its count), sorted.
	arrivals := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := 1; i < n; i++ {
			out[i] = time.Duration(rng.Float64() * w * float64(time.Second)).Round(100 * time.Millisecond)
		}
		slices.Sort(out)
		return out
	}

	t := &trace{jobs: map[string][]jobSpec{}, describe: map[string]string{}}

	// Data blocks: every node carries blocksPerNode labels, each block on `replicas` distinct
	// nodes, placed at random but balanced (always among the nodes holding the fewest).
	blocks := p.nodes * p.blocksPerNode / p.replicas
	t.replicas = placeBlocks(rng, p.nodes, blocks, p.replicas)

	// The Facebook-like Hadoop mix: many jobs, most of a task or two, a few as big as a
	// quarter; each task reads one block.
	nMix := int(math.Round(w / 4))
	sizes := []int{1, 2, max(2, slots/8), max(3, slots/4), max(4, slots/2), slots}
	weights := []float64{0.30, 0.20, 0.20, 0.15, 0.10, 0.05}
	for i, at := range arrivals(nMix) {
		n := sizes[pick(rng, weights)]
		js := jobSpec{id: i, arrival: at, shape: shape{2, 4}, local: true}
		for range n {
			js.tasks = append(js.tasks, taskSpec{dur: dur(8, 16), block: rng.IntN(blocks)})
		}
		t.jobs["hadoop-mix"] = append(t.jobs["hadoop-mix"], js)
	}
	t.describe["hadoop-mix"] = fmt.Sprintf("%d jobs, the first at 0 and the rest at uniformly random times over %s, of 1 to %d tasks (sizes 1, 2, %d, %d, %d, %d with probability 30/20/20/15/10/5%%), "+
		"2 CPU / 4 GiB, each running a uniformly random %s–%s; every task reads one of %d data blocks (uniformly; %d replicas on random nodes) and waits up to %s for a node holding it (delay scheduling)",
		nMix, p.window, slots, sizes[2], sizes[3], sizes[4], sizes[5], dur0(8, p), dur0(16, p), blocks, p.replicas, p.delay)

	// A few large Hadoop jobs, each twice what a quarter holds at once.
	nLarge := 4
	for i := range nLarge {
		js := jobSpec{id: i, arrival: time.Duration(float64(i) * w / 8 * float64(time.Second)), shape: shape{2, 4}}
		for range 2 * slots {
			js.tasks = append(js.tasks, taskSpec{dur: dur(15, 25), block: -1})
		}
		t.jobs["hadoop-large"] = append(t.jobs["hadoop-large"], js)
	}
	t.describe["hadoop-large"] = fmt.Sprintf("%d jobs arriving every %s from 0, each of %d tasks (twice a quarter's slots), 2 CPU / 4 GiB, each running a uniformly random %s–%s",
		nLarge, time.Duration(w/8*float64(time.Second)), 2*slots, dur0(15, p), dur0(25, p))

	// Spark: iterative jobs; each iteration is a wave of tasks that waits for the one before.
	// Memory-heavy tasks (cached data), so their dominant resource is memory.
	nSpark, waves, waveSize := 2, 8, slots*3/2
	for i := range nSpark {
		js := jobSpec{id: i, arrival: time.Duration(float64(i) * w / 2 * float64(time.Second)), shape: shape{2, 8}, waveSize: waveSize}
		for range waves * waveSize {
			js.tasks = append(js.tasks, taskSpec{dur: dur(6, 10), block: -1})
		}
		t.jobs["spark"] = append(t.jobs["spark"], js)
	}
	t.describe["spark"] = fmt.Sprintf("%d iterative jobs (at 0 and %s) of %d iterations; each iteration is a wave of %d tasks (1.5 quarters), 2 CPU / 8 GiB, each running a uniformly random %s–%s; a wave starts when the last one has finished",
		nSpark, time.Duration(w/2*float64(time.Second)), waves, waveSize, dur0(6, p), dur0(10, p))

	// Torque / MPI: gang jobs whose tasks (one per 2 cores, like the others', so that a gang is
	// not also a fight against fragmentation) must all start together.
	nGang := max(2, int(math.Round(w/30)))
	lo, hi := max(2, q), max(3, q*3)
	for i, at := range arrivals(nGang) {
		n := lo + rng.IntN(hi-lo+1)
		d := dur(25, 35)
		js := jobSpec{id: i, arrival: at, shape: shape{2, 4}, gang: true}
		for range n {
			js.tasks = append(js.tasks, taskSpec{dur: d, block: -1})
		}
		t.jobs["torque"] = append(t.jobs["torque"], js)
	}
	t.describe["torque"] = fmt.Sprintf("%d gang jobs, the first at 0 and the rest at uniformly random times over %s, of %d to %d tasks (uniform) of 2 CPU / 4 GiB that launch all together or not at all and all run one uniformly random %s–%s",
		nGang, p.window, lo, hi, dur0(25, p), dur0(35, p))
	return t, nil
}

// dur0 is a bound of a duration range after scaling, for descriptions.
func dur0(s float64, p params) time.Duration {
	return time.Duration(s * p.durScale * float64(time.Second)).Round(100 * time.Millisecond)
}

// pick draws an index with the given probabilities (summing to 1).
func pick(rng *rand.Rand, weights []float64) int {
	x := rng.Float64()
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// placeBlocks puts each of blocks blocks on replicas distinct nodes out of nodes, at random
// among the nodes holding the fewest blocks so far, so that every node ends with about
// blocks*replicas/nodes of them.
func placeBlocks(rng *rand.Rand, nodes, blocks, replicas int) [][]int {
	count := make([]int, nodes)
	out := make([][]int, blocks)
	order := make([]int, nodes)
	for i := range order {
		order[i] = i
	}
	for b := range blocks {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		slices.SortStableFunc(order, func(x, y int) int { return count[x] - count[y] })
		out[b] = slices.Clone(order[:replicas])
		for _, n := range out[b] {
			count[n]++
		}
	}
	return out
}
