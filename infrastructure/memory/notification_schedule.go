package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"shop/app/notifications"
)

// NotificationSchedule keeps scheduled notifications in memory, for one
// process.
type NotificationSchedule struct {
	mu   sync.Mutex
	kept map[string]*scheduled
}

type scheduled struct {
	s         notifications.Scheduled
	heldUntil time.Time
}

// NewNotificationSchedule makes an empty schedule.
func NewNotificationSchedule() *NotificationSchedule {
	return &NotificationSchedule{kept: map[string]*scheduled{}}
}

// Put implements notifications.Schedule.
func (n *NotificationSchedule) Put(_ context.Context, cmd notifications.SendNotification, due time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.kept[notifications.ScheduleKey(cmd.OrderID, cmd.Kind)] = &scheduled{s: notifications.Scheduled{Command: cmd, Due: due}}
	return nil
}

// Take implements notifications.Schedule, the earliest due first.
func (n *NotificationSchedule) Take(_ context.Context, now time.Time, limit int, hold time.Duration) ([]notifications.Scheduled, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var due []*scheduled
	for _, k := range n.kept {
		if !k.s.Due.After(now) && !k.heldUntil.After(now) {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b *scheduled) int { return a.s.Due.Compare(b.s.Due) })
	out := make([]notifications.Scheduled, 0, min(limit, len(due)))
	for _, k := range due[:min(limit, len(due))] {
		k.heldUntil = now.Add(hold)
		out = append(out, k.s)
	}
	return out, nil
}

// Done implements notifications.Schedule.
func (n *NotificationSchedule) Done(_ context.Context, s notifications.Scheduled) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := notifications.ScheduleKey(s.Command.OrderID, s.Command.Kind)
	if k, ok := n.kept[key]; ok && k.s.Due.Equal(s.Due) {
		delete(n.kept, key)
	}
	return nil
}
