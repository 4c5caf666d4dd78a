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

// Package integration runs Agora's API against a real kube-apiserver and etcd (envtest, binaries
// from bin/ built by `make control-plane`).
package integration

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/test/testcluster"
)

var (
	cfg        *rest.Config
	k8sClient  client.Client
	kubeconfig string // a kubeconfig file for bin/kubectl with system:masters rights
	binDir     string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	// -short runs unit tests only; everything here needs a control plane.
	if testing.Short() {
		fmt.Println("skipping integration tests in -short mode")
		return 0
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	binDir = filepath.Join(root, "bin")
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		os.Setenv("KUBEBUILDER_ASSETS", binDir)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), b)); err != nil {
			fmt.Fprintf(os.Stderr, "integration tests need %s in %s: run `make control-plane` (or `make test`)\n", b, os.Getenv("KUBEBUILDER_ASSETS"))
			return 1
		}
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := agorav1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}

	env := &envtest.Environment{
		CRDDirectoryPaths:       []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:   true,
		Scheme:                  scheme,
		ControlPlaneStopTimeout: 30 * time.Second,
	}
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start control plane: %v\n", err)
		// Start fails after the processes are up when a CRD is refused; stop them anyway.
		if stopErr := env.Stop(); stopErr != nil {
			fmt.Fprintf(os.Stderr, "stop control plane: %v\n", stopErr)
		}
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop control plane: %v\n", err)
		}
	}()

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}

	// The policies installed with the CRDs (kubectl apply -k config/crd, the chart): the whole
	// Task spec is immutable only with them.
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	if err := testcluster.InstallPolicies(context.Background(), kube, root); err != nil {
		fmt.Fprintf(os.Stderr, "install the CRDs' admission policies: %v\n", err)
		return 1
	}

	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "add user: %v\n", err)
		return 1
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeconfig: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "agora-integration-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		panic(err)
	}
	return m.Run()
}

// testContext bounds each test so a hung API call fails the test instead of the whole run.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
