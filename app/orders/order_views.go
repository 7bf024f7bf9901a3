package orders

import (
	"context"
	"time"

	"shop/domain/money"
	"shop/domain/order"
	"shop/domain/refusal"
)

// ErrOrderNotFound is returned for an order the read model does not hold.
var ErrOrderNotFound = refusal.New(refusal.NotFound, "order_not_found", "no order has this id")

// OrderView is an order as queries see it.
type OrderView struct {
	ID           string
	CustomerID   string
	Items        []order.Item
	Total        money.Amount
	Status       order.Status
	Rejections   []order.ItemRejection
	CancelReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Version is the version of the order's last event applied to the view.
	Version int
}

// OrderState is an order as the command that changed it left it, taken from
// the aggregate itself: the answer to the request, which needs neither the
// read model, which lags, nor a read of the event store.
type OrderState struct {
	OrderView
	// Contact is the customer's, which the read model does not keep.
	Contact order.Contact
}

// StateOf is the state of an order aggregate; its slices are copies.
func StateOf(o *order.Order) OrderState {
	return OrderState{
		OrderView: OrderView{
			ID: o.ID(), CustomerID: o.CustomerID(), Items: o.Items(), Total: o.Total(), Status: o.Status(),
			Rejections: o.Rejections(), CancelReason: o.CancelReason(),
			CreatedAt: o.PlacedAt(), UpdatedAt: o.UpdatedAt(), Version: o.Version(),
		},
		Contact: o.Contact(),
	}
}

// OrderChange is what an event after the first changes in an order's view.
type OrderChange struct {
	Status       order.Status
	Rejections   []order.ItemRejection
	CancelReason string
	UpdatedAt    time.Time
}

// OrderFilter selects a page of orders, newest first.
type OrderFilter struct {
	// CustomerID and Status filter when not empty.
	CustomerID string
	Status     order.Status
	Limit      int
	// After is the cursor of the last order of the previous page.
	After *OrderCursor
}

// OrderCursor is a position in the newest-first order of orders.
type OrderCursor struct {
	CreatedAt time.Time
	ID        string
}

// OrderPage is one page of orders and the cursor of the next, if any.
type OrderPage struct {
	Orders []OrderView
	Next   *OrderCursor
}

// OrderViews is the orders read model. Every write is guarded by version
// (see readmodel.ShouldApply).
type OrderViews interface {
	// Create adds the view of a placed order (Version 1); if it exists, nothing changes.
	Create(ctx context.Context, v OrderView) error
	// Update applies the change of the order's event number version.
	Update(ctx context.Context, id string, version int, c OrderChange) error
	// Get returns ErrOrderNotFound for an unknown order.
	Get(ctx context.Context, id string) (OrderView, error)
	List(ctx context.Context, f OrderFilter) (OrderPage, error)
}

// Before reports whether v comes after c in the newest-first order, that is,
// belongs on a page after the cursor.
func (c OrderCursor) Before(v OrderView) bool {
	if !v.CreatedAt.Equal(c.CreatedAt) {
		return v.CreatedAt.Before(c.CreatedAt)
	}
	return v.ID < c.ID
}
