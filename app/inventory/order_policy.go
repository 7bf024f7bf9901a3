package inventory

import (
	"context"
	"fmt"

	"shop/app/eventstore"
	"shop/domain/inventory"
	"shop/domain/order"
)

// OrderPolicy reserves the stock of a placed order and gives back the stock of
// a cancelled one. It reads the orders context's published events; it never
// touches the orders' data. It calls this service's own command handlers,
// which are idempotent by the order: a redelivered event reserves nothing twice.
type OrderPolicy struct {
	reserve ReserveStockHandler
	release ReleaseStockHandler
}

// NewOrderPolicy builds the policy.
func NewOrderPolicy(reserve ReserveStockHandler, release ReleaseStockHandler) *OrderPolicy {
	return &OrderPolicy{reserve: reserve, release: release}
}

// Events lists the events the policy reacts to.
func (p *OrderPolicy) Events() []string {
	return []string{(&order.Placed{}).EventName(), (&order.Cancelled{}).EventName()}
}

func (p *OrderPolicy) Handle(ctx context.Context, rec eventstore.Record) error {
	switch e := rec.Event.(type) {
	case *order.Placed:
		lines := make([]inventory.Line, len(e.Items))
		for i, it := range e.Items {
			lines[i] = inventory.Line{ProductID: it.ProductID, Quantity: it.Quantity}
		}
		return p.reserve.Handle(ctx, ReserveStock{OrderID: e.OrderID, Lines: lines})
	case *order.Cancelled:
		return p.release.Handle(ctx, ReleaseStock{OrderID: e.OrderID})
	default:
		return fmt.Errorf("inventory order policy: unexpected event %s", rec.Type)
	}
}
