package notifications

import (
	"context"
	"errors"
	"fmt"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/fault"
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
	repo        Repository
	sender      Sender
	clock       eventstore.Clock
	maxAttempts int
}

// NewSendNotificationHandler builds the handler; a notification is given up
// on after maxAttempts failed deliveries.
func NewSendNotificationHandler(repo Repository, sender Sender, clock eventstore.Clock, maxAttempts int, obs decorator.Observability) (SendNotificationHandler, error) {
	if repo == nil || sender == nil || clock == nil {
		return nil, errors.New("send notification: repository, sender and clock are required")
	}
	if maxAttempts < 1 {
		return nil, errors.New("send notification: maxAttempts must be at least 1")
	}
	return decorator.ApplyCommandDecorators[SendNotification](sendNotificationHandler{repo, sender, clock, maxAttempts}, obs), nil
}

type outcome struct {
	delivery notification.Delivery
	receipt  Receipt
	err      error
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
// A failed delivery is recorded as an attempt and reported transient, so that
// the command is never poisoned before its notification is sent or given up
// on: the router tries again after its backoff (RETRY_DELAY, doubling) and,
// past MAX_RETRIES, after holding the message (UNAVAILABLE_DELAY). While the
// sender is unavailable no attempt is counted.
func (h sendNotificationHandler) Handle(ctx context.Context, cmd SendNotification) error {
	var due []notification.Delivery
	var dueErr error
	err := h.repo.View(ctx, cmd.OrderID, func(c *notification.Correspondence) {
		if c.Known() || cmd.Recipient == nil {
			due, dueErr = c.Due(cmd.Kind)
			return
		}
		// The order's first notification: every channel of the contact named.
		due = notification.DeliveriesFor(cmd.Recipient.Contact)
	})
	if err != nil {
		return err
	}
	if errors.Is(dueErr, notification.ErrRecipientUnknown) {
		return fmt.Errorf("notify about order %s: %w", cmd.OrderID, ErrRecipientNotFound)
	}
	var outcomes []outcome
	var retry []error
	for _, d := range due {
		receipt, sendErr := h.sender.Send(ctx, Message{
			IdempotencyKey: notification.ID(cmd.OrderID, cmd.Kind, d.Channel), Channel: d.Channel,
			Recipient: d.Address, Subject: cmd.Subject, Body: cmd.Body,
		})
		if sendErr != nil && fault.IsTransient(sendErr) {
			retry = append(retry, sendErr)
			continue
		}
		outcomes = append(outcomes, outcome{d, receipt, sendErr})
	}
	if len(outcomes) == 0 && cmd.Recipient == nil {
		return errors.Join(retry...)
	}
	var pending []error
	err = h.repo.UpdateOrCreate(ctx, cmd.OrderID, func(c *notification.Correspondence) error {
		pending = nil
		if r := cmd.Recipient; r != nil {
			if err := c.NoteRecipient(r.CustomerID, r.Contact, r.Total, h.clock.Now()); err != nil {
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
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(append(retry, pending...)...)
}

func (h sendNotificationHandler) record(c *notification.Correspondence, kind notification.Kind, o outcome) error {
	ch, to, now := o.delivery.Channel, o.delivery.Address, h.clock.Now()
	switch {
	case o.err == nil && o.receipt.Logged:
		return c.RecordLogged(kind, ch, to, now)
	case o.err == nil:
		return c.RecordSent(kind, ch, to, now)
	case fault.IsMalformed(o.err):
		return c.RecordRefusal(kind, ch, to, o.err.Error(), now) // refused for good
	}
	return c.RecordFailure(kind, ch, to, o.err.Error(), h.maxAttempts, now)
}
