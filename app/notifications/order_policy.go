package notifications

import (
	"context"
	"fmt"
	"strings"

	"shop/app/eventstore"
	"shop/app/reaction"
	"shop/domain/money"
	"shop/domain/notification"
	"shop/domain/order"
)

// NewOrderPolicy builds the policy that tells the customer whenever an order
// is placed, confirmed, rejected or cancelled, through this service's own
// command handler, which sends a notification once per order, kind and
// channel however often the event comes. The placement names the recipient
// of the order's later notifications.
func NewOrderPolicy(notify SendNotificationHandler) (*reaction.Handler, error) {
	p := orderPolicy{notify: notify}
	return reaction.New(reaction.On(p.placed), reaction.On(p.confirmed), reaction.On(p.rejected), reaction.On(p.cancelled))
}

type orderPolicy struct {
	notify SendNotificationHandler
}

func (p orderPolicy) placed(ctx context.Context, rec eventstore.Record, e *order.Placed) error {
	return p.notify.Handle(ctx, SendNotification{
		OrderID: rec.AggregateID, Kind: notification.KindOrderCreated,
		Subject: "Order received", Body: received(e),
		Recipient: &Recipient{
			CustomerID: e.CustomerID, Total: e.Total, Items: items(e.Items),
			Contact: notification.Contact{Email: e.Contact.Email, Phone: e.Contact.Phone, DeviceToken: e.Contact.DeviceToken},
		},
	})
}

func (p orderPolicy) confirmed(ctx context.Context, rec eventstore.Record, e *order.Confirmed) error {
	return p.notify.Handle(ctx, SendNotification{
		OrderID: rec.AggregateID, Kind: notification.KindOrderConfirmed,
		Subject: "Order confirmed", Body: fmt.Sprintf("Your order %s is confirmed.", e.OrderID),
	})
}

func (p orderPolicy) rejected(ctx context.Context, rec eventstore.Record, e *order.Rejected) error {
	return p.notify.Handle(ctx, SendNotification{
		OrderID: rec.AggregateID, Kind: notification.KindOrderRejected,
		Subject: "Order could not be fulfilled", Body: fmt.Sprintf("Your order %s was rejected: %s.", e.OrderID, describe(e.Reasons)),
	})
}

func (p orderPolicy) cancelled(ctx context.Context, rec eventstore.Record, e *order.Cancelled) error {
	body := fmt.Sprintf("Your order %s was cancelled.", e.OrderID)
	if e.Reason != "" {
		body = fmt.Sprintf("Your order %s was cancelled: %s.", e.OrderID, e.Reason)
	}
	return p.notify.Handle(ctx, SendNotification{
		OrderID: rec.AggregateID, Kind: notification.KindOrderCancelled, Subject: "Order cancelled", Body: body,
	})
}

// received is the first notification's text: the order, line by line, and
// its total.
func received(e *order.Placed) string {
	return fmt.Sprintf("We received your order %s:\n%s\nWe will tell you once it is confirmed.", e.OrderID, Summary(items(e.Items), e.Total))
}

// Summary is an order's lines and total, as every notification of it names
// them.
func Summary(lines []notification.Item, total money.Amount) string {
	var b strings.Builder
	for _, it := range lines {
		fmt.Fprintf(&b, "%d × %s (%s) at %s: %s\n", it.Quantity, it.ProductName, it.ProductID, it.UnitPrice, it.UnitPrice.Times(it.Quantity))
	}
	fmt.Fprintf(&b, "Total: %s", total)
	return b.String()
}

func items(lines []order.Item) []notification.Item {
	out := make([]notification.Item, len(lines))
	for i, it := range lines {
		out[i] = notification.Item{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: it.UnitPrice}
	}
	return out
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
