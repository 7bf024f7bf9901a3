package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/domain/inventory"
	"shop/infrastructure/memory"
)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

type counterIDs struct{ n atomic.Int64 }

func (c *counterIDs) NewID() string { return fmt.Sprintf("evt-%d", c.n.Add(1)) }

// ids is shared by every repository of a test, as event ids are unique across processes.
var ids = &counterIDs{}

// outbox keeps the records of the appends that succeeded.
type outbox struct {
	mu      sync.Mutex
	records []eventstore.Record
}

func (o *outbox) Begin(context.Context) (eventstore.Slip, error) { return slip{o}, nil }

type slip struct{ o *outbox }

func (slip) Origin() string { return "test" }

func (s slip) End(r []eventstore.Record, err error) {
	if err == nil {
		s.o.mu.Lock()
		s.o.records = append(s.o.records, r...)
		s.o.mu.Unlock()
	}
}

func newStockRepo(t *testing.T, store eventstore.Store, ob eventstore.Outbox) *eventstore.Repository[*inventory.Stock] {
	t.Helper()
	repo, err := eventstore.NewRepository(eventstore.RepositoryConfig[*inventory.Stock]{
		AggregateType: inventory.StockAggregateType, FromHistory: inventory.StockFromHistory,
		Store: store, Outbox: ob, Clock: fixedClock{}, IDs: ids,
	})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func stockStore(t testing.TB) eventstore.Store {
	r, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: inventory.StockAggregateType, Events: inventory.StockEvents()})
	if err != nil {
		t.Fatal(err)
	}
	return memory.NewEventStore(r)
}

func reserve(order string, qty int) func(*inventory.Stock) error {
	return func(s *inventory.Stock) error { return s.Reserve(order, qty, fixedClock{}.Now()) }
}

func TestRepositoryAppendsWithCauseAndHandsRecordsToTheOutbox(t *testing.T) {
	t.Parallel()
	ob := &outbox{}
	repo := newStockRepo(t, stockStore(t), ob)
	ctx := eventstore.WithCause(context.Background(), eventstore.Cause{CorrelationID: "corr", CausationID: "cause"})
	s, _ := inventory.AddProduct("p", "P", 5, fixedClock{}.Now())
	if err := repo.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := repo.Update(ctx, "p", reserve("o-1", 2)); err != nil {
		t.Fatal(err)
	}
	if len(ob.records) != 2 || ob.records[1].Version != 2 || ob.records[1].CorrelationID != "corr" || ob.records[1].CausationID != "cause" || ob.records[1].Type != "inventory.stock_reserved" {
		t.Fatalf("outbox %+v", ob.records)
	}
	again, _ := inventory.AddProduct("p", "P", 5, fixedClock{}.Now())
	if err := repo.Add(ctx, again); !errors.Is(err, eventstore.ErrAlreadyExists) {
		t.Fatalf("second add: %v", err)
	}
	if err := repo.Update(ctx, "nope", reserve("o-1", 1)); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if _, err := repo.Load(ctx, "nope"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("load unknown: %v", err)
	}
}

