package orders_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/app/fault"
	"shop/app/orders"
	"shop/app/personal"
	"shop/domain/inventory"
	"shop/domain/order"
	"shop/infrastructure/memory"
)

var clock = eventstoretest.Clock{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func newApp(t *testing.T) (orders.Application, *eventstoretest.CountingStore) {
	t.Helper()
	app, store, _ := newAppOn(t, nil)
	return app, store
}

// newAppOn builds the application on a memory store seen through wrap, and
// returns that store too.
func newAppOn(t *testing.T, wrap func(eventstore.Store) eventstore.Store) (orders.Application, *eventstoretest.CountingStore, eventstore.Store) {
	t.Helper()
	r, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: order.AggregateType, Events: order.Events()})
	if err != nil {
		t.Fatal(err)
	}
	store := eventstoretest.Counting(memory.NewEventStore(r))
	var seen eventstore.Store = store
	if wrap != nil {
		seen = wrap(store)
	}
	vault, err := personal.NewVault(personal.Config{Keys: memory.NewPersonalKeys()})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := orders.NewRepository(eventstore.RepositoryConfig[*order.Order]{Store: seen, Outbox: eventstoretest.NoOutbox{}, Clock: clock, IDs: eventstoretest.UUIDs{}, Sealer: vault})
	if err != nil {
		t.Fatal(err)
	}
	obs := decorator.Observability{Logger: slog.New(slog.DiscardHandler)}
	var app orders.Application
	if app.Commands.PlaceOrder, err = orders.NewPlaceOrderHandler(repo, memory.NewIdempotencyKeys(time.Hour), vault, clock, obs); err != nil {
		t.Fatal(err)
	}
	if app.Commands.ConfirmOrder, err = orders.NewConfirmOrderHandler(repo, clock, obs); err != nil {
		t.Fatal(err)
	}
	if app.Commands.RejectOrder, err = orders.NewRejectOrderHandler(repo, clock, obs); err != nil {
		t.Fatal(err)
	}
	if app.Commands.CancelOrder, err = orders.NewCancelOrderHandler(repo, clock, obs); err != nil {
		t.Fatal(err)
	}
	return app, store, seen
}

func placeOrder(id, key string) orders.PlaceOrder {
	return orders.PlaceOrder{
		OrderID: id, CustomerID: "c-1", IdempotencyKey: key, Contact: order.Contact{Email: "ada@example.com"},
		Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 2, UnitPrice: 1050}},
	}
}

// The answer to a placement is the order the handler placed: nothing is
// read back from the store, which cost a round trip and, through an open
// breaker, turned stored orders into errors.
func TestAPlacedOrderIsAnsweredWithoutAReadBack(t *testing.T) {
	t.Parallel()
	app, store := newApp(t)
	placed, err := app.Commands.PlaceOrder.Handle(context.Background(), placeOrder("o-1", ""))
	if err != nil {
		t.Fatal(err)
	}
	if n := store.Loads(); n != 0 {
		t.Fatalf("placing read %d streams", n)
	}
	if placed.ID != "o-1" || placed.Status != order.StatusPending || placed.Total != 2100 || placed.Version != 1 ||
		placed.Contact.Email != "ada@example.com" || len(placed.Items) != 1 || !placed.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("answer %+v", placed)
	}
}

func TestARepeatedPlacementWithItsKeyAnswersTheOrderAsItStands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, store := newApp(t)
	cmd := placeOrder(orders.OrderIDForKey("k-1"), "k-1")
	if _, err := app.Commands.PlaceOrder.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	stored, err := store.Load(ctx, order.AggregateType, cmd.OrderID)
	if err != nil || len(stored) != 1 || strings.Contains(string(stored[0].Payload), "ada@") {
		t.Fatalf("stored %+v %v: the contact should be sealed", stored, err)
	}
	if err := app.Commands.ConfirmOrder.Handle(ctx, orders.ConfirmOrder{OrderID: cmd.OrderID}); err != nil {
		t.Fatal(err)
	}
	again, err := app.Commands.PlaceOrder.Handle(ctx, cmd)
	if !errors.Is(err, orders.ErrAlreadyPlaced) || again.ID != cmd.OrderID || again.Status != order.StatusConfirmed || again.Contact != cmd.Contact {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	other := cmd
	other.Items = []order.Item{{ProductID: "q", ProductName: "Q", Quantity: 1, UnitPrice: 1}}
	if _, err := app.Commands.PlaceOrder.Handle(ctx, other); !errors.Is(err, orders.ErrIdempotencyKeyReused) {
		t.Fatalf("the key with another order: %v", err)
	}
}

