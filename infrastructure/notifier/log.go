// Package notifier holds the adapters that deliver notifications to customers.
package notifier

import (
	"context"
	"log/slog"

	"shop/app/notifications"
)

// Log delivers every notification as a structured log line. It is the sender
// of the embedded mode and of the log channel, used when a customer left no
// contact; the recipient's address is not logged.
type Log struct {
	logger *slog.Logger
}

// NewLog builds the sender.
func NewLog(logger *slog.Logger) *Log { return &Log{logger: logger} }

func (l *Log) Send(ctx context.Context, m notifications.Message) error {
	l.logger.InfoContext(ctx, "notification delivered",
		"channel", m.Channel.String(), "notification_id", m.IdempotencyKey, "subject", m.Subject)
	return nil
}
