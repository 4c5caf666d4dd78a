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
	"path/filepath"
	"sort"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// writeRepo writes files (slash paths relative to a new directory) and returns a checker that
// knows exactly those files as the repository's.
func writeRepo(t *testing.T, files map[string]string) *checker {
	t.Helper()
	root := t.TempDir()
	var names []string
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return newChecker(root, names)
}

func TestCheckFile(t *testing.T) {
	c := writeRepo(t, map[string]string{
		"README.md": `# Agora — offers for Kubernetes

See [the contract](docs/architecture.md), its [invariants](docs/architecture.md#invariants-tests-must-hold-these)
and [the style](docs/style.md) (missing). A [typo](docs/architecure.md#names) and
[a wrong anchor](docs/architecture.md#invariant), a [heading here](#install-from-source)
and [one that is not](#uninstall). ![plot](docs/plot.png) ![gone](docs/gone.png)
[up and out](../outside.md), [root-relative](/docs/architecture.md#names), [dir](docs/)
[external](https://example.com/nothing.md) <https://example.com/x.md> [mail](mailto:a@b.c)
[wrapped
text](docs/architecture.md#the-3-kinds) and a [second line](
docs/nope.md).

[ref]: docs/architecture.md#names
[badref]: docs/missing.md "title"

## Install (from source)

Inline code is not a link: ` + "`[x](missing.md)`" + ` nor ` + "``a `[y](missing2.md)` b``" + `.
<!-- [commented](missing3.md) -->

` + "```markdown" + `
[in a fence](missing4.md)
` + "```" + `

1. A list item with a fence:
   ~~~
   [indented fence](missing5.md)
   ~~~
2. [after the fence](docs/architecture.md#agora-api) and [escaped\]](docs/missing6.md)
`,
		"docs/architecture.md": `# Agora API

## Names

## Invariants (tests must hold these)

## The 3 kinds

` + "```" + `
## Not a heading
` + "```" + `
`,
		"docs/plot.png": "png",
	})

	got, n, err := c.checkFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []problem{
		{"README.md", 4, "docs/style.md", "no such file or directory"},
		{"README.md", 4, "docs/architecure.md#names", "no such file or directory"},
		{"README.md", 5, "docs/architecture.md#invariant", "no heading #invariant in docs/architecture.md"},
		{"README.md", 6, "#uninstall", "no heading #uninstall in this file"},
		{"README.md", 6, "docs/gone.png", "no such file or directory"},
		{"README.md", 7, "../outside.md", "outside the repository"},
		{"README.md", 11, "docs/nope.md", "no such file or directory"},
		{"README.md", 14, "docs/missing.md", "no such file or directory"},
		{"README.md", 29, "docs/missing6.md", "no such file or directory"},
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// Every relative link outside code and comments counts; the external ones do not.
	if n != 18 {
		t.Errorf("checked %d relative links, want 18", n)
	}
}

func TestCheckTargetIgnoredFile(t *testing.T) {
	c := writeRepo(t, map[string]string{"README.md": "[out](_output/report.md)\n"})
	if err := os.MkdirAll(filepath.Join(c.root, "_output"), 0o755); err != nil {
		t.Fatal(err)
	}
	// On disk but not one of the repository's files: git ignores it, GitHub will not have it.
	if err := os.WriteFile(filepath.Join(c.root, "_output", "report.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := c.checkTarget("README.md", "_output/report.md"), "ignored by git: not in the repository"; got != want {
		t.Errorf("checkTarget = %q, want %q", got, want)
	}
}

func TestHeadingAnchors(t *testing.T) {
	src := strings.Join([]string{
		"# Agora — architecture and API contract",
		"## Invariants (tests must hold these under load, faults and bad input)",
		"### agora-controller (the master; Deployment, leader-elected, ≥ 2 replicas in the chart)",
		"## `make verify` and `hack/verify.sh`",
		"## Leader election and the write fence ##",
		"## See [the docs](docs/install.md) and <code>x</code>",
		"## Names",
		"## Names",
		"## Names-1",
		"## snake_case and _emphasis_ and **bold**",
		"## Ünïcödé 2½ Straße",
		"Setext heading",
		"==============",
		"- a list item",
		"---",
		"   #not-a-heading",
		`<a name="custom-anchor"></a>`,
	}, "\n")
	var got []string
	for a := range headingAnchors(src) {
		got = append(got, a)
	}
	want := []string{
		"agora--architecture-and-api-contract",
		"invariants-tests-must-hold-these-under-load-faults-and-bad-input",
		"agora-controller-the-master-deployment-leader-elected--2-replicas-in-the-chart",
		"make-verify-and-hackverifysh",
		"leader-election-and-the-write-fence",
		"see-the-docs-and-x",
		"names",
		"names-1",
		"names-1-1",
		"snake_case-and-emphasis-and-bold",
		"ünïcödé-2-straße",
		"setext-heading",
		"custom-anchor",
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("anchors (-want +got):\n%s", diff)
	}
}

func TestMarkdownFiles(t *testing.T) {
	got := markdownFiles([]string{"README.md", "docs/b.md", "docs/a.md", "main.go", "_output/x/report.md", "vendor/m/README.md", "pkg/testdata/bad.md"})
	want := []string{"README.md", "docs/a.md", "docs/b.md"}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("markdownFiles (-want +got):\n%s", diff)
	}
}
