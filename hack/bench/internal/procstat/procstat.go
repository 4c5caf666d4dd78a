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

// Package procstat reads the CPU time and memory of the processes a benchmark under hack/bench
// started, from /proc (Linux only).
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clkTck is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux this
// runs on.
const clkTck = 100.0

// Children returns, by name, the pids of this process's children that run binDir/<name> for one
// of names (e.g. the kube-apiserver, etcd and kwok that test/testcluster started).
func Children(binDir string, names ...string) map[string]int {
	out := map[string]int{}
	self := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := stat(pid); len(f) < 2 || f[1] != self {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		for _, name := range names {
			if exe == filepath.Join(binDir, name) {
				out[name] = pid
			}
		}
	}
	return out
}

// stat returns the fields of /proc/<pid>/stat after the command name: state, ppid, ...
func stat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name may hold spaces and parentheses; it ends at the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// CPUSeconds is the user + system time of each process so far. A process that is gone is left
// out.
func CPUSeconds(pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		f := stat(pid)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		out[name] = (u + s) / clkTck
	}
	return out
}

// Mem is a process's resident memory now (RSS) and at its peak (VmHWM), in MiB.
type Mem struct{ RSS, Peak float64 }

// Memory reads each process's Mem. A process that is gone is left out.
func Memory(pids map[string]int) map[string]Mem {
	out := map[string]Mem{}
	for name, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var m Mem
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmRSS:":
				m.RSS = kb / 1024
			case "VmHWM:":
				m.Peak = kb / 1024
			}
		}
		out[name] = m
	}
	return out
}

// LoadAvg is the load average line, e.g. "load average 1.20 0.90 0.70".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return "load average " + strings.Join(f[:3], " ")
	}
	return "load average unknown"
}

// CPUModel is the processor's model name from /proc/cpuinfo, or "unknown cpu".
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown cpu"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown cpu"
}
