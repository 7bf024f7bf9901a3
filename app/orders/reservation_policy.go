package orders

import (
	"context"
	"fmt"

	"shop/app/eventstore"
	"shop/domain/inventory"
	"shop/domain/order"
)

// ReservationPolicy turns the inventory's decision about an order's stock into
// the order's confirmation or rejection.
type ReservationPolicy struct {
	commands CommandSender
}

// NewReservationPolicy builds the policy.
func NewReservationPolicy(commands CommandSender) *ReservationPolicy {
	return &ReservationPolicy{commands: commands}
}

// Events lists the events the policy reacts to.
func (p *ReservationPolicy) Events() []string {
	return []string{(&inventory.ReservationConfirmed{}).EventName(), (&inventory.ReservationRejected{}).EventName()}
}

func (p *ReservationPolicy) Handle(ctx context.Context, rec eventstore.Record) error {
	switch e := rec.Event.(type) {
	case *inventory.ReservationConfirmed:
		return p.commands.Send(ctx, ConfirmOrder{OrderID: e.OrderID})
	case *inventory.ReservationRejected:
		reasons := make([]order.ItemRejection, len(e.Shortages))
		for i, s := range e.Shortages {
			reasons[i] = order.ItemRejection{ProductID: s.ProductID, Reason: s.Reason.String(), Requested: s.Requested, Available: s.Available}
		}
		return p.commands.Send(ctx, RejectOrder{OrderID: e.OrderID, Reasons: reasons})
	default:
		return fmt.Errorf("reservation policy: unexpected event %s", rec.Type)
	}
}
