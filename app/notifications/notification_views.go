package notifications

import (
	"context"
	"errors"
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
}

// Archive holds the notifications recorded by versions before
// correspondences, which kept them in a read model of their own.
type Archive interface {
	// ByOrder lists an order's notifications by kind, then channel; none
	// for an order it does not hold.
	ByOrder(ctx context.Context, orderID string) ([]NotificationView, error)
}

// ListNotifications asks for an order's notifications.
type ListNotifications struct {
	OrderID string
}

// ListNotificationsHandler answers ListNotifications from the order's
// correspondence, read from the event store: it is the query's whole answer,
// so no read model is kept besides. Orders notified before correspondences
// are answered from the archive, when there is one.
type ListNotificationsHandler struct {
	repo    Repository
	archive Archive
}

// NewListNotificationsHandler builds the handler; archive may be nil.
func NewListNotificationsHandler(repo Repository, archive Archive) ListNotificationsHandler {
	return ListNotificationsHandler{repo: repo, archive: archive}
}

func (h ListNotificationsHandler) Handle(ctx context.Context, q ListNotifications) ([]NotificationView, error) {
	c, err := h.repo.Load(ctx, q.OrderID)
	if errors.Is(err, eventstore.ErrNotFound) {
		if h.archive == nil {
			return []NotificationView{}, nil
		}
		return h.archive.ByOrder(ctx, q.OrderID)
	}
	if err != nil {
		return nil, err
	}
	notes := c.Notifications()
	views := make([]NotificationView, len(notes))
	for i, n := range notes {
		views[i] = NotificationView{
			ID: n.ID, OrderID: q.OrderID, Kind: n.Kind, Channel: n.Channel, Recipient: n.Recipient,
			Status: n.Status, Attempts: n.Attempts, LastError: n.LastError, UpdatedAt: n.UpdatedAt,
		}
	}
	return views, nil
}