// The reservation policy calls this service's handlers directly: a decision
// that comes twice, or after a cancellation, decides the order once.
func TestTheReservationPolicyDecidesAnOrderOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, store := newApp(t)
	policy, err := orders.NewReservationPolicy(app.Commands.ConfirmOrder, app.Commands.RejectOrder)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2"} {
		if _, err := app.Commands.PlaceOrder.Handle(ctx, placeOrder(id, "")); err != nil {
			t.Fatal(err)
		}
	}
	confirmed := &inventory.ReservationConfirmed{OrderID: "o-1"}
	rejected := &inventory.ReservationRejected{OrderID: "o-2", Shortages: []inventory.Shortage{{ProductID: "p", Reason: inventory.ReasonInsufficientStock, Requested: 2, Available: 1}}}
	decisions := []eventstore.Record{
		{AggregateID: "o-1", Type: confirmed.EventName(), Event: confirmed},
		{AggregateID: "o-2", Type: rejected.EventName(), Event: rejected},
	}
	for range 2 {
		for _, rec := range decisions {
			if err := policy.Handle(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	one, _ := store.Store.Load(ctx, order.AggregateType, "o-1")
	two, _ := store.Store.Load(ctx, order.AggregateType, "o-2")
	if len(one) != 2 || one[1].Type != "order.confirmed" || len(two) != 2 || two[1].Type != "order.rejected" {
		t.Fatalf("o-1 %d events, o-2 %d events", len(one), len(two))
	}
	reasons := two[1].Event.(*order.Rejected).Reasons
	if len(reasons) != 1 || reasons[0].Reason != "insufficient_stock" || reasons[0].Available != 1 {
		t.Fatalf("rejection %+v", reasons)
	}
}

func TestACancelledOrderIsAnsweredAsTheCancellationLeftIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, _ := newApp(t)
	if _, err := app.Commands.PlaceOrder.Handle(ctx, placeOrder("o-1", "")); err != nil {
		t.Fatal(err)
	}
	cancelled, err := app.Commands.CancelOrder.Handle(ctx, orders.CancelOrder{OrderID: "o-1", Reason: "changed my mind"})
	if err != nil || cancelled.Status != order.StatusCancelled || cancelled.CancelReason != "changed my mind" || cancelled.Version != 2 {
		t.Fatalf("cancelled %+v %v", cancelled, err)
	}
	if _, err := app.Commands.CancelOrder.Handle(ctx, orders.CancelOrder{OrderID: "nope"}); !errors.Is(err, orders.ErrOrderNotFound) {
		t.Fatalf("cancel an unknown order: %v", err)
	}
}

// faultyStore is a store whose connection fails in the ways a network does:
// an append made whose answer is lost, an append never sent, reads refused.
type faultyStore struct {
	eventstore.Store

	mu            sync.Mutex
	loseAnswer    bool // append, then fail
	refuseAppends bool // fail before appending
	failedLoads   int  // the next loads that fail
}

var errConnectionReset = errors.New("connection reset by peer")

func (s *faultyStore) Append(ctx context.Context, records []eventstore.Record) error {
	s.mu.Lock()
	lose, refuse := s.loseAnswer, s.refuseAppends
	s.mu.Unlock()
	if refuse {
		return fault.NotAttempted("store", errors.New("circuit breaker open"))
	}
	if err := s.Store.Append(ctx, records); err != nil || !lose {
		return err
	}
	return fault.Unavailable("store", errConnectionReset)
}

func (s *faultyStore) Load(ctx context.Context, aggregateType, id string) ([]eventstore.Record, error) {
	s.mu.Lock()
	fail := s.failedLoads > 0
	if fail {
		s.failedLoads--
	}
	s.mu.Unlock()
	if fail {
		return nil, fault.Unavailable("store", errConnectionReset)
	}
	return s.Store.Load(ctx, aggregateType, id)
}

func faulty(f *faultyStore) func(eventstore.Store) eventstore.Store {
	return func(s eventstore.Store) eventstore.Store { f.Store = s; return f }
}

// A placement stored whose answer was lost is read back once the store
// answers again, and answered as placed: the client is not told to retry an
// order it has.
func TestAPlacementWhoseAnswerWasLostIsAnsweredFromTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &faultyStore{loseAnswer: true, failedLoads: 2}
	app, _, _ := newAppOn(t, faulty(store))
	cmd := placeOrder(orders.OrderIDForKey("k-1"), "k-1")
	placed, err := app.Commands.PlaceOrder.Handle(ctx, cmd)
	if err != nil || placed.ID != cmd.OrderID || placed.Status != order.StatusPending || placed.Version != 1 {
		t.Fatalf("placed %+v %v", placed, err)
	}
	cancelled, err := app.Commands.CancelOrder.Handle(ctx, orders.CancelOrder{OrderID: cmd.OrderID, Reason: "changed my mind"})
	if err != nil || cancelled.Status != order.StatusCancelled || cancelled.Version != 2 {
		t.Fatalf("cancelled %+v %v", cancelled, err)
	}
}

