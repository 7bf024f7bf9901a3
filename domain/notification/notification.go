// Package notification is the customer-messaging bounded context: what it
// keeps of each order, whom to tell and what it told them, one notification
// per order, kind and channel, delivered once and retried a bounded number of
// times.
package notification

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"shop/domain/es"
	"shop/domain/money"
	"shop/domain/refusal"
)

// ErrFinal is returned when recording an attempt of a notification that was
// already sent or given up on.
var ErrFinal = refusal.New(refusal.Conflict, "notification_final", "notification already final")

// ErrRecipientUnknown is returned when an order's notification is asked for
// before the order's placement said whom to tell.
var ErrRecipientUnknown = errors.New("recipient of the order not known")

// Contact is what the customer left to be reached by.
type Contact struct {
	Email       string
	Phone       string
	DeviceToken string
}

// Item is a line of the order, as its notifications name it.
type Item struct {
	ProductID   string
	ProductName string
	Quantity    int
	UnitPrice   money.Amount
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
	return orderID + ":" + kind.s + ":" + channel.s
}

// StreamsOf names every stream an order's notifications were kept in: its
// correspondence's, and those that versions before correspondences kept, one
// per notification, under the notification's id.
func StreamsOf(orderID string) []string {
	streams := []string{orderID}
	for _, k := range kinds {
		for _, c := range channels {
			streams = append(streams, ID(orderID, k, c))
		}
	}
	return streams
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

// Notification is one message to the customer about the order, of one kind
// on one channel, and how its delivery went.
type Notification struct {
	ID        string
	Kind      Kind
	Channel   Channel
	Recipient string
	Status    Status
	Attempts  int
	LastError string
	UpdatedAt time.Time
}

// IsFinal is true once the notification was sent or given up on.
func (n Notification) IsFinal() bool { return n.Status != StatusPending }

type slot struct {
	kind    Kind
	channel Channel
}

// Correspondence is what this context keeps of one order, under the order's
// id: whom to tell, noted when the order was placed, and every notification
// about the order. Keeping both in one aggregate means that telling the
// customer about an order reads one stream, which the process that told them
// last usually holds already, and that no record outside the event store says
// who the customer is.
type Correspondence struct {
	es.Root

	customerID    string
	contact       Contact
	items         []Item
	total         money.Amount
	noted         bool
	notifications map[slot]*Notification
}

func newCorrespondence(orderID string) *Correspondence {
	return &Correspondence{Root: es.NewRoot(orderID), notifications: map[slot]*Notification{}}
}

// NoteRecipient records whom the order's notifications go to. The first
// recipient noted stays: an order is placed once, and a second note is a
// repeat of the same placement.
func (c *Correspondence) NoteRecipient(customerID string, contact Contact, items []Item, total money.Amount, now time.Time) error {
	if c.noted {
		return nil
	}
	return c.record(&RecipientNoted{OrderID: c.ID(), CustomerID: customerID, Contact: contact, Items: items, Total: total, NotedAt: now})
}

// Due lists the deliveries of a kind of notification not sent nor given up
// on yet, on every channel of the recipient's contact. ErrRecipientUnknown
// before the recipient was noted.
func (c *Correspondence) Due(kind Kind) ([]Delivery, error) {
	if !c.noted {
		return nil, ErrRecipientUnknown
	}
	var due []Delivery
	for _, d := range DeliveriesFor(c.contact) {
		if n, ok := c.notifications[slot{kind, d.Channel}]; !ok || !n.IsFinal() {
			due = append(due, d)
		}
	}
	return due, nil
}

// RecordSent notes a successful delivery of a kind of notification to
// recipient on a channel.
func (c *Correspondence) RecordSent(kind Kind, channel Channel, recipient string, now time.Time) error {
	return c.recordDelivered(kind, channel, recipient, false, now)
}

// RecordLogged notes a notification that went to the log only, no provider
// being configured for its channel.
func (c *Correspondence) RecordLogged(kind Kind, channel Channel, recipient string, now time.Time) error {
	return c.recordDelivered(kind, channel, recipient, true, now)
}

func (c *Correspondence) recordDelivered(kind Kind, channel Channel, recipient string, logged bool, now time.Time) error {
	n := c.notification(kind, channel)
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID, n.Status)
	}
	return c.record(&Sent{
		NotificationID: n.ID, OrderID: c.ID(), CustomerID: c.customerID, Kind: kind, Channel: channel,
		Recipient: recipient, Attempt: n.Attempts + 1, SentAt: now, Logged: logged,
	})
}

