package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/domain/es"
	"shop/domain/inventory"
	"shop/infrastructure/memory"
)

// failingSnapshots fails every call while broken.
type failingSnapshots struct {
	eventstore.Snapshots
	broken atomic.Bool
}

func (f *failingSnapshots) Save(ctx context.Context, s eventstore.Snapshot) error {
	if f.broken.Load() {
		return errors.New("snapshot store down")
	}
	return f.Snapshots.Save(ctx, s)
}

func (f *failingSnapshots) Latest(ctx context.Context, t, id string) (eventstore.Snapshot, bool, error) {
	if f.broken.Load() {
		return eventstore.Snapshot{}, false, errors.New("snapshot store down")
	}
	return f.Snapshots.Latest(ctx, t, id)
}

// readCounter counts the records loads return.
type readCounter struct {
	eventstore.Store
	mu   sync.Mutex
	read int
}

func (c *readCounter) Load(ctx context.Context, t, id string) ([]eventstore.Record, error) {
	recs, err := c.Store.Load(ctx, t, id)
	c.count(len(recs))
	return recs, err
}

func (c *readCounter) LoadAfter(ctx context.Context, t, id string, v int) ([]eventstore.Record, error) {
	recs, err := c.Store.LoadAfter(ctx, t, id, v)
	c.count(len(recs))
	return recs, err
}

func (c *readCounter) count(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read += n
}

// failures collects what the repository reports about snapshots.
type failures struct {
	mu   sync.Mutex
	errs []error
}

func (f *failures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

func (f *failures) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs)
}

