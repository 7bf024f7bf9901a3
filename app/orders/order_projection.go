package orders

import (
	"context"

	"shop/app/eventstore"
	"shop/app/reaction"
	"shop/domain/order"
)

// NewOrderProjection builds the projection that keeps the orders read model
// up to date. Every order event changes the view's version, so it reacts to
// each of them (the service refuses to start a projection that misses one).
func NewOrderProjection(views OrderViews) (*reaction.Handler, error) {
	p := orderProjection{views: views}
	return reaction.New(reaction.On(p.placed), reaction.On(p.confirmed), reaction.On(p.rejected), reaction.On(p.cancelled))
}

type orderProjection struct {
	views OrderViews
}

func (p orderProjection) placed(ctx context.Context, rec eventstore.Record, e *order.Placed) error {
	return p.views.Create(ctx, OrderView{
		ID: e.OrderID, CustomerID: e.CustomerID, Items: e.Items, Total: e.Total,
		Status: order.StatusPending, CreatedAt: e.PlacedAt, UpdatedAt: e.PlacedAt, Version: rec.Version,
	})
}

func (p orderProjection) confirmed(ctx context.Context, rec eventstore.Record, e *order.Confirmed) error {
	return p.views.Update(ctx, rec.AggregateID, rec.Version, OrderChange{Status: order.StatusConfirmed, UpdatedAt: e.ConfirmedAt})
}

func (p orderProjection) rejected(ctx context.Context, rec eventstore.Record, e *order.Rejected) error {
	return p.views.Update(ctx, rec.AggregateID, rec.Version, OrderChange{Status: order.StatusRejected, Rejections: e.Reasons, UpdatedAt: e.RejectedAt})
}

func (p orderProjection) cancelled(ctx context.Context, rec eventstore.Record, e *order.Cancelled) error {
	return p.views.Update(ctx, rec.AggregateID, rec.Version, OrderChange{Status: order.StatusCancelled, CancelReason: e.Reason, UpdatedAt: e.CancelledAt})
}
