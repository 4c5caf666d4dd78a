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

// Package benchproc has what the benchmarks under hack/bench need for the processes they start: a
// free loopback port to give one, a work directory and an audit log for them, starting and
// stopping one (by pid), reading its metrics, and the end of its log when it fails.
package benchproc

import (
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// FreePort asks the kernel for a free loopback port. It is free when this returns; the process
// that is given it binds it a moment later.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TailFile returns the last n lines of the file at path, or the error reading it.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// WorkDir makes a temporary directory, named prefix + a random suffix, for what a benchmark
// writes (logs, configuration, the audit log). done removes it, or with keep only logs its path.
func WorkDir(prefix string, keep bool) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return dir, func() {
		if keep {
			log.Printf("logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}, nil
}

// AuditFlags writes the audit policy into dir and returns the kube-apiserver flags
// (testcluster.Options.APIServerFlags) that log by it, as JSON lines in one file that is never
// rotated, and that file's path.
func AuditFlags(dir, policy string) (flags map[string]string, logPath string, err error) {
	policyPath := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyPath, []byte(policy), 0o644); err != nil {
		return nil, "", err
	}
	logPath = filepath.Join(dir, "audit.log")
	return map[string]string{"audit-policy-file": policyPath, "audit-log-path": logPath, "audit-log-format": "json",
		"audit-log-maxsize": "0", "audit-log-maxbackup": "0"}, logPath, nil
}
