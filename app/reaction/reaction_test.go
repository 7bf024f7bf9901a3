package reaction_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"shop/app/eventstore"
	"shop/app/reaction"
	"shop/domain/order"
)

func TestEachEventGoesToTheReactionToItsType(t *testing.T) {
	t.Parallel()
	var got []string
	h, err := reaction.New(
		reaction.On(func(_ context.Context, rec eventstore.Record, e *order.Placed) error {
			got = append(got, fmt.Sprintf("placed %s v%d", e.OrderID, rec.Version))
			return nil
		}),
		reaction.On(func(_ context.Context, _ eventstore.Record, e *order.Cancelled) error {
			got = append(got, "cancelled "+e.OrderID)
			return nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"order.placed", "order.cancelled"}; !slices.Equal(h.Events(), want) {
		t.Fatalf("events %v, want %v", h.Events(), want)
	}
	ctx := context.Background()
	for _, rec := range []eventstore.Record{
		{Version: 1, Event: &order.Placed{OrderID: "o-1"}},
		{Version: 2, Event: &order.Cancelled{OrderID: "o-1"}},
	} {
		if err := h.Handle(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"placed o-1 v1", "cancelled o-1"}; !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
	if err := h.Handle(ctx, eventstore.Record{Event: &order.Confirmed{OrderID: "o-1"}}); err == nil {
		t.Fatal("an event without a reaction was handled")
	}
}

func TestTwoReactionsToOneTypeAreRefused(t *testing.T) {
	t.Parallel()
	react := func(context.Context, eventstore.Record, *order.Placed) error { return nil }
	if _, err := reaction.New(reaction.On(react), reaction.On(react)); err == nil {
		t.Fatal("accepted")
	}
}
