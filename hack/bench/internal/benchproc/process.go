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

package benchproc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is a binary under test, run as a child of this process with its output in a file.
type Process struct {
	Name       string
	LogPath    string
	Started    time.Time     // just before the process was started
	ReadyAfter time.Duration // Started -> ready first returned nil (Start); 0 after Spawn

	cmd  *exec.Cmd
	done chan struct{}
}

// Spawn runs bin with args, its output in dir/<name>.log, and returns as soon as the process has
// started, without waiting for it to be ready. The process is killed with this one if this one
// dies without stopping it.
func Spawn(name, bin, dir string, args []string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Start is Spawn, then polls ready every 100 ms until it returns nil. When ready does not come
// before ctx ends, or the process exits first, it is stopped and the error holds the end of its
// log.
func Start(ctx context.Context, name, bin, dir string, args []string, ready func() error) (*Process, error) {
	p, err := Spawn(name, bin, dir, args)
	if err != nil {
		return nil, err
	}
	var last error
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited; last lines of its log:\n%s", name, TailFile(p.LogPath, 20))
		case <-ctx.Done():
			p.Stop()
			return nil, fmt.Errorf("%s not ready in time (%v); last lines of its log:\n%s", name, last, TailFile(p.LogPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
		if last = ready(); last == nil {
			p.ReadyAfter = time.Since(p.Started)
			return p, nil
		}
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process (by its pid) and waits up to 30 s for it to exit, then kills
// it. It is safe to call more than once.
func (p *Process) Stop() { p.StopWith(syscall.SIGTERM) }

// StopWith is Stop with sig in place of SIGTERM, e.g. SIGKILL to time a crash. sig should be one
// that ends the process: one that does not (SIGSTOP) leaves it to be killed after 30 s.
func (p *Process) StopWith(sig os.Signal) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// HTTPOK returns nil when GET url answers 200.
func HTTPOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // read to the end, so that the connection is used again
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Usage is the CPU seconds (user + system) and peak RSS in MiB of a process that has exited,
// from its rusage; zeros while it runs.
func (p *Process) Usage() (cpu, peakMiB float64) {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return 0, 0
	}
	st := p.cmd.ProcessState
	cpu = (st.UserTime() + st.SystemTime()).Seconds()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		peakMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return cpu, peakMiB
}

// ExitStatus says how the process ended (e.g. "exit status 1", "signal: killed"); "" while it runs.
func (p *Process) ExitStatus() string {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return ""
	}
	return p.cmd.ProcessState.String()
}
