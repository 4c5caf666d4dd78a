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

// Command helmsync writes the Helm chart's CRD and RBAC templates from config/, so that the
// chart and the kustomize bases share one source of truth: `make manifests` (controller-gen)
// writes config/crd/bases and config/rbac/{role,executor_role}.yaml; config/rbac/framework_role.yaml,
// the CRDs' admission policies in config/crd/policy and the security policies in config/policy are
// written by hand; this program turns them into charts/agora/templates/{crds,policies,rbac}/*.yaml.
// It changes only metadata (Helm labels, the CRDs' resource-policy, the install namespace), puts
// each under its chart switch, makes the executor's ServiceAccount names in the executor policy
// chart values, and adds a binding for each component role; schemas, expressions and rules are
// copied unchanged.
//
// Usage: helmsync [-root DIR] [-check]
//
// -check writes nothing and exits 1 listing every file that differs from what it would write (or
// that it would delete): `make test` and `make verify` use it to catch drift.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartTemplates  = "charts/agora/templates"
	crdSource       = "config/crd/bases"
	crdPolicySource = "config/crd/policy"
	policySource    = "config/policy"
	rbacSource      = "config/rbac"
	// installNamespace is where the binaries keep their Leases; a Role generated for it is
	// installed into the release's namespace (which the chart requires to be this one).
	installNamespace = "agora-system"
)

type securityPolicy struct {
	prefix, condition string
	values            [][2]string // literal in config/policy → template text in the chart
}

// securityPolicies are the files of config/policy (a policy and its binding each) by name
// prefix, with the chart value that switches them, and the literal texts that the chart makes
// values: the executor policy names the executor's ServiceAccounts, and lets the simulation
// identity through when the chart enables it.
var securityPolicies = []securityPolicy{
	{prefix: "task_pod_rights_", condition: ".Values.policies.taskPodRights.enabled"},
	{prefix: "executor_node_restriction_", condition: ".Values.policies.executorNodeRestriction.enabled", values: executorUsers},
	{prefix: "executor_lease_restriction_", condition: ".Values.policies.executorNodeRestriction.enabled", values: executorUsers},
}

// executorUsers: the executor policies name the executor's ServiceAccounts.
var executorUsers = [][2]string{{
	"['system:serviceaccount:agora-system:agora-executor', 'system:serviceaccount:agora-system:agora-executor-simulation']",
	"['system:serviceaccount:{{ .Release.Namespace }}:{{ include \"agora.executor.serviceAccountName\" . }}'" +
		"{{ if not .Values.executor.simulation.enabled }}, " +
		"'system:serviceaccount:{{ .Release.Namespace }}:{{ include \"agora.executor.simulation.serviceAccountName\" . }}'{{ end }}]",
}}

// component is a generated role file of config/rbac and how the chart binds it.
type component struct {
	source    string // file in config/rbac
	target    string // file in charts/agora/templates/rbac
	name      string // app.kubernetes.io/component
	saHelper  string // template giving the ServiceAccount's name; "" = no binding
	condition string // template condition around everything
	extraMeta string // template lines added to the labels (indented 4)
}

var components = []component{
	{source: "role.yaml", target: "controller.yaml", name: "controller",
		saHelper: "agora.controller.serviceAccountName", condition: ".Values.rbac.create"},
	{source: "executor_role.yaml", target: "executor.yaml", name: "executor",
		saHelper: "agora.executor.serviceAccountName", condition: ".Values.rbac.create"},
	{source: "framework_role.yaml", target: "framework.yaml", name: "framework",
		condition: ".Values.frameworkRole.create",
		extraMeta: "    {{- if .Values.frameworkRole.aggregateToAdmin }}\n" +
			"    rbac.authorization.k8s.io/aggregate-to-admin: \"true\"\n" +
			"    {{- end }}\n"},
}

func main() {
	root := flag.String("root", ".", "repository root")
	check := flag.Bool("check", false, "write nothing; exit 1 if the chart differs from config/")
	flag.Parse()
	want, err := render(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmsync:", err)
		os.Exit(1)
	}
	drift, err := sync(*root, want, !*check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmsync:", err)
		os.Exit(1)
	}
	if *check && len(drift) > 0 {
		fmt.Fprintf(os.Stderr, "helmsync: the chart's generated templates differ from config/ (run make helm):\n  %s\n",
			strings.Join(drift, "\n  "))
		os.Exit(1)
	}
}

