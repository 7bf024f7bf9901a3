package notifications

import (
	"context"
	"fmt"
	"strings"

	"shop/app/eventstore"
	"shop/domain/notification"
	"shop/domain/order"
)

// OrderPolicy tells the customer whenever an order is placed, confirmed,
// rejected or cancelled, through this service's own command handler, which
// sends a notification once per order, kind and channel however often the
// event comes. The placement names the recipient of the order's later
// notifications.
type OrderPolicy struct {
	notify SendNotificationHandler
}

// NewOrderPolicy builds the policy.
func NewOrderPolicy(notify SendNotificationHandler) *OrderPolicy {
	return &OrderPolicy{notify: notify}
}

// Events lists the events the policy reacts to.
func (p *OrderPolicy) Events() []string {
	return []string{
		(&order.Placed{}).EventName(), (&order.Confirmed{}).EventName(),
		(&order.Rejected{}).EventName(), (&order.Cancelled{}).EventName(),
	}
}

func (p *OrderPolicy) Handle(ctx context.Context, rec eventstore.Record) error {
	cmd := SendNotification{OrderID: rec.AggregateID}
	switch e := rec.Event.(type) {
	case *order.Placed:
		cmd.Kind, cmd.Subject, cmd.Body = notification.KindOrderCreated, "Order received", fmt.Sprintf("We received your order %s for %s.", e.OrderID, e.Total)
		cmd.Recipient = &Recipient{
			CustomerID: e.CustomerID, Total: e.Total,
			Contact: notification.Contact{Email: e.Contact.Email, Phone: e.Contact.Phone, DeviceToken: e.Contact.DeviceToken},
		}
	case *order.Confirmed:
		cmd.Kind, cmd.Subject, cmd.Body = notification.KindOrderConfirmed, "Order confirmed", fmt.Sprintf("Your order %s is confirmed.", e.OrderID)
	case *order.Rejected:
		cmd.Kind, cmd.Subject, cmd.Body = notification.KindOrderRejected, "Order could not be fulfilled",
			fmt.Sprintf("Your order %s was rejected: %s.", e.OrderID, describe(e.Reasons))
	case *order.Cancelled:
		cmd.Kind, cmd.Subject, cmd.Body = notification.KindOrderCancelled, "Order cancelled", fmt.Sprintf("Your order %s was cancelled.", e.OrderID)
		if e.Reason != "" {
			cmd.Body = fmt.Sprintf("Your order %s was cancelled: %s.", e.OrderID, e.Reason)
		}
	default:
		return fmt.Errorf("notification order policy: unexpected event %s", rec.Type)
	}
	return p.notify.Handle(ctx, cmd)
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
