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
	"os"
	"strings"
	"testing"
)

// The README shows this program as "a framework in 30 lines": it must be this file, which the
// build compiles and the end-to-end tests run.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	if i := strings.Index(body, "package main"); i > 0 {
		body = body[i:] // the license header stays out of the README
	}
	if !strings.Contains(string(readme), "```go\n"+body+"```\n") {
		t.Errorf("README.md does not show examples/hello/main.go (from `package main` on) verbatim in a ```go block; copy it again")
	}
}
