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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// reaper stops etcd and kube-apiserver if the test binary dies without calling Stop (a test
// timeout panics the binary; a CI runner may SIGKILL it). envtest cannot ask the kernel to kill
// them with their parent, and left over they hold ports and memory until someone notices.
//
// It also removes the cluster's temporary directories. It is a tiny shell process that waits for EOF on a pipe whose only writer is the test process:
// the kernel closes it whatever way the test process ends. Stop kills the reaper first, then
// stops the control plane normally.
type reaper struct {
	cmd *exec.Cmd
	w   *os.File
}

const reaperScript = `
read -r _ || true
stop() {
  [ -n "$1" ] || return 0
  kill -TERM $1 2>/dev/null
  i=0
  while kill -0 $1 2>/dev/null && [ $i -lt 60 ]; do sleep 0.25; i=$((i+1)); done
  kill -KILL $1 2>/dev/null
}
stop "$API"
stop "$ETCD"
for d in $DIRS; do case "$d" in /tmp/*|"$TMPDIR"/*) rm -rf "$d" ;; esac; done
`

// startReaper watches the processes of this cluster's control plane, found by their own
// directories on the command line (so clusters started concurrently keep apart).
func (c *Cluster) startReaper() (*reaper, error) {
	api := findProcess(filepath.Join(c.BinDir, "kube-apiserver"), "--cert-dir="+c.env.ControlPlane.APIServer.CertDir)
	etcd := findProcess(filepath.Join(c.BinDir, "etcd"), "--data-dir="+c.env.ControlPlane.Etcd.DataDir)
	if api == 0 && etcd == 0 {
		return nil, fmt.Errorf("found neither kube-apiserver nor etcd of this cluster in /proc")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", reaperScript)
	dirs := strings.Join([]string{c.Dir, c.env.ControlPlane.APIServer.CertDir, c.env.ControlPlane.Etcd.DataDir}, " ")
	cmd.Env = []string{"API=" + pidString(api), "ETCD=" + pidString(etcd), "DIRS=" + dirs,
		"TMPDIR=" + filepath.Clean(os.TempDir()), "PATH=/usr/bin:/bin"}
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C to the test does not reach it
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	return &reaper{cmd: cmd, w: w}, nil
}

// disarm stops the reaper without it touching anything.
func (r *reaper) disarm() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.w.Close()
}

func pidString(pid int) string {
	if pid == 0 {
		return ""
	}
	return strconv.Itoa(pid)
}

// findProcess returns the pid of a child of this process that runs exe with arg on its command
// line, or 0.
func findProcess(exe, arg string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(argv) == 0 || filepath.Clean(argv[0]) != filepath.Clean(exe) {
			continue
		}
		for _, a := range argv[1:] {
			if a == arg {
				return pid
			}
		}
	}
	return 0
}
