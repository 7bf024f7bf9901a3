package service_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/orders"
	"shop/cqrs"
	"shop/cqrs/metadata"
	"shop/domain/inventory"
	"shop/domain/order"
	"shop/service"
)

func countRecords(t *testing.T, s eventstore.Store) int {
	t.Helper()
	n := 0
	for _, err := range s.Read(context.Background(), eventstore.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func TestTheSameMessageDeliveredTwiceChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 2, "3"}))
		s.waitOrder(id, "CONFIRMED")
		s.waitNotifications(id, 2)

		records, err := s.store(service.Orders).Load(context.Background(), order.AggregateType, id)
		if err != nil || len(records) != 2 {
			t.Fatalf("records %v %v", records, err)
		}
		inventoryBefore := countRecords(t, s.store(service.Inventory))
		notificationsBefore := countRecords(t, s.store(service.Notifications))
		ordersBefore := countRecords(t, s.store(service.Orders))

		p := s.platform()
		bus, err := cqrs.NewEventBus(p.Bus.Publisher, p.Topics, p.Marshaler, nil, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			for _, rec := range records {
				if err := bus.Publish(context.Background(), rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		// An order on the same partition, placed after the copies: once it is
		// through, every consumer of the partition has handled the copies.
		barrier := s.placeOrderOnPartition(p.Topics.Partition(id), orderBody("c", item{"p", 1, "3"}))
		s.waitOrder(barrier, "CONFIRMED")
		s.waitNotifications(barrier, 2)

		if got := countRecords(t, s.store(service.Inventory)); got != inventoryBefore+2 { // the barrier's reservation
			t.Fatalf("inventory events %d → %d", inventoryBefore, got)
		}
		// The barrier's recipient noted, and its two notifications.
		if got := countRecords(t, s.store(service.Notifications)); got != notificationsBefore+3 {
			t.Fatalf("notification events %d → %d", notificationsBefore, got)
		}
		if got := countRecords(t, s.store(service.Orders)); got != ordersBefore+2 {
			t.Fatalf("order events %d → %d", ordersBefore, got)
		}
		s.waitProduct("p", 7, 3)
		if n := s.notifications(id); len(n) != 2 {
			t.Fatalf("notifications %v", n)
		}
	})
}

func subscribePoison(t *testing.T, s *shop) <-chan *message.Message {
	t.Helper()
	return subscribe(t, s, "test-poison", s.platform().Topics.Poison())
}

// subscribe reads a topic as a consumer group of the test's own.
func subscribe(t *testing.T, s *shop, group, topic string) <-chan *message.Message {
	t.Helper()
	sub, err := s.platform().Bus.Subscribers(group)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Runs before the shop stops: the subscriber must be gone before its bus closes.
	t.Cleanup(func() {
		cancel()
		_ = sub.Close()
	})
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestAnUndecodableMessageIsPoisonedAndDoesNotBlockTheNextOnes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 10)
		poisoned := subscribePoison(t, s)
		p := s.platform()

		// The order placed after the bad message shares its partition (its id
		// comes from its idempotency key), so it has to get past it.
		key := "after-the-bad-one"
		topic := p.Topics.Events(order.AggregateType, p.Topics.Partition(orders.OrderIDForKey(key)))
		bad := message.NewMessage(watermill.NewUUID(), []byte(`{"OrderID": 42`))
		bad.Metadata = message.Metadata{
			metadata.NameKey: "order.placed", metadata.SchemaVersionKey: "2", metadata.AggregateTypeKey: order.AggregateType,
			metadata.AggregateIDKey: "broken", metadata.AggregateVersionKey: "1", metadata.OccurredAtKey: time.Now().Format(time.RFC3339Nano),
		}
		published := make(chan error, 1)
		go func() { published <- p.Bus.Publisher.Publish(topic, bad) }()

		// Every group subscribed to order events sets it aside, with its reason.
		handlers := map[string]bool{}
		for len(handlers) < 3 {
			select {
			case m := <-poisoned:
				m.Ack()
				if m.UUID != bad.UUID {
					t.Fatalf("unexpected poisoned message %s", m.UUID)
				}
				reason := m.Metadata.Get(middleware.ReasonForPoisonedKey)
				if reason == "" || m.Metadata.Get(middleware.PoisonedTopicKey) != topic {
					t.Fatalf("poison metadata %v", m.Metadata)
				}
				handlers[m.Metadata.Get(middleware.PoisonedHandlerKey)] = true
			case <-time.After(10 * time.Second):
				t.Fatalf("poisoned by %v only", handlers)
			}
		}
		if err := <-published; err != nil {
			t.Fatal(err)
		}

		r := s.do(http.MethodPost, service.Orders, "/orders", orderBody("c", item{"p", 1, "1"}), map[string]string{"Idempotency-Key": key})
		if r.status != http.StatusCreated || decode[orderAnswer](t, r).Order.ID != orders.OrderIDForKey(key) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		s.waitOrder(orders.OrderIDForKey(key), "CONFIRMED")
	})
}