// render returns the generated templates by path relative to root.
func render(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	crds, err := filepath.Glob(filepath.Join(root, crdSource, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s (run make manifests)", crdSource)
	}
	// The CRDs' admission policies go with them: installed, kept and switched off together.
	policies, err := filepath.Glob(filepath.Join(root, crdPolicySource, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range append(crds, policies...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return nil, err
		}
		t, err := objectTemplate(filepath.ToSlash(rel), b, ".Values.crds.install", true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Join(chartTemplates, "crds", filepath.Base(f))] = t
	}
	files, err := filepath.Glob(filepath.Join(root, policySource, "*.yaml"))
	if err != nil {
		return nil, err
	}
	replaced := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		i := slices.IndexFunc(securityPolicies, func(p securityPolicy) bool { return strings.HasPrefix(filepath.Base(f), p.prefix) })
		if i < 0 {
			return nil, fmt.Errorf("%s: not a known security policy (add it to helmsync's securityPolicies with its chart switch)", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		t, err := objectTemplate(policySource+"/"+filepath.Base(f), b, securityPolicies[i].condition, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range securityPolicies[i].values {
			if bytes.Contains(t, []byte(v[0])) {
				replaced[v[0]] = true
				t = bytes.ReplaceAll(t, []byte(v[0]), []byte(v[1]))
			}
		}
		out[filepath.Join(chartTemplates, "policies", filepath.Base(f))] = t
	}
	for _, p := range securityPolicies {
		for _, v := range p.values {
			if !replaced[v[0]] {
				return nil, fmt.Errorf("%s%s*.yaml: no %s to make a chart value of", policySource+"/", p.prefix, v[0])
			}
		}
	}
	for _, c := range components {
		b, err := os.ReadFile(filepath.Join(root, rbacSource, c.source))
		if err != nil {
			return nil, err
		}
		t, err := rbacTemplate(c, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(rbacSource, c.source), err)
		}
		out[filepath.Join(chartTemplates, "rbac", c.target)] = t
	}
	return out, nil
}

// sync compares want with the files under the generated directories and returns the paths that
// differ or would be deleted; with write it also makes the tree match.
func sync(root string, want map[string][]byte, write bool) ([]string, error) {
	var drift []string
	for _, dir := range []string{"crds", "policies", "rbac"} {
		have, err := filepath.Glob(filepath.Join(root, chartTemplates, dir, "*"))
		if err != nil {
			return nil, err
		}
		for _, f := range have {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				return nil, err
			}
			if _, ok := want[rel]; ok {
				continue
			}
			drift = append(drift, rel+" (not generated from config/: delete it)")
			if write {
				if err := os.Remove(f); err != nil {
					return nil, err
				}
			}
		}
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := filepath.Join(root, p)
		if have, err := os.ReadFile(f); err == nil && bytes.Equal(have, want[p]) {
			continue
		}
		drift = append(drift, p)
		if write {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(f, want[p], 0o644); err != nil {
				return nil, err
			}
		}
	}
	return drift, nil
}

func header(source string) string {
	return "{{- /* Generated by `make helm` (hack/helmsync) from " + source + ". DO NOT EDIT. */ -}}\n"
}

// objectTemplate keeps a controller-gen CRD, one of the CRDs' admission policies or a security
// policy (file is its path in the repository) byte for byte from its top-level `spec:` on, puts it
// under the chart switch condition and gives it Helm's labels. With keep (the CRDs and their
// policies), unless crds.keep is false, it also gets helm.sh/resource-policy: keep (an uninstall
// must not delete every Framework, Offer and Task in the cluster with the CRDs, nor leave the
// Tasks it keeps mutable).
func objectTemplate(file string, in []byte, condition string, keep bool) ([]byte, error) {
	if bytes.Contains(in, []byte("{{")) || bytes.Contains(in, []byte("}}")) {
		return nil, errors.New("contains template delimiters, which the chart would evaluate")
	}
	lines := strings.SplitAfter(string(in), "\n")
	metaStart, specStart := -1, -1
	for i, l := range lines {
		switch strings.TrimRight(l, "\n") {
		case "metadata:":
			if metaStart < 0 {
				metaStart = i
			}
		case "spec:":
			if specStart < 0 {
				specStart = i
			}
		}
	}
	if metaStart < 0 || specStart < metaStart {
		return nil, errors.New("no top-level `spec:` after the top-level `metadata:`")
	}
	var meta struct {
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
			Labels      map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(strings.Join(lines[metaStart:specStart], "")), &meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if meta.Metadata.Name == "" {
		return nil, errors.New("no metadata.name")
	}
	var b strings.Builder
	b.WriteString(header(file))
	b.WriteString("{{- if " + condition + " }}\n")
	for _, l := range lines[:metaStart] {
		if strings.TrimSpace(l) != "---" {
			b.WriteString(l)
		}
	}
	b.WriteString("metadata:\n  name: " + meta.Metadata.Name + "\n")
	if keep || len(meta.Metadata.Annotations) > 0 {
		b.WriteString("  annotations:\n")
	}
	writeMap(&b, "    ", meta.Metadata.Annotations)
	if keep {
		b.WriteString("    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}\n")
	}
	b.WriteString("  labels:\n    {{- include \"agora.labels\" . | nindent 4 }}\n")
	writeMap(&b, "    ", meta.Metadata.Labels)
	for _, l := range lines[specStart:] {
		b.WriteString(l)
	}
	if !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	b.WriteString("{{- end }}\n")
	return []byte(b.String()), nil
}

func writeMap(b *strings.Builder, indent string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s%s: %q\n", indent, k, m[k])
	}
}

// rbacTemplate turns the ClusterRoles and Roles of one config/rbac file into templates, each
// bound (ClusterRoleBinding or RoleBinding of the same name) to the component's ServiceAccount.
func rbacTemplate(c component, in []byte) ([]byte, error) {
	var b strings.Builder
	b.WriteString(header(rbacSource + "/" + c.source))
	b.WriteString("{{- if " + c.condition + " }}\n")
	n := 0
	for _, doc := range splitDocs(in) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, err
		}
		if obj.Kind == "" {
			continue
		}
		if obj.Kind != "ClusterRole" && obj.Kind != "Role" {
			return nil, fmt.Errorf("unexpected kind %s", obj.Kind)
		}
		n++
		rules, err := yaml.Marshal(obj.Rules)
		if err != nil {
			return nil, err
		}
		ns := ""
		if obj.Kind == "Role" {
			ns = obj.Metadata.Namespace
			if ns == "" || ns == installNamespace {
				ns = "{{ .Release.Namespace }}"
			}
		}
		writeObject(&b, obj.Kind, obj.Metadata.Name, ns, c, c.extraMeta)
		b.WriteString("rules:\n")
		b.Write(rules)
		if c.saHelper == "" {
			continue
		}
		writeObject(&b, obj.Kind+"Binding", obj.Metadata.Name, ns, c, "")
		fmt.Fprintf(&b, "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: %s\n  name: %s\n", obj.Kind, obj.Metadata.Name)
		fmt.Fprintf(&b, "subjects:\n- kind: ServiceAccount\n  name: {{ include %q . }}\n  namespace: {{ .Release.Namespace }}\n", c.saHelper)
	}
	if n == 0 {
		return nil, errors.New("no ClusterRole or Role")
	}
	b.WriteString("{{- end }}\n")
	return []byte(b.String()), nil
}

func writeObject(b *strings.Builder, kind, name, ns string, c component, extraLabels string) {
	b.WriteString("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n")
	if ns != "" {
		b.WriteString("  namespace: " + ns + "\n")
	}
	b.WriteString("  labels:\n    {{- include \"agora.labels\" . | nindent 4 }}\n    app.kubernetes.io/component: " + c.name + "\n")
	b.WriteString(extraLabels)
}

// splitDocs splits a YAML stream at lines that are exactly "---".
func splitDocs(in []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, l := range bytes.SplitAfter(in, []byte("\n")) {
		if string(bytes.TrimSpace(l)) == "---" {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, l...)
	}
	return append(docs, cur)
}
