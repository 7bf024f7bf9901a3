package notifications

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/personal"
	"shop/domain/es"
	"shop/domain/money"
	"shop/domain/notification"
)

// ErrRecipientNotFound is returned when an order's later event arrives for an
// order whose placement this service has not seen yet.
var ErrRecipientNotFound = fmt.Errorf("%w: %w", fault.ErrEarly, notification.ErrRecipientUnknown)

// Recipient is whom an order's notifications go to, as its placement says.
type Recipient struct {
	CustomerID string
	Contact    notification.Contact
	Items      []notification.Item
	Total      money.Amount
}

// SendNotification tells a customer about an order on every channel of the
// contact. The first notification of an order (its placement) names the
// recipient; the later ones go to whom it named.
type SendNotification struct {
	OrderID   string
	Kind      notification.Kind
	Recipient *Recipient
	Subject   string
	Body      string
}

func (SendNotification) CommandName() string { return "notifications.send_notification" }

// SendNotificationHandler handles SendNotification.
type SendNotificationHandler decorator.CommandHandler[SendNotification]

type sendNotificationHandler struct {
	repo     Repository
	sender   Sender
	vault    Vault
	clock    eventstore.Clock
	retry    Retry
	schedule Schedule
}

// Opener opens a customer's sealed personal data in place (app/personal):
// personal.ErrErased once the customer's data was erased.
type Opener interface {
	Open(ctx context.Context, subject string, values ...*string) error
}

// Vault opens personal data, and seals what an event names in clear
// (app/personal).
type Vault interface {
	Opener
	Seal(ctx context.Context, e es.Personal) error
}

// Retry is how often, and how far apart, a notification is tried.
type Retry struct {
	// MaxAttempts failed deliveries give a notification up.
	MaxAttempts int
	// FirstDelay is the wait after the first failed attempt; it doubles
	// after each, so that attempts spread over minutes while a provider is
	// down, rather than over the router's seconds.
	FirstDelay time.Duration
}

// wait is how long after the last of attempts failed attempts the next
// one is due.
func (r Retry) wait(attempts int) time.Duration {
	if attempts < 1 {
		return 0
	}
	shift := min(attempts-1, 20)
	if r.FirstDelay > math.MaxInt64>>shift {
		return math.MaxInt64 // never, in effect
	}
	return r.FirstDelay << shift
}

// NewSendNotificationHandler builds the handler. With a schedule, a
// notification whose next attempt is due later is kept there (a Retrier
// hands it back) and its message acknowledged; without one, the message is
// reported transient until then.
func NewSendNotificationHandler(repo Repository, sender Sender, vault Vault, clock eventstore.Clock, retry Retry, schedule Schedule, obs decorator.Observability) (SendNotificationHandler, error) {
	if repo == nil || sender == nil || vault == nil || clock == nil {
		return nil, errors.New("send notification: repository, sender, vault and clock are required")
	}
	if retry.MaxAttempts < 1 || retry.FirstDelay <= 0 {
		return nil, errors.New("send notification: at least one attempt and a positive first delay are required")
	}
	return decorator.ApplyCommandDecorators[SendNotification](sendNotificationHandler{repo, sender, vault, clock, retry, schedule}, obs), nil
}

type outcome struct {
	delivery notification.Delivery
	receipt  Receipt
	err      error
	// withheld: not sent, the address erased.
	withheld bool
}

