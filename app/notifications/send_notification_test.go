package notifications_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/app/fault"
	"shop/app/notifications"
	"shop/app/personal"
	"shop/app/reaction"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/memory"
)

// sender keeps what it was given; fail, when set, answers each message.
type sender struct {
	mu   sync.Mutex
	sent []notifications.Message
	fail func(notifications.Message) error
}

func (s *sender) Send(_ context.Context, m notifications.Message) (notifications.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(m); err != nil {
			return notifications.Receipt{}, err
		}
	}
	s.sent = append(s.sent, m)
	return notifications.Receipt{}, nil
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// vault seals the personal data of every test's processes, as one key store
// would for processes on one database.
var vault = func() *personal.Vault {
	v, err := personal.NewVault(personal.Config{Keys: memory.NewPersonalKeys()})
	if err != nil {
		panic(err)
	}
	return v
}()

func newStore(t *testing.T) *eventstoretest.CountingStore {
	t.Helper()
	r, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: notification.AggregateType, Events: notification.Events()})
	if err != nil {
		t.Fatal(err)
	}
	return eventstoretest.Counting(memory.NewEventStore(r))
}

// process is the notifications service of one process over store: its own
// repository, with its own cache.
type process struct {
	policy *reaction.Handler
	send   notifications.SendNotificationHandler
	list   notifications.ListNotificationsHandler
}

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

func newProcess(t *testing.T, store eventstore.Store, s *sender) process {
	t.Helper()
	return newProcessAt(t, store, s, &clock{at: t0})
}

// newProcessAt is a process whose handler reads the time on c; a failed
// attempt is tried again a minute after the first, two after the second.
func newProcessAt(t *testing.T, store eventstore.Store, s *sender, c *clock) process {
	t.Helper()
	return newProcessWith(t, store, s, c, nil)
}

// newProcessWith is newProcessAt whose handler keeps what waits for its next
// attempt in schedule.
func newProcessWith(t *testing.T, store eventstore.Store, s *sender, c *clock, schedule notifications.Schedule) process {
	t.Helper()
	repo, err := notifications.NewRepository(eventstore.RepositoryConfig[*notification.Correspondence]{
		Store: store, Outbox: eventstoretest.NoOutbox{}, Clock: eventstoretest.Clock{At: t0}, IDs: eventstoretest.UUIDs{}, Sealer: vault,
	})
	if err != nil {
		t.Fatal(err)
	}
	send, err := notifications.NewSendNotificationHandler(repo, s, vault, c, notifications.Retry{MaxAttempts: 3, FirstDelay: time.Minute}, schedule, decorator.Observability{})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := notifications.NewOrderPolicy(send)
	if err != nil {
		t.Fatal(err)
	}
	return process{policy: policy, send: send, list: notifications.NewListNotificationsHandler(repo, vault, nil)}
}

func placed(orderID string, contact order.Contact) eventstore.Record {
	e := &order.Placed{
		OrderID: orderID, CustomerID: "c-1", Contact: contact, Total: 1999, PlacedAt: t0,
		Items: []order.Item{{ProductID: "p-1", ProductName: "Mouse", Quantity: 2, UnitPrice: 500}, {ProductID: "p-2", ProductName: "Pad", Quantity: 1, UnitPrice: 999}},
	}
	return eventstore.Record{AggregateType: order.AggregateType, AggregateID: orderID, Version: 1, Type: e.EventName(), Event: e}
}

func confirmed(orderID string) eventstore.Record {
	e := &order.Confirmed{OrderID: orderID, ConfirmedAt: t0}
	return eventstore.Record{AggregateType: order.AggregateType, AggregateID: orderID, Version: 2, Type: e.EventName(), Event: e}
}

