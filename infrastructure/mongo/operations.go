package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/operations"
)

// OperationsDatabase holds what operators work with: the dead letters and the
// log of replays. It belongs to no service.
const OperationsDatabase = "operations"

type deadLetterDoc struct {
	ID               string            `bson:"_id"`
	MessageID        string            `bson:"messageId"`
	Handler          string            `bson:"handler"`
	HandlerName      string            `bson:"handlerName"`
	Topic            string            `bson:"topic"`
	EventType        string            `bson:"eventType"`
	AggregateID      string            `bson:"aggregateId,omitempty"`
	AggregateVersion int               `bson:"aggregateVersion,omitempty"`
	Payload          []byte            `bson:"payload"`
	Metadata         map[string]string `bson:"metadata"`
	Reason           string            `bson:"reason"`
	FirstFailedAt    time.Time         `bson:"firstFailedAt"`
	LastFailedAt     time.Time         `bson:"lastFailedAt"`
	Failures         int               `bson:"failures"`
	Replays          int               `bson:"replays"`
	Status           string            `bson:"status"`
	History          []actionDoc       `bson:"history"`
}

type actionDoc struct {
	At   time.Time `bson:"at"`
	What string    `bson:"what"`
	By   string    `bson:"by"`
}

func (d deadLetterDoc) deadLetter() (operations.DeadLetter, error) {
	status, err := operations.StatusFromString(d.Status)
	if err != nil {
		return operations.DeadLetter{}, err
	}
	out := operations.DeadLetter{
		ID: d.ID, MessageID: d.MessageID, Handler: d.Handler, Topic: d.Topic, EventType: d.EventType,
		AggregateID: d.AggregateID, AggregateVersion: d.AggregateVersion, Payload: d.Payload, Metadata: d.Metadata,
		Reason: d.Reason, FirstFailedAt: d.FirstFailedAt.UTC(), LastFailedAt: d.LastFailedAt.UTC(),
		Failures: d.Failures, Replays: d.Replays, Status: status,
	}
	for _, a := range d.History {
		out.History = append(out.History, operations.Action{At: a.At.UTC(), What: a.What, By: a.By})
	}
	return out, nil
}

// DeadLetters is the dead-letter archive in the "dead_letters" collection.
type DeadLetters struct {
	client *Client
	coll   *mongo.Collection
}

// NewDeadLetters opens the archive and creates its indexes if they are missing.
func NewDeadLetters(ctx context.Context, client *Client) (*DeadLetters, error) {
	d := &DeadLetters{client: client, coll: client.Database(OperationsDatabase).Collection("dead_letters")}
	indexes := []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "firstFailedAt", Value: 1}}, Options: options.Index().SetName("status_first_failed")},
		{Keys: bson.D{{Key: "handlerName", Value: 1}, {Key: "status", Value: 1}}, Options: options.Index().SetName("handler_status")},
		{Keys: bson.D{{Key: "messageId", Value: 1}}, Options: options.Index().SetName("message")},
	}
	if _, err := client.ensureIndexes(ctx, d.coll, indexes); err != nil {
		return nil, fmt.Errorf("dead letter indexes: %w", err)
	}
	return d, nil
}

// Record inserts a dead letter, or updates the one the same message and
// handler left before. Without transactions, the insert and the update are
// two steps: an insert that finds the id taken becomes the update.
func (d *DeadLetters) Record(ctx context.Context, dl operations.DeadLetter) error {
	doc := deadLetterDoc{
		ID: dl.ID, MessageID: dl.MessageID, Handler: dl.Handler, HandlerName: dl.HandlerName(), Topic: dl.Topic,
		EventType: dl.EventType, AggregateID: dl.AggregateID, AggregateVersion: dl.AggregateVersion,
		Payload: dl.Payload, Metadata: dl.Metadata, Reason: dl.Reason,
		FirstFailedAt: dl.FirstFailedAt.UTC().Truncate(time.Millisecond), LastFailedAt: dl.LastFailedAt.UTC().Truncate(time.Millisecond),
		Failures: dl.Failures, Replays: dl.Replays, Status: dl.Status.String(), History: []actionDoc{},
	}
	err := d.client.do(ctx, func(ctx context.Context) error {
		_, err := d.coll.InsertOne(ctx, doc)
		return err
	})
	if !mongo.IsDuplicateKeyError(err) {
		return err
	}
	return d.client.do(ctx, func(ctx context.Context) error {
		// A replayed message that failed again is failed again; a discarded
		// or quarantined one stays as the operator left it.
		if _, err := d.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: dl.ID}, {Key: "status", Value: operations.StatusReplayed.String()}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: operations.StatusFailed.String()}}}}); err != nil {
			return err
		}
		_, err := d.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: dl.ID}}, bson.D{
			{Key: "$set", Value: bson.D{{Key: "lastFailedAt", Value: doc.LastFailedAt}, {Key: "reason", Value: dl.Reason}}},
			{Key: "$inc", Value: bson.D{{Key: "failures", Value: 1}}},
		})
		return err
	})
}

