package inventory_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"shop/app/eventstore"
	"shop/app/inventory"
	domain "shop/domain/inventory"
	"shop/domain/refusal"
	"shop/domain/validation"
	"shop/infrastructure/memory"
)

// The catalog's commands, each from a catalog holding product "p" with 5
// units: what they leave in stock, or how they refuse, changing nothing.
func TestTheCatalogAddsAndRestocksProductsAndRefusesWhatItCannotDo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		do        func(ctx context.Context, app inventory.Application) error
		product   string
		available int          // afterwards, of product
		refusal   error        // the error it refuses with, nil if it succeeds
		kind      refusal.Kind // of a refusal declared with package refusal
	}{
		{"a new product", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.AddProduct.Handle(ctx, inventory.AddProduct{ProductID: "q", Name: "Q", InitialStock: 3})
		}, "q", 3, nil, 0},
		{"a product without stock", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.AddProduct.Handle(ctx, inventory.AddProduct{ProductID: "q", Name: "Q"})
		}, "q", 0, nil, 0},
		{"a product id taken", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.AddProduct.Handle(ctx, inventory.AddProduct{ProductID: "p", Name: "Other", InitialStock: 9})
		}, "p", 5, eventstore.ErrAlreadyExists, refusal.Conflict},
		{"a product without a name", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.AddProduct.Handle(ctx, inventory.AddProduct{ProductID: "q", InitialStock: 1})
		}, "p", 5, &validation.Error{}, 0},
		{"a negative stock", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.AddProduct.Handle(ctx, inventory.AddProduct{ProductID: "q", Name: "Q", InitialStock: -1})
		}, "p", 5, &validation.Error{}, 0},
		{"a restock", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.Restock.Handle(ctx, inventory.Restock{ProductID: "p", Quantity: 7})
		}, "p", 12, nil, 0},
		{"a restock of nothing", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.Restock.Handle(ctx, inventory.Restock{ProductID: "p"})
		}, "p", 5, &validation.Error{}, 0},
		{"a restock of an unknown product", func(ctx context.Context, app inventory.Application) error {
			return app.Commands.Restock.Handle(ctx, inventory.Restock{ProductID: "nope", Quantity: 1})
		}, "p", 5, inventory.ErrProductNotFound, refusal.NotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newService(t)
			s.add(t, "p", 5)
			err := c.do(ctx, s.app)
			switch want := c.refusal.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
			case *validation.Error:
				if !errors.As(err, &want) {
					t.Fatalf("%v, want invalid input", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("%v, want %v", err, want)
				}
			}
			if c.refusal != nil && !errors.Is(err, refusal.ErrRefused) {
				t.Fatalf("%v is not a refusal", err)
			}
			if r, ok := refusal.Of(err); ok && r.Kind != c.kind {
				t.Fatalf("%v is a refusal of kind %d, want %d", err, r.Kind, c.kind)
			}
			if available, reserved := s.stockOf(t, c.product); available != c.available || reserved != 0 {
				t.Fatalf("stock of %s: %d available, %d reserved; want %d, 0", c.product, available, reserved, c.available)
			}
		})
	}
}

// The projection reacts to every stock event: each moves the view's version,
// and one it missed would leave the view behind for good.
func TestTheProductProjectionReactsToEveryStockEvent(t *testing.T) {
	t.Parallel()
	p, err := inventory.NewProductProjection(memory.NewProductViews())
	if err != nil {
		t.Fatal(err)
	}
	for _, et := range domain.StockEvents() {
		if !slices.Contains(p.Events(), et.Name()) {
			t.Errorf("no reaction to %s", et.Name())
		}
	}
}
