// Package notifier holds the adapters that deliver notifications to customers.
package notifier

import (
	"context"
	"log/slog"

	"shop/app/notifications"
)

// Log delivers every notification as a structured log line: the sender of
// the log channel, used when a customer left no contact, and of every channel
// no provider is configured for. Its receipts say so (Logged). The
// recipient's address is not logged.
type Log struct {
	logger *slog.Logger
}

// NewLog builds the sender.
func NewLog(logger *slog.Logger) *Log { return &Log{logger: logger} }

func (l *Log) Send(ctx context.Context, m notifications.Message) (notifications.Receipt, error) {
	l.logger.InfoContext(ctx, "notification logged",
		"channel", m.Channel.String(), "notification_id", m.IdempotencyKey, "subject", m.Subject)
	return notifications.Receipt{Logged: true}, nil
}