// Two repositories on one store are two processes writing the same streams:
// each one's cache goes stale when the other writes.
func TestAStaleCacheIsDetectedWhateverTheDecision(t *testing.T) {
	t.Parallel()
	store := stockStore(t)
	a, b := newStockRepo(t, store, &outbox{}), newStockRepo(t, store, &outbox{})
	ctx := context.Background()
	s, _ := inventory.AddProduct("p", "P", 0, fixedClock{}.Now())
	if err := a.Add(ctx, s); err != nil {
		t.Fatal(err)
	}

	// A change: b restocks behind a's back; a's append conflicts, and is
	// retried on fresh state.
	if err := b.Update(ctx, "p", func(s *inventory.Stock) error { return s.Restock(10, fixedClock{}.Now()) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, "p", func(s *inventory.Stock) error { return s.Restock(1, fixedClock{}.Now()) }); err != nil {
		t.Fatal(err)
	}

	// A refusal: a's cache says 11 available; b reserves 11; a's reservation
	// of 5 must be refused on fresh state...
	if err := b.Update(ctx, "p", reserve("o-b", 11)); err != nil {
		t.Fatal(err)
	}
	var short *inventory.InsufficientStockError
	if err := a.Update(ctx, "p", reserve("o-a", 5)); !errors.As(err, &short) || short.Available != 0 {
		t.Fatalf("reserve on stale cache: %v", err)
	}
	// ...and a refusal on stale state is not trusted either: b restocks, and
	// a's reservation goes through.
	if err := b.Update(ctx, "p", func(s *inventory.Stock) error { return s.Restock(5, fixedClock{}.Now()) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, "p", reserve("o-a", 5)); err != nil {
		t.Fatalf("reserve after restock: %v", err)
	}

	// A no-op: a's cache says o-b holds stock; b releases it; a's repeated
	// release must not be skipped on the strength of stale state — a's
	// reservation for o-b after the release is a real one.
	if err := a.Update(ctx, "p", reserve("o-b", 11)); err != nil { // no-op for a: o-b holds stock in its cache
		t.Fatal(err)
	}
	if err := b.Update(ctx, "p", func(s *inventory.Stock) error { return s.Release("o-b", fixedClock{}.Now()) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, "p", reserve("o-b", 11)); err != nil {
		t.Fatal(err)
	}
	final, err := a.Load(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if final.ReservedFor("o-b") != 11 || final.ReservedFor("o-a") != 5 || final.Available() != 0 {
		t.Fatalf("final: o-a %d o-b %d available %d", final.ReservedFor("o-a"), final.ReservedFor("o-b"), final.Available())
	}
}

// conflictingStore always reports another writer first.
type conflictingStore struct {
	eventstore.Store
	appends atomic.Int32
}

func (c *conflictingStore) Append(context.Context, []eventstore.Record) error {
	c.appends.Add(1)
	return eventstore.ErrConflict
}

func TestConflictsAreRetriedABoundedNumberOfTimes(t *testing.T) {
	t.Parallel()
	inner := stockStore(t)
	s, _ := inventory.AddProduct("p", "P", 5, fixedClock{}.Now())
	seed := newStockRepo(t, inner, &outbox{})
	if err := seed.Add(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	store := &conflictingStore{Store: inner}
	repo := newStockRepo(t, store, &outbox{})
	if err := repo.Update(context.Background(), "p", reserve("o", 1)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("update: %v", err)
	}
	if n := store.appends.Load(); n != 10 {
		t.Fatalf("%d attempts, want the default 10", n)
	}
}

func TestRepositoryConfigIsValidated(t *testing.T) {
	t.Parallel()
	_, err := eventstore.NewRepository(eventstore.RepositoryConfig[*inventory.Stock]{})
	if err == nil {
		t.Fatal("empty config accepted")
	}
}

func TestCreateOrUpdateReadsOnlyWhatExists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: inventory.ReservationAggregateType, Events: inventory.ReservationEvents()})
	if err != nil {
		t.Fatal(err)
	}
	store := eventstoretest.Counting(memory.NewEventStore(r))
	newRepo := func() *eventstore.Repository[*inventory.Reservation] {
		repo, err := eventstore.NewRepository(eventstore.RepositoryConfig[*inventory.Reservation]{
			AggregateType: inventory.ReservationAggregateType, FromHistory: inventory.ReservationFromHistory,
			Store: store, Outbox: &outbox{}, Clock: fixedClock{}, IDs: ids,
		})
		if err != nil {
			t.Fatal(err)
		}
		return repo
	}
	decide := func(res *inventory.Reservation) error {
		if !res.IsOpen() {
			return nil
		}
		return res.Confirm([]inventory.Line{{ProductID: "p", Quantity: 1}}, fixedClock{}.Now())
	}
	// New: decided and appended without a read.
	if err := newRepo().CreateOrUpdate(ctx, "o-1", decide); err != nil || store.Loads() != 0 {
		t.Fatalf("new: %v after %d loads", err, store.Loads())
	}
	// Stored by another process: the append conflicts, and the decision is
	// taken again on what is stored, which it finds decided.
	if err := newRepo().CreateOrUpdate(ctx, "o-1", decide); err != nil || store.Loads() != 1 {
		t.Fatalf("existing: %v after %d loads", err, store.Loads())
	}
	if v, _ := store.Version(ctx, inventory.ReservationAggregateType, "o-1"); v != 1 {
		t.Fatalf("decided twice: version %d", v)
	}
	// A change that records nothing on a new aggregate says nothing about the
	// stored one: it is read and decided again.
	if err := newRepo().CreateOrUpdate(ctx, "o-2", func(*inventory.Reservation) error { return nil }); err != nil || store.Loads() != 2 {
		t.Fatalf("nothing recorded: %v after %d loads", err, store.Loads())
	}
}

func TestALoadOrAViewSparesTheChangeAfterItARead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := eventstoretest.Counting(stockStore(t))
	seed := newStockRepo(t, store, &outbox{})
	s, _ := inventory.AddProduct("p", "P", 5, fixedClock{}.Now())
	if err := seed.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	repo := newStockRepo(t, store, &outbox{})
	if _, err := repo.Load(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Update(ctx, "p", reserve("o-1", 1)); err != nil {
		t.Fatal(err)
	}
	var seen int
	if err := repo.View(ctx, "p", func(s *inventory.Stock) { seen = s.ReservedFor("o-1") }); err != nil {
		t.Fatal(err)
	}
	if n := store.Loads(); n != 1 || seen != 1 {
		t.Fatalf("%d loads, view saw %d reserved", n, seen)
	}
	// A view of what does not exist is kept too: the change that creates it reads nothing.
	if err := repo.View(ctx, "q", func(s *inventory.Stock) { seen = s.Version() }); err != nil || seen != 0 {
		t.Fatalf("view of nothing: %d %v", seen, err)
	}
	if err := repo.UpdateOrCreate(ctx, "q", func(s *inventory.Stock) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := repo.Update(ctx, "q", reserve("o-1", 1)); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("update of what does not exist, known not to: %v", err)
	}
}
