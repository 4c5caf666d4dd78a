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
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// LocalClusterWatchdog guards a `hack/local-cluster.sh up` made by a test in dir (its
// AGORA_LOCAL_DIR): if the test binary dies without taking the cluster down (a test timeout
// panics the binary and skips every clean-up; a CI runner may SIGKILL it), a small process runs
// `local-cluster.sh down` and removes dir (when it is under /tmp). It waits for EOF on a pipe
// whose only writer is the test process, which the kernel closes however that process ends.
// Close the returned writer after taking the cluster down normally: the watchdog then finds no
// state in dir and does nothing (the test's own clean-up removes dir).
func LocalClusterWatchdog(repoRoot, dir string) (io.Closer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("sh", "-c", `read -r _ || true; [ -d "$AGORA_LOCAL_DIR/state" ] || exit 0; "$1" down >/dev/null 2>&1; case "$AGORA_LOCAL_DIR" in /tmp/*) rm -rf "$AGORA_LOCAL_DIR" ;; esac`,
		"watchdog", filepath.Join(repoRoot, "hack", "local-cluster.sh"))
	cmd.Env = append(os.Environ(), "AGORA_LOCAL_DIR="+dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, err
	}
	_ = r.Close()
	go func() { _ = cmd.Wait() }()
	return w, nil
}
