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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// GrantRoles creates the ClusterRoles and Roles of config/rbac/<file> (e.g. role.yaml, the
// controller's, or executor_role.yaml, as `make manifests` generates them from the code's RBAC
// markers) and binds each, under its own name, to users: a component run as such a user has
// exactly the rights the chart gives it, so a right its code needs and its role lacks fails the
// test instead of passing under system:masters.
func (c *Cluster) GrantRoles(ctx context.Context, file string, users ...string) error {
	b, err := os.ReadFile(filepath.Join(c.Root, "config", "rbac", file))
	if err != nil {
		return err
	}
	var subjects []rbacv1.Subject
	for _, u := range users {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	api := c.Kube.RbacV1()
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for n := 0; ; n++ {
		var raw map[string]any
		if err := d.Decode(&raw); err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		doc, err := yaml.Marshal(raw)
		if err != nil {
			return err
		}
		switch raw["kind"] {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err = yaml.UnmarshalStrict(doc, &r); err == nil {
				if _, err = api.ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); err == nil {
					_, err = api.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: r.Name},
						RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Name}, Subjects: subjects}, metav1.CreateOptions{})
				}
			}
		case "Role":
			var r rbacv1.Role
			if err = yaml.UnmarshalStrict(doc, &r); err == nil {
				if _, err = api.Roles(r.Namespace).Create(ctx, &r, metav1.CreateOptions{}); err == nil {
					_, err = api.RoleBindings(r.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace},
						RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name}, Subjects: subjects}, metav1.CreateOptions{})
				}
			}
		case nil: // an empty document
		default:
			err = fmt.Errorf("unexpected kind %v", raw["kind"])
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
}
