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

package executor

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/test/testcluster"
)

// The integration tests share one control plane with kwok and three nodes (kwok-node-0..2). Each
// test runs its own executor, as the user executorUser holding only the rights the RBAC markers
// in doc.go grant, so the tests also prove that role sufficient.
var (
	cluster     *testcluster.Cluster
	executorCfg *rest.Config
)

const executorUser = "agora-executor"

// executorServiceAccount is the DaemonSet's ServiceAccount (in agora-system), which the
// policy agora-executor-node-restriction restricts to its token's node.
const executorServiceAccount = "agora-executor"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // unit tests only
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	cluster, err = testcluster.Start(ctx, testcluster.Options{Nodes: 3, CPU: "8", Memory: "32Gi", Logf: logf})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop cluster:", err)
		}
	}()
	if executorCfg, err = executorIdentity(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// executorIdentity creates the executor's ClusterRole (and Role in agora-system) from the
// +kubebuilder:rbac markers of this package, binds them to a fresh user and returns that user's
// config.
func executorIdentity(ctx context.Context) (*rest.Config, error) {
	clusterRules, nsRules, err := rbacMarkers("doc.go")
	if err != nil {
		return nil, err
	}
	if len(clusterRules) == 0 || len(nsRules) == 0 {
		return nil, fmt.Errorf("no RBAC markers found in doc.go")
	}
	rbac := cluster.Kube.RbacV1()
	// The user of simulation mode, and the DaemonSet's ServiceAccount (see daemonSetConfig).
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: executorUser},
		{Kind: rbacv1.ServiceAccountKind, Namespace: "agora-system", Name: executorServiceAccount}}
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "agora-executor"}, Rules: clusterRules}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "agora-executor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "agora-executor"},
		Subjects:   subject,
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	for ns, rules := range nsRules {
		if _, err := rbac.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "agora-executor", Namespace: ns}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		if _, err := rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "agora-executor", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "agora-executor"},
			Subjects:   subject,
		}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	cfg, _, err := cluster.User(executorUser)
	return cfg, err
}

// rbacMarkers reads `// +kubebuilder:rbac:groups=...,resources=...,verbs=...[,namespace=...]`
// lines, the same markers controller-gen turns into the agora-executor role.
func rbacMarkers(file string) ([]rbacv1.PolicyRule, map[string][]rbacv1.PolicyRule, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var clusterRules []rbacv1.PolicyRule
	nsRules := map[string][]rbacv1.PolicyRule{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "// +kubebuilder:rbac:")
		if !ok {
			continue
		}
		var rule rbacv1.PolicyRule
		ns := ""
		for _, kv := range strings.Split(line, ",") {
			k, v, _ := strings.Cut(kv, "=")
			vals := strings.Split(strings.Trim(v, `"`), ";")
			switch k {
			case "groups":
				rule.APIGroups = vals
			case "resources":
				rule.Resources = vals
			case "verbs":
				rule.Verbs = vals
			case "namespace":
				ns = v
			default:
				return nil, nil, fmt.Errorf("rbac marker: unknown key %q in %q", k, line)
			}
		}
		if ns == "" {
			clusterRules = append(clusterRules, rule)
		} else {
			nsRules[ns] = append(nsRules[ns], rule)
		}
	}
	return clusterRules, nsRules, sc.Err()
}
