package inventory

import (
	"context"

	"shop/app/eventstore"
	"shop/app/reaction"
	"shop/domain/inventory"
	"shop/domain/order"
)

// NewOrderPolicy builds the policy that reserves the stock of a placed order
// and gives back the stock of a cancelled one. It reads the orders context's
// published events; it never touches the orders' data. It calls this
// service's own command handlers, which are idempotent by the order: a
// redelivered event reserves nothing twice.
func NewOrderPolicy(reserve ReserveStockHandler, release ReleaseStockHandler) (*reaction.Handler, error) {
	p := orderPolicy{reserve: reserve, release: release}
	return reaction.New(reaction.On(p.placed), reaction.On(p.cancelled))
}

type orderPolicy struct {
	reserve ReserveStockHandler
	release ReleaseStockHandler
}

func (p orderPolicy) placed(ctx context.Context, _ eventstore.Record, e *order.Placed) error {
	lines := make([]inventory.Line, len(e.Items))
	for i, it := range e.Items {
		lines[i] = inventory.Line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return p.reserve.Handle(ctx, ReserveStock{OrderID: e.OrderID, Lines: lines})
}

func (p orderPolicy) cancelled(ctx context.Context, _ eventstore.Record, e *order.Cancelled) error {
	return p.release.Handle(ctx, ReleaseStock{OrderID: e.OrderID})
}