func TestMessagesOfUnknownTypeOrWithoutEnvelopeArePoisoned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		poisoned := subscribePoison(t, s)
		p := s.platform()
		topic := p.Topics.Events(inventory.ReservationAggregateType, 0)

		unknown := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
		unknown.Metadata.Set(metadata.NameKey, "inventory.reservation_teleported")
		noEnvelope := message.NewMessage(watermill.NewUUID(), []byte(`{"OrderID":"o","Lines":[]}`))
		noEnvelope.Metadata.Set(metadata.NameKey, (&inventory.ReservationConfirmed{}).EventName())
		noEnvelope.Metadata.Set(metadata.SchemaVersionKey, "1")

		for _, m := range []*message.Message{unknown, noEnvelope} {
			go func() { _ = p.Bus.Publisher.Publish(topic, m) }()
			select {
			case got := <-poisoned:
				got.Ack()
				if got.UUID != m.UUID || got.Metadata.Get(middleware.ReasonForPoisonedKey) == "" {
					t.Fatalf("poisoned %s: %v", got.UUID, got.Metadata)
				}
				t.Logf("poisoned with reason %q", got.Metadata.Get(middleware.ReasonForPoisonedKey))
			case <-time.After(10 * time.Second):
				t.Fatalf("message %s was not poisoned", m.UUID)
			}
		}
	})
}

// flakyStore fails the first appends of one event type as an unreachable
// database would.
type flakyStore struct {
	eventstore.Store
	eventType string
	failures  atomic.Int32
	remaining atomic.Int32
}

func (f *flakyStore) Append(ctx context.Context, records []eventstore.Record) error {
	if records[0].Type == f.eventType && f.remaining.Add(-1) >= 0 {
		f.failures.Add(1)
		return fault.Unavailable("event store", errors.New("connection reset"))
	}
	return f.Store.Append(ctx, records)
}

func TestAHandlerThatFailsTransientlyTwiceStillCompletesTheOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		flaky := &flakyStore{eventType: (&order.Confirmed{}).EventName()}
		flaky.remaining.Store(2)
		s := startShop(t, be, withAdapters(service.Adapters{Store: func(name string, st eventstore.Store) eventstore.Store {
			if name != service.Orders {
				return st
			}
			flaky.Store = st
			return flaky
		}}))
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 1, "1"}))
		s.waitOrder(id, "CONFIRMED")
		if flaky.failures.Load() != 2 {
			t.Fatalf("%d failures", flaky.failures.Load())
		}
		records, err := flaky.Load(context.Background(), order.AggregateType, id)
		if err != nil || len(records) != 2 {
			t.Fatalf("records %d %v", len(records), err)
		}
		s.waitNotifications(id, 2)
	})
}