func TestAPlacementNotifiesEveryChannelOnceAndNotesTheRecipientWithIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	p := newProcess(t, store, s)
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com", Phone: "+4915112345678"})); err != nil {
		t.Fatal(err)
	}
	if s.count() != 2 || s.sent[0].Recipient != "ada@example.com" || s.sent[1].Channel != notification.ChannelSMS ||
		s.sent[0].IdempotencyKey != "o-1:order_created:email" || s.sent[0].Subject != "Order received" {
		t.Fatalf("sent %+v", s.sent)
	}
	records, err := store.Store.Load(ctx, notification.AggregateType, "o-1")
	if err != nil || len(records) != 3 || records[0].Type != "notification.recipient_noted" || records[2].Type != "notification.sent" {
		t.Fatalf("records %+v %v", records, err)
	}
	views, err := p.list.Handle(ctx, notifications.ListNotifications{OrderID: "o-1"})
	if err != nil || len(views) != 2 || views[0].Status != notification.StatusSent || views[0].OrderID != "o-1" || views[1].Recipient != "+49***78" {
		t.Fatalf("views %+v %v", views, err)
	}
	if none, err := p.list.Handle(ctx, notifications.ListNotifications{OrderID: "o-2"}); err != nil || len(none) != 0 {
		t.Fatalf("an order not seen: %+v %v", none, err)
	}
}

// The correspondence keeps the contact and the addresses sealed, also when
// the placement named them in clear; the sender gets them opened. Once the
// customer's data is erased, what is due is withheld, not sent, and the
// records show no address.
func TestAnErasedCustomerIsToldNothingMore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	p := newProcess(t, store, s)
	rec := placed("o-1", order.Contact{Email: "ada@example.com", Phone: "+4915112345678"})
	customer := "c-" + t.Name()
	rec.Event.(*order.Placed).CustomerID = customer
	if err := p.policy.Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if s.count() != 2 || s.sent[0].Recipient != "ada@example.com" || s.sent[1].Recipient != "+4915112345678" {
		t.Fatalf("sent %+v", s.sent)
	}
	records, err := store.Store.Load(ctx, notification.AggregateType, "o-1")
	if err != nil || len(records) != 3 {
		t.Fatalf("records %+v %v", records, err)
	}
	for _, r := range records {
		if strings.Contains(string(r.Payload), "ada@") || strings.Contains(string(r.Payload), "12345678") {
			t.Fatalf("stored in clear: %s", r.Payload)
		}
	}
	if erased, err := vault.Erase(ctx, customer); err != nil || !erased {
		t.Fatalf("erase: %v %v", erased, err)
	}
	if err := p.policy.Handle(ctx, confirmed("o-1")); err != nil {
		t.Fatal(err)
	}
	if s.count() != 2 {
		t.Fatalf("sent after the erasure: %+v", s.sent[2:])
	}
	views, err := p.list.Handle(ctx, notifications.ListNotifications{OrderID: "o-1"})
	if err != nil || len(views) != 4 {
		t.Fatalf("views %+v %v", views, err)
	}
	for _, v := range views {
		wantStatus := notification.StatusSent
		if v.Kind == notification.KindOrderConfirmed {
			wantStatus = notification.StatusErased
		}
		if v.Status != wantStatus || v.Recipient != "" {
			t.Fatalf("after the erasure: %+v", v)
		}
	}
	// A redelivery finds them final: nothing is tried again.
	if err := p.policy.Handle(ctx, confirmed("o-1")); err != nil || s.count() != 2 {
		t.Fatalf("redelivery: %v, %d sent", err, s.count())
	}
}

// The notifications after the placement go to the recipient the placement
// noted, with nothing read from the store: the process holds the
// correspondence it wrote. This is what a recipients collection and a look
// before each delivery cost before.
func TestTheNotificationsAfterThePlacementReadNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	p := newProcess(t, store, s)
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"})); err != nil {
		t.Fatal(err)
	}
	before := store.Loads()
	if err := p.policy.Handle(ctx, confirmed("o-1")); err != nil {
		t.Fatal(err)
	}
	if n := store.Loads() - before; n != 0 {
		t.Fatalf("the confirmation read %d streams", n)
	}
	if s.count() != 2 || s.sent[1].Recipient != "ada@example.com" || s.sent[1].Subject != "Order confirmed" {
		t.Fatalf("sent %+v", s.sent)
	}
}

