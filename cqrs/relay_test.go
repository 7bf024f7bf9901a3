package cqrs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
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

func orderHistory(id string, n int) []eventstore.Record {
	recs := []eventstore.Record{{EventID: id + "-1", AggregateType: order.AggregateType, AggregateID: id, Version: 1, Type: "order.placed",
		Event: &order.Placed{OrderID: id, CustomerID: "c", Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: 1}}, Total: 1}}}
	for v := 2; v <= n; v++ {
		recs = append(recs, eventstore.Record{EventID: fmt.Sprintf("%s-%d", id, v), AggregateType: order.AggregateType, AggregateID: id, Version: v,
			Type: "order.cancelled", Event: &order.Cancelled{OrderID: id}})
	}
	return recs
}

// fastRelay renews every 10 ms and takes over origins not renewed for 60 ms.
func fastRelay(c *cqrs.RelayConfig) {
	c.RenewInterval, c.SweepInterval, c.SweepAge, c.RetryDelay = 10*time.Millisecond, 10*time.Millisecond, 60*time.Millisecond, time.Millisecond
}

// startRelay runs a relay until the test ends; stop ends it earlier, as a
// process that dies does: without draining.
func startRelay(t *testing.T, store eventstore.Store, pub cqrs.RecordPublisher, configure ...func(*cqrs.RelayConfig)) (relay *cqrs.Relay, stop func()) {
	t.Helper()
	cfg := cqrs.RelayConfig{Store: store, Publisher: pub, Topics: cqrs.Topics{Partitions: 4}, Logger: slog.New(slog.DiscardHandler)}
	fastRelay(&cfg)
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
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return relay, stop
}

// appendThrough appends records as a repository does: under a slip of the
// relay, ended with the append's outcome.
func appendThrough(t *testing.T, relay *cqrs.Relay, store eventstore.Store, recs []eventstore.Record) {
	t.Helper()
	slip, err := relay.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Origin = slip.Origin()
	}
	err = store.Append(context.Background(), recs)
	slip.End(recs, err)
	if err != nil {
		t.Fatal(err)
	}
}

