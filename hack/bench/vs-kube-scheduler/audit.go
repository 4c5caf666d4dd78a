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
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// writeKey is one kind of API write: who, to what, how.
type writeKey struct {
	user, resource, verb string // resource may be resource/subresource
}

// auditEvent is the part of a kube-apiserver audit line (level Metadata) the report reads.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceived time.Time `json:"requestReceivedTimestamp"`
}

// readWrites counts the writes the audit log recorded (from byte offset off on) whose request
// was received within [from, to], by user, resource and verb; and those that failed, by user,
// resource, verb and status code.
func readWrites(path string, off int64, from, to time.Time) (map[writeKey]int, map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, nil, err
	}
	out := map[writeKey]int{}
	failed := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var ev auditEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Stage != "ResponseComplete" {
			continue
		}
		if ev.RequestReceived.Before(from) || ev.RequestReceived.After(to) {
			continue
		}
		res := "(none)"
		if ev.ObjectRef != nil {
			res = ev.ObjectRef.Resource
			if ev.ObjectRef.Subresource != "" {
				res += "/" + ev.ObjectRef.Subresource
			}
		}
		out[writeKey{ev.User.Username, res, ev.Verb}]++
		if ev.ResponseStatus != nil && ev.ResponseStatus.Code >= 300 {
			failed[fmt.Sprintf("%s %s %s %d", ev.User.Username, ev.Verb, res, ev.ResponseStatus.Code)]++
		}
	}
	return out, failed, sc.Err()
}