func (d *DeadLetters) Get(ctx context.Context, id string) (operations.DeadLetter, error) {
	var doc deadLetterDoc
	err := d.client.do(ctx, func(ctx context.Context) error {
		return d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return operations.DeadLetter{}, operations.ErrDeadLetterNotFound
	}
	if err != nil {
		return operations.DeadLetter{}, err
	}
	return doc.deadLetter()
}

func (d *DeadLetters) List(ctx context.Context, f operations.DeadLetterFilter) ([]operations.DeadLetter, error) {
	filter := bson.D{}
	if f.Handler != "" {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{bson.D{{Key: "handler", Value: f.Handler}}, bson.D{{Key: "handlerName", Value: f.Handler}}}})
	}
	if f.Topic != "" {
		filter = append(filter, bson.E{Key: "topic", Value: f.Topic})
	}
	if f.EventType != "" {
		filter = append(filter, bson.E{Key: "eventType", Value: f.EventType})
	}
	if f.Reason != "" {
		filter = append(filter, bson.E{Key: "reason", Value: bson.D{{Key: "$regex", Value: regexp.QuoteMeta(f.Reason)}, {Key: "$options", Value: "i"}}})
	}
	failed := bson.D{}
	if !f.Since.IsZero() {
		failed = append(failed, bson.E{Key: "$gte", Value: f.Since})
	}
	if !f.Until.IsZero() {
		failed = append(failed, bson.E{Key: "$lt", Value: f.Until})
	}
	if len(failed) > 0 {
		filter = append(filter, bson.E{Key: "lastFailedAt", Value: failed})
	}
	if len(f.IDs) > 0 {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: f.IDs}}}}, bson.D{{Key: "messageId", Value: bson.D{{Key: "$in", Value: f.IDs}}}}}})
	}
	if len(f.AggregateIDs) > 0 {
		filter = append(filter, bson.E{Key: "aggregateId", Value: bson.D{{Key: "$in", Value: f.AggregateIDs}}})
	}
	if len(f.Statuses) > 0 {
		var statuses []string
		for _, s := range f.Statuses {
			statuses = append(statuses, s.String())
		}
		filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: statuses}}})
	}
	if f.Handler != "" && len(f.IDs) > 0 {
		// Two $or clauses cannot share one document level.
		filter = bson.D{{Key: "$and", Value: bson.A{filter[:1], filter[1:]}}}
	}
	opts := options.Find().SetSort(bson.D{{Key: "firstFailedAt", Value: 1}, {Key: "_id", Value: 1}})
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	docs, err := findAll[deadLetterDoc](ctx, d.client, d.coll, filter, opts)
	if err != nil {
		return nil, err
	}
	out := make([]operations.DeadLetter, 0, len(docs))
	for _, doc := range docs {
		dl, err := doc.deadLetter()
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, nil
}

func (d *DeadLetters) Redact(ctx context.Context, id string, payload []byte) error {
	return d.update(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "payload", Value: payload}}}})
}

func (d *DeadLetters) Act(ctx context.Context, id string, status operations.Status, a operations.Action) error {
	return d.update(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: status.String()}}},
		{Key: "$push", Value: bson.D{{Key: "history", Value: toActionDoc(a)}}},
	})
}

