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

package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"
)

// auditPolicy records every write (at Metadata level) to Agora's kinds, pods, nodes and Leases,
// by anyone; reads are not logged.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
  resources:
  - group: "scheduling.agora.dev"
  - group: ""
    resources: ["pods", "pods/status", "pods/binding", "nodes"]
  - group: "coordination.k8s.io"
- level: None
`

type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource, Namespace, Name, APIGroup, Subresource string
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceived time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp  time.Time `json:"stageTimestamp"`
}

func readAudit(path string) ([]auditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var ev auditEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Stage != "ResponseComplete" || ev.ObjectRef == nil {
			continue
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

func (e auditEvent) ok() bool {
	return e.ResponseStatus != nil && e.ResponseStatus.Code >= 200 && e.ResponseStatus.Code < 300
}

// checkLeaderFencing: a controller user holds leadership from a successful write of the
// leader-election Lease until another controller user successfully writes it. Any successful
// write by a user (other than to Leases) whose request arrived after another user took the Lease
// over, and before its own next successful Lease write, is a write by a deposed leader.
func checkLeaderFencing(events []auditEvent, users map[string]bool, leaseName string) []string {
	sort.SliceStable(events, func(i, j int) bool { return events[i].StageTimestamp.Before(events[j].StageTimestamp) })
	type takeover struct {
		at time.Time
		by string
	}
	var leaseWrites []auditEvent
	for _, e := range events {
		if users[e.User.Username] && e.ok() && e.ObjectRef.Resource == "leases" && e.ObjectRef.Name == leaseName {
			leaseWrites = append(leaseWrites, e)
		}
	}
	// deposedSince[user] = the takeover that ended its leadership, zero while it leads.
	var out []string
	for u := range users {
		var deposed []takeover // intervals [takeover, own next lease write)
		holder := ""
		for _, lw := range leaseWrites {
			if lw.User.Username != holder {
				if holder == u {
					deposed = append(deposed, takeover{at: lw.StageTimestamp, by: lw.User.Username})
				}
				holder = lw.User.Username
			}
		}
		for _, d := range deposed {
			end := time.Time{}
			for _, lw := range leaseWrites {
				if lw.User.Username == u && lw.StageTimestamp.After(d.at) {
					end = lw.StageTimestamp
					break
				}
			}
			for _, e := range events {
				if e.User.Username != u || !e.ok() || e.ObjectRef.Resource == "leases" {
					continue
				}
				if e.RequestReceived.After(d.at) && (end.IsZero() || e.RequestReceived.Before(end)) {
					out = append(out, fmt.Sprintf("%s wrote %s %s %s/%s%s at %s, after %s took the leader Lease over at %s",
						u, e.Verb, e.ObjectRef.Resource, e.ObjectRef.Namespace, e.ObjectRef.Name, sub(e.ObjectRef.Subresource),
						e.RequestReceived.Format("15:04:05.000000"), d.by, d.at.Format("15:04:05.000000")))
				}
			}
		}
	}
	return out
}

func sub(s string) string {
	if s == "" {
		return ""
	}
	return "/" + s
}