func TestARedeliveredEventSendsNothingTwiceInThisProcessOrAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	p := newProcess(t, store, s)
	for _, rec := range []eventstore.Record{placed("o-1", order.Contact{}), placed("o-1", order.Contact{}), confirmed("o-1"), confirmed("o-1")} {
		if err := p.policy.Handle(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	// Another process, which holds nothing yet, gets them again.
	other := newProcess(t, store, s)
	for _, rec := range []eventstore.Record{placed("o-1", order.Contact{}), confirmed("o-1")} {
		if err := other.policy.Handle(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if s.count() != 2 {
		t.Fatalf("sent %d messages for two notifications: %+v", s.count(), s.sent)
	}
	if records, _ := store.Store.Load(ctx, notification.AggregateType, "o-1"); len(records) != 3 {
		t.Fatalf("%d records", len(records))
	}
}

func TestALaterEventBeforeThePlacementWaitsForIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	p := newProcess(t, store, s)
	err := p.policy.Handle(ctx, confirmed("o-1"))
	if !errors.Is(err, fault.ErrEarly) || !errors.Is(err, notifications.ErrRecipientNotFound) {
		t.Fatalf("confirmation before the placement: %v", err)
	}
	if s.count() != 0 {
		t.Fatalf("sent %+v", s.sent)
	}
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{})); err != nil {
		t.Fatal(err)
	}
	if err := p.policy.Handle(ctx, confirmed("o-1")); err != nil || s.count() != 2 {
		t.Fatalf("after the placement: %v, sent %d", err, s.count())
	}
}

func TestAnAttemptTheBreakerHeldBackIsNotCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	s.fail = func(notifications.Message) error {
		return fault.NotAttempted("notifier-smtp", errors.New("circuit breaker open"))
	}
	p := newProcess(t, store, s)
	for range 5 {
		if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"})); !fault.IsTransient(err) {
			t.Fatalf("sender down: %v", err)
		}
	}
	s.fail = nil
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"})); err != nil {
		t.Fatal(err)
	}
	views, _ := p.list.Handle(ctx, notifications.ListNotifications{OrderID: "o-1"})
	if len(views) != 1 || views[0].Status != notification.StatusSent || views[0].Attempts != 1 {
		t.Fatalf("views %+v", views)
	}
}

// A provider that is down, or answers "try later", is tried again a minute
// after the first attempt and two after the second; a redelivery before then
// sends nothing; the third failed attempt gives the notification up.
func TestAFailingDeliveryIsTriedAgainOverMinutesThenGivenUpOn(t *testing.T) {
	t.Parallel()
	for name, failure := range map[string]error{
		"provider down":   fault.Unavailable("smtp", errors.New("connection refused")),
		"mailbox full":    errors.New("mailbox full"),
		"try again later": fault.Unavailable("smtp", errors.New("451 try again later")),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			givenUpAfterTries(t, failure)
		})
	}
}

func givenUpAfterTries(t *testing.T, failure error) {
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	var tries int
	s.fail = func(notifications.Message) error { tries++; return failure }
	c := &clock{at: t0}
	p := newProcessAt(t, store, s, c)
	for i, wait := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		attempt := i + 1
		if wait > 0 {
			// A redelivery a second early sends nothing, and counts nothing.
			c.advance(wait - time.Second)
			if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"})); !fault.IsTransient(err) || tries != i {
				t.Fatalf("before attempt %d is due: %v, %d tries", attempt, err, tries)
			}
			c.advance(time.Second)
		}
		err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"}))
		switch {
		case tries != attempt:
			t.Fatalf("attempt %d: %d tries", attempt, tries)
		case attempt < 3 && !fault.IsTransient(err):
			t.Fatalf("attempt %d: %v, want a retry", attempt, err)
		case attempt == 3 && err != nil:
			t.Fatalf("the last attempt gives up: %v", err)
		}
	}
	views, _ := p.list.Handle(ctx, notifications.ListNotifications{OrderID: "o-1"})
	if len(views) != 1 || views[0].Status != notification.StatusGivenUp || views[0].Attempts != 3 || views[0].LastError != failure.Error() {
		t.Fatalf("views %+v", views)
	}
	s.fail = nil
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"})); err != nil || s.count() != 0 {
		t.Fatalf("after giving up: %v, sent %d", err, s.count())
	}
}