// Handle delivers on each channel that has no final outcome yet, then records
// the outcomes, and the recipient of a first notification, in one append.
//
// What is due is read from the order's correspondence as this process holds
// it, which it usually does since it told the customer last: a repeated
// command, here or in another process, finds the notifications sent and sends
// nothing twice, except after a crash between delivering and recording, which
// the idempotency key lets providers absorb. The deliveries happen outside the
// repository's lock, and a conflicting append records the outcomes again on
// what is stored, without sending again.
//
// A failed delivery (the provider down, or answering "try later") is
// recorded as an attempt; the next one is due the retry's wait after it. An
// attempt the breaker did not let through is not counted, and is due a first
// delay later. The addresses are stored sealed and opened just before
// sending, reading the customer's key: once the customer's data is erased,
// nothing more is sent, and the notifications due are recorded withheld
// (erased). What waits for its next attempt is kept in the schedule and
// the message acknowledged (later); without a schedule the command is
// reported transient, never poisoned, and a redelivery before the attempt is
// due sends nothing.
func (h sendNotificationHandler) Handle(ctx context.Context, cmd SendNotification) error {
	if cmd.Recipient != nil {
		sealed, err := h.sealed(ctx, *cmd.Recipient)
		if err != nil {
			return err
		}
		cmd.Recipient = &sealed
	}
	var due []notification.Delivery
	var dueErr error
	tried := map[notification.Channel]notification.Notification{}
	body := cmd.Body
	var customer string
	err := h.repo.View(ctx, cmd.OrderID, func(c *notification.Correspondence) {
		if c.Known() || cmd.Recipient == nil {
			due, dueErr = c.Due(cmd.Kind)
			customer = c.CustomerID()
			if cmd.Recipient == nil && len(c.Items()) > 0 {
				// A later notification names the order as its placement did.
				body += "\n\n" + Summary(c.Items(), c.Total())
			}
			for _, d := range due {
				if n, ok := c.Notification(cmd.Kind, d.Channel); ok {
					tried[d.Channel] = n
				}
			}
			return
		}
		// The order's first notification: every channel of the contact named.
		due = notification.DeliveriesFor(cmd.Recipient.Contact)
		customer = cmd.Recipient.CustomerID
	})
	if err != nil {
		return err
	}
	if errors.Is(dueErr, notification.ErrRecipientUnknown) {
		return fmt.Errorf("notify about order %s: %w", cmd.OrderID, ErrRecipientNotFound)
	}
	var outcomes []outcome
	var retry []error
	now := h.clock.Now()
	// next is when the first notification not final yet is due again.
	var next time.Time
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	var attempt []notification.Delivery
	for _, d := range due {
		if n, ok := tried[d.Channel]; ok {
			if at := n.UpdatedAt.Add(h.retry.wait(n.Attempts)); now.Before(at) {
				id := notification.ID(cmd.OrderID, cmd.Kind, d.Channel)
				retry = append(retry, fault.NotAttempted("notification "+id, fmt.Errorf("next attempt due at %s", at.Format(time.RFC3339))))
				later(at)
				continue
			}
		}
		attempt = append(attempt, d)
	}
	addresses, err := h.open(ctx, customer, attempt)
	if errors.Is(err, personal.ErrErased) {
		for _, d := range attempt {
			outcomes = append(outcomes, outcome{delivery: d, withheld: true})
		}
		attempt = nil
	} else if err != nil {
		return err
	}
	for i, d := range attempt {
		id := notification.ID(cmd.OrderID, cmd.Kind, d.Channel)
		receipt, sendErr := h.sender.Send(ctx, Message{
			IdempotencyKey: id, Channel: d.Channel,
			Recipient: addresses[i], Subject: cmd.Subject, Body: body,
		})
		if errors.Is(sendErr, fault.ErrNotAttempted) {
			retry = append(retry, sendErr) // the breaker held it back: not an attempt
			later(now.Add(h.retry.FirstDelay))
			continue
		}
		outcomes = append(outcomes, outcome{delivery: d, receipt: receipt, err: sendErr})
	}
	if len(outcomes) == 0 && cmd.Recipient == nil {
		return h.later(ctx, cmd, next, retry)
	}
	var pending []error
	err = h.repo.UpdateOrCreate(ctx, cmd.OrderID, func(c *notification.Correspondence) error {
		pending = nil
		if r := cmd.Recipient; r != nil {
			if err := c.NoteRecipient(r.CustomerID, r.Contact, r.Items, r.Total, h.clock.Now()); err != nil {
				return err
			}
		}
		for _, o := range outcomes {
			if err := h.record(c, cmd.Kind, o); errors.Is(err, notification.ErrFinal) {
				continue // recorded by another delivery of the same command
			} else if err != nil {
				return err
			}
			if n, _ := c.Notification(cmd.Kind, o.delivery.Channel); o.err != nil && !n.IsFinal() {
				pending = append(pending, fault.Unavailable(fmt.Sprintf("%s delivery", o.delivery.Channel), o.err))
				later(n.UpdatedAt.Add(h.retry.wait(n.Attempts)))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return h.later(ctx, cmd, next, append(retry, pending...))
}

// later keeps cmd in the schedule until next when some of its
// notifications wait for an attempt (waiting, the errors that say why), and
// acknowledges its message then; without a schedule, or when it cannot be
// kept, the waiting is reported, transient, for the message to come again.
func (h sendNotificationHandler) later(ctx context.Context, cmd SendNotification, next time.Time, waiting []error) error {
	if len(waiting) == 0 {
		return nil
	}
	if h.schedule == nil || next.IsZero() {
		return errors.Join(waiting...)
	}
	// The recipient was noted with the first attempt.
	cmd.Recipient = nil
	if err := h.schedule.Put(ctx, cmd, next); err != nil {
		return errors.Join(append(waiting, fault.Unavailable("notification schedule", err))...)
	}
	return nil
}

// sealed is r with its contact sealed. A placement stored before personal
// data was sealed names it in clear: sealed before the correspondence keeps
// it, it is in clear nowhere, not even in this process's cache, where an
// erasure could not reach it. A sealed contact needs no key.
func (h sendNotificationHandler) sealed(ctx context.Context, r Recipient) (Recipient, error) {
	noted := &notification.RecipientNoted{CustomerID: r.CustomerID, Contact: r.Contact}
	if err := h.vault.Seal(ctx, noted); err != nil {
		return r, fmt.Errorf("contact of %s: %w", r.CustomerID, err)
	}
	r.Contact = noted.Contact
	return r, nil
}

// open returns the deliveries' addresses in clear, reading the customer's
// key once; they stay sealed in what is recorded.
func (h sendNotificationHandler) open(ctx context.Context, customer string, ds []notification.Delivery) ([]string, error) {
	addresses := make([]string, len(ds))
	values := make([]*string, len(ds))
	for i, d := range ds {
		addresses[i] = d.Address
		values[i] = &addresses[i]
	}
	if err := h.vault.Open(ctx, customer, values...); err != nil {
		return nil, fmt.Errorf("address of %s: %w", customer, err)
	}
	return addresses, nil
}

func (h sendNotificationHandler) record(c *notification.Correspondence, kind notification.Kind, o outcome) error {
	ch, to, now := o.delivery.Channel, o.delivery.Address, h.clock.Now()
	switch {
	case o.withheld:
		return c.RecordWithheld(kind, ch, now)
	case o.err == nil && o.receipt.Logged:
		return c.RecordLogged(kind, ch, to, now)
	case o.err == nil:
		return c.RecordSent(kind, ch, to, now)
	case fault.IsMalformed(o.err):
		return c.RecordRefusal(kind, ch, to, o.err.Error(), now) // refused for good
	}
	return c.RecordFailure(kind, ch, to, o.err.Error(), h.retry.MaxAttempts, now)
}
