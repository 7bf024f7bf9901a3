package cqrs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/cqrs"
	"shop/domain/order"
	"shop/infrastructure/memory"
)

// recordingPublisher keeps what was published, failing the first calls when told.
type recordingPublisher struct {
	mu        sync.Mutex
	published []eventstore.Record
	failFirst int
	calls     int
}

func (p *recordingPublisher) Publish(_ context.Context, rec eventstore.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.calls <= p.failFirst {
		return errors.New("broker unreachable")
	}
	p.published = append(p.published, rec)
	return nil
}

func (p *recordingPublisher) snapshot() []eventstore.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]eventstore.Record(nil), p.published...)
}

func orderHistory(id string, n int) []eventstore.Record {
	recs := []eventstore.Record{{EventID: id + "-1", AggregateType: order.AggregateType, AggregateID: id, Version: 1, Type: "order.placed",
		Event: &order.Placed{OrderID: id, CustomerID: "c", Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: 1}}, Total: 1}}}
	for v := 2; v <= n; v++ {
		recs = append(recs, eventstore.Record{EventID: fmt.Sprintf("%s-%d", id, v), AggregateType: order.AggregateType, AggregateID: id, Version: v,
			Type: "order.cancelled", Event: &order.Cancelled{OrderID: id}})
	}
	return recs
}

func startRelay(t *testing.T, store eventstore.Store, pub cqrs.RecordPublisher, configure ...func(*cqrs.RelayConfig)) *cqrs.Relay {
	t.Helper()
	cfg := cqrs.RelayConfig{
		Store: store, Publisher: pub, Topics: cqrs.Topics{Partitions: 4}, Logger: slog.New(slog.DiscardHandler),
		SweepInterval: 10 * time.Millisecond, SweepAge: time.Nanosecond, RetryDelay: time.Millisecond,
	}
	for _, c := range configure {
		c(&cfg)
	}
	relay, err := cqrs.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return relay
}

