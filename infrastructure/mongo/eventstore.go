package mongo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/eventstore"
)

// eventDoc is one stored event. The payload is a BSON subdocument, so that
// operators can query it; it is converted from and to the codec's JSON, which
// stays the one encoding that upcasters work on.
type eventDoc struct {
	ID            string    `bson:"_id"`
	AggregateType string    `bson:"aggregateType"`
	AggregateID   string    `bson:"aggregateId"`
	Version       int       `bson:"version"`
	Type          string    `bson:"type"`
	SchemaVersion int       `bson:"schemaVersion"`
	Data          bson.Raw  `bson:"data"`
	Metadata      metadata  `bson:"metadata"`
	OccurredAt    time.Time `bson:"occurredAt"`
	RecordedAt    time.Time `bson:"recordedAt"`
	// Origin is the relay's that publishes it (eventstore.Origin).
	Origin string `bson:"origin,omitempty"`
}

// originDoc is a relay's origin, in the "origins" collection.
type originDoc struct {
	ID              string    `bson:"_id"`
	Holder          string    `bson:"holder"`
	PublishedBefore time.Time `bson:"publishedBefore"`
	RenewedAt       time.Time `bson:"renewedAt"`
}

type metadata struct {
	CorrelationID string            `bson:"correlationId,omitempty"`
	CausationID   string            `bson:"causationId,omitempty"`
	Trace         map[string]string `bson:"trace,omitempty"`
}

// recordedOrder is the order of Read and OriginRecords, eventstore.Position's:
// by recording time, and within one millisecond by aggregate and version, so
// that an aggregate's events of one millisecond come in version order.
var recordedOrder = bson.D{{Key: "recordedAt", Value: 1}, {Key: "aggregateType", Value: 1}, {Key: "aggregateId", Value: 1}, {Key: "version", Value: 1}}

// EventStore keeps a service's events in its "events" collection, and its
// relays' origins in "origins".
type EventStore struct {
	client  *Client
	events  *mongo.Collection
	inserts *grouped
	origins *mongo.Collection
	codec   eventstore.Codec
}

// legacyOrigin takes over the records that versions before origins left
// unpublished: they carry published: false instead of an origin.
const legacyOrigin = "unpublished-before-origins"

// Indexes of earlier versions that a flag on every record needed.
var legacyIndexes = []string{"unpublished", "unpublished_in_order"}

// NewEventStore opens the store of a service and creates its indexes if they
// are missing.
func NewEventStore(ctx context.Context, client *Client, service string, codec eventstore.Codec) (*EventStore, error) {
	db := client.Database(service)
	s := &EventStore{client: client, events: db.Collection("events"), origins: db.Collection("origins"), codec: codec}
	s.inserts = newGrouped(client, s.events)
	indexes := []mongo.IndexModel{
		// The optimistic concurrency check: a second event with the same
		// version of an aggregate is refused.
		{Keys: bson.D{{Key: "aggregateType", Value: 1}, {Key: "aggregateId", Value: 1}, {Key: "version", Value: 1}}, Options: options.Index().SetUnique(true).SetName("stream_version")},
		// Taking over a stopped relay's origin: its records, in the order
		// they are paged.
		{Keys: append(bson.D{{Key: "origin", Value: 1}}, recordedOrder...), Options: options.Index().SetName("origin_in_order")},
		// Replays: by time, by type and time.
		{Keys: recordedOrder, Options: options.Index().SetName("recorded")},
		{Keys: bson.D{{Key: "type", Value: 1}, {Key: "recordedAt", Value: 1}}, Options: options.Index().SetName("type_recorded")},
	}
	existing, err := client.ensureIndexes(ctx, s.events, indexes)
	if err != nil {
		return nil, fmt.Errorf("event store indexes: %w", err)
	}
	for _, name := range legacyIndexes {
		if existing[name] {
			if err := s.adoptLegacy(ctx, name); err != nil {
				return nil, fmt.Errorf("event store: records left unpublished by an earlier version: %w", err)
			}
		}
	}
	return s, nil
}

