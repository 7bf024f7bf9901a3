package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/notifications"
	"shop/domain/notification"
)

type notificationDoc struct {
	ID        string    `bson:"_id"`
	OrderID   string    `bson:"orderId"`
	Kind      string    `bson:"kind"`
	Channel   string    `bson:"channel"`
	Recipient string    `bson:"recipient"`
	Status    string    `bson:"status"`
	Attempts  int       `bson:"attempts"`
	LastError string    `bson:"lastError"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

func (d notificationDoc) view() (notifications.NotificationView, error) {
	kind, err := parseEnum(d.Kind, notification.KindFromString)
	if err != nil {
		return notifications.NotificationView{}, fmt.Errorf("notification view %s: %w", d.ID, err)
	}
	channel, err := parseEnum(d.Channel, notification.ChannelFromString)
	if err != nil {
		return notifications.NotificationView{}, fmt.Errorf("notification view %s: %w", d.ID, err)
	}
	status, err := parseEnum(d.Status, notification.StatusFromString)
	if err != nil {
		return notifications.NotificationView{}, fmt.Errorf("notification view %s: %w", d.ID, err)
	}
	return notifications.NotificationView{
		ID: d.ID, OrderID: d.OrderID, Kind: kind, Channel: channel, Recipient: d.Recipient, Status: status,
		Attempts: d.Attempts, LastError: d.LastError, UpdatedAt: d.UpdatedAt.UTC(),
	}, nil
}

// NotificationArchive reads the read model that versions before
// correspondences kept of every notification, in the "notifications"
// collection of the notifications service's database (or the collection a
// rebuild of it made live). Nothing writes it any more.
type NotificationArchive struct {
	client *Client
	coll   *activeCollection
}

// NewNotificationArchive opens the archive; it reads nothing until asked.
func NewNotificationArchive(client *Client) *NotificationArchive {
	return &NotificationArchive{client: client, coll: newActiveCollection(client, "notifications", "notifications")}
}

// ByOrder lists an order's notifications in a fixed order, so that the API
// answers the same way each time; an order without any has an empty list.
func (a *NotificationArchive) ByOrder(ctx context.Context, orderID string) ([]notifications.NotificationView, error) {
	var docs []notificationDoc
	coll, err := a.coll.get(ctx)
	if err == nil {
		docs, err = findAll[notificationDoc](ctx, a.client, coll, bson.D{{Key: "orderId", Value: orderID}},
			options.Find().SetSort(bson.D{{Key: "kind", Value: 1}, {Key: "channel", Value: 1}}))
	}
	if err != nil {
		return nil, fmt.Errorf("archived notifications of order %s: %w", orderID, err)
	}
	views := make([]notifications.NotificationView, len(docs))
	for i, d := range docs {
		if views[i], err = d.view(); err != nil {
			return nil, err
		}
	}
	return views, nil
}

// Erase empties the recipients, and the provider answers that may quote
// them, of the orders' archived notifications, and counts those it changed.
func (a *NotificationArchive) Erase(ctx context.Context, orderIDs []string) (int, error) {
	if len(orderIDs) == 0 {
		return 0, nil
	}
	coll, err := a.coll.get(ctx)
	if err != nil {
		return 0, err
	}
	var changed int64
	err = a.client.do(ctx, func(ctx context.Context) error {
		res, err := coll.UpdateMany(ctx,
			bson.D{{Key: "orderId", Value: bson.D{{Key: "$in", Value: orderIDs}}}, {Key: "$or", Value: bson.A{
				bson.D{{Key: "recipient", Value: bson.D{{Key: "$ne", Value: ""}}}},
				bson.D{{Key: "lastError", Value: bson.D{{Key: "$ne", Value: ""}}}},
			}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "recipient", Value: ""}, {Key: "lastError", Value: ""}}}})
		if err == nil {
			changed = res.ModifiedCount
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("erase archived notifications: %w", err)
	}
	return int(changed), nil
}
