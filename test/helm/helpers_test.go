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

// Package helm tests the install paths of Agora: the Helm chart charts/agora (lint, rendering
// of its switches, agreement with config/), the kustomize bases in config/, and, on a local
// cluster (hack/local-cluster.sh), helm install/upgrade/uninstall with the real binaries running
// under the chart's ServiceAccounts.
//
// It needs bin/helm, bin/kubectl (and for the cluster test etcd, kube-apiserver and kwok):
// `make test-helm` builds them and runs only this package.
package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// root is the repository root: the nearest directory above the package with Agora's go.mod.
var root = func() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/agora-sched/agora\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("no go.mod of github.com/agora-sched/agora above " + dir)
		}
		dir = parent
	}
}()

const (
	chartDir  = "charts/agora"
	namespace = "agora-system"
	release   = "agora"
)

// tool returns bin/<name>, failing the test when it was never built.
func tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `hack/tools.sh %s` (or make test-helm)", p, name)
	}
	return p
}

// run runs a command in the repository root and returns its stdout; the error carries stderr.
func run(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// helmTemplate renders the chart as release "agora" in agora-system with the given extra
// arguments (e.g. --set a=b) and returns its objects.
func helmTemplate(t testing.TB, args ...string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := run(ctx, nil, nil, tool(t, "helm"), append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		return nil, err
	}
	return decode(out)
}

func mustTemplate(t testing.TB, args ...string) objects {
	t.Helper()
	objs, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// decode reads a multi-document YAML stream, skipping empty documents.
func decode(stream string) ([]*unstructured.Unstructured, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

type objects = []*unstructured.Unstructured

// key names an object: Kind/namespace/name (namespace empty when cluster-scoped).
func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func keys(objs objects) []string {
	var out []string
	for _, o := range objs {
		out = append(out, key(o))
	}
	sort.Strings(out)
	return out
}

// find returns the object of that kind and name, or nil.
func find(objs objects, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs objects, kinds ...string) objects {
	var out objects
	for _, o := range objs {
		for _, k := range kinds {
			if o.GetKind() == k {
				out = append(out, o)
			}
		}
	}
	return out
}

// typed converts an object of the render into its Go type, failing the test on unknown fields'
// type mismatches.
func typed[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("no %T in the render", new(T))
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
		t.Fatalf("%s: %v", key(o), err)
	}
	return out
}
