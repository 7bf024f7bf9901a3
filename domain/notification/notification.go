// Package notification is the customer-messaging bounded context: one
// notification per order, kind and channel, delivered at most once and retried
// a bounded number of times.
package notification

import (
	"errors"
	"fmt"
	"time"

	"shop/domain/es"
)

// ErrFinal is returned when recording an attempt of a notification that was
// already sent or given up on.
var ErrFinal = errors.New("notification already final")

// Contact is what the customer left to be reached by.
type Contact struct {
	Email       string
	Phone       string
	DeviceToken string
}

// Delivery is one channel and the address on it.
type Delivery struct {
	Channel Channel
	Address string
}

// DeliveriesFor picks a channel for every way of reaching the customer, or the
// log channel when there is none.
func DeliveriesFor(c Contact) []Delivery {
	var ds []Delivery
	if c.Email != "" {
		ds = append(ds, Delivery{ChannelEmail, c.Email})
	}
	if c.Phone != "" {
		ds = append(ds, Delivery{ChannelSMS, c.Phone})
	}
	if c.DeviceToken != "" {
		ds = append(ds, Delivery{ChannelPush, c.DeviceToken})
	}
	if len(ds) == 0 {
		ds = append(ds, Delivery{Channel: ChannelLog})
	}
	return ds
}

// ID is the identity of the notification about an order of a kind on a
// channel: the same cause always names the same notification, so it is sent once.
func ID(orderID string, kind Kind, channel Channel) string {
	return fmt.Sprintf("%s:%s:%s", orderID, kind, channel)
}

// Notification is the delivery record of one message to a customer.
type Notification struct {
	es.Root

	orderID   string
	kind      Kind
	channel   Channel
	recipient string
	status    Status
	attempts  int
	lastError string
}

// New is a notification not attempted yet.
func New(orderID string, kind Kind, d Delivery) *Notification {
	return &Notification{
		Root:      es.NewRoot(ID(orderID, kind, d.Channel)),
		orderID:   orderID,
		kind:      kind,
		channel:   d.Channel,
		recipient: d.Address,
		status:    StatusPending,
	}
}

// RecordSent notes a successful delivery.
func (n *Notification) RecordSent(now time.Time) error {
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID(), n.status)
	}
	return n.record(&Sent{
		NotificationID: n.ID(), OrderID: n.orderID, Kind: n.kind, Channel: n.channel,
		Recipient: n.recipient, Attempt: n.attempts + 1, SentAt: now,
	})
}

// RecordFailure notes a failed delivery; after maxAttempts the notification is
// given up on.
func (n *Notification) RecordFailure(reason string, maxAttempts int, now time.Time) error {
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID(), n.status)
	}
	attempt := n.attempts + 1
	return n.record(&DeliveryFailed{
		NotificationID: n.ID(), OrderID: n.orderID, Kind: n.kind, Channel: n.channel,
		Recipient: n.recipient, Attempt: attempt, Error: reason, GaveUp: attempt >= maxAttempts, FailedAt: now,
	})
}

// FromHistory rebuilds a notification from its stored events.
func FromHistory(id string, history []es.Event) (*Notification, error) {
	n := &Notification{Root: es.NewRoot(id), status: StatusPending}
	for _, e := range history {
		if err := n.apply(e); err != nil {
			return nil, err
		}
		n.Replayed()
	}
	return n, nil
}

func (n *Notification) record(e es.Event) error {
	if err := n.apply(e); err != nil {
		return err
	}
	n.Track(e)
	return nil
}

func (n *Notification) apply(e es.Event) error {
	switch e := e.(type) {
	case *Sent:
		n.orderID, n.kind, n.channel, n.recipient = e.OrderID, e.Kind, e.Channel, e.Recipient
		n.status, n.attempts = StatusSent, e.Attempt
	case *DeliveryFailed:
		n.orderID, n.kind, n.channel, n.recipient = e.OrderID, e.Kind, e.Channel, e.Recipient
		n.attempts, n.lastError = e.Attempt, e.Error
		if e.GaveUp {
			n.status = StatusFailed
		}
	default:
		return es.UnknownEventError(AggregateType, e)
	}
	return nil
}

// IsFinal is true once the notification was sent or given up on.
func (n *Notification) IsFinal() bool { return n.status != StatusPending }

func (n *Notification) OrderID() string   { return n.orderID }
func (n *Notification) Kind() Kind        { return n.kind }
func (n *Notification) Channel() Channel  { return n.channel }
func (n *Notification) Recipient() string { return n.recipient }
func (n *Notification) Status() Status    { return n.status }
func (n *Notification) Attempts() int     { return n.attempts }
func (n *Notification) LastError() string { return n.lastError }
