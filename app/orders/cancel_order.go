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

// CancelOrderHandler handles CancelOrder and answers with the order cancelled.
type CancelOrderHandler decorator.AnsweringHandler[CancelOrder, OrderState]

type cancelOrderHandler struct {
	repo  Repository
	clock eventstore.Clock
}

// NewCancelOrderHandler builds the handler.
func NewCancelOrderHandler(repo Repository, clock eventstore.Clock, obs decorator.Observability) (CancelOrderHandler, error) {
	if repo == nil || clock == nil {
		return nil, errors.New("cancel order: repository and clock are required")
	}
	return decorator.ApplyAnsweringDecorators[CancelOrder, OrderState](cancelOrderHandler{repo: repo, clock: clock}, obs), nil
}

func (h cancelOrderHandler) Handle(ctx context.Context, cmd CancelOrder) (OrderState, error) {
	var cancelled OrderState
	err := h.repo.Update(ctx, cmd.OrderID, func(o *order.Order) error {
		if err := o.Cancel(cmd.Reason, h.clock.Now()); err != nil {
			return err
		}
		// Taken under the repository's lock, which the next change of the
		// cached order waits for.
		cancelled = StateOf(o)
		return nil
	})
	switch {
	case errors.Is(err, eventstore.ErrNotFound):
		return OrderState{}, fmt.Errorf("%w: %w", ErrOrderNotFound, err)
	case !outcomeUnknown(err):
		return cancelled, err
	}
	// The cancellation may have been stored before the answer was lost.
	stored, found, rerr := resolve(ctx, h.repo, cmd.OrderID)
	switch {
	case rerr != nil:
		return OrderState{}, &OutcomeUnknownError{OrderID: cmd.OrderID, Err: err}
	case found && stored.Status() == order.StatusCancelled && stored.CancelReason() == cmd.Reason:
		return StateOf(stored), nil
	}
	return OrderState{}, err
}
