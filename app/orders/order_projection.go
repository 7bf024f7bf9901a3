package orders

import (
	"context"
	"fmt"

	"shop/app/eventstore"
	"shop/domain/order"
)

// OrderProjection keeps the orders read model up to date.
type OrderProjection struct {
	views OrderViews
}

// NewOrderProjection builds the projection.
func NewOrderProjection(views OrderViews) *OrderProjection {
	return &OrderProjection{views: views}
}

func (p *OrderProjection) Handle(ctx context.Context, rec eventstore.Record) error {
	switch e := rec.Event.(type) {
	case *order.Placed:
		return p.views.Create(ctx, OrderView{
			ID: e.OrderID, CustomerID: e.CustomerID, Items: e.Items, Total: e.Total,
			Status: order.StatusPending, CreatedAt: e.PlacedAt, UpdatedAt: e.PlacedAt, Version: rec.Version,
		})
	case *order.Confirmed:
		return p.views.Update(ctx, rec.AggregateID, rec.Version, OrderChange{Status: order.StatusConfirmed, UpdatedAt: e.ConfirmedAt})
	case *order.Rejected:
		return p.views.Update(ctx, rec.AggregateID, rec.Version, OrderChange{Status: order.StatusRejected, Rejections: e.Reasons, UpdatedAt: e.RejectedAt})
	case *order.Cancelled:
		return p.views.Update(ctx, rec.AggregateID, rec.Version, OrderChange{Status: order.StatusCancelled, CancelReason: e.Reason, UpdatedAt: e.CancelledAt})
	default:
		// Every order event changes the view's version, so an event the
		// projection does not know would leave a gap: fail loudly instead.
		return fmt.Errorf("order projection: no rule for %s", rec.Type)
	}
}
