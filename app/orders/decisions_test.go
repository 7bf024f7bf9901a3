package orders_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/app/orders"
	"shop/domain/order"
	"shop/domain/refusal"
	"shop/domain/validation"
	"shop/infrastructure/memory"
)

// What happens to a placed order as decisions and cancellations come, in
// any order: the first decision holds, a repeated or late one changes
// nothing, and a cancellation is refused only once the order was rejected or
// cancelled.
func TestAnOrderIsDecidedOnceAndCancelledWhileItMayBe(t *testing.T) {
	t.Parallel()
	confirm := func(ctx context.Context, app orders.Application) error {
		return app.Commands.ConfirmOrder.Handle(ctx, orders.ConfirmOrder{OrderID: "o-1"})
	}
	reject := func(ctx context.Context, app orders.Application) error {
		return app.Commands.RejectOrder.Handle(ctx, orders.RejectOrder{OrderID: "o-1", Reasons: []order.ItemRejection{{ProductID: "p", Reason: "insufficient_stock", Requested: 2}}})
	}
	cancel := func(ctx context.Context, app orders.Application) error {
		_, err := app.Commands.CancelOrder.Handle(ctx, orders.CancelOrder{OrderID: "o-1", Reason: "changed my mind"})
		return err
	}
	type step func(context.Context, orders.Application) error
	cases := []struct {
		name   string
		steps  []step
		status order.Status
		// refused is the error the last step refuses with, nil if none.
		refused error
	}{
		{"confirmed", []step{confirm}, order.StatusConfirmed, nil},
		{"rejected", []step{reject}, order.StatusRejected, nil},
		{"confirmed twice", []step{confirm, confirm}, order.StatusConfirmed, nil},
		{"a rejection after the confirmation", []step{confirm, reject}, order.StatusConfirmed, nil},
		{"cancelled while pending", []step{cancel}, order.StatusCancelled, nil},
		{"cancelled once confirmed", []step{confirm, cancel}, order.StatusCancelled, nil},
		{"a decision after the cancellation", []step{cancel, confirm}, order.StatusCancelled, nil},
		{"cancelled once rejected", []step{reject, cancel}, order.StatusRejected, order.ErrNotCancellable},
		{"cancelled twice", []step{cancel, cancel}, order.StatusCancelled, order.ErrNotCancellable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			app, _, store := newAppOn(t, nil)
			if _, err := app.Commands.PlaceOrder.Handle(ctx, placeOrder("o-1", "")); err != nil {
				t.Fatal(err)
			}
			var err error
			for _, s := range c.steps {
				err = s(ctx, app)
			}
			if !errors.Is(err, c.refused) || (c.refused != nil && !errors.Is(err, refusal.ErrRefused)) {
				t.Fatalf("last step: %v, want %v", err, c.refused)
			}
			if got := statusOf(t, store, "o-1"); got != c.status {
				t.Fatalf("status %s, want %s", got, c.status)
			}
		})
	}
}

// A placement the domain refuses stores nothing and says every reason.
func TestAnInvalidPlacementStoresNothing(t *testing.T) {
	t.Parallel()
	cases := map[string]func(*orders.PlaceOrder){
		"no items":           func(c *orders.PlaceOrder) { c.Items = nil },
		"no customer":        func(c *orders.PlaceOrder) { c.CustomerID = "" },
		"a zero quantity":    func(c *orders.PlaceOrder) { c.Items[0].Quantity = 0 },
		"a negative price":   func(c *orders.PlaceOrder) { c.Items[0].UnitPrice = -1 },
		"an item without id": func(c *orders.PlaceOrder) { c.Items[0].ProductID = "" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			app, _, store := newAppOn(t, nil)
			cmd := placeOrder("o-1", "")
			change(&cmd)
			_, err := app.Commands.PlaceOrder.Handle(ctx, cmd)
			var invalid *validation.Error
			if !errors.As(err, &invalid) || len(invalid.Violations) == 0 || !errors.Is(err, refusal.ErrRefused) {
				t.Fatalf("%v, want the violations", err)
			}
			if v, err := store.Version(ctx, order.AggregateType, "o-1"); err != nil || v != 0 {
				t.Fatalf("stored version %d (%v), want nothing stored", v, err)
			}
		})
	}
	// An unknown order is not found, for a cancellation as for a decision.
	app, _ := newApp(t)
	if _, err := app.Commands.CancelOrder.Handle(context.Background(), orders.CancelOrder{OrderID: "nope"}); !errors.Is(err, orders.ErrOrderNotFound) {
		t.Fatalf("cancel an unknown order: %v", err)
	}
	if err := app.Commands.ConfirmOrder.Handle(context.Background(), orders.ConfirmOrder{OrderID: "nope"}); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("confirm an unknown order: %v", err)
	}
}

func statusOf(t *testing.T, store eventstore.Store, id string) order.Status {
	t.Helper()
	repo, err := orders.NewRepository(eventstore.RepositoryConfig[*order.Order]{Store: store, Outbox: eventstoretest.NoOutbox{}, Clock: clock, IDs: eventstoretest.UUIDs{}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := repo.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status()
}

// The projection reacts to every order event: each moves the view's version,
// and one it missed would leave the view behind for good.
func TestTheOrderProjectionReactsToEveryOrderEvent(t *testing.T) {
	t.Parallel()
	p, err := orders.NewOrderProjection(memory.NewOrderViews())
	if err != nil {
		t.Fatal(err)
	}
	for _, et := range order.Events() {
		if !slices.Contains(p.Events(), et.Name()) {
			t.Errorf("no reaction to %s", et.Name())
		}
	}
}
