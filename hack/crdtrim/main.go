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

// Command crdtrim drops the descriptions that controller-gen copies from embedded Kubernetes types
// (the Task's pod template) into a CRD, keeping Agora's own field docs.
//
// A Task embeds corev1.PodTemplateSpec; with every description the Task CRD is ~620 KB, most of
// it core/v1 documentation that `kubectl explain pod.spec` already serves. Dropping all
// descriptions (crd:maxDescLen=0) would also drop Agora's own docs, which feed
// `kubectl explain task.spec`. So this strips descriptions only below the listed paths.
//
// Usage: crdtrim FILE JSONPATH... where JSONPATH is a dot path inside openAPIV3Schema, e.g.
// properties.spec.properties.template. The file is rewritten in place.
package main

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: crdtrim CRD.yaml SCHEMA.PATH...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "crdtrim: %v\n", err)
		os.Exit(1)
	}
}

func run(file string, paths []string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	versions, _ := dig(crd, "spec.versions").([]any)
	if len(versions) == 0 {
		return fmt.Errorf("%s: no spec.versions", file)
	}
	for _, v := range versions {
		schema := dig(v, "schema.openAPIV3Schema")
		for _, p := range paths {
			node, ok := dig(schema, p).(map[string]any)
			if !ok {
				return fmt.Errorf("%s: no schema at %s", file, p)
			}
			// The embedding field's own description is Agora's; keep it.
			own := node["description"]
			stripDescriptions(node)
			if own != nil {
				node["description"] = own
			}
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
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

func stripDescriptions(obj any) {
	switch o := obj.(type) {
	case map[string]any:
		delete(o, "description")
		for _, v := range o {
			stripDescriptions(v)
		}
	case []any:
		for _, v := range o {
			stripDescriptions(v)
		}
	}
}
