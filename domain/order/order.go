// Package order is the ordering bounded context: an order is placed with its
// items, then confirmed once its stock is reserved, rejected when it cannot be,
// or cancelled by the customer.
package order

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"shop/domain/es"
	"shop/domain/money"
	"shop/domain/validation"
)

// Limits of one order.
const (
	MaxItems        = 100
	MaxQuantity     = 10_000
	maxIDLength     = 128
	maxNameLength   = 200
	maxReasonLength = 500
)

// Item is one line of an order.
type Item struct {
	ProductID   string
	ProductName string
	Quantity    int
	UnitPrice   money.Amount
}

// Total is the price of the line.
func (i Item) Total() money.Amount { return i.UnitPrice.Times(i.Quantity) }

// Contact says how the customer wants to hear about the order. Every field is
// optional; each one given is a notification channel.
type Contact struct {
	Email       string
	Phone       string
	DeviceToken string
}

// ItemRejection says why one item of an order could not be reserved.
type ItemRejection struct {
	ProductID string
	Reason    string
	Requested int
	Available int
}

// Order is an event-sourced order.
type Order struct {
	es.Root

	customerID   string
	items        []Item
	contact      Contact
	total        money.Amount
	status       Status
	rejections   []ItemRejection
	cancelReason string
	placedAt     time.Time
	updatedAt    time.Time
}

// Place starts a new order after checking every rule; all violations are
// reported together in a *validation.Error.
func Place(id, customerID string, items []Item, contact Contact, now time.Time) (*Order, error) {
	if err := validatePlacement(id, customerID, items, contact); err != nil {
		return nil, err
	}
	var total money.Amount
	for _, it := range items {
		total += it.Total()
	}
	o := &Order{Root: es.NewRoot(id)}
	err := o.record(&Placed{
		OrderID:    id,
		CustomerID: customerID,
		Items:      append([]Item(nil), items...),
		Contact:    contact,
		Total:      total,
		PlacedAt:   now,
	})
	return o, err
}

func validatePlacement(id, customerID string, items []Item, contact Contact) error {
	var v validation.Errors
	if id == "" || len(id) > maxIDLength {
		v.Add("id", "must be 1 to %d characters", maxIDLength)
	}
	if !validation.SafeID(customerID, maxIDLength) {
		v.Add("customerId", validation.SafeIDRule, maxIDLength)
	}
	if len(items) == 0 || len(items) > MaxItems {
		v.Add("items", "must hold 1 to %d items, has %d", MaxItems, len(items))
	}
	seen := make(map[string]int, len(items))
	for i, it := range items {
		field := fmt.Sprintf("items[%d]", i)
		switch first, dup := seen[it.ProductID]; {
		case !validation.SafeID(it.ProductID, maxIDLength):
			v.Add(field+".productId", validation.SafeIDRule, maxIDLength)
		case dup:
			v.Add(field+".productId", "repeats items[%d]; put the whole quantity on one item", first)
		default:
			seen[it.ProductID] = i
		}
		if strings.TrimSpace(it.ProductName) == "" || len(it.ProductName) > maxNameLength {
			v.Add(field+".productName", "must be 1 to %d characters", maxNameLength)
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			v.Add(field+".quantity", "must be between 1 and %d", MaxQuantity)
		}
		if it.UnitPrice <= 0 || it.UnitPrice > money.Max {
			v.Add(field+".unitPrice", "must be greater than 0 and at most %s", money.Max)
		}
	}
	if contact.Email != "" {
		if a, err := mail.ParseAddress(contact.Email); err != nil || a.Address != contact.Email {
			v.Add("contact.email", "must be a plain e-mail address such as name@example.com")
		}
	}
	if contact.Phone != "" && !isPhoneNumber(contact.Phone) {
		v.Add("contact.phone", "must be an international number such as +4915112345678")
	}
	if len(contact.DeviceToken) > 4096 || (contact.DeviceToken != "" && strings.TrimSpace(contact.DeviceToken) == "") {
		v.Add("contact.deviceToken", "must be 1 to 4096 characters")
	}
	return v.Err()
}

