package inventory

import (
	"fmt"

	"shop/domain/refusal"
)

var (
	// ErrReservationDecided is returned when confirming or rejecting a
	// reservation that was already decided or cancelled.
	ErrReservationDecided = refusal.New(refusal.Conflict, "reservation_decided", "reservation already decided")
)

// InsufficientStockError is returned when an order asks for more units than
// are available.
type InsufficientStockError struct {
	ProductID string
	Requested int
	Available int
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("insufficient stock of %s: requested %d, available %d", e.ProductID, e.Requested, e.Available)
}
