package notifications

import (
	"context"
	"fmt"
	"time"

	"shop/app/eventstore"
	"shop/domain/notification"
)

// NotificationView is a notification as queries see it.
type NotificationView struct {
	ID        string
	OrderID   string
	Kind      notification.Kind
	Channel   notification.Channel
	Recipient string
	Status    notification.Status
	Attempts  int
	LastError string
	UpdatedAt time.Time
	// Version is the version of the notification's last event applied to the view.
	Version int
}

// NotificationViews is the notifications read model, guarded by version (see
// readmodel.ShouldApply).
type NotificationViews interface {
	// Put stores v if the stored view is at v.Version-1.
	Put(ctx context.Context, v NotificationView) error
	// ByOrder lists an order's notifications by kind, then channel; none for an unknown order.
	ByOrder(ctx context.Context, orderID string) ([]NotificationView, error)
}

// NotificationProjection keeps the notifications read model up to date.
type NotificationProjection struct {
	views NotificationViews
}

// NewNotificationProjection builds the projection.
func NewNotificationProjection(views NotificationViews) *NotificationProjection {
	return &NotificationProjection{views: views}
}

func (p *NotificationProjection) Handle(ctx context.Context, rec eventstore.Record) error {
	// Every event of a notification carries all of it, so each one replaces the view.
	switch e := rec.Event.(type) {
	case *notification.Sent:
		return p.views.Put(ctx, NotificationView{
			ID: e.NotificationID, OrderID: e.OrderID, Kind: e.Kind, Channel: e.Channel, Recipient: e.Recipient,
			Status: notification.StatusSent, Attempts: e.Attempt, UpdatedAt: e.SentAt, Version: rec.Version,
		})
	case *notification.DeliveryFailed:
		status := notification.StatusPending
		if e.GaveUp {
			status = notification.StatusFailed
		}
		return p.views.Put(ctx, NotificationView{
			ID: e.NotificationID, OrderID: e.OrderID, Kind: e.Kind, Channel: e.Channel, Recipient: e.Recipient,
			Status: status, Attempts: e.Attempt, LastError: e.Error, UpdatedAt: e.FailedAt, Version: rec.Version,
		})
	default:
		return fmt.Errorf("notification projection: no rule for %s", rec.Type)
	}
}

// ListNotifications asks for an order's notifications.
type ListNotifications struct {
	OrderID string
}

// ListNotificationsHandler answers ListNotifications.
type ListNotificationsHandler struct {
	views NotificationViews
}

func NewListNotificationsHandler(views NotificationViews) ListNotificationsHandler {
	return ListNotificationsHandler{views: views}
}

func (h ListNotificationsHandler) Handle(ctx context.Context, q ListNotifications) ([]NotificationView, error) {
	return h.views.ByOrder(ctx, q.OrderID)
}