func drain(t *testing.T, relay *cqrs.Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// origins lists every origin the store holds.
func origins(t *testing.T, store eventstore.Store) []eventstore.Origin {
	t.Helper()
	all, err := store.StaleOrigins(context.Background(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// renewedSince waits until the relay renewed its origins after since, twice:
// what a renewal would move has had its chance to.
func renewedSince(t *testing.T, store eventstore.Store, since time.Time) {
	t.Helper()
	for range 2 {
		waitFor(t, func() bool {
			all := origins(t, store)
			for _, o := range all {
				if !o.RenewedAt.After(since) {
					return false
				}
			}
			return len(all) > 0
		})
		since = time.Now()
	}
}

func TestAppendedEventsArePublishedInOrderThroughFailures(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	pub := &recordingPublisher{failFirst: 3}
	relay, _ := startRelay(t, store, pub)
	for i := range 20 {
		appendThrough(t, relay, store, orderHistory(fmt.Sprint("o-", i), 4))
	}
	drain(t, relay)
	got := pub.snapshot()
	if len(got) != 80 {
		t.Fatalf("published %d", len(got))
	}
	assertVersionOrder(t, got)
	// Drained, the relay leaves no origin for another to take over.
	if left := origins(t, store); len(left) != 0 {
		t.Fatalf("origins left after draining: %+v", left)
	}
	if _, err := relay.Begin(context.Background()); !errors.Is(err, cqrs.ErrRelayClosed) {
		t.Fatalf("begin after draining: %v", err)
	}
}

func TestTheCheckpointStaysBeforeWhatIsNotPublishedYet(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	pub := &gatedPublisher{gate: make(chan struct{})}
	relay, _ := startRelay(t, store, pub)
	recs := orderHistory("o", 2)
	appendThrough(t, relay, store, recs)

	// An append begun and not ended holds the checkpoint back too.
	underWay, err := relay.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	renewedSince(t, store, begun)
	for _, o := range origins(t, store) {
		if !o.PublishedBefore.Before(recs[0].RecordedAt) {
			t.Fatalf("checkpoint %v passed a record recorded at %v and not published", o.PublishedBefore, recs[0].RecordedAt)
		}
	}
	close(pub.gate)
	waitFor(t, func() bool { return len(pub.snapshot()) == 2 })
	renewedSince(t, store, time.Now())
	for _, o := range origins(t, store) {
		if !o.PublishedBefore.Before(begun) {
			t.Fatalf("checkpoint %v passed an append begun at %v and not ended", o.PublishedBefore, begun)
		}
	}
	underWay.End(nil, eventstore.ErrConflict)
	waitFor(t, func() bool {
		o := origins(t, store)
		return len(o) == 1 && o[0].PublishedBefore.After(recs[1].RecordedAt)
	})
}

func TestARelayThatDiedHasWhatItDidNotPublishPublishedByAnother(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	// The first relay takes the records, cannot publish them, and dies.
	dead, stop := startRelay(t, store, &gatedPublisher{gate: make(chan struct{})})
	for _, id := range []string{"a", "b", "c"} {
		appendThrough(t, dead, store, orderHistory(id, 3))
	}
	stop()

	pub := &recordingPublisher{}
	startRelay(t, store, pub)
	waitFor(t, func() bool { return len(pub.snapshot()) == 9 })
	assertVersionOrder(t, pub.snapshot())
	// Once it has looked a last time, the dead relay's origin is dropped.
	waitFor(t, func() bool { return len(origins(t, store)) == 1 })
	if n := len(pub.snapshot()); n != 9 {
		t.Fatalf("published %d times", n)
	}
}

func TestATakeoverReadsABoundedNumberOfPagesPerSweepAndTheNextGoesOn(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	dead, stop := startRelay(t, store, &gatedPublisher{gate: make(chan struct{})})
	for i := range 10 {
		appendThrough(t, dead, store, orderHistory(fmt.Sprint("o-", i), 3))
	}
	stop()
	time.Sleep(100 * time.Millisecond) // unrenewed for longer than the sweep age

	// One sweep, the one at start.
	pub := &gatedPublisher{gate: make(chan struct{})}
	relay, stopRelay := startRelay(t, store, pub, func(c *cqrs.RelayConfig) {
		c.SweepPage, c.SweepPages, c.SweepInterval = 4, 2, time.Hour
	})
	waitFor(t, func() bool { return relay.Pending() == 8 })
	time.Sleep(50 * time.Millisecond)
	if n := relay.Pending(); n != 8 {
		t.Fatalf("one sweep of 2 pages of 4 took %d records", n)
	}
	stopRelay()

	pub = &gatedPublisher{gate: make(chan struct{})}
	next, _ := startRelay(t, store, pub, func(c *cqrs.RelayConfig) { c.SweepPage, c.SweepPages = 4, 2 })
	waitFor(t, func() bool { return next.Pending() == 30 })
	close(pub.gate)
	waitFor(t, func() bool { return len(pub.snapshot()) == 30 })
	assertVersionOrder(t, pub.snapshot())
}

// steppedBackStore reports each record as recorded a second earlier per
// version, as if the wall clock had stepped back before each append: in
// recording order, every aggregate's versions come last first, and on
// different pages.
type steppedBackStore struct{ eventstore.Store }

func (s steppedBackStore) OriginRecords(ctx context.Context, origin string, from time.Time, after eventstore.Position, limit int) ([]eventstore.Record, error) {
	all, err := s.Store.OriginRecords(ctx, origin, time.Time{}, eventstore.Position{}, 0)
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

func TestATakeoverPublishesEachAggregatesVersionsInOrderWhenTheClockSteppedBack(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	dead, stop := startRelay(t, store, &gatedPublisher{gate: make(chan struct{})})
	for _, id := range []string{"x", "y", "z"} {
		appendThrough(t, dead, store, orderHistory(id, 3))
	}
	stop()
	pub := &recordingPublisher{}
	startRelay(t, steppedBackStore{store}, pub, func(c *cqrs.RelayConfig) { c.SweepPage = 20 })
	waitFor(t, func() bool { return len(pub.snapshot()) == 9 })
	assertVersionOrder(t, pub.snapshot())
}

// failingStore refuses appends with an error that leaves their outcome
// unknown; with landed, the records were stored all the same.
type failingStore struct {
	eventstore.Store
	landed bool
}

func (s failingStore) Append(ctx context.Context, recs []eventstore.Record) error {
	if s.landed {
		if err := s.Store.Append(ctx, recs); err != nil {
			return err
		}
	}
	return errors.New("connection reset by peer")
}

func TestAnAppendWhoseOutcomeIsUnknownIsPublishedIfItWasStored(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	pub := &recordingPublisher{}
	relay, _ := startRelay(t, store, pub)
	for _, tc := range []struct {
		id     string
		landed bool
	}{{"stored", true}, {"lost", false}} {
		slip, err := relay.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		recs := orderHistory(tc.id, 2)
		for i := range recs {
			recs[i].Origin = slip.Origin()
		}
		err = failingStore{store, tc.landed}.Append(context.Background(), recs)
		slip.End(recs, err)
	}
	drain(t, relay)
	got := pub.snapshot()
	if len(got) != 2 || got[0].AggregateID != "stored" || got[1].AggregateID != "stored" {
		t.Fatalf("published %+v", got)
	}
	assertVersionOrder(t, got)
}

func TestARelayOpensANewOriginEveryWhileAndDropsTheOldOnceDrained(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	pub := &recordingPublisher{}
	relay, _ := startRelay(t, store, pub, func(c *cqrs.RelayConfig) { c.RotateEvery = 20 * time.Millisecond })
	seen := map[string]bool{}
	for i := range 10 {
		recs := orderHistory(fmt.Sprint("o-", i), 1)
		appendThrough(t, relay, store, recs)
		seen[recs[0].Origin] = true
		time.Sleep(10 * time.Millisecond)
	}
	if len(seen) < 2 {
		t.Fatalf("10 appends over 100 ms under %d origin(s), rotating every 20 ms", len(seen))
	}
	waitFor(t, func() bool { return len(origins(t, store)) == 1 })
	drain(t, relay)
	if n := len(pub.snapshot()); n != 10 {
		t.Fatalf("published %d", n)
	}
}

func TestARelayWhoseOriginWasTakenOverOpensAnother(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	pub := &recordingPublisher{}
	var logs syncBuffer
	relay, _ := startRelay(t, store, pub, func(c *cqrs.RelayConfig) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	first := orderHistory("a", 1)
	appendThrough(t, relay, store, first)
	// Another relay found it unrenewed (this one was paused) and took it.
	o := origins(t, store)[0]
	taken := o
	taken.Holder, taken.RenewedAt = "another relay", time.Now().Add(time.Hour)
	if saved, err := store.SaveOrigin(context.Background(), taken, o.RenewedAt); err != nil || !saved {
		t.Fatalf("take over: %v %v", saved, err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "relay lost an origin to another relay") })
	next := orderHistory("b", 1)
	appendThrough(t, relay, store, next)
	if next[0].Origin == first[0].Origin {
		t.Fatalf("appended under the origin another relay holds")
	}
	drain(t, relay)
	if left := origins(t, store); len(left) != 1 || left[0].ID != o.ID {
		t.Fatalf("origins left: %+v", left)
	}
}

func TestANewRelayNeedsItsOriginStoredBeforeTheFirstAppend(t *testing.T) {
	t.Parallel()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	relay, _ := startRelay(t, store, &recordingPublisher{})
	slip, err := relay.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer slip.End(nil, eventstore.ErrConflict)
	all := origins(t, store)
	if len(all) != 1 || all[0].ID != slip.Origin() {
		t.Fatalf("the slip's origin %s is not stored: %+v", slip.Origin(), all)
	}
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
