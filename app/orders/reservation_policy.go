package orders

import (
	"context"

	"shop/app/eventstore"
	"shop/app/reaction"
	"shop/domain/inventory"
	"shop/domain/order"
)

// NewReservationPolicy builds the policy that turns the inventory's decision
// about an order's stock into the order's confirmation or rejection. It calls
// this service's own command handlers: no bus hop is needed within a service.
// A redelivered decision changes nothing, since an order is decided once.
func NewReservationPolicy(confirm ConfirmOrderHandler, reject RejectOrderHandler) (*reaction.Handler, error) {
	p := reservationPolicy{confirm: confirm, reject: reject}
	return reaction.New(reaction.On(p.confirmed), reaction.On(p.rejected))
}

type reservationPolicy struct {
	confirm ConfirmOrderHandler
	reject  RejectOrderHandler
}

func (p reservationPolicy) confirmed(ctx context.Context, _ eventstore.Record, e *inventory.ReservationConfirmed) error {
	return p.confirm.Handle(ctx, ConfirmOrder{OrderID: e.OrderID})
}

func (p reservationPolicy) rejected(ctx context.Context, _ eventstore.Record, e *inventory.ReservationRejected) error {
	reasons := make([]order.ItemRejection, len(e.Shortages))
	for i, s := range e.Shortages {
		reasons[i] = order.ItemRejection{ProductID: s.ProductID, Reason: s.Reason.String(), Requested: s.Requested, Available: s.Available}
	}
	return p.reject.Handle(ctx, RejectOrder{OrderID: e.OrderID, Reasons: reasons})
}
