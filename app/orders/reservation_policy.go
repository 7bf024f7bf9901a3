package orders

import (
	"context"
	"fmt"

	"shop/app/eventstore"
	"shop/domain/inventory"
	"shop/domain/order"
)

// ReservationPolicy turns the inventory's decision about an order's stock into
// the order's confirmation or rejection. It calls this service's own command
// handlers: no bus hop is needed within a service. A redelivered decision
// changes nothing, since an order is decided once.
type ReservationPolicy struct {
	confirm ConfirmOrderHandler
	reject  RejectOrderHandler
}

// NewReservationPolicy builds the policy.
func NewReservationPolicy(confirm ConfirmOrderHandler, reject RejectOrderHandler) *ReservationPolicy {
	return &ReservationPolicy{confirm: confirm, reject: reject}
}

// Events lists the events the policy reacts to.
func (p *ReservationPolicy) Events() []string {
	return []string{(&inventory.ReservationConfirmed{}).EventName(), (&inventory.ReservationRejected{}).EventName()}
}

func (p *ReservationPolicy) Handle(ctx context.Context, rec eventstore.Record) error {
	switch e := rec.Event.(type) {
	case *inventory.ReservationConfirmed:
		return p.confirm.Handle(ctx, ConfirmOrder{OrderID: e.OrderID})
	case *inventory.ReservationRejected:
		reasons := make([]order.ItemRejection, len(e.Shortages))
		for i, s := range e.Shortages {
			reasons[i] = order.ItemRejection{ProductID: s.ProductID, Reason: s.Reason.String(), Requested: s.Requested, Available: s.Available}
		}
		return p.reject.Handle(ctx, RejectOrder{OrderID: e.OrderID, Reasons: reasons})
	default:
		return fmt.Errorf("reservation policy: unexpected event %s", rec.Type)
	}
}
