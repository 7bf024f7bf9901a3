package orders

import (
	"context"
	"errors"
	"fmt"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/domain/order"
)

// CancelOrder calls off a pending or confirmed order.
type CancelOrder struct {
	OrderID string
	Reason  string
}

func (CancelOrder) CommandName() string { return "orders.cancel_order" }

// CancelOrderHandler handles CancelOrder.
type CancelOrderHandler decorator.CommandHandler[CancelOrder]

type cancelOrderHandler struct {
	repo  Repository
	clock eventstore.Clock
}

// NewCancelOrderHandler builds the handler.
func NewCancelOrderHandler(repo Repository, clock eventstore.Clock, obs decorator.Observability) (CancelOrderHandler, error) {
	if repo == nil || clock == nil {
		return nil, errors.New("cancel order: repository and clock are required")
	}
	return decorator.ApplyCommandDecorators[CancelOrder](cancelOrderHandler{repo: repo, clock: clock}, obs), nil
}

func (h cancelOrderHandler) Handle(ctx context.Context, cmd CancelOrder) error {
	err := h.repo.Update(ctx, cmd.OrderID, func(o *order.Order) error {
		return o.Cancel(cmd.Reason, h.clock.Now())
	})
	if errors.Is(err, eventstore.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrOrderNotFound, err)
	}
	return err
}
