package memory_test

import (
	"testing"

	"shop/app/notifications"
	"shop/app/notifications/scheduletest"
	"shop/infrastructure/memory"
)

func TestNotificationSchedule(t *testing.T) {
	t.Parallel()
	scheduletest.Schedule(t, func(*testing.T) notifications.Schedule { return memory.NewNotificationSchedule() })
}
