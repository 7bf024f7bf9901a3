package inventory

import (
	"time"

	"shop/domain/es"
)

// Aggregate types of the inventory context.
const (
	StockAggregateType       = "stock"
	ReservationAggregateType = "reservation"
)

// StockEvents lists every event of a product's stock.
func StockEvents() []es.EventType {
	return []es.EventType{
		{SchemaVersion: 1, New: func() es.Event { return &ProductAdded{} }},
		{SchemaVersion: 1, New: func() es.Event { return &StockRestocked{} }},
		{SchemaVersion: 1, New: func() es.Event { return &StockReserved{} }},
		{SchemaVersion: 1, New: func() es.Event { return &StockReleased{} }},
	}
}

// ReservationEvents lists every event of an order's reservation.
func ReservationEvents() []es.EventType {
	return []es.EventType{
		{SchemaVersion: 1, New: func() es.Event { return &ReservationConfirmed{} }},
		{SchemaVersion: 1, New: func() es.Event { return &ReservationRejected{} }},
		{SchemaVersion: 1, New: func() es.Event { return &ReservationCancelled{} }},
	}
}

// ProductAdded: a product entered the catalog with its initial stock.
type ProductAdded struct {
	ProductID    string
	Name         string
	InitialStock int
	AddedAt      time.Time
}

// StockRestocked: units arrived and are available.
type StockRestocked struct {
	ProductID   string
	Quantity    int
	RestockedAt time.Time
}

// StockReserved: units were set aside for an order.
type StockReserved struct {
	ProductID  string
	OrderID    string
	Quantity   int
	ReservedAt time.Time
}

// StockReleased: an order's reserved units became available again.
type StockReleased struct {
	ProductID  string
	OrderID    string
	Quantity   int
	ReleasedAt time.Time
}

// ReservationConfirmed: every line of an order is reserved.
type ReservationConfirmed struct {
	OrderID     string
	Lines       []Line
	ConfirmedAt time.Time
}

// ReservationRejected: some line could not be reserved; nothing stays reserved.
type ReservationRejected struct {
	OrderID    string
	Shortages  []Shortage
	RejectedAt time.Time
}

// ReservationCancelled: the order was cancelled; Released lists the lines whose
// stock was given back (none when the order was cancelled before its stock was
// reserved).
type ReservationCancelled struct {
	OrderID     string
	Released    []Line
	CancelledAt time.Time
}

func (*ProductAdded) EventName() string         { return "inventory.product_added" }
func (*StockRestocked) EventName() string       { return "inventory.stock_restocked" }
func (*StockReserved) EventName() string        { return "inventory.stock_reserved" }
func (*StockReleased) EventName() string        { return "inventory.stock_released" }
func (*ReservationConfirmed) EventName() string { return "inventory.reservation_confirmed" }
func (*ReservationRejected) EventName() string  { return "inventory.reservation_rejected" }
func (*ReservationCancelled) EventName() string { return "inventory.reservation_cancelled" }
