package mongo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	appinventory "shop/app/inventory"
	"shop/domain/es"
	"shop/domain/inventory"
	"shop/infrastructure/breaker"
	"shop/infrastructure/mongo"
	"shop/infrastructure/mongo/mongotest"
)

// BenchmarkLoadingAProductRestocked10000Times loads, from MongoDB, a
// product whose stream holds 10 050 events: from every event, and from its
// snapshot at version 10 000 and the 50 events after it. It reports the
// MongoDB round trips of a load (the driver's commands, getMore included)
// and the events it decodes.
func BenchmarkLoadingAProductRestocked10000Times(b *testing.B) {
	ctx := context.Background()
	var commands atomic.Int64
	client, err := mongo.Connect(mongotest.URL(b), mongotest.Prefix(b), breaker.New("mongodb", breaker.DefaultConfig(), nil),
		func(string, string) { commands.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Close(ctx) })
	registry, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: inventory.StockAggregateType, Events: inventory.StockEvents()})
	if err != nil {
		b.Fatal(err)
	}
	store, err := mongo.NewEventStore(ctx, client, "inventory", registry)
	if err != nil {
		b.Fatal(err)
	}
	snapshots := mongo.NewSnapshots(client, "inventory")
	repository := func(every int) *eventstore.Repository[*inventory.Stock] {
		repo, err := appinventory.NewStockRepository(eventstore.RepositoryConfig[*inventory.Stock]{
			Store: store, Outbox: eventstoretest.NoOutbox{}, Clock: eventstoretest.Clock{At: time.Now()}, IDs: eventstoretest.UUIDs{}, CacheSize: -1,
			Snapshots: eventstore.SnapshotPolicy{Store: snapshots, Every: every, Failed: func(err error) { b.Error(err) }},
		})
		if err != nil {
			b.Fatal(err)
		}
		return repo
	}
	const events, tail = 10_000, 50
	restocks := func(from, to int) {
		for start := from; start <= to; start += 1000 {
			var batch []eventstore.Record
			for v := start; v <= min(start+999, to); v++ {
				var e es.Event = &inventory.StockRestocked{ProductID: "p", Quantity: 1, RestockedAt: time.Now()}
				if v == 1 {
					e = &inventory.ProductAdded{ProductID: "p", Name: "Popular", InitialStock: 0, AddedAt: time.Now()}
				}
				batch = append(batch, eventstore.Record{
					EventID: uuid.NewString(), AggregateType: inventory.StockAggregateType, AggregateID: "p",
					Version: v, Type: e.EventName(), Event: e, OccurredAt: time.Now(),
				})
			}
			if err := store.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	restocks(1, events)
	if taken, err := repository(100).TakeSnapshot(ctx, "p"); err != nil || !taken {
		b.Fatalf("snapshot: %v %v", taken, err)
	}
	restocks(events+1, events+tail)

	for _, run := range []struct {
		name    string
		every   int
		decoded int
	}{{"every event", 0, events + tail}, {"from a snapshot", 100, tail}} {
		b.Run(run.name, func(b *testing.B) {
			repo := repository(run.every)
			commands.Store(0)
			b.ResetTimer()
			for range b.N {
				s, err := repo.Load(ctx, "p")
				if err != nil {
					b.Fatal(err)
				}
				if s.Version() != events+tail || s.Available() != events+tail-1 {
					b.Fatalf("version %d, available %d", s.Version(), s.Available())
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(commands.Load())/float64(b.N), "mongo-rt/load")
			b.ReportMetric(float64(run.decoded), "events/load")
		})
	}
}
