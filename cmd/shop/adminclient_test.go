package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"shop/app/operations"
	"shop/app/orders"
	"shop/ports/cli"
	"shop/ports/httpport"
	"shop/service"
)

const adminToken = "test-admin-token-0123456789"

// runAgainst runs the command line on a running orders service's admin API,
// as after `make run`: the data is in the serving process only.
func runAgainst(server string, env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{
		System: service.CommandLine{},
		Lookup: func(k string) (string, bool) {
			if k == "SHOP_SERVER" {
				return server, true
			}
			v, ok := env[k]
			return v, ok
		},
		Stdout: &out, Stderr: &errOut,
	})
	return code, out.String(), errOut.String()
}

// The operators' commands work through the admin API of a running orders
// service: they list, show, count, replay and discard its dead letters and
// replay its events, and what the API refuses exits as a wrong command.
func TestTheOperatorsCommandsReachARunningServiceThroughItsAdminAPI(t *testing.T) {
	t.Parallel()
	pub := &countingPublisher{}
	ops := newOperations(t, pub)
	ctx := context.Background()
	failed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := ops.Archive(ctx, operations.DeadLetter{
		ID: "m-1@orders.reservation-policy.p0", MessageID: "m-1", Handler: "orders.reservation-policy.p0", Topic: "events.reservation.0",
		EventType: "inventory.reservation_confirmed", AggregateID: "o-1", AggregateVersion: 2, Payload: []byte(`{"OrderID":"o-1"}`),
		Reason: "bug", FirstFailedAt: failed, LastFailedAt: failed, Status: operations.StatusFailed,
	}); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(httpport.NewOrdersHandler(orders.Application{}, httpport.Admin{Operations: ops, Token: adminToken},
		httpport.Base{Service: "orders", Logger: slog.New(slog.DiscardHandler)}))
	defer api.Close()
	env := map[string]string{"ADMIN_TOKEN": adminToken}

	if code, out, errOut := runAgainst(api.URL, env, "poison", "list"); code != cli.ExitOK || !strings.Contains(out, "m-1@orders.reservation-policy.p0") || !strings.Contains(out, "1 dead letter(s)") {
		t.Fatalf("list: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runAgainst(api.URL, env, "poison", "show", "m-1@orders.reservation-policy.p0"); code != cli.ExitOK || !strings.Contains(out, `{"OrderID":"o-1"}`) || !strings.Contains(out, "first failure") {
		t.Fatalf("show: %d %s %s", code, out, errOut)
	}
	code, out, errOut := runAgainst(api.URL, env, "poison", "stats", "--json")
	var stats struct {
		Total int `json:"total"`
	}
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &stats) != nil || stats.Total != 1 {
		t.Fatalf("stats: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runAgainst(api.URL, env, "poison", "replay", "--all", "--dry-run"); code != cli.ExitOK || pub.n.Load() != 0 || !strings.Contains(out, "1") {
		t.Fatalf("dry run: %d %s %s (published %d)", code, out, errOut, pub.n.Load())
	}
	if code, out, errOut := runAgainst(api.URL, env, "poison", "replay", "--ids", "m-1@orders.reservation-policy.p0"); code != cli.ExitOK || pub.n.Load() != 1 {
		t.Fatalf("replay: %d %s %s (published %d)", code, out, errOut, pub.n.Load())
	}
	if code, out, errOut := runAgainst(api.URL, env, "replay", "--event-type", "order.placed", "--dry-run", "--json"); code != cli.ExitOK || !strings.Contains(out, `"selected": 1`) {
		t.Fatalf("event replay: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runAgainst(api.URL, env, "customers", "erase", "c-1", "--json")
	var erasure struct {
		KeyDeleted     bool     `json:"keyDeleted"`
		Orders         []string `json:"orders"`
		EventsRedacted int      `json:"eventsRedacted"`
	}
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &erasure) != nil || erasure.KeyDeleted || len(erasure.Orders) != 1 || erasure.EventsRedacted != 1 {
		t.Fatalf("erase: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runAgainst(api.URL, env, "customers", "erase", "c-1"); code != cli.ExitOK || !strings.Contains(out, "events redacted") {
		t.Fatalf("erase again: %d %s %s", code, out, errOut)
	}
	// Refused by the API: a wrong command, saying why.
	if code, _, errOut := runAgainst(api.URL, env, "poison", "show", "nope"); code != cli.ExitUsage || !strings.Contains(errOut, "dead letter not found") {
		t.Fatalf("unknown dead letter: %d %s", code, errOut)
	}
	if code, _, errOut := runAgainst(api.URL, map[string]string{"ADMIN_TOKEN": "wrong-token-0123456789"}, "poison", "list"); code != cli.ExitFailure || !strings.Contains(errOut, "401") {
		t.Fatalf("wrong token: %d %s", code, errOut)
	}
	if code, _, errOut := runAgainst(api.URL, nil, "poison", "list"); code != cli.ExitUsage || !strings.Contains(errOut, "ADMIN_TOKEN") {
		t.Fatalf("no token: %d %s", code, errOut)
	}
}
