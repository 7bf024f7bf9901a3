package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/notifications"
	"shop/domain/notification"
)

// NotificationSchedule keeps scheduled notifications in the
// "notification_schedule" collection of the notifications service's
// database, one document per order and kind, shared by the replicas.
//
// A replica takes a command by inserting a claim named after the command's
// due time and its last hold into "notification_schedule_claims": the
// unique _id lets one insert of the same claim succeed. An update whose
// filter compares the hold would do on MongoDB, but FerretDB applies
// concurrent updates of one document without checking the filter again, and
// three replicas all took the same command in the test.
type NotificationSchedule struct {
	client *Client
	coll   *mongo.Collection
	claims *mongo.Collection
}

type claimDoc struct {
	ID  string `bson:"_id"`
	Key string `bson:"key"`
}

type scheduleDoc struct {
	ID        string    `bson:"_id"`
	OrderID   string    `bson:"orderId"`
	Kind      string    `bson:"kind"`
	Subject   string    `bson:"subject"`
	Body      string    `bson:"body"`
	Due       time.Time `bson:"due"`
	HeldUntil time.Time `bson:"heldUntil"`
}

// NewNotificationSchedule opens the schedule; it reads nothing until asked.
func NewNotificationSchedule(client *Client) *NotificationSchedule {
	db := client.Database("notifications")
	return &NotificationSchedule{client: client, coll: db.Collection("notification_schedule"), claims: db.Collection("notification_schedule_claims")}
}

// Put implements notifications.Schedule.
func (s *NotificationSchedule) Put(ctx context.Context, cmd notifications.SendNotification, due time.Time) error {
	key := notifications.ScheduleKey(cmd.OrderID, cmd.Kind)
	doc := scheduleDoc{ID: key, OrderID: cmd.OrderID, Kind: cmd.Kind.String(), Subject: cmd.Subject, Body: cmd.Body, Due: due.UTC()}
	return s.client.do(ctx, func(ctx context.Context) error {
		_, err := s.coll.ReplaceOne(ctx, bson.M{"_id": key}, doc, options.Replace().SetUpsert(true))
		return err
	})
}

// Take implements notifications.Schedule: it lists the due documents, the
// earliest first, claims each, and holds the ones it claimed.
func (s *NotificationSchedule) Take(ctx context.Context, now time.Time, limit int, hold time.Duration) ([]notifications.Scheduled, error) {
	now = now.UTC()
	docs, err := findAll[scheduleDoc](ctx, s.client, s.coll,
		bson.M{"due": bson.M{"$lte": now}, "heldUntil": bson.M{"$lte": now}},
		options.Find().SetSort(bson.D{{Key: "due", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var out []notifications.Scheduled
	for _, d := range docs {
		var taken bool
		claim := claimDoc{ID: fmt.Sprintf("%s@%d/%d", d.ID, d.Due.UnixMilli(), d.HeldUntil.UnixMilli()), Key: d.ID}
		err := s.client.do(ctx, func(ctx context.Context) error {
			_, err := s.claims.InsertOne(ctx, claim)
			if mongo.IsDuplicateKeyError(err) {
				return nil // another replica took it
			}
			if err != nil {
				return err
			}
			taken = true
			_, err = s.coll.UpdateOne(ctx, bson.M{"_id": d.ID, "due": d.Due}, bson.M{"$set": bson.M{"heldUntil": now.Add(hold)}})
			return err
		})
		if err != nil {
			return out, err
		}
		if !taken {
			continue
		}
		kind, err := notification.KindFromString(d.Kind)
		if err != nil {
			return out, fmt.Errorf("notification schedule %s: %w", d.ID, err)
		}
		out = append(out, notifications.Scheduled{
			Command: notifications.SendNotification{OrderID: d.OrderID, Kind: kind, Subject: d.Subject, Body: d.Body},
			Due:     d.Due,
		})
	}
	return out, nil
}

// Done implements notifications.Schedule, and drops the command's claims.
func (s *NotificationSchedule) Done(ctx context.Context, sc notifications.Scheduled) error {
	key := notifications.ScheduleKey(sc.Command.OrderID, sc.Command.Kind)
	return s.client.do(ctx, func(ctx context.Context) error {
		res, err := s.coll.DeleteOne(ctx, bson.M{"_id": key, "due": sc.Due.UTC()})
		if err != nil || res.DeletedCount == 0 {
			return err // put again since: its claims stay, named after the old due time
		}
		_, err = s.claims.DeleteMany(ctx, bson.M{"key": key})
		return err
	})
}
