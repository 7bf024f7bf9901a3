package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/domain/es"
	"shop/domain/order"
	"shop/infrastructure/breaker"
	"shop/infrastructure/mongo"
	"shop/infrastructure/mongo/mongotest"
)

// connect connects to the test server, in databases of the test's own.
func connect(t *testing.T) *mongo.Client {
	t.Helper()
	return connectTo(t, mongotest.URL(t), mongotest.Prefix(t), breaker.New("mongodb", breaker.DefaultConfig(), nil))
}

// connectTo connects to url behind b; the client closes when the test ends.
func connectTo(t *testing.T, url, prefix string, b *breaker.Breaker) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(url, prefix, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestEventStore(t *testing.T) {
	t.Parallel()
	eventstoretest.Run(t, func(t *testing.T, codec eventstore.Codec) eventstore.Store {
		s, err := mongo.NewEventStore(context.Background(), connect(t), "orders", codec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestEventsAreStoredAsQueryableDocuments(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	store, err := mongo.NewEventStore(ctx, client, "orders", eventstoretest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	// Creating the indexes again changes nothing.
	if _, err := mongo.NewEventStore(ctx, client, "orders", eventstoretest.Codec(t)); err != nil {
		t.Fatal(err)
	}
	rec := eventstore.Record{
		EventID: "e-1", AggregateType: order.AggregateType, AggregateID: "o-1", Version: 1, Type: "order.placed",
		Event:         &order.Placed{OrderID: "o-1", CustomerID: "c-7", Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 1, UnitPrice: 250}}, Total: 250},
		CorrelationID: "corr", CausationID: "cause", OccurredAt: time.Now(), Origin: "relay-1",
	}
	if err := store.Append(ctx, []eventstore.Record{rec}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID            string `bson:"_id"`
		SchemaVersion int    `bson:"schemaVersion"`
		Origin        string `bson:"origin"`
		Data          struct {
			Total int64
		} `bson:"data"`
		Metadata struct {
			CorrelationID string `bson:"correlationId"`
		} `bson:"metadata"`
	}
	if err := client.Database("orders").Collection("events").FindOne(ctx, bson.D{{Key: "data.CustomerID", Value: "c-7"}}).Decode(&doc); err != nil {
		t.Fatalf("query by a payload field: %v", err)
	}
	if doc.ID != "e-1" || doc.SchemaVersion != 2 || doc.Origin != "relay-1" || doc.Data.Total != 250 || doc.Metadata.CorrelationID != "corr" {
		t.Fatalf("document %+v", doc)
	}
}

// Versions before origins flagged every record published or not, with an
// index to find the unpublished ones. Those left unpublished are given an
// origin nobody renews, which a relay takes over, and the index goes.
func TestRecordsAnEarlierVersionLeftUnpublishedAreTakenOver(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	events := client.Database("orders").Collection("events")
	if _, err := events.Indexes().CreateOne(ctx, driver.IndexModel{
		Keys:    bson.D{{Key: "published", Value: 1}, {Key: "recordedAt", Value: 1}},
		Options: options.Index().SetName("unpublished_in_order"),
	}); err != nil {
		t.Fatal(err)
	}
	for i, published := range []bool{false, true} {
		id := fmt.Sprint("o-", i)
		if _, err := events.InsertOne(ctx, bson.D{
			{Key: "_id", Value: "old-" + id}, {Key: "aggregateType", Value: "order"}, {Key: "aggregateId", Value: id},
			{Key: "version", Value: 1}, {Key: "type", Value: "order.cancelled"}, {Key: "schemaVersion", Value: 1},
			{Key: "data", Value: bson.D{{Key: "OrderID", Value: id}}}, {Key: "metadata", Value: bson.D{}},
			{Key: "occurredAt", Value: time.Now()}, {Key: "recordedAt", Value: time.Now()}, {Key: "published", Value: published},
		}); err != nil {
			t.Fatal(err)
		}
	}
	store, err := mongo.NewEventStore(ctx, client, "orders", eventstoretest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	stale, err := store.StaleOrigins(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(stale) != 1 {
		t.Fatalf("origins: %+v %v", stale, err)
	}
	records, err := store.OriginRecords(ctx, stale[0].ID, stale[0].PublishedBefore, eventstore.Position{}, 0)
	if err != nil || len(records) != 1 || records[0].EventID != "old-o-0" {
		t.Fatalf("the origin's records: %+v %v", records, err)
	}
	specs, err := events.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs {
		if spec.Name == "unpublished_in_order" {
			t.Fatal("the earlier version's index is still there")
		}
	}
	// The next start finds nothing to adopt.
	if _, err := mongo.NewEventStore(ctx, client, "orders", eventstoretest.Codec(t)); err != nil {
		t.Fatal(err)
	}
	if again, _ := store.StaleOrigins(ctx, time.Now().Add(-time.Hour)); len(again) != 1 {
		t.Fatalf("origins after the next start: %+v", again)
	}
}

// A v1 order event as the platform this one replaces stored it.
func TestAStoredV1EventIsUpcastWhenLoaded(t *testing.T) {
	t.Parallel()
	client := connect(t)
	ctx := context.Background()
	store, err := mongo.NewEventStore(ctx, client, "orders", eventstoretest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Database("orders").Collection("events").InsertOne(ctx, bson.D{
		{Key: "_id", Value: "legacy-1"}, {Key: "aggregateType", Value: "order"}, {Key: "aggregateId", Value: "order-456"},
		{Key: "version", Value: 1}, {Key: "type", Value: "order.placed"}, {Key: "schemaVersion", Value: 1},
		{Key: "data", Value: bson.D{
			{Key: "orderId", Value: "order-456"}, {Key: "customerId", Value: "c-1"},
			{Key: "items", Value: bson.A{bson.D{{Key: "productId", Value: "prod-123"}, {Key: "productName", Value: "Laptop"}, {Key: "quantity", Value: 2}, {Key: "unitPrice", Value: 999.99}}}},
			{Key: "totalAmount", Value: 1999.98}, {Key: "status", Value: "PENDING"}, {Key: "createdAt", Value: "2023-12-08T10:00:00.000Z"},
		}},
		{Key: "metadata", Value: bson.D{}}, {Key: "occurredAt", Value: time.Now()}, {Key: "recordedAt", Value: time.Now()}, {Key: "published", Value: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	records, err := store.Load(ctx, "order", "order-456")
	if err != nil || len(records) != 1 {
		t.Fatalf("load: %v %v", records, err)
	}
	placed := records[0].Event.(*order.Placed)
	if records[0].SchemaVersion != 1 || placed.Items[0].UnitPrice != 99999 || placed.Total != 199998 || placed.CustomerID != "c-1" {
		t.Fatalf("upcast %+v (stored schema %d)", placed, records[0].SchemaVersion)
	}
	o, err := order.FromHistory("order-456", []es.Event{placed})
	if err != nil || o.Total() != 199998 {
		t.Fatalf("order %v %v", o, err)
	}
}

// Without transactions an append of several records can stop half way; that
// is reported as what it is, not as a conflict the caller would retry on top
// of its own records.
func TestAnAppendStoppedHalfWayIsNotAConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := mongo.NewEventStore(ctx, connect(t), "orders", eventstoretest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	record := func(id string, version int) eventstore.Record {
		return eventstore.Record{EventID: id, AggregateType: order.AggregateType, AggregateID: "o-1", Version: version, Type: "order.cancelled",
			Event: &order.Cancelled{OrderID: "o-1", Reason: id}, OccurredAt: time.Now()}
	}
	// Another writer took version 2 after this one read version 0.
	if err := store.Append(ctx, []eventstore.Record{record("theirs", 2)}); err != nil {
		t.Fatal(err)
	}
	err = store.Append(ctx, []eventstore.Record{record("mine-1", 1), record("mine-2", 2), record("mine-3", 3)})
	if err == nil || errors.Is(err, eventstore.ErrConflict) || !strings.Contains(err.Error(), "versions 1 to 1 written, version 2 taken") {
		t.Fatalf("append stopped at version 2: %v", err)
	}
	// Taken at the first record, nothing was written: a conflict.
	if err := store.Append(ctx, []eventstore.Record{record("late-1", 1), record("late-2", 2)}); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("append at a taken version: %v", err)
	}
}

// Appends that arrive while others are under way go to the server together:
// fewer insert commands than appends, each append with its own outcome.
func TestConcurrentAppendsShareInsertCommands(t *testing.T) {
	t.Parallel()
	var inserts, slowed atomic.Int64
	client, err := mongo.Connect(mongotest.URL(t), mongotest.Prefix(t), breaker.New("mongodb", breaker.DefaultConfig(), nil), func(_, command string) {
		if command == "insert" {
			inserts.Add(1)
		}
		// The first inserts of the concurrent appends take their time, as
		// on a busy server: the appends that come meanwhile wait for them.
		if command == "insert" && inserts.Load() > 1 && slowed.Add(1) <= 2 {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	ctx := context.Background()
	store, err := mongo.NewEventStore(ctx, client, "orders", eventstoretest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	record := func(id string, version int) eventstore.Record {
		return eventstore.Record{EventID: fmt.Sprintf("%s-%d", id, version), AggregateType: order.AggregateType, AggregateID: id, Version: version,
			Type: "order.cancelled", Event: &order.Cancelled{OrderID: id}, OccurredAt: time.Now()}
	}
	if err := store.Append(ctx, []eventstore.Record{record("taken", 1)}); err != nil {
		t.Fatal(err)
	}
	before := inserts.Load()
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint("o-", i)
			if i == n/2 {
				id = "taken" // version 1 is another writer's
			}
			errs[i] = store.Append(ctx, []eventstore.Record{record(id, 1)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if !errors.Is(err, eventstore.ErrConflict) {
				t.Fatalf("append at a taken version: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if v, err := store.Version(ctx, order.AggregateType, fmt.Sprint("o-", i)); err != nil || v != 1 {
			t.Fatalf("o-%d at version %d: %v", i, v, err)
		}
	}
	if sent := inserts.Load() - before; sent >= n {
		t.Fatalf("%d appends took %d insert commands", n, sent)
	} else {
		t.Logf("%d appends in %d insert commands", n, sent)
	}
}
