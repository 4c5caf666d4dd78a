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

package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// PolicyDirs are where Agora's admission policies live, relative to the repository root: those
// that go with the CRDs (installed with them by kustomize and the chart) and the security
// policies of config/policy (installed by config/default and, by default, the chart).
var PolicyDirs = []string{"config/crd/policy", "config/policy"}

// InstallPolicies creates the ValidatingAdmissionPolicies and their bindings of PolicyDirs (one
// object per file), as `kubectl apply -k config/default` would. The API server enforces a new
// policy a moment after it is created (its informer and the policy's type check); a test of a
// policy waits for its refusal.
func InstallPolicies(ctx context.Context, kube kubernetes.Interface, root string) error {
	var files []string
	for _, dir := range PolicyDirs {
		f, err := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		if err != nil {
			return err
		}
		if len(f) == 0 {
			return fmt.Errorf("no policies in %s", filepath.Join(root, dir))
		}
		files = append(files, f...)
	}
	api := kube.AdmissionregistrationV1()
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(b, &tm); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		switch tm.Kind {
		case "ValidatingAdmissionPolicy":
			var p admissionv1.ValidatingAdmissionPolicy
			if err = yaml.UnmarshalStrict(b, &p); err == nil {
				_, err = api.ValidatingAdmissionPolicies().Create(ctx, &p, metav1.CreateOptions{})
			}
		case "ValidatingAdmissionPolicyBinding":
			var p admissionv1.ValidatingAdmissionPolicyBinding
			if err = yaml.UnmarshalStrict(b, &p); err == nil {
				_, err = api.ValidatingAdmissionPolicyBindings().Create(ctx, &p, metav1.CreateOptions{})
			}
		default:
			err = fmt.Errorf("unexpected kind %q (one policy or binding per file)", tm.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}
