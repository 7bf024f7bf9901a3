// Package notification is the customer-messaging bounded context: one
// notification per order, kind and channel, delivered at most once and retried
// a bounded number of times.
package notification

import (
	"errors"
	"fmt"
	"strings"
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

// ParseID splits a notification id into its order, kind and channel.
func ParseID(id string) (orderID string, kind Kind, channel Channel, err error) {
	rest, ch, ok1 := cutLast(id)
	orderID, k, ok2 := cutLast(rest)
	if !ok1 || !ok2 || orderID == "" {
		return "", Kind{}, Channel{}, fmt.Errorf("notification id %q is not order:kind:channel", id)
	}
	if kind, err = KindFromString(k); err != nil {
		return "", Kind{}, Channel{}, err
	}
	if channel, err = ChannelFromString(ch); err != nil {
		return "", Kind{}, Channel{}, err
	}
	return orderID, kind, channel, nil
}

func cutLast(s string) (before, after string, found bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
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
func New(orderID string, kind Kind, channel Channel) *Notification {
	return &Notification{
		Root:    es.NewRoot(ID(orderID, kind, channel)),
		orderID: orderID,
		kind:    kind,
		channel: channel,
		status:  StatusPending,
	}
}

// RecordSent notes a successful delivery to recipient.
func (n *Notification) RecordSent(recipient string, now time.Time) error {
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID(), n.status)
	}
	return n.record(&Sent{
		NotificationID: n.ID(), OrderID: n.orderID, Kind: n.kind, Channel: n.channel,
		Recipient: recipient, Attempt: n.attempts + 1, SentAt: now,
	})
}

// RecordFailure notes a failed delivery to recipient; the attempt that reaches
// maxAttempts gives the notification up.
func (n *Notification) RecordFailure(recipient, reason string, maxAttempts int, now time.Time) error {
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID(), n.status)
	}
	attempt := n.attempts + 1
	return n.record(&DeliveryFailed{
		NotificationID: n.ID(), OrderID: n.orderID, Kind: n.kind, Channel: n.channel,
		Recipient: recipient, Attempt: attempt, Error: reason, GaveUp: attempt >= maxAttempts, FailedAt: now,
	})
}

// FromHistory rebuilds a notification from its stored events; with none, it is
// the notification its id names, not attempted yet.
func FromHistory(id string, history []es.Event) (*Notification, error) {
	orderID, kind, channel, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	n := New(orderID, kind, channel)
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
