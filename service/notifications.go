package service

import (
	"context"
	"net/http"
	"time"

	"shop/app/notifications"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/memory"
	"shop/infrastructure/mongo"
	"shop/ports/httpport"
)

const handlerNotificationsOrders = "notifications.order-policy"

var notificationsSpec = serviceSpec{
	name: Notifications,
	subscriptions: []subscription{
		{handler: handlerNotificationsOrders, aggregateType: order.AggregateType, deduplicate: true},
	},
	build: buildNotifications,
}

func buildNotifications(c serviceCore) (serviceParts, error) {
	p := c.platform
	repo, err := notifications.NewRepository(repository[*notification.Correspondence](c, notification.AggregateType))
	if err != nil {
		return serviceParts{}, err
	}
	var schedule notifications.Schedule = memory.NewNotificationSchedule()
	if p.Mongo != nil {
		schedule = mongo.NewNotificationSchedule(p.Mongo)
	}
	var senders notifications.Sender = p.Senders
	if p.Tracing != nil {
		senders = p.Tracing.Sender(senders)
	}
	var app notifications.Application
	if app.Commands.SendNotification, err = notifications.NewSendNotificationHandler(repo, senders, p.Vault, p.Clock,
		notifications.Retry{MaxAttempts: c.cfg.NotificationMaxAttempts, FirstDelay: c.cfg.NotificationRetryDelay}, schedule, c.obs); err != nil {
		return serviceParts{}, err
	}
	retrier, err := notifications.NewRetrier(schedule, app.Commands.SendNotification, p.Clock, c.logger)
	if err != nil {
		return serviceParts{}, err
	}
	app.Queries = notifications.Queries{Notifications: notifications.NewListNotificationsHandler(repo, p.Vault, p.notificationArchive())}
	policy, err := notifications.NewOrderPolicy(app.Commands.SendNotification)
	if err != nil {
		return serviceParts{}, err
	}
	return serviceParts{
		// The notifications whose next attempt is due go out within a
		// second of it, or of a tenth of the first delay when that is shorter.
		background: func(ctx context.Context) { retrier.Run(ctx, min(time.Second, c.cfg.NotificationRetryDelay/10)) },
		handlers:   map[string]eventHandler{handlerNotificationsOrders: policy},
		api: func(base httpport.Base, _ httpport.Admin) http.Handler {
			return httpport.NewNotificationsHandler(app, base)
		},
	}, nil
}
