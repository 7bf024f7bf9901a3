package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/operations"
)

// PointerTTL is how long a process keeps using a read model's collection
// before it looks again which one is live: the time it takes every process
// to follow a rebuild's swap.
const PointerTTL = time.Second

// activeCollection is the collection a read model lives in now. A rebuild
// fills a collection of its own and then points the read model at it in the
// database's "read_models" collection, instead of renaming it over the old
// one: renaming over an existing collection is not available on every
// MongoDB-compatible server (FerretDB), and a pointer swaps in one write.
type activeCollection struct {
	client   *Client
	db       *mongo.Database
	name     string // the read model's name, and its first collection's
	pointers *mongo.Collection
	fixed    bool // a rebuild's copy: never follows the pointer

	mu      sync.Mutex
	current *mongo.Collection
	checked time.Time
}

func newActiveCollection(client *Client, service, name string) *activeCollection {
	db := client.Database(service)
	return &activeCollection{client: client, db: db, name: name, pointers: db.Collection("read_models"), current: db.Collection(name)}
}

type pointerDoc struct {
	ID         string `bson:"_id"`
	Collection string `bson:"collection"`
}

// get returns the live collection, looking at the pointer at most once per
// PointerTTL. When the pointer cannot be read, the last known collection
// goes on serving.
func (a *activeCollection) get(ctx context.Context) *mongo.Collection {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fixed || time.Since(a.checked) < PointerTTL {
		return a.current
	}
	var p pointerDoc
	err := a.client.do(ctx, func(ctx context.Context) error {
		return a.pointers.FindOne(ctx, bson.D{{Key: "_id", Value: a.name}}).Decode(&p)
	})
	switch {
	case err == nil:
		a.current = a.db.Collection(p.Collection)
	case errors.Is(err, mongo.ErrNoDocuments):
		a.current = a.db.Collection(a.name)
	default:
		return a.current
	}
	a.checked = time.Now()
	return a.current
}

// rebuilding starts a fresh collection for the read model and returns it
// with the steps that swap it in.
func (a *activeCollection) rebuilding(ctx context.Context) (*activeCollection, operations.Steps) {
	old := a.get(ctx)
	fresh := &activeCollection{
		client: a.client, db: a.db, name: a.name, pointers: a.pointers, fixed: true,
		current: a.db.Collection(fmt.Sprintf("%s_%s", a.name, time.Now().UTC().Format("20060102T150405.000"))),
	}
	return fresh, operations.Steps{
		Swap: func(ctx context.Context) error {
			err := a.client.do(ctx, func(ctx context.Context) error {
				_, err := a.pointers.UpdateOne(ctx, bson.D{{Key: "_id", Value: a.name}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "collection", Value: fresh.current.Name()}}}},
					options.UpdateOne().SetUpsert(true))
				return err
			})
			if err != nil {
				return fmt.Errorf("swap %s: %w", a.name, err)
			}
			a.mu.Lock()
			a.current, a.checked = fresh.current, time.Now()
			a.mu.Unlock()
			return nil
		},
		Retire: func(ctx context.Context) error {
			return a.client.do(ctx, func(ctx context.Context) error { return old.Drop(ctx) })
		},
		Abandon: func(ctx context.Context) error {
			return a.client.do(ctx, func(ctx context.Context) error { return fresh.current.Drop(ctx) })
		},
	}
}

// Rebuilding returns an empty copy of the read model, and the steps that make
// it the live one.
func (v *OrderViews) Rebuilding(ctx context.Context) (*OrderViews, operations.Steps, error) {
	coll, steps := v.coll.rebuilding(ctx)
	fresh, err := openOrderViews(ctx, v.client, coll)
	return fresh, steps, err
}

// Rebuilding returns an empty copy of the read model, and the steps that make
// it the live one.
func (v *ProductViews) Rebuilding(ctx context.Context) (*ProductViews, operations.Steps, error) {
	coll, steps := v.coll.rebuilding(ctx)
	return &ProductViews{client: v.client, coll: coll}, steps, nil
}

// Rebuilding returns an empty copy of the read model, and the steps that make
// it the live one.
func (v *NotificationViews) Rebuilding(ctx context.Context) (*NotificationViews, operations.Steps, error) {
	coll, steps := v.coll.rebuilding(ctx)
	fresh, err := openNotificationViews(ctx, v.client, coll)
	return fresh, steps, err
}
