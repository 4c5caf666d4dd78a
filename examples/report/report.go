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

// Package report is the summary an example framework prints, and writes as JSON with --report,
// when its work is done; make demo and the end-to-end tests read it back.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Report is one framework's summary.
type Report struct {
	Framework string `json:"framework"`
	// Tasks the job had to run, and how many finished.
	Tasks    int `json:"tasks"`
	Finished int `json:"finished"`
	// Launched counts every Task object created (first attempts and relaunches).
	Launched int `json:"launched"`
	// Relaunched counts attempts after a Failed/Lost/Killed/Error one (preempted ones included).
	Relaunched int `json:"relaunched"`
	// Preempted counts attempts killed by a preemption (batch example with --revocable only).
	Preempted *int `json:"preempted,omitempty"`
	// GaveUp counts tasks that used up their retries.
	GaveUp int `json:"gaveUp"`
	// Local counts tasks that ran on a node holding their data (locality example only).
	Local *int `json:"local,omitempty"`
	// Groups run whole (gang example only).
	Groups  *int    `json:"groups,omitempty"`
	Seconds float64 `json:"seconds"`
}

// Line is the report as one line of text.
func (r Report) Line() string {
	var extra []string
	if r.Local != nil && r.Finished > 0 {
		extra = append(extra, fmt.Sprintf("%d local (%.0f%%)", *r.Local, 100*float64(*r.Local)/float64(r.Finished)))
	}
	if r.Preempted != nil {
		extra = append(extra, strconv.Itoa(*r.Preempted)+" preempted")
	}
	if r.Groups != nil {
		extra = append(extra, strconv.Itoa(*r.Groups)+" groups run whole")
	}
	more := ""
	if len(extra) > 0 {
		more = ", " + strings.Join(extra, ", ")
	}
	return fmt.Sprintf("done: %d/%d tasks finished, %d launched, %d relaunched, %d gave up%s, in %.1fs",
		r.Finished, r.Tasks, r.Launched, r.Relaunched, r.GaveUp, more, r.Seconds)
}

// Save writes the report to path as JSON.
func (r Report) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read reads a report Save wrote.
func Read(path string) (Report, error) {
	var r Report
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return r, fmt.Errorf("report %s: %w", path, err)
	}
	return r, nil
}