// Every notification of an order names it, its lines and its total: the
// placement's from the event, the later ones from what the placement noted.
func TestEveryNotificationNamesTheOrderItsLinesAndTotal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	p := newProcess(t, store, s)
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com"})); err != nil {
		t.Fatal(err)
	}
	if err := p.policy.Handle(ctx, confirmed("o-1")); err != nil {
		t.Fatal(err)
	}
	if len(s.sent) != 2 {
		t.Fatalf("sent %+v", s.sent)
	}
	for i, first := range []string{"We received your order o-1:", "Your order o-1 is confirmed."} {
		for _, line := range []string{first, "2 × Mouse (p-1) at 5: 10", "1 × Pad (p-2) at 9.99: 9.99", "Total: 19.99"} {
			if !strings.Contains(s.sent[i].Body, line) {
				t.Errorf("%s body %q lacks %q", s.sent[i].Subject, s.sent[i].Body, line)
			}
		}
	}
}

// With a schedule, a notification whose next attempt is due later is kept
// there and its message acknowledged, so that the messages behind it go on;
// the retrier hands it back once due, until it is sent or given up on.
func TestANotificationWaitingForItsNextAttemptWaitsInTheSchedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, s := newStore(t), &sender{}
	var tries int
	s.fail = func(m notifications.Message) error {
		if m.Channel == notification.ChannelEmail {
			tries++
			return fault.Unavailable("smtp", errors.New("421 try again later"))
		}
		return nil
	}
	c := &clock{at: t0}
	schedule := memory.NewNotificationSchedule()
	p := newProcessWith(t, store, s, c, schedule)
	retrier, err := notifications.NewRetrier(schedule, p.send, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	status := func() notification.Status {
		views, _ := p.list.Handle(ctx, notifications.ListNotifications{OrderID: "o-1"})
		for _, v := range views {
			if v.Channel == notification.ChannelEmail {
				return v.Status
			}
		}
		return notification.Status{}
	}

	// The first attempt fails: the message is done with, the e-mail kept.
	if err := p.policy.Handle(ctx, placed("o-1", order.Contact{Email: "ada@example.com", Phone: "+4915112345678"})); err != nil {
		t.Fatalf("placement: %v, want the message acknowledged", err)
	}
	if tries != 1 || s.count() != 1 || status() != notification.StatusPending {
		t.Fatalf("after the placement: %d tries, %d sent, e-mail %s", tries, s.count(), status())
	}
	for _, step := range []struct {
		advance time.Duration
		tries   int
		status  notification.Status
	}{
		{59 * time.Second, 1, notification.StatusPending}, // not due yet: nothing taken
		{time.Second, 2, notification.StatusPending},      // a minute after the first
		{2 * time.Minute, 3, notification.StatusGivenUp},  // two after the second: the last
		{time.Hour, 3, notification.StatusGivenUp},        // nothing kept any more
	} {
		c.advance(step.advance)
		if _, err := retrier.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if tries != step.tries || status() != step.status {
			t.Fatalf("after %s more: %d tries, e-mail %s; want %d, %s", step.advance, tries, status(), step.tries, step.status)
		}
	}
	if left, _ := schedule.Take(ctx, c.Now().Add(24*time.Hour), 10, time.Minute); len(left) != 0 {
		t.Fatalf("still scheduled: %+v", left)
	}
}
