package notifications

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"shop/app/eventstore"
	"shop/app/personal"
	"shop/domain/notification"
)

// NotificationView is a notification as queries see it.
type NotificationView struct {
	ID      string
	OrderID string
	Kind    notification.Kind
	Channel notification.Channel
	// Recipient is masked (a***@example.com, +49***78): enough for the
	// customer or support to recognise the address, not to use it.
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
//
// Recipients and provider answers are stored sealed: they are opened, with
// one read of the customer's key, to be masked; once the customer's data is
// erased they are empty.
type ListNotificationsHandler struct {
	repo    Repository
	vault   Opener
	archive Archive
}

// NewListNotificationsHandler builds the handler; archive may be nil.
func NewListNotificationsHandler(repo Repository, vault Opener, archive Archive) ListNotificationsHandler {
	return ListNotificationsHandler{repo: repo, vault: vault, archive: archive}
}

func (h ListNotificationsHandler) Handle(ctx context.Context, q ListNotifications) ([]NotificationView, error) {
	c, err := h.repo.Load(ctx, q.OrderID)
	if errors.Is(err, eventstore.ErrNotFound) {
		if h.archive == nil {
			return []NotificationView{}, nil
		}
		views, err := h.archive.ByOrder(ctx, q.OrderID)
		for i := range views {
			views[i].Recipient = Mask(views[i].Channel, views[i].Recipient)
		}
		return views, err
	}
	if err != nil {
		return nil, err
	}
	notes := c.Notifications()
	var sealed []*string
	for i := range notes {
		sealed = append(sealed, &notes[i].Recipient, &notes[i].LastError)
	}
	if err := h.vault.Open(ctx, c.CustomerID(), sealed...); err != nil && !errors.Is(err, personal.ErrErased) {
		return nil, err
	}
	views := make([]NotificationView, len(notes))
	for i, n := range notes {
		views[i] = NotificationView{
			ID: n.ID, OrderID: q.OrderID, Kind: n.Kind, Channel: n.Channel, Recipient: Mask(n.Channel, n.Recipient),
			Status: n.Status, Attempts: n.Attempts, LastError: n.LastError, UpdatedAt: n.UpdatedAt,
		}
	}
	return views, nil
}

// Mask shows of an address what recognises it and no more: an e-mail's first
// letter and domain (a***@example.com), a phone number's first three and last
// two characters (+49***78), a device token's first four; "***" for what is
// too short to show any of.
func Mask(channel notification.Channel, address string) string {
	if address == "" {
		return ""
	}
	r := []rune(address)
	switch channel {
	case notification.ChannelEmail:
		if at := strings.LastIndexByte(address, '@'); at > 0 {
			first, _ := utf8.DecodeRuneInString(address)
			return string(first) + "***" + address[at:]
		}
	case notification.ChannelSMS:
		if len(r) >= 8 {
			return string(r[:3]) + "***" + string(r[len(r)-2:])
		}
	default:
		if len(r) >= 12 {
			return string(r[:4]) + "***"
		}
	}
	return "***"
}
