package notifications

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"shop/app/eventstore"
	"shop/domain/notification"
)

// Schedule keeps the notifications whose next attempt is due later. Their
// messages are acknowledged instead of being handed back to the bus until
// then: a message waiting on the bus holds the messages behind it in its
// partition, the other orders' notifications among them.
type Schedule interface {
	// Put keeps cmd to be handled again from due on; it replaces what is
	// kept for the same order and kind.
	Put(ctx context.Context, cmd SendNotification, due time.Time) error
	// Take returns up to n of the commands due at now and holds each for
	// hold, during which no other Take returns it: one replica at a time
	// handles each.
	Take(ctx context.Context, now time.Time, n int, hold time.Duration) ([]Scheduled, error)
	// Done forgets a command taken, unless it was put again since.
	Done(ctx context.Context, s Scheduled) error
}

// Scheduled is a command kept by a Schedule, and when it is due.
type Scheduled struct {
	Command SendNotification
	Due     time.Time
}

// ScheduleKey names what a Schedule keeps of an order and a kind.
func ScheduleKey(orderID string, kind notification.Kind) string {
	return orderID + ":" + kind.String()
}

// Retrier hands the scheduled notifications to the handler once due.
type Retrier struct {
	schedule Schedule
	handler  SendNotificationHandler
	clock    eventstore.Clock
	logger   *slog.Logger
	// hold is how long a command taken is kept from the other replicas: a
	// replica that died with it lets another take it after that.
	hold time.Duration
}

// NewRetrier builds the retrier.
func NewRetrier(schedule Schedule, handler SendNotificationHandler, clock eventstore.Clock, logger *slog.Logger) (*Retrier, error) {
	if schedule == nil || handler == nil || clock == nil || logger == nil {
		return nil, errors.New("retrier: schedule, handler, clock and logger are required")
	}
	return &Retrier{schedule: schedule, handler: handler, clock: clock, logger: logger, hold: time.Minute}, nil
}

// RunOnce handles the commands due now, and returns how many it took.
func (r *Retrier) RunOnce(ctx context.Context) (int, error) {
	due, err := r.schedule.Take(ctx, r.clock.Now(), 100, r.hold)
	if err != nil {
		return 0, err
	}
	for _, s := range due {
		if err := r.handler.Handle(ctx, s.Command); err != nil {
			// Kept, and taken again once the hold is over.
			r.logger.WarnContext(ctx, "scheduled notification failed; tried again later", "order_id", s.Command.OrderID, "kind", s.Command.Kind.String(), "error", err)
			continue
		}
		if err := r.schedule.Done(ctx, s); err != nil {
			r.logger.WarnContext(ctx, "scheduled notification not forgotten; handled again, sending nothing twice", "order_id", s.Command.OrderID, "error", err)
		}
	}
	return len(due), nil
}

// Run handles what is due every interval until ctx is done.
func (r *Retrier) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
				r.logger.WarnContext(ctx, "notification schedule unreadable", "error", err)
			}
		}
	}
}
