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
