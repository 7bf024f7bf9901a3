// Package readmodeltest is the contract every read model adapter honours: the
// version guard, idempotent creation, and the queries' order and paging.
package readmodeltest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"shop/app/inventory"
	"shop/app/orders"
	"shop/app/readmodel"
	"shop/domain/order"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func orderView(id, customer string, at time.Time) orders.OrderView {
	return orders.OrderView{
		ID: id, CustomerID: customer, Status: order.StatusPending, Total: 1999, CreatedAt: at, UpdatedAt: at, Version: 1,
		Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: 1999}},
	}
}

// OrderViews runs the contract of orders.OrderViews; each test gets an empty model.
func OrderViews(t *testing.T, newViews func(t *testing.T) orders.OrderViews) {
	ctx := context.Background()
	t.Run("create is idempotent and updates are guarded by version", func(t *testing.T) {
		v := newViews(t)
		if err := v.Create(ctx, orderView("o-1", "c", t0)); err != nil {
			t.Fatal(err)
		}
		again := orderView("o-1", "someone else", t0)
		if err := v.Create(ctx, again); err != nil {
			t.Fatal(err)
		}
		confirm := orders.OrderChange{Status: order.StatusConfirmed, UpdatedAt: t0.Add(time.Second)}
		cancel := orders.OrderChange{Status: order.StatusCancelled, CancelReason: "changed my mind", UpdatedAt: t0.Add(2 * time.Second)}
		if err := v.Update(ctx, "o-1", 3, cancel); !errors.Is(err, readmodel.ErrVersionGap) {
			t.Fatalf("event 3 before 2: %v", err)
		}
		for range 2 {
			if err := v.Update(ctx, "o-1", 2, confirm); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Update(ctx, "o-1", 3, cancel); err != nil {
			t.Fatal(err)
		}
		if err := v.Update(ctx, "o-1", 2, confirm); err != nil { // late repeat
			t.Fatal(err)
		}
		got, err := v.Get(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.CustomerID != "c" || got.Status != order.StatusCancelled || got.CancelReason != "changed my mind" || got.Version != 3 ||
			!got.UpdatedAt.Equal(t0.Add(2*time.Second)) || !got.CreatedAt.Equal(t0) || got.Total != 1999 || len(got.Items) != 1 || got.Items[0].UnitPrice != 1999 {
			t.Fatalf("view %+v", got)
		}
		if err := v.Update(ctx, "o-9", 2, confirm); !errors.Is(err, readmodel.ErrVersionGap) {
			t.Fatalf("update of a missing view: %v", err)
		}
		if _, err := v.Get(ctx, "o-9"); !errors.Is(err, orders.ErrOrderNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
	t.Run("rejections are kept", func(t *testing.T) {
		v := newViews(t)
		_ = v.Create(ctx, orderView("o-1", "c", t0))
		reasons := []order.ItemRejection{{ProductID: "p", Reason: "insufficient_stock", Requested: 2, Available: 1}}
		if err := v.Update(ctx, "o-1", 2, orders.OrderChange{Status: order.StatusRejected, Rejections: reasons, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		got, _ := v.Get(ctx, "o-1")
		if !slices.Equal(got.Rejections, reasons) {
			t.Fatalf("rejections %+v", got.Rejections)
		}
	})
	t.Run("list newest first by customer and status, in pages", func(t *testing.T) {
		v := newViews(t)
		for i := range 7 {
			id := fmt.Sprintf("o-%d", i)
			at := t0.Add(time.Duration(i/2) * time.Minute) // pairs share a time: ties break by id
			if err := v.Create(ctx, orderView(id, "alice", at)); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				_ = v.Update(ctx, id, 2, orders.OrderChange{Status: order.StatusConfirmed, UpdatedAt: at})
			}
		}
		_ = v.Create(ctx, orderView("b-1", "bob", t0))
		want := []string{"o-6", "o-5", "o-4", "o-3", "o-2", "o-1", "o-0"}
		var got []string
		f := orders.OrderFilter{CustomerID: "alice", Limit: 3}
		for pages := 0; ; pages++ {
			page, err := v.List(ctx, f)
			if err != nil || pages > 3 {
				t.Fatalf("page: %v", err)
			}
			for _, o := range page.Orders {
				got = append(got, o.ID)
			}
			if page.Next == nil {
				break
			}
			f.After = page.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages %v, want %v", got, want)
		}
		page, _ := v.List(ctx, orders.OrderFilter{CustomerID: "alice", Status: order.StatusConfirmed, Limit: 10})
		var confirmed []string
		for _, o := range page.Orders {
			confirmed = append(confirmed, o.ID)
		}
		if !slices.Equal(confirmed, []string{"o-6", "o-3", "o-0"}) || page.Next != nil {
			t.Fatalf("confirmed %v next %v", confirmed, page.Next)
		}
		all, _ := v.List(ctx, orders.OrderFilter{Limit: 100})
		if len(all.Orders) != 8 {
			t.Fatalf("all customers: %d", len(all.Orders))
		}
		none, _ := v.List(ctx, orders.OrderFilter{CustomerID: "nobody", Limit: 10})
		if len(none.Orders) != 0 || none.Next != nil {
			t.Fatalf("nobody: %+v", none)
		}
	})
}

// ProductViews runs the contract of inventory.ProductViews.
func ProductViews(t *testing.T, newViews func(t *testing.T) inventory.ProductViews) {
	ctx := context.Background()
	t.Run("deltas apply once and in order", func(t *testing.T) {
		v := newViews(t)
		if err := v.Create(ctx, inventory.ProductView{ProductID: "p", Name: "P", Available: 10, UpdatedAt: t0, Version: 1}); err != nil {
			t.Fatal(err)
		}
		_ = v.Create(ctx, inventory.ProductView{ProductID: "p", Name: "other", Available: 99, Version: 1})
		reserve := inventory.StockChange{AvailableDelta: -3, ReservedDelta: 3, UpdatedAt: t0.Add(time.Second)}
		if err := v.Update(ctx, "p", 3, reserve); !errors.Is(err, readmodel.ErrVersionGap) {
			t.Fatalf("gap: %v", err)
		}
		for range 3 {
			if err := v.Update(ctx, "p", 2, reserve); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Update(ctx, "p", 3, inventory.StockChange{AvailableDelta: 5, UpdatedAt: t0.Add(2 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		got, err := v.Get(ctx, "p")
		if err != nil || got.Name != "P" || got.Available != 12 || got.Reserved != 3 || got.Version != 3 || !got.UpdatedAt.Equal(t0.Add(2*time.Second)) {
			t.Fatalf("view %+v %v", got, err)
		}
		if _, err := v.Get(ctx, "q"); !errors.Is(err, inventory.ErrProductNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
	t.Run("list in product id order, in pages", func(t *testing.T) {
		v := newViews(t)
		for _, id := range []string{"d", "b", "e", "a", "c"} {
			_ = v.Create(ctx, inventory.ProductView{ProductID: id, Name: id, Version: 1})
		}
		var got []string
		f := inventory.ProductFilter{Limit: 2}
		for pages := 0; ; pages++ {
			page, err := v.List(ctx, f)
			if err != nil || pages > 3 {
				t.Fatalf("page: %v", err)
			}
			for _, p := range page.Products {
				got = append(got, p.ProductID)
			}
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
		if !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
			t.Fatalf("pages %v", got)
		}
	})
}
