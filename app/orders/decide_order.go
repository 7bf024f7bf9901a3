package orders

import (
	"context"
	"errors"
	"log/slog"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/domain/order"
)

// ConfirmOrder confirms an order whose stock is reserved.
type ConfirmOrder struct {
	OrderID string
}

func (ConfirmOrder) CommandName() string { return "orders.confirm_order" }

// RejectOrder rejects an order whose stock could not be reserved.
type RejectOrder struct {
	OrderID string
	Reasons []order.ItemRejection
}

func (RejectOrder) CommandName() string { return "orders.reject_order" }

// ConfirmOrderHandler handles ConfirmOrder.
type ConfirmOrderHandler decorator.CommandHandler[ConfirmOrder]

// RejectOrderHandler handles RejectOrder.
type RejectOrderHandler decorator.CommandHandler[RejectOrder]

type decideOrderHandler struct {
	repo   Repository
	clock  eventstore.Clock
	logger *slog.Logger
}

// NewConfirmOrderHandler builds the handler.
func NewConfirmOrderHandler(repo Repository, clock eventstore.Clock, obs decorator.Observability) (ConfirmOrderHandler, error) {
	if repo == nil || clock == nil || obs.Logger == nil {
		return nil, errors.New("confirm order: repository, clock and logger are required")
	}
	h := decideOrderHandler{repo: repo, clock: clock, logger: obs.Logger}
	return decorator.ApplyCommandDecorators[ConfirmOrder](confirmOrderHandler{h}, obs), nil
}

// NewRejectOrderHandler builds the handler.
func NewRejectOrderHandler(repo Repository, clock eventstore.Clock, obs decorator.Observability) (RejectOrderHandler, error) {
	if repo == nil || clock == nil || obs.Logger == nil {
		return nil, errors.New("reject order: repository, clock and logger are required")
	}
	h := decideOrderHandler{repo: repo, clock: clock, logger: obs.Logger}
	return decorator.ApplyCommandDecorators[RejectOrder](rejectOrderHandler{h}, obs), nil
}

type confirmOrderHandler struct{ decideOrderHandler }

func (h confirmOrderHandler) Handle(ctx context.Context, cmd ConfirmOrder) error {
	return h.decide(ctx, cmd.OrderID, func(o *order.Order) error { return o.Confirm(h.clock.Now()) })
}

type rejectOrderHandler struct{ decideOrderHandler }

func (h rejectOrderHandler) Handle(ctx context.Context, cmd RejectOrder) error {
	return h.decide(ctx, cmd.OrderID, func(o *order.Order) error { return o.Reject(cmd.Reasons, h.clock.Now()) })
}

// decide applies the inventory's decision. An order that is no longer pending
// was cancelled while its stock was being reserved (the inventory gives the
// stock back when it sees the cancellation), or the decision is a repeat: either
// way there is nothing left to do.
func (h decideOrderHandler) decide(ctx context.Context, orderID string, change func(*order.Order) error) error {
	err := h.repo.Update(ctx, orderID, change)
	if errors.Is(err, order.ErrNotPending) {
		h.logger.InfoContext(ctx, "decision for an order that is no longer pending ignored", "order_id", orderID, "reason", err)
		return nil
	}
	return err
}
