package main_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/app/operations"
	"shop/app/personal"
	"shop/domain/money"
	"shop/domain/order"
	"shop/infrastructure/memory"
	"shop/ports/cli"
	"shop/service"
)

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

type counterIDs struct{ n atomic.Int64 }

func (c *counterIDs) NewID() string { return fmt.Sprint("id-", c.n.Add(1)) }

type countingPublisher struct{ n atomic.Int64 }

func (p *countingPublisher) Publish(context.Context, eventstore.Record) error { p.n.Add(1); return nil }
func (p *countingPublisher) Republish(context.Context, operations.DeadLetter, int) error {
	p.n.Add(1)
	return nil
}
func (p *countingPublisher) Release(context.Context, operations.DeadLetter) error {
	p.n.Add(1)
	return nil
}

type nothingProjected struct{}

func (nothingProjected) Handle(context.Context, eventstore.Record) error { return nil }

func oneOrderStore(t *testing.T) eventstore.Store {
	t.Helper()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	// Its contact in clear, as versions before sealing stored it.
	placed := &order.Placed{OrderID: "o-1", CustomerID: "c-1", Contact: order.Contact{Email: "c1@example.com"}, Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: money.Amount(100)}}, Total: money.Amount(100), PlacedAt: time.Now()}
	err := store.Append(context.Background(), []eventstore.Record{{EventID: "e-1", AggregateType: order.AggregateType, AggregateID: "o-1", Version: 1, Type: placed.EventName(), Event: placed, OccurredAt: placed.PlacedAt}})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func newOperations(t *testing.T, pub *countingPublisher, rebuilds ...operations.Rebuild) *operations.Operations {
	t.Helper()
	vault, err := personal.NewVault(personal.Config{Keys: memory.NewPersonalKeys()})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := operations.New(operations.Config{
		DeadLetters: memory.NewDeadLetters(), Parking: memory.NewParking(), Runs: memory.NewRuns(), Republisher: pub, Events: pub,
		Stores: map[string]eventstore.Store{"orders": oneOrderStore(t)}, Rebuilds: rebuilds, Clock: systemClock{}, IDs: &counterIDs{},
		Vault: vault,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func runOn(ops *operations.Operations, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{
		System: service.CommandLine{},
		Lookup: func(string) (string, bool) { return "", false },
		Stdout: &out, Stderr: &errOut,
		Operations: func(context.Context) (*operations.Operations, func() error, error) {
			return ops, func() error { return nil }, nil
		},
	})
	return code, out.String(), errOut.String()
}

func TestWhatTheOperationsRefuseExitsWithTwo(t *testing.T) {
	t.Parallel()
	pub := &countingPublisher{}
	ops := newOperations(t, pub)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--status", "failed", "--max-replays", "0"}, "max replays must be at least 1"},
		{[]string{"replay"}, "replay needs a filter"},
		{[]string{"replay", "--limit", "10"}, "replay needs a filter"},
		{[]string{"replay", "--status", "failed"}, "needs ids or a filter"},
		{[]string{"replay", "--status", "failed", "--services", "orders"}, "services select stored events"},
		{[]string{"poison", "replay"}, "needs ids or a filter"},
		{[]string{"poison", "replay", "--status", "failed", "--limit", "5"}, "needs ids or a filter"},
		{[]string{"replay", "--event-ids", "nope"}, "no stored event nope"},
		{[]string{"poison", "discard"}, "discard needs ids or a filter"},
		{[]string{"poison", "show", "nope"}, "dead letter not found"},
	} {
		code, out, errOut := runOn(ops, tt.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d\n%s%s\nwant %d and %q", tt.args, code, out, errOut, cli.ExitUsage, tt.want)
		}
	}
	if n := pub.n.Load(); n != 0 {
		t.Fatalf("refused commands published %d messages", n)
	}
	if code, out, errOut := runOn(ops, "replay", "--all", "--json"); code != cli.ExitOK || pub.n.Load() != 1 {
		t.Fatalf("replay --all: exit %d, published %d\n%s%s", code, pub.n.Load(), out, errOut)
	}
}

func TestARebuildOfAProjectionBeingRebuiltFails(t *testing.T) {
	t.Parallel()
	began, release := make(chan struct{}, 1), make(chan struct{})
	ops := newOperations(t, &countingPublisher{}, operations.Rebuild{
		Name: "orders", Store: oneOrderStore(t), AggregateTypes: []string{order.AggregateType},
		Begin: func(context.Context) (operations.Replacement, error) {
			began <- struct{}{}
			<-release
			return operations.NewReplacement(nothingProjected{}, nothingProjected{}, operations.Steps{}), nil
		},
	})
	first := make(chan error, 1)
	go func() {
		_, err := ops.RebuildProjection(context.Background(), "orders", nil)
		first <- err
	}()
	<-began
	type result struct {
		code        int
		out, errOut string
	}
	second := make(chan result, 1)
	go func() {
		code, out, errOut := runOn(ops, "projections", "rebuild", "--projection", "orders")
		second <- result{code, out, errOut}
	}()
	select {
	case r := <-second:
		if r.code != cli.ExitFailure || !strings.Contains(r.errOut, "already running") {
			t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
		}
	case <-time.After(5 * time.Second):
		t.Error("the second rebuild ran beside the first")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// A dead letter that does not exist is a wrong command (exit 2) that says
// what was not found, and no more.
func TestAnUnknownDeadLetterIsSaidToBeNotFound(t *testing.T) {
	t.Parallel()
	code, _, errOut := runOn(newOperations(t, &countingPublisher{}), "poison", "show", "nope")
	if code != cli.ExitUsage || !strings.Contains(errOut, "dead letter not found") || strings.Contains(errOut, "usage") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
