package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/inventory"
	"shop/app/notifications"
	"shop/app/orders"
	"shop/app/readmodel"
)

// The read models keep the version guard of readmodel.ShouldApply without
// transactions: a write matches only the view at the version before the
// event's, and a write that matches nothing reads the stored version to tell
// a repeat (ignored) from a gap (retried by the caller).

var (
	_ orders.OrderViews      = (*OrderViews)(nil)
	_ inventory.ProductViews = (*ProductViews)(nil)
	_ notifications.Archive  = (*NotificationArchive)(nil)
)

// bsonTime is t as BSON keeps it, so that what is written is what is read back.
func bsonTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// parseEnum reads an enum back; the empty string is its zero value, which the
// in-memory adapters store as readily as any other.
func parseEnum[T any](s string, from func(string) (T, error)) (T, error) {
	if s == "" {
		var zero T
		return zero, nil
	}
	return from(s)
}

// storedVersion is the version of the view with that id, and whether it exists.
func storedVersion(ctx context.Context, c *Client, live *activeCollection, id string) (int, bool, error) {
	var doc struct {
		Version int `bson:"version"`
	}
	coll, err := live.get(ctx)
	if err != nil {
		return 0, false, err
	}
	err = c.do(ctx, func(ctx context.Context) error {
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return doc.Version, true, nil
}

// insertFirst inserts the first version of a view. A view already there
// wins: events are delivered at least once, so the insert may be a repeat.
// Other versions are never inserted: a view starts at its first event.
func insertFirst(ctx context.Context, c *Client, live *activeCollection, id string, version int, doc any) error {
	if version != 1 {
		_, found, err := storedVersion(ctx, c, live, id)
		if err != nil || found {
			return err
		}
		_, err = readmodel.ShouldApply(0, version)
		return err
	}
	coll, err := live.get(ctx)
	if err != nil {
		return err
	}
	err = live.inserts(coll).insert(ctx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

// guardedUpdate applies update to the view id if it is at version-1, and
// otherwise explains why not.
func guardedUpdate(ctx context.Context, c *Client, live *activeCollection, what, id string, version int, update bson.D) error {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version - 1}}
	// Two rounds: the view may reach version-1 between the update that missed
	// and the read that follows, and then the event applies after all.
	for range 2 {
		coll, err := live.get(ctx)
		if err != nil {
			return fmt.Errorf("%s view %s: %w", what, id, err)
		}
		var matched int64
		err = c.do(ctx, func(ctx context.Context) error {
			res, err := coll.UpdateOne(ctx, filter, update)
			if err != nil {
				return err
			}
			matched = res.MatchedCount
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s view %s: %w", what, id, err)
		}
		if matched > 0 {
			return nil
		}
		stored, found, err := storedVersion(ctx, c, live, id)
		if err != nil {
			return fmt.Errorf("%s view %s: %w", what, id, err)
		}
		apply, err := readmodel.ShouldApply(stored, version)
		if err != nil || !apply {
			return err
		}
		if !found {
			return fmt.Errorf("%s view %s: only the first event creates a view", what, id)
		}
	}
	// Not a gap: other writers got there first twice; a plain failure, which
	// the router retries a bounded number of times.
	return fmt.Errorf("%s view %s keeps moving under event %d", what, id, version)
}

// Orders.
