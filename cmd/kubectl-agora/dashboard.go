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
	"context"
	"flag"
	"fmt"
	"io"

	"k8s.io/client-go/rest"

	"github.com/agora-sched/agora/pkg/dashboard"
)

// dashboardAddress is `kubectl agora dashboard --address`: loopback only.
var dashboardAddress string

func addDashboardFlags(fs *flag.FlagSet) {
	fs.StringVar(&dashboardAddress, "address", "127.0.0.1:8080", "dashboard: loopback address to serve on (port 0 picks a free one)")
}

// runDashboard serves the live dashboard on loopback with the user's own credentials until
// ctx ends (Ctrl-C).
func runDashboard(ctx context.Context, cfg *rest.Config, o options, out io.Writer) error {
	ln, err := dashboard.Listen(dashboardAddress)
	if err != nil {
		return err
	}
	token, err := dashboard.NewToken()
	if err != nil {
		_ = ln.Close()
		return err
	}
	opts := dashboard.Options{Namespace: o.namespace, Token: token}
	srv, err := dashboard.New(cfg, opts)
	if err != nil {
		_ = ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	scope := "namespace " + o.namespace
	if o.namespace == "" {
		scope = "all namespaces"
	}
	fmt.Fprintf(out, "Agora dashboard: %s\n(%s, with your kubeconfig's credentials; the address carries a session token, so other users of this machine cannot read through it; Ctrl-C stops it)\n", opts.URL(ln.Addr()), scope)
	err = srv.Serve(ctx, ln)
	cancel()
	if rerr := <-runErr; err == nil {
		err = rerr
	}
	return err
}
