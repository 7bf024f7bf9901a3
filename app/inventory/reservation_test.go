package inventory_test

import (
	"context"
	"testing"
	"time"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/app/inventory"
	domain "shop/domain/inventory"
	"shop/domain/order"
	"shop/infrastructure/memory"
)

var clock = eventstoretest.Clock{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

type service struct {
	store *eventstoretest.CountingStore
	app   inventory.Application
	stock inventory.StockRepository
	res   inventory.ReservationRepository
}

func newService(t *testing.T) service {
	t.Helper()
	r, err := eventstore.NewRegistry(
		eventstore.AggregateEvents{AggregateType: domain.StockAggregateType, Events: domain.StockEvents()},
		eventstore.AggregateEvents{AggregateType: domain.ReservationAggregateType, Events: domain.ReservationEvents()},
	)
	if err != nil {
		t.Fatal(err)
	}
	s := service{store: eventstoretest.Counting(memory.NewEventStore(r))}
	if s.stock, err = inventory.NewStockRepository(eventstore.RepositoryConfig[*domain.Stock]{Store: s.store, Outbox: eventstoretest.NoOutbox{}, Clock: clock, IDs: eventstoretest.UUIDs{}}); err != nil {
		t.Fatal(err)
	}
	if s.res, err = inventory.NewReservationRepository(eventstore.RepositoryConfig[*domain.Reservation]{Store: s.store, Outbox: eventstoretest.NoOutbox{}, Clock: clock, IDs: eventstoretest.UUIDs{}}); err != nil {
		t.Fatal(err)
	}
	obs := decorator.Observability{}
	if s.app.Commands.AddProduct, err = inventory.NewAddProductHandler(s.stock, clock, obs); err != nil {
		t.Fatal(err)
	}
	if s.app.Commands.Restock, err = inventory.NewRestockHandler(s.stock, clock, obs); err != nil {
		t.Fatal(err)
	}
	if s.app.Commands.ReserveStock, err = inventory.NewReserveStockHandler(s.stock, s.res, clock, obs); err != nil {
		t.Fatal(err)
	}
	if s.app.Commands.ReleaseStock, err = inventory.NewReleaseStockHandler(s.stock, s.res, clock, obs); err != nil {
		t.Fatal(err)
	}
	s.app.Queries.Stock = inventory.NewGetStockHandler(s.stock)
	return s
}

func (s service) add(t *testing.T, id string, units int) {
	t.Helper()
	if err := s.app.Commands.AddProduct.Handle(context.Background(), inventory.AddProduct{ProductID: id, Name: id, InitialStock: units}); err != nil {
		t.Fatal(err)
	}
}

// stock is a product's stock: available, reserved.
func (s service) stockOf(t *testing.T, id string) (int, int) {
	t.Helper()
	v, err := s.app.Queries.Stock.Handle(context.Background(), inventory.GetStock{ProductID: id})
	if err != nil {
		t.Fatal(err)
	}
	return v.Available, v.Reserved
}

func (s service) reservation(t *testing.T, orderID string) *domain.Reservation {
	t.Helper()
	r, err := s.res.Load(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reserve(orderID string, lines ...domain.Line) inventory.ReserveStock {
	return inventory.ReserveStock{OrderID: orderID, Lines: lines}
}

// An order's reservation is decided without reading it first: it does not
// exist yet, and the append's version check says so.
func TestAReservationIsDecidedWithoutReadingItFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	s.add(t, "p", 10)
	if err := s.app.Commands.ReserveStock.Handle(ctx, reserve("o-1", domain.Line{ProductID: "p", Quantity: 3})); err != nil {
		t.Fatal(err)
	}
	if n := s.store.Loads(domain.ReservationAggregateType); n != 0 {
		t.Fatalf("the reservation was read %d times", n)
	}
	if available, reserved := s.stockOf(t, "p"); available != 7 || reserved != 3 {
		t.Fatalf("stock %d available, %d reserved", available, reserved)
	}
	if r := s.reservation(t, "o-1"); !r.IsConfirmed() || len(r.Lines()) != 1 {
		t.Fatalf("reservation %+v", r)
	}
}

func TestARedeliveredReservationReservesNothingTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	s.add(t, "p", 10)
	cmd := reserve("o-1", domain.Line{ProductID: "p", Quantity: 3})
	if err := s.app.Commands.ReserveStock.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	// Again in this process, and in another one, which holds nothing yet.
	if err := s.app.Commands.ReserveStock.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	other := s
	other.stock, _ = inventory.NewStockRepository(eventstore.RepositoryConfig[*domain.Stock]{Store: s.store, Outbox: eventstoretest.NoOutbox{}, Clock: clock, IDs: eventstoretest.UUIDs{}})
	other.res, _ = inventory.NewReservationRepository(eventstore.RepositoryConfig[*domain.Reservation]{Store: s.store, Outbox: eventstoretest.NoOutbox{}, Clock: clock, IDs: eventstoretest.UUIDs{}})
	otherReserve, _ := inventory.NewReserveStockHandler(other.stock, other.res, clock, decorator.Observability{})
	if err := otherReserve.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if available, reserved := s.stockOf(t, "p"); available != 7 || reserved != 3 {
		t.Fatalf("stock %d available, %d reserved", available, reserved)
	}
	if v := s.reservation(t, "o-1").Version(); v != 1 {
		t.Fatalf("reservation at version %d", v)
	}
}

func TestAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	s.add(t, "a", 10)
	s.add(t, "b", 1)
	s.add(t, "c", 10)
	err := s.app.Commands.ReserveStock.Handle(ctx, reserve("o-1",
		domain.Line{ProductID: "a", Quantity: 2}, domain.Line{ProductID: "b", Quantity: 5},
		domain.Line{ProductID: "c", Quantity: 20}, domain.Line{ProductID: "nope", Quantity: 1}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b", "c"} {
		if _, reserved := s.stockOf(t, p); reserved != 0 {
			t.Fatalf("%s holds %d units for a rejected order", p, reserved)
		}
	}
	records, _ := s.store.Load(ctx, domain.ReservationAggregateType, "o-1")
	rejected, ok := records[0].Event.(*domain.ReservationRejected)
	if !ok || len(rejected.Shortages) != 3 || rejected.Shortages[0].ProductID != "b" || rejected.Shortages[1].Available != 10 ||
		rejected.Shortages[2].Reason != domain.ReasonUnknownProduct {
		t.Fatalf("rejection %+v", records[0].Event)
	}
}

// A cancellation that overtook the reservation wins: the stock reserved
// afterwards is given back.
func TestACancellationThatOvertookTheReservationGetsTheStockBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	s.add(t, "p", 10)
	if err := s.app.Commands.ReleaseStock.Handle(ctx, inventory.ReleaseStock{OrderID: "o-1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Commands.ReserveStock.Handle(ctx, reserve("o-1", domain.Line{ProductID: "p", Quantity: 3})); err != nil {
		t.Fatal(err)
	}
	if available, reserved := s.stockOf(t, "p"); available != 10 || reserved != 0 {
		t.Fatalf("stock %d available, %d reserved", available, reserved)
	}
	if r := s.reservation(t, "o-1"); !r.IsCancelled() {
		t.Fatalf("reservation %+v", r)
	}
}

// A rejection an earlier delivery recorded stays, and the stock a later one
// could find is not held for the rejected order.
func TestARejectedOrderHoldsNothingWhenItsReservationComesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	s.add(t, "p", 1)
	cmd := reserve("o-1", domain.Line{ProductID: "p", Quantity: 3})
	if err := s.app.Commands.ReserveStock.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Commands.Restock.Handle(ctx, inventory.Restock{ProductID: "p", Quantity: 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Commands.ReserveStock.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if available, reserved := s.stockOf(t, "p"); available != 11 || reserved != 0 {
		t.Fatalf("stock %d available, %d reserved", available, reserved)
	}
	if r := s.reservation(t, "o-1"); r.IsOpen() || r.IsConfirmed() || r.IsCancelled() {
		t.Fatalf("reservation %+v, want it rejected", r)
	}
}

func TestTheOrderPolicyReservesAPlacedOrderAndReleasesACancelledOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	s.add(t, "p", 10)
	policy, err := inventory.NewOrderPolicy(s.app.Commands.ReserveStock, s.app.Commands.ReleaseStock)
	if err != nil {
		t.Fatal(err)
	}
	placed := &order.Placed{OrderID: "o-1", Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 4, UnitPrice: 100}}}
	for range 2 {
		if err := policy.Handle(ctx, eventstore.Record{AggregateID: "o-1", Type: placed.EventName(), Event: placed}); err != nil {
			t.Fatal(err)
		}
	}
	if _, reserved := s.stockOf(t, "p"); reserved != 4 {
		t.Fatalf("%d reserved after the placement came twice", reserved)
	}
	cancelled := &order.Cancelled{OrderID: "o-1"}
	if err := policy.Handle(ctx, eventstore.Record{AggregateID: "o-1", Type: cancelled.EventName(), Event: cancelled}); err != nil {
		t.Fatal(err)
	}
	if available, reserved := s.stockOf(t, "p"); available != 10 || reserved != 0 {
		t.Fatalf("stock %d available, %d reserved after the cancellation", available, reserved)
	}
	if err := policy.Handle(ctx, eventstore.Record{Type: "order.confirmed", Event: &order.Confirmed{}}); err == nil {
		t.Fatalf("an event the policy does not react to: %v", err)
	}
}
