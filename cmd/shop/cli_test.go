package main_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"shop/ports/cli"
	"shop/service"
)

func run(args []string, env map[string]string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{
		System: service.CommandLine{},
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Stdout: &out, Stderr: &errOut,
	})
	return code, out.String(), errOut.String()
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{nil, nil, cli.ExitUsage, "Usage: shop"},
		{[]string{"teleport"}, nil, cli.ExitUsage, `unknown command "teleport"`},
		{[]string{"serve", "--bogus"}, nil, cli.ExitUsage, "flag provided but not defined"},
		{[]string{"serve", "extra"}, nil, cli.ExitUsage, "unexpected arguments"},
		{[]string{"serve", "--services", "payments"}, nil, cli.ExitUsage, `unknown service "payments"`},
		// Refused before anything is connected to.
		{[]string{"replay", "--start-date", "2024-02-01", "--end-date", "2024-01-01"}, nil, cli.ExitUsage, "must be before"},
		{[]string{"replay", "--status", "failed", "--start-date", "2024-02-01", "--end-date", "2024-01-01"}, nil, cli.ExitUsage, "must be before"},
		{[]string{"replay", "--all", "--limit", "-1"}, nil, cli.ExitUsage, "limit must not be negative"},
		{[]string{"replay", "--services", "orders,payments"}, nil, cli.ExitUsage, `unknown service "payments"`},
		{[]string{"projections", "rebuild", "--projection", "carts"}, nil, cli.ExitUsage, "want one of orders, products"},
		{[]string{"serve"}, map[string]string{"MAX_RETRIES": "many"}, cli.ExitFailure, "MAX_RETRIES"},
		{[]string{"help"}, nil, cli.ExitOK, "Commands:"},
		{[]string{"poison", "--help"}, nil, cli.ExitOK, "shop poison list|show ID"},
		{[]string{"projections", "-h"}, nil, cli.ExitOK, "shop projections rebuild"},
		{[]string{"version"}, nil, cli.ExitOK, ", go1."},
		{[]string{"version", "extra"}, nil, cli.ExitUsage, "unexpected arguments"},
	}
	for _, tt := range tests {
		code, out, errOut := run(tt.args, tt.env)
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("%v: exit %d, output %q%q; want %d and %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
}

// Each command's help names it, its arguments and the flags it takes, and
// no other.
func TestEachCommandsHelpListsOnlyItsOwnFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args          []string
		want, without []string
	}{
		{[]string{"poison", "list", "-h"}, []string{"usage: shop poison list [flags]", "-handler", "-limit", "-server"}, []string{"-rate", "-dry-run", "-by", "-all", "-max-replays"}},
		{[]string{"poison", "show", "--help"}, []string{"usage: shop poison show [flags] ID", "-json"}, []string{"-handler", "-limit", "-rate"}},
		{[]string{"poison", "stats", "-h"}, []string{"-handler", "-status"}, []string{"-limit", "-dry-run", "-rate"}},
		{[]string{"poison", "replay", "-h"}, []string{"-all", "-rate", "-delay", "-max-replays", "-dry-run", "-by", "or --all"}, nil},
		{[]string{"poison", "discard", "-h"}, []string{"-dry-run", "-by", "never discards them all"}, []string{"-all", "-rate", "-max-replays"}},
		{[]string{"projections", "rebuild", "-h"}, []string{"-projection", "CAUGHT UP"}, []string{"-handler"}},
		{[]string{"replay", "-h"}, []string{"usage: shop replay [flags]", "-all", "-event-type"}, nil},
		{[]string{"version", "-h"}, []string{"usage: shop version [flags]", "Go version"}, []string{"flags:"}},
	} {
		code, out, errOut := run(tt.args, nil)
		help := out + errOut
		if code != cli.ExitOK {
			t.Errorf("%v: exit %d", tt.args, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(help, w) {
				t.Errorf("%v: help lacks %q:\n%s", tt.args, w, help)
			}
		}
		for _, w := range tt.without {
			if strings.Contains(help, w+" ") || strings.Contains(help, w+"\n") {
				t.Errorf("%v: help offers %q, which the command does not take:\n%s", tt.args, w, help)
			}
		}
	}
}

func TestHealthAsksTheURL(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"healthy"}`)) }))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	if code, out, _ := run([]string{"health", "--url", ok.URL}, nil); code != cli.ExitOK || !strings.Contains(out, "healthy") {
		t.Fatalf("healthy: %d %s", code, out)
	}
	if code, _, errOut := run([]string{"health", "--url", down.URL}, nil); code != cli.ExitFailure || !strings.Contains(errOut, "503") {
		t.Fatalf("unhealthy: %d %s", code, errOut)
	}
}
