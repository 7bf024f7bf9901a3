package mongo_test

import (
	"testing"

	"shop/app/notifications"
	"shop/app/notifications/scheduletest"
	"shop/infrastructure/mongo"
)

func TestNotificationSchedule(t *testing.T) {
	t.Parallel()
	scheduletest.Schedule(t, func(t *testing.T) notifications.Schedule { return mongo.NewNotificationSchedule(connect(t)) })
}
