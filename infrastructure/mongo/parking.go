package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/operations"
)

type blockDoc struct {
	ID          string `bson:"_id"`
	Handler     string `bson:"handler"`
	AggregateID string `bson:"aggregateId"`
	MessageID   string `bson:"messageId"`
	Version     int    `bson:"version"`
}

type parkedDoc struct {
	ID               string            `bson:"_id"`
	Handler          string            `bson:"handler"`
	AggregateID      string            `bson:"aggregateId"`
	MessageID        string            `bson:"messageId"`
	AggregateVersion int               `bson:"aggregateVersion"`
	Topic            string            `bson:"topic"`
	Payload          []byte            `bson:"payload"`
	Metadata         map[string]string `bson:"metadata"`
	ParkedAt         time.Time         `bson:"parkedAt"`
}

// Parking keeps held lanes in the "parking_blocks" collection of the
// operations database, one document per lane, and their parked messages in
// "parked", one per message and handler.
type Parking struct {
	client *Client
	blocks *mongo.Collection
	parked *mongo.Collection
}

// NewParking opens the parking and creates its index if it is missing.
func NewParking(ctx context.Context, client *Client) (*Parking, error) {
	db := client.Database(OperationsDatabase)
	p := &Parking{client: client, blocks: db.Collection("parking_blocks"), parked: db.Collection("parked")}
	indexes := []mongo.IndexModel{{
		Keys:    bson.D{{Key: "handler", Value: 1}, {Key: "aggregateId", Value: 1}, {Key: "aggregateVersion", Value: 1}},
		Options: options.Index().SetName("lane_version"),
	}}
	if _, err := client.ensureIndexes(ctx, p.parked, indexes); err != nil {
		return nil, fmt.Errorf("parking indexes: %w", err)
	}
	return p, nil
}

// laneID names a lane's document: a handler's name has no slash.
func laneID(l operations.Lane) string { return l.Handler + "/" + l.AggregateID }

// Block replaces the lane's document where it is not of a later version,
// or inserts it; a document of a later version makes the upsert's insert
// meet its _id, and is kept.
func (p *Parking) Block(ctx context.Context, b operations.Block) error {
	doc := blockDoc{ID: laneID(b.Lane), Handler: b.Handler, AggregateID: b.AggregateID, MessageID: b.MessageID, Version: b.Version}
	err := p.client.do(ctx, func(ctx context.Context) error {
		_, err := p.blocks.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.ID}, {Key: "version", Value: bson.D{{Key: "$lte", Value: b.Version}}}},
			doc, options.Replace().SetUpsert(true))
		return err
	})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

func (p *Parking) Blocks(ctx context.Context, handler string) ([]operations.Block, error) {
	filter := bson.D{}
	if handler != "" {
		filter = bson.D{{Key: "handler", Value: handler}}
	}
	docs, err := findAll[blockDoc](ctx, p.client, p.blocks, filter, options.Find())
	if err != nil {
		return nil, err
	}
	out := make([]operations.Block, len(docs))
	for i, d := range docs {
		out[i] = operations.Block{Lane: operations.Lane{Handler: d.Handler, AggregateID: d.AggregateID}, MessageID: d.MessageID, Version: d.Version}
	}
	return out, nil
}

func (p *Parking) Unblock(ctx context.Context, b operations.Block) error {
	return p.client.do(ctx, func(ctx context.Context) error {
		_, err := p.blocks.DeleteOne(ctx, bson.D{{Key: "_id", Value: laneID(b.Lane)}, {Key: "messageId", Value: b.MessageID}})
		return err
	})
}

func (p *Parking) Park(ctx context.Context, m operations.ParkedMessage) error {
	doc := parkedDoc{
		ID: m.MessageID + "@" + m.Handler, Handler: m.Handler, AggregateID: m.AggregateID, MessageID: m.MessageID,
		AggregateVersion: m.AggregateVersion, Topic: m.Topic, Payload: m.Payload, Metadata: m.Metadata,
		ParkedAt: m.ParkedAt.UTC().Truncate(time.Millisecond),
	}
	err := p.client.do(ctx, func(ctx context.Context) error {
		_, err := p.parked.InsertOne(ctx, doc)
		return err
	})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

func (p *Parking) Parked(ctx context.Context, l operations.Lane) ([]operations.ParkedMessage, error) {
	docs, err := findAll[parkedDoc](ctx, p.client, p.parked, bson.D{{Key: "handler", Value: l.Handler}, {Key: "aggregateId", Value: l.AggregateID}},
		options.Find().SetSort(bson.D{{Key: "aggregateVersion", Value: 1}, {Key: "parkedAt", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	out := make([]operations.ParkedMessage, len(docs))
	for i, d := range docs {
		out[i] = operations.ParkedMessage{
			Lane: l, MessageID: d.MessageID, AggregateVersion: d.AggregateVersion, Topic: d.Topic,
			Payload: d.Payload, Metadata: d.Metadata, ParkedAt: d.ParkedAt.UTC(),
		}
	}
	return out, nil
}

func (p *Parking) Unpark(ctx context.Context, l operations.Lane, messageID string) error {
	return p.client.do(ctx, func(ctx context.Context) error {
		_, err := p.parked.DeleteOne(ctx, bson.D{{Key: "_id", Value: messageID + "@" + l.Handler}})
		return err
	})
}

func (p *Parking) Redact(ctx context.Context, l operations.Lane, messageID string, payload []byte) error {
	return p.client.do(ctx, func(ctx context.Context) error {
		_, err := p.parked.UpdateOne(ctx, bson.D{{Key: "_id", Value: messageID + "@" + l.Handler}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "payload", Value: payload}}}})
		return err
	})
}

func (p *Parking) Count(ctx context.Context) (map[operations.Lane]int, error) {
	type laneDoc struct {
		Handler     string `bson:"handler"`
		AggregateID string `bson:"aggregateId"`
	}
	docs, err := findAll[laneDoc](ctx, p.client, p.parked, bson.D{}, options.Find().SetProjection(bson.D{{Key: "handler", Value: 1}, {Key: "aggregateId", Value: 1}}))
	if err != nil {
		return nil, err
	}
	out := map[operations.Lane]int{}
	for _, d := range docs {
		out[operations.Lane{Handler: d.Handler, AggregateID: d.AggregateID}]++
	}
	return out, nil
}
