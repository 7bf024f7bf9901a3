package order

import (
	"time"

	"shop/domain/es"
	"shop/domain/money"
)

// AggregateType names order streams in the event store and on the bus.
const AggregateType = "order"

// Events lists every event of an order with the schema version its struct has.
func Events() []es.EventType {
	return []es.EventType{
		{SchemaVersion: 2, New: func() es.Event { return &Placed{} }, Upcasts: map[int]es.Upcast{1: placedV1ToV2}},
		{SchemaVersion: 1, New: func() es.Event { return &Confirmed{} }},
		{SchemaVersion: 1, New: func() es.Event { return &Rejected{} }},
		{SchemaVersion: 1, New: func() es.Event { return &Cancelled{} }},
	}
}

// Placed: a customer placed an order; its stock is not reserved yet.
//
// Schema 2. Schema 1, written by the platform this one replaces, held decimal
// prices and no contact; placedV1ToV2 upcasts it.
type Placed struct {
	OrderID    string
	CustomerID string
	Items      []Item
	Contact    Contact
	Total      money.Amount
	PlacedAt   time.Time
}

// Confirmed: every item of the order was reserved.
type Confirmed struct {
	OrderID     string
	ConfirmedAt time.Time
}

// Rejected: some item could not be reserved, so none is.
type Rejected struct {
	OrderID    string
	Reasons    []ItemRejection
	RejectedAt time.Time
}

// Cancelled: the order was called off; a confirmed order's stock is released.
type Cancelled struct {
	OrderID        string
	Reason         string
	PreviousStatus string
	CancelledAt    time.Time
}

func (*Placed) EventName() string    { return "order.placed" }
func (*Confirmed) EventName() string { return "order.confirmed" }
func (*Rejected) EventName() string  { return "order.rejected" }
func (*Cancelled) EventName() string { return "order.cancelled" }

// DataSubject: the customer's contact details are personal.
func (e *Placed) DataSubject() string { return e.CustomerID }

func (e *Placed) PersonalData() []*string {
	return []*string{&e.Contact.Email, &e.Contact.Phone, &e.Contact.DeviceToken}
}
