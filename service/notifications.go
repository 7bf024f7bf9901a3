package service

import (
	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/notifications"
	"shop/cqrs"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/notifier"
	"shop/ports/httpport"
)

func newNotifications(d serviceDeps) (*Service, error) {
	p, cfg := d.platform, d.cfg
	logger := p.Logger.With("service", Notifications)
	store, err := p.eventStore(d.ctx, Notifications)
	if err != nil {
		return nil, err
	}
	store = d.adapters.store(Notifications, store)
	relay, err := p.newRelay(cfg, Notifications, store)
	if err != nil {
		return nil, err
	}
	repo, err := notifications.NewRepository(eventstore.RepositoryConfig[*notification.Correspondence]{Store: store, Outbox: relay, Clock: p.Clock, IDs: p.IDs})
	if err != nil {
		return nil, err
	}
	sender := p.sender(d.adapters.sender(notifier.NewLog(logger)))
	obs := decorator.Observability{Logger: logger, Metrics: p.Metrics}

	var app notifications.Application
	if app.Commands.SendNotification, err = notifications.NewSendNotificationHandler(repo, sender, p.Clock, cfg.NotificationMaxAttempts, obs); err != nil {
		return nil, err
	}
	app.Queries = notifications.Queries{Notifications: notifications.NewListNotificationsHandler(repo, p.notificationArchive())}

	proc, err := p.newProcessors(cfg, p.processedMessages(cfg))
	if err != nil {
		return nil, err
	}
	policy, err := notifications.NewOrderPolicy(app.Commands.SendNotification)
	if err != nil {
		return nil, err
	}
	if err := proc.AddEventHandler(handlerNotificationsOrders, order.AggregateType, policy.Events(), policy, cqrs.EventHandlerOptions{Deduplicate: true}); err != nil {
		return nil, err
	}
	return &Service{
		Name:       Notifications,
		Handler:    httpport.NewNotificationsHandler(app, p.httpBase(cfg, Notifications, logger)),
		Store:      store,
		processors: proc,
		relay:      relay,
	}, nil
}