func snapshottedStockRepo(t *testing.T, store eventstore.Store, snaps eventstore.Snapshots, every, schema int, failed *failures) *eventstore.Repository[*inventory.Stock] {
	t.Helper()
	repo, err := eventstore.NewRepository(eventstore.RepositoryConfig[*inventory.Stock]{
		AggregateType: inventory.StockAggregateType, FromHistory: inventory.StockFromHistory,
		Store: store, Outbox: &outbox{}, Clock: fixedClock{}, IDs: ids, CacheSize: -1,
		Snapshots: eventstore.SnapshotPolicy{Store: snaps, Every: every, Failed: failed.add},
		Snapshot:  eventstore.JSONSnapshot(schema, (*inventory.Stock).Snapshot, inventory.StockFromSnapshot),
	})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// restock appends n restocks of one unit, one append each.
func restock(t *testing.T, repo *eventstore.Repository[*inventory.Stock], id string, n int) {
	t.Helper()
	for range n {
		if err := repo.Update(context.Background(), id, func(s *inventory.Stock) error { return s.Restock(1, time.Now()) }); err != nil {
			t.Fatal(err)
		}
	}
}

func waitSnapshot(t *testing.T, snaps eventstore.Snapshots, id string, version int) eventstore.Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, found, err := snaps.Latest(context.Background(), inventory.StockAggregateType, id)
		if err != nil {
			t.Fatal(err)
		}
		if found && s.Version == version {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %+v (found %v), want version %d", s, found, version)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A stream is snapshotted after each append that passes a multiple of
// Every, and loaded from the snapshot and the events after it: the same
// aggregate as from every event, reading fewer.
func TestAStreamLoadsFromItsSnapshotAndTheEventsAfterIt(t *testing.T) {
	ctx := context.Background()
	store := &readCounter{Store: stockStore(t)}
	snaps := memory.NewSnapshots()
	failed := &failures{}
	repo := snapshottedStockRepo(t, store, snaps, 10, inventory.StockSnapshotSchema, failed)
	s, err := inventory.AddProduct("p", "P", 5, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	restock(t, repo, "p", 23) // versions 2 to 24: snapshots at 10 and 20
	waitSnapshot(t, snaps, "p", 20)
	store.read = 0
	loaded, err := repo.Load(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := store.Load(ctx, inventory.StockAggregateType, "p")
	if err != nil {
		t.Fatal(err)
	}
	if store.read != 4+24 || len(whole) != 24 || loaded.Version() != 24 || loaded.Available() != 28 || loaded.Name() != "P" {
		t.Fatalf("loaded version %d, available %d, reading %d events of %d, want 4", loaded.Version(), loaded.Available(), store.read-24, len(whole))
	}
	if failed.count() != 0 {
		t.Fatalf("snapshot failures: %v", failed.errs)
	}
}

// A snapshot of another schema is ignored, and the stream replayed whole;
// so is a snapshot that does not decode, which is reported. A snapshot
// store that is down fails no command and no load.
func TestASnapshotThatCannotBeReadIsIgnored(t *testing.T) {
	ctx := context.Background()
	store := stockStore(t)
	snaps := &failingSnapshots{Snapshots: memory.NewSnapshots()}
	failed := &failures{}
	old := snapshottedStockRepo(t, store, snaps, 5, 1, failed)
	s, _ := inventory.AddProduct("p", "P", 0, time.Now())
	if err := old.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	restock(t, old, "p", 9) // version 10, snapshots at 5 and 10, of schema 1
	waitSnapshot(t, snaps, "p", 10)

	// Schema 2 reads none of schema 1: a snapshot that would be misread.
	if err := snaps.Save(ctx, eventstore.Snapshot{AggregateType: inventory.StockAggregateType, AggregateID: "p", Version: 10, Schema: 1, State: []byte(`{"Available": 1000}`)}); err != nil {
		t.Fatal(err)
	}
	current := snapshottedStockRepo(t, store, snaps, 5, 2, failed)
	if got, err := current.Load(ctx, "p"); err != nil || got.Available() != 9 || got.Version() != 10 {
		t.Fatalf("another schema's snapshot was read: %v, %v", got, err)
	}
	// The same schema, a state that does not decode: reported, and replayed.
	if err := snaps.Save(ctx, eventstore.Snapshot{AggregateType: inventory.StockAggregateType, AggregateID: "p", Version: 10, Schema: 2, State: []byte(`not json`)}); err != nil {
		t.Fatal(err)
	}
	if got, err := current.Load(ctx, "p"); err != nil || got.Available() != 9 || failed.count() != 1 {
		t.Fatalf("an undecodable snapshot: %v, %v, %d failures", got, err, failed.count())
	}
	// Down: commands go on, loads read every event, and both are reported.
	snaps.broken.Store(true)
	restock(t, current, "p", 5) // passes 15
	if got, err := current.Load(ctx, "p"); err != nil || got.Available() != 14 || got.Version() != 15 {
		t.Fatalf("with the snapshot store down: %v, %v", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for failed.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if failed.count() < 3 {
		t.Fatalf("failures reported: %v", failed.errs)
	}
	// TakeSnapshot writes one from every event, of the current schema.
	snaps.broken.Store(false)
	if taken, err := current.TakeSnapshot(ctx, "p"); err != nil || !taken {
		t.Fatalf("take: %v %v", taken, err)
	}
	if got := waitSnapshot(t, snaps, "p", 15); got.Schema != 2 {
		t.Fatalf("taken %+v", got)
	}
	if taken, err := current.TakeSnapshot(ctx, "short"); err != nil || taken {
		t.Fatalf("a stream shorter than Every: %v %v", taken, err)
	}
	plain := newStockRepo(t, store, &outbox{})
	if _, err := plain.TakeSnapshot(ctx, "p"); !errors.Is(err, eventstore.ErrNoSnapshots) {
		t.Fatalf("a repository without snapshots: %v", err)
	}
}

// BenchmarkLoadingAProductRestocked10000TimesInMemory is the benchmark of
// infrastructure/mongo on the memory store: what decoding and applying the
// events costs, without a database.
func BenchmarkLoadingAProductRestocked10000TimesInMemory(b *testing.B) {
	ctx := context.Background()
	store := stockStore(b)
	snaps := memory.NewSnapshots()
	const events, tail = 10_000, 50
	var batch []eventstore.Record
	for v := 1; v <= events+tail; v++ {
		var e es.Event = &inventory.StockRestocked{ProductID: "p", Quantity: 1, RestockedAt: time.Now()}
		if v == 1 {
			e = &inventory.ProductAdded{ProductID: "p", Name: "Popular", AddedAt: time.Now()}
		}
		batch = append(batch, eventstore.Record{EventID: ids.NewID(), AggregateType: inventory.StockAggregateType, AggregateID: "p", Version: v, Type: e.EventName(), Event: e})
	}
	if err := store.Append(ctx, batch); err != nil {
		b.Fatal(err)
	}
	state, _ := json.Marshal(inventory.StockSnapshot{Name: "Popular", Available: events - 1})
	if err := snaps.Save(ctx, eventstore.Snapshot{AggregateType: inventory.StockAggregateType, AggregateID: "p", Version: events, Schema: inventory.StockSnapshotSchema, State: state}); err != nil {
		b.Fatal(err)
	}
	for _, run := range []struct {
		name  string
		every int
	}{{"every event", 0}, {"from a snapshot", 100}} {
		b.Run(run.name, func(b *testing.B) {
			repo, err := eventstore.NewRepository(eventstore.RepositoryConfig[*inventory.Stock]{
				AggregateType: inventory.StockAggregateType, FromHistory: inventory.StockFromHistory,
				Store: store, Outbox: &outbox{}, Clock: fixedClock{}, IDs: ids, CacheSize: -1,
				Snapshots: eventstore.SnapshotPolicy{Store: snaps, Every: run.every},
				Snapshot:  eventstore.JSONSnapshot(inventory.StockSnapshotSchema, (*inventory.Stock).Snapshot, inventory.StockFromSnapshot),
			})
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				s, err := repo.Load(ctx, "p")
				if err != nil || s.Available() != events+tail-1 {
					b.Fatalf("%v, %v", s, err)
				}
			}
		})
	}
}
