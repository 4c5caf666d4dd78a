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

import "time"

// Results is what one experiment measured: the same job trace run twice, shared and static.
// It is written as results.json next to the report, and is all the plots and the report read.
type Results struct {
	Config Config `json:"config"`
	// Machine describes where it ran (CPU model, cores, Go version), for the report.
	Machine string `json:"machine"`
	// Started is when the experiment began (wall clock).
	Started time.Time `json:"started"`
	// Runs in the order they ran: "shared" then "static" unless --order said otherwise.
	Runs []Run `json:"runs"`
}

// Config is the experiment's shape; the report prints it.
type Config struct {
	// Preset is "full" or "small".
	Preset string `json:"preset"`
	// Seed drew the job trace (arrivals, sizes, durations, block placement).
	Seed int64 `json:"seed"`
	// Nodes kwok nodes of NodeCPU cores and NodeMemoryGi GiB each.
	Nodes        int `json:"nodes"`
	NodeCPU      int `json:"nodeCPU"`
	NodeMemoryGi int `json:"nodeMemoryGi"`
	// Window is the span over which jobs arrive (seconds).
	Window float64 `json:"window"`
	// Delay is the delay-scheduling wait of the Hadoop mix (seconds).
	Delay float64 `json:"delay"`
	// Replicas of each data block, over Blocks blocks.
	Replicas int `json:"replicas"`
	Blocks   int `json:"blocks"`
	// StaticLocalityBound is the share of the Hadoop mix's tasks whose block has a replica on a
	// node of the mix's static partition: the most locality static partitioning allows.
	StaticLocalityBound float64 `json:"staticLocalityBound"`
	// WorkCPU and WorkMemory are what the trace's tasks need over their durations, in
	// core-seconds and GiB-seconds (first attempts; a retried task needs more): divided by the
	// pool and a run's makespan, the share of the pool that was doing the trace's work, as
	// against the share held (Samples), which also counts each task's launch and end.
	WorkCPU    float64 `json:"workCPU"`
	WorkMemory float64 `json:"workMemory"`
	// Frameworks describes each framework's workload in words (name -> description), in the
	// order of FrameworkOrder.
	Workloads map[string]string `json:"workloads"`
}

// FrameworkOrder is the order frameworks are listed, plotted and stacked in.
var FrameworkOrder = []string{"hadoop-mix", "hadoop-large", "spark", "torque"}

// Paper holds what the Mesos paper (NSDI 2011, §6) reports, for the report's side-by-side table.
var Paper = struct {
	// Title of each framework's workload in the paper, by Agora framework name.
	Title map[string]string
	// Speedup of the sum of job running times, static / Mesos (Table 4).
	Speedup map[string]float64
	// Locality of Hadoop with static partitioning vs on Mesos with 5 s delay scheduling (§6.3).
	LocalityStatic, LocalityShared float64
}{
	Title: map[string]string{
		"hadoop-mix":   "Facebook Hadoop Mix",
		"hadoop-large": "Large Hadoop Mix",
		"spark":        "Spark",
		"torque":       "Torque / MPI",
	},
	Speedup: map[string]float64{
		"hadoop-mix":   1.14,
		"hadoop-large": 2.10,
		"spark":        1.26,
		"torque":       0.96,
	},
	LocalityStatic: 0.18,
	LocalityShared: 0.95,
}

// Run is one pass of the trace in one mode.
type Run struct {
	// Mode is "shared" (every framework on the whole pool, weighted DRF) or "static" (each
	// framework confined to a quarter of the nodes by nodeSelector).
	Mode string `json:"mode"`
	// Start is when the run's clock started (the frameworks start right after); every time
	// below is in seconds since Start.
	Start time.Time `json:"start"`
	// Makespan is when the last job of any framework finished.
	Makespan float64 `json:"makespan"`
	// Samples of what the API shows allocated, every second, from Start to Makespan.
	Samples []Sample `json:"samples"`
	// Frameworks in FrameworkOrder.
	Frameworks []FrameworkResult `json:"frameworks"`
}

// Sample is the pool at one moment: resources held by Tasks not yet terminal (Staging,
// Starting, Running, Unreachable), as fractions of the pool's capacity (0..1).
type Sample struct {
	T      float64 `json:"t"`
	CPU    float64 `json:"cpu"`
	Memory float64 `json:"memory"`
	// Per framework (by name): its CPU and memory fractions and its dominant share
	// (max of the two).
	FrameworkCPU    map[string]float64 `json:"frameworkCPU"`
	FrameworkMemory map[string]float64 `json:"frameworkMemory"`
	Share           map[string]float64 `json:"share"`
}

// FrameworkResult is one framework's part of a run.
type FrameworkResult struct {
	Name string `json:"name"`
	// Registered is when its Framework object was registered.
	Registered float64 `json:"registered"`
	// RampTarget is the dominant share it ramps up to: 90% of the smaller of its fair share
	// (1/4) and what its first job asks for at once (as a dominant share of the pool).
	RampTarget float64 `json:"rampTarget"`
	// RampUp is the seconds from Registered until the framework first held RampTarget; -1 if
	// it never did.
	RampUp float64 `json:"rampUp"`
	// Jobs in arrival order.
	Jobs []JobResult `json:"jobs"`
	// Tasks that read a data block (the Hadoop mix), and how many of them ran on a node holding
	// a replica of it (finished attempts only).
	DataTasks  int `json:"dataTasks"`
	LocalTasks int `json:"localTasks"`
	// TaskOverhead is the mean seconds a finished task took from its launch (the framework
	// creating it on an offer) to the framework seeing it Finished, beyond its drawn duration:
	// admission, the pod, kwok, status mirroring and the watches, on this machine.
	TaskOverhead float64 `json:"taskOverhead"`
	// Where that overhead goes, as means over the finished tasks whose Task status carries both
	// times (whole seconds, so each mean is good to about half a second): LaunchToRunning from
	// the launch to status.startTime (admission, the Pod, kwok starting it); RunBeyondDuration
	// from startTime to status.completionTime, minus the duration (kwok ending it, status
	// mirroring); CompletionSeen from completionTime until the framework saw Finished (the
	// Task watch).
	LaunchToRunning   float64 `json:"launchToRunning"`
	RunBeyondDuration float64 `json:"runBeyondDuration"`
	CompletionSeen    float64 `json:"completionSeen"`
}

// JobResult is one job: when it arrived, launched its first task and finished its last.
// Its completion time is End - Arrival.
type JobResult struct {
	ID      int     `json:"id"`
	Tasks   int     `json:"tasks"`
	Arrival float64 `json:"arrival"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
}