func TestEventsAppendedByAProcessThatDiedArePublishedByTheNextOne(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(registry(t))
	ctx := context.Background()
	// Appended, and the process died before publishing.
	for _, id := range []string{"a", "b"} {
		if err := store.Append(ctx, orderHistory(id, 3)); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recordingPublisher{}
	startRelay(t, store, pub)
	waitFor(t, func() bool {
		left, _ := store.Unpublished(ctx, time.Now().Add(time.Hour), eventstore.Position{}, 10)
		return len(pub.snapshot()) == 6 && len(left) == 0
	})
	assertVersionOrder(t, pub.snapshot())
	time.Sleep(30 * time.Millisecond) // further sweeps find nothing more
	if n := len(pub.snapshot()); n != 6 {
		t.Fatalf("published %d times", n)
	}
}

func TestEnqueuedEventsArePublishedInOrderThroughFailures(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(registry(t))
	pub := &recordingPublisher{failFirst: 3}
	relay := startRelay(t, store, pub)
	ctx := context.Background()
	for i := range 20 {
		recs := orderHistory(fmt.Sprint("o-", i), 4)
		if err := store.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		relay.Enqueue(recs)
	}
	drainCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := relay.Drain(drainCtx); err != nil {
		t.Fatal(err)
	}
	got := pub.snapshot()
	if len(got) != 80 {
		t.Fatalf("published %d", len(got))
	}
	assertVersionOrder(t, got)
	if left, _ := store.Unpublished(ctx, time.Now().Add(time.Hour), eventstore.Position{}, 10); len(left) != 0 {
		t.Fatalf("%d left unmarked", len(left))
	}
}

// gatedPublisher holds every publish until its gate is closed.
type gatedPublisher struct {
	recordingPublisher
	gate chan struct{}
}

func (p *gatedPublisher) Publish(ctx context.Context, rec eventstore.Record) error {
	select {
	case <-p.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.recordingPublisher.Publish(ctx, rec)
}

func tenOrdersOfThreeEvents(t *testing.T) eventstore.Store {
	t.Helper()
	store := memory.NewEventStore(registry(t))
	for i := range 10 {
		if err := store.Append(context.Background(), orderHistory(fmt.Sprint("o-", i), 3)); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// publishesAllInOrder drains the relay and checks that it published want
// records, each aggregate's in version order.
func publishesAllInOrder(t *testing.T, relay *cqrs.Relay, pub *gatedPublisher, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got := pub.snapshot()
	if len(got) != want {
		t.Fatalf("published %d, want %d", len(got), want)
	}
	assertVersionOrder(t, got)
}

func TestOneSweepTakesABacklogOfManyPages(t *testing.T) {
	t.Parallel()
	store := tenOrdersOfThreeEvents(t)
	ctx := context.Background()
	// Nothing is published, so nothing is marked, while the sweep at start
	// runs: it must page on without help, and no later sweep comes.
	pub := &gatedPublisher{gate: make(chan struct{})}
	relay := startRelay(t, store, pub, func(c *cqrs.RelayConfig) {
		c.SweepPage, c.SweepInterval = 4, time.Hour
	})
	waitFor(t, func() bool { return relay.Pending() == 30 })
	close(pub.gate)
	publishesAllInOrder(t, relay, pub, 30)
	if left, _ := store.Unpublished(ctx, time.Now().Add(time.Hour), eventstore.Position{}, 10); len(left) != 0 {
		t.Fatalf("%d left unmarked", len(left))
	}
}

func TestASweepReadsABoundedNumberOfPagesAndTheNextGoesOn(t *testing.T) {
	t.Parallel()
	store := tenOrdersOfThreeEvents(t)
	// The broker is down: nothing is published, the backlog stays.
	pub := &gatedPublisher{gate: make(chan struct{})}
	once := startRelay(t, store, pub, func(c *cqrs.RelayConfig) {
		c.SweepPage, c.SweepPages, c.SweepInterval = 4, 2, time.Hour
	})
	waitFor(t, func() bool { return once.Pending() == 8 })
	time.Sleep(50 * time.Millisecond)
	if n := once.Pending(); n != 8 {
		t.Fatalf("one sweep of 2 pages of 4 took %d records", n)
	}

	pub = &gatedPublisher{gate: make(chan struct{})}
	relay := startRelay(t, store, pub, func(c *cqrs.RelayConfig) {
		c.SweepPage, c.SweepPages, c.SweepInterval = 4, 2, 10*time.Millisecond
	})
	waitFor(t, func() bool { return relay.Pending() == 30 })
	close(pub.gate)
	publishesAllInOrder(t, relay, pub, 30)
}

// skewedStore reports each record as recorded a second earlier per version,
// as if each append had come from a process whose clock was further behind
// than the last: in recording order, every aggregate's versions come last
// first, and on different pages.
type skewedStore struct{ eventstore.Store }

func (s skewedStore) Unpublished(ctx context.Context, recordedBefore time.Time, after eventstore.Position, limit int) ([]eventstore.Record, error) {
	all, err := s.Store.Unpublished(ctx, recordedBefore, eventstore.Position{}, 0)
	if err != nil {
		return nil, err
	}
	var page []eventstore.Record
	for _, rec := range all {
		rec.RecordedAt = rec.RecordedAt.Add(-time.Duration(rec.Version) * time.Second)
		if eventstore.PositionOf(rec).Compare(after) > 0 {
			page = append(page, rec)
		}
	}
	slices.SortFunc(page, func(a, b eventstore.Record) int {
		return eventstore.PositionOf(a).Compare(eventstore.PositionOf(b))
	})
	return page[:min(limit, len(page))], nil
}

func TestASweepPublishesEachAggregatesVersionsInOrderWhenClocksDisagree(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(registry(t))
	ctx := context.Background()
	for _, id := range []string{"x", "y", "z"} {
		if err := store.Append(ctx, orderHistory(id, 3)); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recordingPublisher{}
	startRelay(t, skewedStore{store}, pub, func(c *cqrs.RelayConfig) { c.SweepPage = 2 })
	waitFor(t, func() bool {
		left, _ := store.Unpublished(ctx, time.Now().Add(time.Hour), eventstore.Position{}, 10)
		return len(pub.snapshot()) == 9 && len(left) == 0
	})
	assertVersionOrder(t, pub.snapshot())
}

func assertVersionOrder(t *testing.T, recs []eventstore.Record) {
	t.Helper()
	last := map[string]int{}
	for _, r := range recs {
		if r.Version != last[r.AggregateID]+1 {
			t.Fatalf("%s version %d published after %d", r.AggregateID, r.Version, last[r.AggregateID])
		}
		last[r.AggregateID] = r.Version
	}
}
