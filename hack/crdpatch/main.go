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

// Command crdpatch adjusts the CRDs controller-gen writes, for two things markers cannot say.
//
//   - -strip PATH drops the descriptions that controller-gen copies from embedded Kubernetes types
//     (the Task's pod template), keeping Agora's own field docs. With every description the Task
//     CRD is ~620 KB, most of it core/v1 documentation that `kubectl explain pod.spec` already
//     serves; crd:maxDescLen=0 would also drop Agora's docs, which feed `kubectl explain task.spec`.
//   - -quantity-max-length N bounds the length of resource quantities in maps (ResourceList
//     values). The API server estimates the cost of a CEL rule from the largest input it could
//     see; the "quantities must not be negative" rules are refused as too costly while a quantity
//     string is unbounded, and no marker reaches the values of a corev1.ResourceList.
//   - -unwrap joins the lines of each description paragraph: controller-gen keeps the line
//     breaks of the Go comments, and `kubectl explain` prints them as they are, breaking sentences
//     in the middle of its own wrapping. Blank lines, list items and indented lines stay.
//
// Usage: crdpatch [-strip SCHEMA.PATH]... [-quantity-max-length N] [-unwrap] CRD.yaml...
// SCHEMA.PATH is a dot path inside openAPIV3Schema, e.g. properties.spec.properties.template.
// Files are rewritten in place.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	var strip paths
	flag.Var(&strip, "strip", "schema path below which descriptions are dropped (repeatable)")
	maxLen := flag.Int("quantity-max-length", 0, "maxLength for int-or-string values of maps (0: leave alone)")
	unwrap := flag.Bool("unwrap", false, "join the lines of each description paragraph")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: crdpatch [-strip SCHEMA.PATH]... [-quantity-max-length N] CRD.yaml...")
		os.Exit(2)
	}
	for _, file := range flag.Args() {
		if err := patch(file, strip, *maxLen, *unwrap); err != nil {
			fmt.Fprintf(os.Stderr, "crdpatch: %s: %v\n", file, err)
			os.Exit(1)
		}
	}
}

func patch(file string, strip []string, maxLen int, unwrap bool) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return err
	}
	versions, _ := dig(crd, "spec.versions").([]any)
	if len(versions) == 0 {
		return fmt.Errorf("no spec.versions")
	}
	for _, v := range versions {
		schema := dig(v, "schema.openAPIV3Schema")
		for _, p := range strip {
			node, ok := dig(schema, p).(map[string]any)
			if !ok {
				return fmt.Errorf("no schema at %s", p)
			}
			// The embedding field's own description is Agora's; keep it.
			own := node["description"]
			walk(node, func(m map[string]any) { delete(m, "description") })
			if own != nil {
				node["description"] = own
			}
		}
		if unwrap {
			walk(schema, func(m map[string]any) {
				if d, ok := m["description"].(string); ok {
					m["description"] = unwrapText(d)
				}
			})
		}
		if maxLen > 0 {
			walk(schema, func(m map[string]any) {
				values, ok := m["additionalProperties"].(map[string]any)
				if ok && values["x-kubernetes-int-or-string"] == true && values["maxLength"] == nil {
					values["maxLength"] = maxLen
				}
			})
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
}

// unwrapText joins each line of text to the one before it, except at a blank line, a list item
// ("- ", "* ", "1. ") or an indented line, and after a line ending a sentence with ":".
func unwrapText(text string) string {
	lines := strings.Split(text, "\n")
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			prev := lines[i-1]
			keep := strings.TrimSpace(l) == "" || strings.TrimSpace(prev) == "" ||
				strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") || isListItem(l) ||
				strings.HasSuffix(prev, ":")
			if keep {
				b.WriteString("\n")
			} else {
				b.WriteString(" ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

func isListItem(l string) bool {
	if strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "* ") {
		return true
	}
	n := 0
	for n < len(l) && l[n] >= '0' && l[n] <= '9' {
		n++
	}
	return n > 0 && strings.HasPrefix(l[n:], ". ")
}

func dig(obj any, path string) any {
	for _, key := range strings.Split(path, ".") {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil
		}
		obj = m[key]
	}
	return obj
}

// walk calls fn on every map in obj, depth first.
func walk(obj any, fn func(map[string]any)) {
	switch o := obj.(type) {
	case map[string]any:
		fn(o)
		for _, v := range o {
			walk(v, fn)
		}
	case []any:
		for _, v := range o {
			walk(v, fn)
		}
	}
}
