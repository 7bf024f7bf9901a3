package notifier

import (
	"context"

	"shop/app/notifications"
	"shop/infrastructure/breaker"
)

// WithBreaker sends through s behind the breaker b: while the provider keeps
// failing, deliveries fail at once as transient, and are retried later
// without counting as attempts.
func WithBreaker(s notifications.Sender, b *breaker.Breaker) notifications.Sender {
	return breakerSender{sender: s, breaker: b}
}

type breakerSender struct {
	sender  notifications.Sender
	breaker *breaker.Breaker
}

func (b breakerSender) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	var r notifications.Receipt
	err := b.breaker.Do(ctx, func(ctx context.Context) error {
		var err error
		r, err = b.sender.Send(ctx, m)
		return err
	})
	return r, err
}
