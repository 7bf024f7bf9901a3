package orders

import (
	"context"
	"fmt"

	"shop/app/eventstore"
	"shop/domain/order"
	"shop/domain/refusal"
)

// GetOrder asks for the read model's view of an order. It may lag the order's
// last change by the time the event takes to reach the projection.
type GetOrder struct {
	OrderID string
}

// GetOrderHandler answers GetOrder.
type GetOrderHandler struct {
	views OrderViews
}

func NewGetOrderHandler(views OrderViews) GetOrderHandler { return GetOrderHandler{views: views} }

func (h GetOrderHandler) Handle(ctx context.Context, q GetOrder) (OrderView, error) {
	return h.views.Get(ctx, q.OrderID)
}

// ListOrders asks for a page of orders, newest first.
type ListOrders = OrderFilter

// ErrCustomerRequired refuses a listing of every customer's orders: orders
// are listed one customer at a time, so that one customer's answer never
// holds another's orders.
var ErrCustomerRequired = refusal.New(refusal.Invalid, "invalid_parameter", "customerId is required: orders are listed one customer at a time")

// ListOrdersHandler answers ListOrders.
type ListOrdersHandler struct {
	views OrderViews
}

func NewListOrdersHandler(views OrderViews) ListOrdersHandler { return ListOrdersHandler{views: views} }

func (h ListOrdersHandler) Handle(ctx context.Context, q ListOrders) (OrderPage, error) {
	if q.CustomerID == "" {
		return OrderPage{}, ErrCustomerRequired
	}
	return h.views.List(ctx, q)
}

// GetOrderHistory asks for the audit trail of an order: its stored events,
// oldest first.
type GetOrderHistory struct {
	OrderID string
}

// GetOrderHistoryHandler answers GetOrderHistory from the event store.
type GetOrderHistoryHandler struct {
	store eventstore.Store
}

func NewGetOrderHistoryHandler(store eventstore.Store) GetOrderHistoryHandler {
	return GetOrderHistoryHandler{store: store}
}

func (h GetOrderHistoryHandler) Handle(ctx context.Context, q GetOrderHistory) ([]eventstore.Record, error) {
	records, err := h.store.Load(ctx, order.AggregateType, q.OrderID)
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrOrderNotFound, q.OrderID)
	}
	return records, nil
}
