package service

import (
	"net/http"

	"shop/app/notifications"
	"shop/domain/notification"
	"shop/domain/order"
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
	repo, err := notifications.NewRepository(repository[*notification.Correspondence](c))
	if err != nil {
		return serviceParts{}, err
	}
	var app notifications.Application
	if app.Commands.SendNotification, err = notifications.NewSendNotificationHandler(repo, p.Senders, p.Clock,
		notifications.Retry{MaxAttempts: c.cfg.NotificationMaxAttempts, FirstDelay: c.cfg.NotificationRetryDelay}, c.obs); err != nil {
		return serviceParts{}, err
	}
	app.Queries = notifications.Queries{Notifications: notifications.NewListNotificationsHandler(repo, p.notificationArchive())}
	policy, err := notifications.NewOrderPolicy(app.Commands.SendNotification)
	if err != nil {
		return serviceParts{}, err
	}
	return serviceParts{
		handlers: map[string]eventHandler{handlerNotificationsOrders: policy},
		api: func(base httpport.Base, _ httpport.Admin) http.Handler {
			return httpport.NewNotificationsHandler(app, base)
		},
	}, nil
}