// adoptLegacy gives the records an earlier version left unpublished an origin
// nobody renews, which a relay takes over and publishes, then drops the index
// that found them: once done, a later start finds no such index and reads
// nothing.
func (s *EventStore) adoptLegacy(ctx context.Context, index string) error {
	var adopted int64
	err := s.client.do(ctx, func(ctx context.Context) error {
		res, err := s.events.UpdateMany(ctx,
			bson.D{{Key: "published", Value: false}, {Key: "origin", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "origin", Value: legacyOrigin}}}})
		if err == nil {
			adopted = res.ModifiedCount
		}
		return err
	})
	if err != nil {
		return err
	}
	if adopted > 0 {
		stale := time.Unix(0, 0).UTC()
		if _, err := s.SaveOrigin(ctx, eventstore.Origin{ID: legacyOrigin, Holder: "an earlier version", PublishedBefore: stale, RenewedAt: stale}, time.Time{}); err != nil {
			return err
		}
	}
	return s.client.do(ctx, func(ctx context.Context) error { return s.events.Indexes().DropOne(ctx, index) })
}

func (s *EventStore) Append(ctx context.Context, records []eventstore.Record) error {
	if len(records) == 0 {
		return nil
	}
	first := records[0]
	// BSON keeps milliseconds; the record says what the store keeps.
	now := time.Now().UTC().Truncate(time.Millisecond)
	docs := make([]any, len(records))
	payloads := make([][]byte, len(records))
	versions := make([]int, len(records))
	for i, rec := range records {
		if rec.AggregateType != first.AggregateType || rec.AggregateID != first.AggregateID || rec.Version != first.Version+i {
			return errors.New("append: records must be one aggregate's, in version order without gaps")
		}
		version, payload, err := s.codec.Encode(rec.Event)
		if err != nil {
			return fmt.Errorf("append %s: %w", rec.Type, err)
		}
		data, err := jsonToBSON(payload)
		if err != nil {
			return fmt.Errorf("append %s: %w", rec.Type, err)
		}
		payloads[i], versions[i] = payload, version
		docs[i] = eventDoc{
			ID: rec.EventID, AggregateType: rec.AggregateType, AggregateID: rec.AggregateID, Version: rec.Version,
			Type: rec.Type, SchemaVersion: version, Data: data,
			Metadata:   metadata{CorrelationID: rec.CorrelationID, CausationID: rec.CausationID, Trace: rec.Trace},
			OccurredAt: rec.OccurredAt.UTC(), RecordedAt: now, Origin: rec.Origin,
		}
	}
	var err error
	if len(docs) == 1 {
		// One record, as most changes make: it may go with other appends.
		err = s.inserts.insert(ctx, docs[0])
	} else {
		err = s.client.do(ctx, func(ctx context.Context) error {
			_, err := s.events.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
			return err
		})
	}
	if mongo.IsDuplicateKeyError(err) {
		// Ordered, the insert stops at the first version taken. Only when that
		// is the first record was nothing written, and the caller may reload
		// and decide again. Past it, the records before were written without
		// transactions to undo them, and another writer decided on top of
		// them: not a conflict to retry, which would apply the change twice.
		if written := firstFailedIndex(err); written > 0 {
			return fmt.Errorf("append %s %s: versions %d to %d written, version %d taken by another writer; the rest of the change is lost",
				first.AggregateType, first.AggregateID, first.Version, first.Version+written-1, first.Version+written)
		}
		return fmt.Errorf("%s %s version %d is taken: %w", first.AggregateType, first.AggregateID, first.Version, eventstore.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("append %s %s: %w", first.AggregateType, first.AggregateID, err)
	}
	for i := range records {
		records[i].RecordedAt, records[i].SchemaVersion, records[i].Payload = now, versions[i], payloads[i]
	}
	return nil
}

func (s *EventStore) Load(ctx context.Context, aggregateType, aggregateID string) ([]eventstore.Record, error) {
	filter := bson.D{{Key: "aggregateType", Value: aggregateType}, {Key: "aggregateId", Value: aggregateID}}
	return s.find(ctx, filter, options.Find().SetSort(bson.D{{Key: "version", Value: 1}}))
}

func (s *EventStore) LoadAfter(ctx context.Context, aggregateType, aggregateID string, version int) ([]eventstore.Record, error) {
	filter := bson.D{{Key: "aggregateType", Value: aggregateType}, {Key: "aggregateId", Value: aggregateID}, {Key: "version", Value: bson.D{{Key: "$gt", Value: version}}}}
	return s.find(ctx, filter, options.Find().SetSort(bson.D{{Key: "version", Value: 1}}))
}

func (s *EventStore) Version(ctx context.Context, aggregateType, aggregateID string) (int, error) {
	var doc struct {
		Version int `bson:"version"`
	}
	err := s.client.do(ctx, func(ctx context.Context) error {
		return s.events.FindOne(ctx,
			bson.D{{Key: "aggregateType", Value: aggregateType}, {Key: "aggregateId", Value: aggregateID}},
			options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}}).SetProjection(bson.D{{Key: "version", Value: 1}}),
		).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return doc.Version, err
}