// RecordFailure notes a failed delivery; the attempt that reaches maxAttempts
// gives the notification up.
func (c *Correspondence) RecordFailure(kind Kind, channel Channel, recipient, reason string, maxAttempts int, now time.Time) error {
	return c.recordFailure(kind, channel, recipient, reason, func(attempt int) bool { return attempt >= maxAttempts }, false, now)
}

// RecordRefusal notes a delivery the provider refused for good: the
// notification fails at once.
func (c *Correspondence) RecordRefusal(kind Kind, channel Channel, recipient, reason string, now time.Time) error {
	return c.recordFailure(kind, channel, recipient, reason, func(int) bool { return true }, true, now)
}

func (c *Correspondence) recordFailure(kind Kind, channel Channel, recipient, reason string, last func(attempt int) bool, permanent bool, now time.Time) error {
	n := c.notification(kind, channel)
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID, n.Status)
	}
	attempt := n.Attempts + 1
	return c.record(&DeliveryFailed{
		NotificationID: n.ID, OrderID: c.ID(), CustomerID: c.customerID, Kind: kind, Channel: channel, Recipient: recipient,
		Attempt: attempt, Error: reason, GaveUp: last(attempt), Permanent: permanent, FailedAt: now,
	})
}

// RecordWithheld notes a notification that will not be sent since the
// customer's personal data was erased.
func (c *Correspondence) RecordWithheld(kind Kind, channel Channel, now time.Time) error {
	n := c.notification(kind, channel)
	if n.IsFinal() {
		return fmt.Errorf("%w: %s is %s", ErrFinal, n.ID, n.Status)
	}
	return c.record(&Withheld{NotificationID: n.ID, OrderID: c.ID(), Kind: kind, Channel: channel, WithheldAt: now})
}

// notification is the order's notification of a kind on a channel, a pending
// one not attempted yet if there is none.
func (c *Correspondence) notification(kind Kind, channel Channel) Notification {
	if n, ok := c.notifications[slot{kind, channel}]; ok {
		return *n
	}
	return Notification{ID: ID(c.ID(), kind, channel), Kind: kind, Channel: channel, Status: StatusPending}
}

// Notification is the order's notification of a kind on a channel, and
// whether one was attempted.
func (c *Correspondence) Notification(kind Kind, channel Channel) (Notification, bool) {
	n, ok := c.notifications[slot{kind, channel}]
	if !ok {
		return Notification{}, false
	}
	return *n, true
}

// Notifications lists every notification attempted, by kind, then channel.
func (c *Correspondence) Notifications() []Notification {
	out := make([]Notification, 0, len(c.notifications))
	for _, s := range slices.SortedFunc(maps.Keys(c.notifications), func(a, b slot) int {
		return cmp.Or(strings.Compare(a.kind.String(), b.kind.String()), strings.Compare(a.channel.String(), b.channel.String()))
	}) {
		out = append(out, *c.notifications[s])
	}
	return out
}

// FromHistory rebuilds an order's correspondence from its stored events;
// with none, it is the correspondence of an order not seen yet.
func FromHistory(orderID string, history []es.Event) (*Correspondence, error) {
	c := newCorrespondence(orderID)
	for _, e := range history {
		if err := c.apply(e); err != nil {
			return nil, err
		}
		c.Replayed()
	}
	return c, nil
}

func (c *Correspondence) record(e es.Event) error {
	if err := c.apply(e); err != nil {
		return err
	}
	c.Track(e)
	return nil
}