// Replayed sets the status only where the failures are still those the
// replay read, in the same single-document update as the count and history;
// where they are not, the count and history alone.
func (d *DeadLetters) Replayed(ctx context.Context, id string, failures int, a operations.Action) error {
	err := d.update(ctx, bson.D{{Key: "_id", Value: id}, {Key: "failures", Value: failures}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: operations.StatusReplayed.String()}}},
		{Key: "$inc", Value: bson.D{{Key: "replays", Value: 1}}},
		{Key: "$push", Value: bson.D{{Key: "history", Value: toActionDoc(a)}}},
	})
	if !errors.Is(err, operations.ErrDeadLetterNotFound) {
		return err
	}
	return d.update(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$inc", Value: bson.D{{Key: "replays", Value: 1}}},
		{Key: "$push", Value: bson.D{{Key: "history", Value: toActionDoc(a)}}},
	})
}

func toActionDoc(a operations.Action) actionDoc {
	return actionDoc{At: a.At.UTC().Truncate(time.Millisecond), What: a.What, By: a.By}
}

func (d *DeadLetters) update(ctx context.Context, filter, update bson.D) error {
	var matched int64
	err := d.client.do(ctx, func(ctx context.Context) error {
		res, err := d.coll.UpdateOne(ctx, filter, update)
		if err == nil {
			matched = res.MatchedCount
		}
		return err
	})
	if err == nil && matched == 0 {
		return operations.ErrDeadLetterNotFound
	}
	return err
}

type runDoc struct {
	ID          string    `bson:"_id"`
	Kind        string    `bson:"kind"`
	Filter      string    `bson:"filter"`
	By          string    `bson:"by"`
	StartedAt   time.Time `bson:"startedAt"`
	FinishedAt  time.Time `bson:"finishedAt"`
	Selected    int       `bson:"selected"`
	Published   int       `bson:"published"`
	Quarantined int       `bson:"quarantined"`
	Stopped     bool      `bson:"stopped"`
	Error       string    `bson:"error,omitempty"`
}

// Runs is the log of replays in the "replay_runs" collection.
type Runs struct {
	client *Client
	coll   *mongo.Collection
}

// NewRuns opens the log.
func NewRuns(ctx context.Context, client *Client) (*Runs, error) {
	r := &Runs{client: client, coll: client.Database(OperationsDatabase).Collection("replay_runs")}
	_, err := client.ensureIndexes(ctx, r.coll, []mongo.IndexModel{{Keys: bson.D{{Key: "startedAt", Value: -1}}, Options: options.Index().SetName("newest")}})
	if err != nil {
		return nil, fmt.Errorf("replay runs indexes: %w", err)
	}
	return r, nil
}

func (r *Runs) Save(ctx context.Context, run operations.Run) error {
	doc := runDoc{
		ID: run.ID, Kind: run.Kind, Filter: run.Filter, By: run.By,
		StartedAt: run.StartedAt.UTC().Truncate(time.Millisecond), FinishedAt: run.FinishedAt.UTC().Truncate(time.Millisecond),
		Selected: run.Selected, Published: run.Published, Quarantined: run.Quarantined, Stopped: run.Stopped, Error: run.Error,
	}
	return r.client.do(ctx, func(ctx context.Context) error {
		_, err := r.coll.InsertOne(ctx, doc)
		return err
	})
}

func (r *Runs) Recent(ctx context.Context, limit int) ([]operations.Run, error) {
	opts := options.Find().SetSort(bson.D{{Key: "startedAt", Value: -1}})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	docs, err := findAll[runDoc](ctx, r.client, r.coll, bson.D{}, opts)
	if err != nil {
		return nil, err
	}
	out := make([]operations.Run, len(docs))
	for i, d := range docs {
		out[i] = operations.Run{
			ID: d.ID, Kind: d.Kind, Filter: d.Filter, By: d.By, StartedAt: d.StartedAt.UTC(), FinishedAt: d.FinishedAt.UTC(),
			Selected: d.Selected, Published: d.Published, Quarantined: d.Quarantined, Stopped: d.Stopped, Error: d.Error,
		}
	}
	return out, nil
}