func (s *EventStore) Read(ctx context.Context, f eventstore.Filter) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		opts := options.Find().SetSort(recordedOrder).SetBatchSize(500)
		if f.Limit > 0 {
			opts.SetLimit(int64(f.Limit))
		}
		var cursor *mongo.Cursor
		err := s.client.do(ctx, func(ctx context.Context) error {
			var err error
			cursor, err = s.events.Find(ctx, readFilter(f), opts)
			return err
		})
		if err != nil {
			yield(eventstore.Record{}, err)
			return
		}
		// The cursor outlives the breaker's call timeout: it streams for as
		// long as the caller reads, bounded by the caller's context.
		defer cursor.Close(context.WithoutCancel(ctx))
		for cursor.Next(ctx) {
			var doc eventDoc
			if err := cursor.Decode(&doc); err != nil {
				yield(eventstore.Record{}, err)
				return
			}
			rec, err := s.record(doc)
			if !yield(rec, err) || err != nil {
				return
			}
		}
		if err := cursor.Err(); err != nil {
			yield(eventstore.Record{}, classify(err))
		}
	}
}

func readFilter(f eventstore.Filter) bson.D {
	filter := bson.D{}
	in := func(field string, values []string) {
		if len(values) > 0 {
			filter = append(filter, bson.E{Key: field, Value: bson.D{{Key: "$in", Value: values}}})
		}
	}
	in("aggregateType", f.AggregateTypes)
	in("aggregateId", f.AggregateIDs)
	in("type", f.Types)
	in("_id", f.EventIDs)
	in("data.CustomerID", f.Subjects)
	recorded := bson.D{}
	if !f.Since.IsZero() {
		recorded = append(recorded, bson.E{Key: "$gte", Value: f.Since})
	}
	if !f.Until.IsZero() {
		recorded = append(recorded, bson.E{Key: "$lt", Value: f.Until})
	}
	if len(recorded) > 0 {
		filter = append(filter, bson.E{Key: "recordedAt", Value: recorded})
	}
	return filter
}

func (s *EventStore) Redact(ctx context.Context, records []eventstore.Record) error {
	for _, rec := range records {
		version, payload, err := s.codec.Encode(rec.Event)
		if err != nil {
			return fmt.Errorf("redact %s: %w", rec.EventID, err)
		}
		data, err := jsonToBSON(payload)
		if err != nil {
			return fmt.Errorf("redact %s: %w", rec.EventID, err)
		}
		err = s.client.do(ctx, func(ctx context.Context) error {
			_, err := s.events.UpdateOne(ctx, bson.D{{Key: "_id", Value: rec.EventID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: data}, {Key: "schemaVersion", Value: version}}}})
			return err
		})
		if err != nil {
			return fmt.Errorf("redact %s: %w", rec.EventID, err)
		}
	}
	return nil
}

func (s *EventStore) SaveOrigin(ctx context.Context, o eventstore.Origin, previous time.Time) (bool, error) {
	doc := originDoc{ID: o.ID, Holder: o.Holder, PublishedBefore: bsonTime(o.PublishedBefore), RenewedAt: bsonTime(o.RenewedAt)}
	var saved bool
	err := s.client.do(ctx, func(ctx context.Context) error {
		if previous.IsZero() {
			_, err := s.origins.InsertOne(ctx, doc)
			if mongo.IsDuplicateKeyError(err) {
				return nil
			}
			saved = err == nil
			return err
		}
		res, err := s.origins.UpdateOne(ctx, bson.D{{Key: "_id", Value: o.ID}, {Key: "renewedAt", Value: bsonTime(previous)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "holder", Value: doc.Holder}, {Key: "publishedBefore", Value: doc.PublishedBefore}, {Key: "renewedAt", Value: doc.RenewedAt}}}})
		saved = err == nil && res.MatchedCount > 0
		return err
	})
	return saved, err
}

// StaleOrigins reads them all and leaves the filter to the server: a
// service's relays have a handful of origins between them.
func (s *EventStore) StaleOrigins(ctx context.Context, renewedBefore time.Time) ([]eventstore.Origin, error) {
	docs, err := findAll[originDoc](ctx, s.client, s.origins, bson.D{{Key: "renewedAt", Value: bson.D{{Key: "$lt", Value: renewedBefore}}}},
		options.Find().SetSort(bson.D{{Key: "renewedAt", Value: 1}}))
	if err != nil {
		return nil, err
	}
	origins := make([]eventstore.Origin, len(docs))
	for i, d := range docs {
		origins[i] = eventstore.Origin{ID: d.ID, Holder: d.Holder, PublishedBefore: d.PublishedBefore.UTC(), RenewedAt: d.RenewedAt.UTC()}
	}
	return origins, nil
}