func (c *Correspondence) apply(e es.Event) error {
	switch e := e.(type) {
	case *RecipientNoted:
		c.customerID, c.contact, c.items, c.total, c.noted = e.CustomerID, e.Contact, e.Items, e.Total, true
	case *Sent:
		n := c.slot(e.Kind, e.Channel)
		n.Recipient, n.Status, n.Attempts, n.UpdatedAt = e.Recipient, StatusSent, e.Attempt, e.SentAt
		if e.Logged {
			n.Status = StatusLogged
		}
	case *DeliveryFailed:
		n := c.slot(e.Kind, e.Channel)
		n.Recipient, n.Attempts, n.LastError, n.UpdatedAt = e.Recipient, e.Attempt, e.Error, e.FailedAt
		switch {
		case e.Permanent:
			n.Status = StatusFailed
		case e.GaveUp:
			n.Status = StatusGivenUp
		}
	case *Withheld:
		n := c.slot(e.Kind, e.Channel)
		n.Recipient, n.Status, n.UpdatedAt = "", StatusErased, e.WithheldAt
	default:
		return es.UnknownEventError(AggregateType, e)
	}
	return nil
}

func (c *Correspondence) slot(kind Kind, channel Channel) *Notification {
	s := slot{kind, channel}
	n, ok := c.notifications[s]
	if !ok {
		n = &Notification{ID: ID(c.ID(), kind, channel), Kind: kind, Channel: channel, Status: StatusPending}
		c.notifications[s] = n
	}
	return n
}

// Known is true once the recipient was noted.
func (c *Correspondence) Known() bool         { return c.noted }
func (c *Correspondence) CustomerID() string  { return c.customerID }
func (c *Correspondence) Contact() Contact    { return c.contact }
func (c *Correspondence) Total() money.Amount { return c.total }

// Items are the order's lines, as its placement noted them.
func (c *Correspondence) Items() []Item { return slices.Clone(c.items) }

// Snapshot is a correspondence's state as of a version (see
// es.RestoredRoot). Its fields are its stored form: changing them is a new
// SnapshotSchema, and snapshots of another schema are not read. The contact,
// the addresses and the providers' answers are personal data, sealed like
// the events' (es.Personal).
type Snapshot struct {
	CustomerID    string
	Contact       Contact
	Items         []Item
	Total         money.Amount
	Noted         bool
	Notifications []NotificationSnapshot
}

// NotificationSnapshot is one notification of a Snapshot.
type NotificationSnapshot struct {
	Kind      Kind
	Channel   Channel
	Recipient string
	Status    string
	Attempts  int
	LastError string
	UpdatedAt time.Time
}

// SnapshotSchema versions Snapshot.
const SnapshotSchema = 1

func (s *Snapshot) DataSubject() string { return s.CustomerID }
func (s *Snapshot) PersonalData() []*string {
	values := []*string{&s.Contact.Email, &s.Contact.Phone, &s.Contact.DeviceToken}
	for i := range s.Notifications {
		values = append(values, &s.Notifications[i].Recipient, &s.Notifications[i].LastError)
	}
	return values
}

// Snapshot is the correspondence's state, in copies.
func (c *Correspondence) Snapshot() Snapshot {
	s := Snapshot{CustomerID: c.customerID, Contact: c.contact, Items: c.Items(), Total: c.total, Noted: c.noted}
	for _, n := range c.Notifications() {
		s.Notifications = append(s.Notifications, NotificationSnapshot{
			Kind: n.Kind, Channel: n.Channel, Recipient: n.Recipient, Status: n.Status.String(),
			Attempts: n.Attempts, LastError: n.LastError, UpdatedAt: n.UpdatedAt,
		})
	}
	return s
}

// FromSnapshot rebuilds a correspondence from its state at version and the
// events stored after it.
func FromSnapshot(orderID string, version int, snap Snapshot, tail []es.Event) (*Correspondence, error) {
	c := &Correspondence{
		Root: es.RestoredRoot(orderID, version), customerID: snap.CustomerID, contact: snap.Contact,
		items: slices.Clone(snap.Items), total: snap.Total, noted: snap.Noted, notifications: map[slot]*Notification{},
	}
	for _, n := range snap.Notifications {
		status, err := StatusFromString(n.Status)
		if err != nil {
			return nil, fmt.Errorf("correspondence %s: snapshot: %w", orderID, err)
		}
		c.notifications[slot{n.Kind, n.Channel}] = &Notification{
			ID: ID(orderID, n.Kind, n.Channel), Kind: n.Kind, Channel: n.Channel, Recipient: n.Recipient,
			Status: status, Attempts: n.Attempts, LastError: n.LastError, UpdatedAt: n.UpdatedAt,
		}
	}
	for _, e := range tail {
		if err := c.apply(e); err != nil {
			return nil, err
		}
		c.Replayed()
	}
	return c, nil
}
