package order

import "errors"

var (
	// ErrNotPending is returned when confirming or rejecting an order that was
	// already decided or cancelled.
	ErrNotPending = errors.New("order is not pending")
	// ErrNotCancellable is returned when cancelling an order that was rejected
	// or already cancelled.
	ErrNotCancellable = errors.New("order cannot be cancelled")
)