func (s *EventStore) DropOrigin(ctx context.Context, id string, renewedAt time.Time) error {
	return s.client.do(ctx, func(ctx context.Context) error {
		_, err := s.origins.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "renewedAt", Value: bsonTime(renewedAt)}})
		return err
	})
}

func (s *EventStore) OriginRecords(ctx context.Context, origin string, from time.Time, after eventstore.Position, limit int) ([]eventstore.Record, error) {
	opts := options.Find().SetSort(recordedOrder)
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	return s.find(ctx, originFilter(origin, from, after), opts)
}

// originFilter selects an origin's records recorded at or after a time and
// positioned after a position in recordedOrder. The position's time bounds
// recordedAt from below as well, so that MongoDB scans the "origin_in_order"
// index from the position on; the $or then admits later milliseconds whole
// and, within the position's own, the records that sort after it. FerretDB
// pushes the equality on origin down to its backend and evaluates the rest
// itself.
func originFilter(origin string, from time.Time, after eventstore.Position) bson.D {
	filter := bson.D{{Key: "origin", Value: origin}}
	if after.IsZero() || after.RecordedAt.Before(from) {
		return append(filter, bson.E{Key: "recordedAt", Value: bson.D{{Key: "$gte", Value: from}}})
	}
	gt := func(v any) bson.D { return bson.D{{Key: "$gt", Value: v}} }
	return append(filter,
		bson.E{Key: "recordedAt", Value: bson.D{{Key: "$gte", Value: after.RecordedAt}}},
		bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "recordedAt", Value: gt(after.RecordedAt)}},
			bson.D{{Key: "aggregateType", Value: gt(after.AggregateType)}},
			bson.D{{Key: "aggregateType", Value: after.AggregateType}, {Key: "aggregateId", Value: gt(after.AggregateID)}},
			bson.D{{Key: "aggregateType", Value: after.AggregateType}, {Key: "aggregateId", Value: after.AggregateID}, {Key: "version", Value: gt(after.Version)}},
		}},
	)
}

func (s *EventStore) find(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]eventstore.Record, error) {
	docs, err := findAll[eventDoc](ctx, s.client, s.events, filter, opts)
	if err != nil {
		return nil, err
	}
	records := make([]eventstore.Record, len(docs))
	for i, doc := range docs {
		if records[i], err = s.record(doc); err != nil {
			return nil, err
		}
	}
	return records, nil
}

func (s *EventStore) record(doc eventDoc) (eventstore.Record, error) {
	payload, err := bsonToJSON(doc.Data)
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("event %s: %w", doc.ID, err)
	}
	e, err := s.codec.Decode(doc.Type, doc.SchemaVersion, payload)
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("event %s: %w", doc.ID, err)
	}
	return eventstore.Record{
		EventID: doc.ID, AggregateType: doc.AggregateType, AggregateID: doc.AggregateID, Version: doc.Version,
		Type: doc.Type, SchemaVersion: doc.SchemaVersion, Event: e,
		CorrelationID: doc.Metadata.CorrelationID, CausationID: doc.Metadata.CausationID, Trace: doc.Metadata.Trace,
		OccurredAt: doc.OccurredAt.UTC(), RecordedAt: doc.RecordedAt.UTC(), Payload: payload, Origin: doc.Origin,
	}, nil
}

// jsonToBSON reads the codec's JSON as relaxed Extended JSON, which plain JSON
// is: integers become int32 or int64, strings stay strings.
func jsonToBSON(payload []byte) (bson.Raw, error) {
	var doc bson.D
	if err := bson.UnmarshalExtJSON(payload, false, &doc); err != nil {
		return nil, fmt.Errorf("payload to BSON: %w", err)
	}
	return bson.Marshal(doc)
}

func bsonToJSON(data bson.Raw) ([]byte, error) {
	out, err := bson.MarshalExtJSON(data, false, false)
	if err != nil {
		return nil, fmt.Errorf("payload from BSON: %w", err)
	}
	return out, nil
}

// firstFailedIndex is the index of the first document an ordered insert
// refused, 0 when it cannot tell.
func firstFailedIndex(err error) int {
	var bulk mongo.BulkWriteException
	if errors.As(err, &bulk) && len(bulk.WriteErrors) > 0 {
		return bulk.WriteErrors[0].Index
	}
	return 0
}
