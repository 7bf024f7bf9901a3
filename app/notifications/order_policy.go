package notifications

import (
	"context"
	"fmt"
	"strings"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/domain/money"
	"shop/domain/notification"
	"shop/domain/order"
)

// ErrRecipientNotFound is returned when an order's later event arrives for an
// order whose placement this service has not seen yet.
var ErrRecipientNotFound = fmt.Errorf("%w: recipient of order not known", fault.ErrEarly)

// Recipient is what this service keeps of a placed order to write to its customer.
type Recipient struct {
	OrderID    string
	CustomerID string
	Contact    notification.Contact
	Total      money.Amount
}

// Recipients is the notifications service's own record of whom each order's
// notifications go to, taken from the order's placement.
type Recipients interface {
	// Save stores r; saving the same order again changes nothing.
	Save(ctx context.Context, r Recipient) error
	// Get returns ErrRecipientNotFound for an order not seen.
	Get(ctx context.Context, orderID string) (Recipient, error)
}

// OrderPolicy tells the customer whenever an order is placed, confirmed,
// rejected or cancelled, through this service's own command handler, which
// sends a notification once per order, kind and channel however often the
// event comes.
type OrderPolicy struct {
	notify     SendNotificationHandler
	recipients Recipients
}

// NewOrderPolicy builds the policy.
func NewOrderPolicy(send SendNotificationHandler, recipients Recipients) *OrderPolicy {
	return &OrderPolicy{notify: send, recipients: recipients}
}

// Events lists the events the policy reacts to.
func (p *OrderPolicy) Events() []string {
	return []string{
		(&order.Placed{}).EventName(), (&order.Confirmed{}).EventName(),
		(&order.Rejected{}).EventName(), (&order.Cancelled{}).EventName(),
	}
}

func (p *OrderPolicy) Handle(ctx context.Context, rec eventstore.Record) error {
	if e, ok := rec.Event.(*order.Placed); ok {
		r := Recipient{
			OrderID: e.OrderID, CustomerID: e.CustomerID, Total: e.Total,
			Contact: notification.Contact{Email: e.Contact.Email, Phone: e.Contact.Phone, DeviceToken: e.Contact.DeviceToken},
		}
		if err := p.recipients.Save(ctx, r); err != nil {
			return err
		}
		return p.send(ctx, r, notification.KindOrderCreated, "Order received",
			fmt.Sprintf("We received your order %s for %s.", e.OrderID, e.Total))
	}
	r, err := p.recipients.Get(ctx, rec.AggregateID)
	if err != nil {
		return fmt.Errorf("notify about %s: %w", rec.Type, err)
	}
	switch e := rec.Event.(type) {
	case *order.Confirmed:
		return p.send(ctx, r, notification.KindOrderConfirmed, "Order confirmed",
			fmt.Sprintf("Your order %s is confirmed.", e.OrderID))
	case *order.Rejected:
		return p.send(ctx, r, notification.KindOrderRejected, "Order could not be fulfilled",
			fmt.Sprintf("Your order %s was rejected: %s.", e.OrderID, describe(e.Reasons)))
	case *order.Cancelled:
		body := fmt.Sprintf("Your order %s was cancelled.", e.OrderID)
		if e.Reason != "" {
			body = fmt.Sprintf("Your order %s was cancelled: %s.", e.OrderID, e.Reason)
		}
		return p.send(ctx, r, notification.KindOrderCancelled, "Order cancelled", body)
	default:
		return fmt.Errorf("notification order policy: unexpected event %s", rec.Type)
	}
}

func (p *OrderPolicy) send(ctx context.Context, r Recipient, kind notification.Kind, subject, body string) error {
	return p.notify.Handle(ctx, SendNotification{OrderID: r.OrderID, Kind: kind, Contact: r.Contact, Subject: subject, Body: body})
}

func describe(reasons []order.ItemRejection) string {
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		what := strings.ReplaceAll(r.Reason, "_", " ")
		if r.Reason == "insufficient_stock" {
			what = fmt.Sprintf("%s (requested %d, available %d)", what, r.Requested, r.Available)
		}
		parts[i] = r.ProductID + ": " + what
	}
	return strings.Join(parts, "; ")
}