// isPhoneNumber accepts E.164: a plus sign and 7 to 15 digits.
func isPhoneNumber(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Confirm marks a pending order as confirmed: all its stock is reserved.
func (o *Order) Confirm(now time.Time) error {
	if o.status != StatusPending {
		return fmt.Errorf("%w: it is %s", ErrNotPending, o.status)
	}
	return o.record(&Confirmed{OrderID: o.ID(), ConfirmedAt: now})
}

// Reject marks a pending order as rejected, with the reason of each item that
// could not be reserved.
func (o *Order) Reject(reasons []ItemRejection, now time.Time) error {
	if o.status != StatusPending {
		return fmt.Errorf("%w: it is %s", ErrNotPending, o.status)
	}
	return o.record(&Rejected{OrderID: o.ID(), Reasons: append([]ItemRejection(nil), reasons...), RejectedAt: now})
}

// Cancel calls off a pending or confirmed order.
func (o *Order) Cancel(reason string, now time.Time) error {
	if o.status != StatusPending && o.status != StatusConfirmed {
		return fmt.Errorf("%w: it is %s", ErrNotCancellable, o.status)
	}
	if len(reason) > maxReasonLength {
		var v validation.Errors
		v.Add("reason", "must be at most %d characters", maxReasonLength)
		return v.Err()
	}
	return o.record(&Cancelled{OrderID: o.ID(), Reason: reason, PreviousStatus: o.status.String(), CancelledAt: now})
}

// FromHistory rebuilds an order from its stored events, oldest first.
func FromHistory(id string, history []es.Event) (*Order, error) {
	o := &Order{Root: es.NewRoot(id)}
	for _, e := range history {
		if err := o.apply(e); err != nil {
			return nil, err
		}
		o.Replayed()
	}
	return o, nil
}

func (o *Order) record(e es.Event) error {
	if err := o.apply(e); err != nil {
		return err
	}
	o.Track(e)
	return nil
}

// apply is the only place where an order's state changes.
func (o *Order) apply(e es.Event) error {
	switch e := e.(type) {
	case *Placed:
		o.customerID, o.items, o.contact, o.total = e.CustomerID, e.Items, e.Contact, e.Total
		o.status, o.placedAt, o.updatedAt = StatusPending, e.PlacedAt, e.PlacedAt
	case *Confirmed:
		o.status, o.updatedAt = StatusConfirmed, e.ConfirmedAt
	case *Rejected:
		o.status, o.rejections, o.updatedAt = StatusRejected, e.Reasons, e.RejectedAt
	case *Cancelled:
		o.status, o.cancelReason, o.updatedAt = StatusCancelled, e.Reason, e.CancelledAt
	default:
		return es.UnknownEventError(AggregateType, e)
	}
	return nil
}

func (o *Order) CustomerID() string          { return o.customerID }
func (o *Order) Items() []Item               { return append([]Item(nil), o.items...) }
func (o *Order) Contact() Contact            { return o.contact }
func (o *Order) Total() money.Amount         { return o.total }
func (o *Order) Status() Status              { return o.status }
func (o *Order) Rejections() []ItemRejection { return append([]ItemRejection(nil), o.rejections...) }
func (o *Order) CancelReason() string        { return o.cancelReason }
func (o *Order) PlacedAt() time.Time         { return o.placedAt }
func (o *Order) UpdatedAt() time.Time        { return o.updatedAt }

// Snapshot is an order's state as of a version (see es.RestoredRoot). Its
// fields are its stored form: changing them is a new SnapshotSchema, and
// snapshots of another schema are not read. The contact is personal data,
// sealed like the events' (es.Personal).
type Snapshot struct {
	CustomerID   string
	Items        []Item
	Contact      Contact
	Total        money.Amount
	Status       string
	Rejections   []ItemRejection
	CancelReason string
	PlacedAt     time.Time
	UpdatedAt    time.Time
}

// SnapshotSchema versions Snapshot.
const SnapshotSchema = 1

func (s *Snapshot) DataSubject() string { return s.CustomerID }
func (s *Snapshot) PersonalData() []*string {
	return []*string{&s.Contact.Email, &s.Contact.Phone, &s.Contact.DeviceToken}
}

// Snapshot is the order's state; its slices are copies.
func (o *Order) Snapshot() Snapshot {
	return Snapshot{
		CustomerID: o.customerID, Items: o.Items(), Contact: o.contact, Total: o.total, Status: o.status.String(),
		Rejections: o.Rejections(), CancelReason: o.cancelReason, PlacedAt: o.placedAt, UpdatedAt: o.updatedAt,
	}
}

// FromSnapshot rebuilds an order from its state at version and the events
// stored after it.
func FromSnapshot(id string, version int, snap Snapshot, tail []es.Event) (*Order, error) {
	o := &Order{
		Root: es.RestoredRoot(id, version), customerID: snap.CustomerID, items: append([]Item(nil), snap.Items...), contact: snap.Contact,
		total: snap.Total, rejections: append([]ItemRejection(nil), snap.Rejections...), cancelReason: snap.CancelReason,
		placedAt: snap.PlacedAt, updatedAt: snap.UpdatedAt,
	}
	if snap.Status != "" {
		status, err := StatusFromString(snap.Status)
		if err != nil {
			return nil, fmt.Errorf("order %s: snapshot: %w", id, err)
		}
		o.status = status
	}
	for _, e := range tail {
		if err := o.apply(e); err != nil {
			return nil, err
		}
		o.Replayed()
	}
	return o, nil
}
