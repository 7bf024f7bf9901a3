package notifications

import (
	"context"
	"errors"
	"fmt"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/fault"
	"shop/domain/notification"
)

// SendNotification tells a customer about an order on every channel of the
// contact.
type SendNotification struct {
	OrderID string
	Kind    notification.Kind
	Contact notification.Contact
	Subject string
	Body    string
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

// Handle delivers on each channel that has no final outcome yet. A failed
// delivery is recorded as an attempt and reported transient, so that the
// command is never poisoned before its notification is sent or given up on:
// the router tries again after its backoff (RETRY_DELAY, doubling) and, past
// MAX_RETRIES, after holding the message (UNAVAILABLE_DELAY). While the
// sender is unavailable no attempt is counted. A channel already sent is skipped, so a repeated command
// sends nothing twice, except after a crash between delivering and recording,
// which the idempotency key lets providers absorb.
func (h sendNotificationHandler) Handle(ctx context.Context, cmd SendNotification) error {
	var retry []error
	for _, d := range notification.DeliveriesFor(cmd.Contact) {
		if err := h.deliver(ctx, cmd, d); err != nil {
			if !fault.IsTransient(err) {
				return err
			}
			retry = append(retry, err)
		}
	}
	return errors.Join(retry...)
}

func (h sendNotificationHandler) deliver(ctx context.Context, cmd SendNotification, d notification.Delivery) error {
	id := notification.ID(cmd.OrderID, cmd.Kind, d.Channel)
	n, err := h.repo.Load(ctx, id)
	switch {
	case errors.Is(err, eventstore.ErrNotFound):
	case err != nil:
		return err
	case n.IsFinal():
		return nil
	}
	sendErr := h.sender.Send(ctx, Message{IdempotencyKey: id, Channel: d.Channel, Recipient: d.Address, Subject: cmd.Subject, Body: cmd.Body})
	if sendErr != nil && fault.IsTransient(sendErr) {
		return sendErr
	}
	var final bool
	err = h.repo.UpdateOrCreate(ctx, id, func(n *notification.Notification) error {
		if n.IsFinal() {
			final = true
			return nil
		}
		if sendErr == nil {
			return n.RecordSent(d.Address, h.clock.Now())
		}
		attempts := h.maxAttempts
		if fault.IsMalformed(sendErr) {
			attempts = 0 // the provider refuses the recipient for good
		}
		err := n.RecordFailure(d.Address, sendErr.Error(), attempts, h.clock.Now())
		final = n.IsFinal()
		return err
	})
	if err != nil || sendErr == nil || final {
		return err
	}
	return fault.Unavailable(fmt.Sprintf("%s delivery", d.Channel), sendErr)
}
