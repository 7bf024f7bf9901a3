package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/eventstore"
)

type snapshotDoc struct {
	ID            string    `bson:"_id"`
	AggregateType string    `bson:"aggregateType"`
	AggregateID   string    `bson:"aggregateId"`
	Version       int       `bson:"version"`
	Schema        int       `bson:"schema"`
	State         []byte    `bson:"state"`
	TakenAt       time.Time `bson:"takenAt"`
}

// Snapshots keeps the latest snapshot of each stream of a service, in the
// "snapshots" collection of its database: one document per stream, under
// its type and id.
type Snapshots struct {
	client *Client
	coll   *mongo.Collection
}

// NewSnapshots opens the service's snapshot store. Its one index is the _id.
func NewSnapshots(client *Client, service string) *Snapshots {
	return &Snapshots{client: client, coll: client.Database(service).Collection("snapshots")}
}

func snapshotID(aggregateType, aggregateID string) string { return aggregateType + "/" + aggregateID }

// Save replaces the stream's document where it is not of a later version,
// or inserts it; a document of a later version makes the upsert's insert
// meet its _id, and is kept.
func (s *Snapshots) Save(ctx context.Context, snap eventstore.Snapshot) error {
	id := snapshotID(snap.AggregateType, snap.AggregateID)
	doc := snapshotDoc{
		ID: id, AggregateType: snap.AggregateType, AggregateID: snap.AggregateID, Version: snap.Version,
		Schema: snap.Schema, State: snap.State, TakenAt: snap.TakenAt.UTC().Truncate(time.Millisecond),
	}
	err := s.client.do(ctx, func(ctx context.Context) error {
		_, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: bson.D{{Key: "$lte", Value: snap.Version}}}},
			doc, options.Replace().SetUpsert(true))
		return err
	})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

func (s *Snapshots) Latest(ctx context.Context, aggregateType, aggregateID string) (eventstore.Snapshot, bool, error) {
	var doc snapshotDoc
	err := s.client.do(ctx, func(ctx context.Context) error {
		return s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: snapshotID(aggregateType, aggregateID)}}).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	return eventstore.Snapshot{
		AggregateType: doc.AggregateType, AggregateID: doc.AggregateID, Version: doc.Version,
		Schema: doc.Schema, State: doc.State, TakenAt: doc.TakenAt.UTC(),
	}, true, nil
}

func (s *Snapshots) Delete(ctx context.Context, aggregateIDs []string) error {
	if len(aggregateIDs) == 0 {
		return nil
	}
	err := s.client.do(ctx, func(ctx context.Context) error {
		_, err := s.coll.DeleteMany(ctx, bson.D{{Key: "aggregateId", Value: bson.D{{Key: "$in", Value: aggregateIDs}}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete snapshots: %w", err)
	}
	return nil
}
