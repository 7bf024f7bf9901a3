package order

import "shop/domain/refusal"

var (
	// ErrNotPending is returned when confirming or rejecting an order that was
	// already decided or cancelled.
	ErrNotPending = refusal.New(refusal.Conflict, "order_not_pending", "order is not pending")
	// ErrNotCancellable is returned when cancelling an order that was rejected
	// or already cancelled.
	ErrNotCancellable = refusal.New(refusal.Conflict, "order_not_cancellable", "order cannot be cancelled")
)