// When the store cannot be read back in time, the answer says the order may
// exist and names it and the key to retry with; retried with its key once
// the store answers, the request finds the order.
func TestAPlacementWhoseOutcomeCannotBeLearntSaysSo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &faultyStore{loseAnswer: true, failedLoads: 1 << 30}
	app, _, _ := newAppOn(t, faulty(store))
	cmd := placeOrder(orders.OrderIDForKey("k-2"), "k-2")
	_, err := app.Commands.PlaceOrder.Handle(ctx, cmd)
	var unknown *orders.OutcomeUnknownError
	if !errors.As(err, &unknown) || unknown.OrderID != cmd.OrderID || unknown.IdempotencyKey != "k-2" || !fault.IsTransient(err) {
		t.Fatalf("placement: %v, want the outcome unknown of %s", err, cmd.OrderID)
	}
	store.mu.Lock()
	store.loseAnswer, store.failedLoads = false, 0
	store.mu.Unlock()
	again, err := app.Commands.PlaceOrder.Handle(ctx, cmd)
	if !errors.Is(err, orders.ErrAlreadyPlaced) || again.ID != cmd.OrderID {
		t.Fatalf("retried with the key: %+v %v", again, err)
	}
}

// A write that never reached the store is refused at once: nothing is read
// back, and nothing is stored.
func TestAPlacementNotAttemptedIsRefusedWithoutLookingForIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &faultyStore{refuseAppends: true}
	app, counted, _ := newAppOn(t, faulty(store))
	_, err := app.Commands.PlaceOrder.Handle(ctx, placeOrder("o-1", ""))
	if !errors.Is(err, fault.ErrNotAttempted) || errors.As(err, new(*orders.OutcomeUnknownError)) {
		t.Fatalf("placement: %v, want not attempted", err)
	}
	if n := counted.Loads(); n != 0 {
		t.Fatalf("%d streams read after a write that was not sent", n)
	}
	if recs, _ := counted.Store.Load(ctx, order.AggregateType, "o-1"); len(recs) != 0 {
		t.Fatalf("%d events stored", len(recs))
	}
}

// Orders are listed one customer at a time: a listing that names none is
// refused, whatever else it asks.
func TestAListingOfEveryCustomersOrdersIsRefused(t *testing.T) {
	t.Parallel()
	list := orders.NewListOrdersHandler(memory.NewOrderViews())
	for _, q := range []orders.ListOrders{{}, {Limit: 10}, {Status: order.StatusConfirmed}} {
		if _, err := list.Handle(context.Background(), q); !errors.Is(err, orders.ErrCustomerRequired) {
			t.Errorf("%+v: %v, want %v", q, err, orders.ErrCustomerRequired)
		}
	}
	if page, err := list.Handle(context.Background(), orders.ListOrders{CustomerID: "c-1", Limit: 10}); err != nil || len(page.Orders) != 0 {
		t.Fatalf("one customer's orders: %+v, %v", page, err)
	}
}
