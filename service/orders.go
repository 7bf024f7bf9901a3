package service

import (
	"net/http"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/orders"
	"shop/cqrs"
	"shop/domain/inventory"
	"shop/domain/order"
	"shop/ports/httpport"
)

func newOrders(d serviceDeps) (*Service, error) {
	p, cfg := d.platform, d.cfg
	logger := p.Logger.With("service", Orders)
	store, err := p.eventStore(d.ctx, Orders)
	if err != nil {
		return nil, err
	}
	store = d.adapters.store(Orders, store)
	relay, err := p.newRelay(cfg, Orders, store)
	if err != nil {
		return nil, err
	}
	repo, err := orders.NewRepository(eventstore.RepositoryConfig[*order.Order]{Store: store, Outbox: relay, Clock: p.Clock, IDs: p.IDs})
	if err != nil {
		return nil, err
	}
	views, err := p.orderViews(d.ctx)
	if err != nil {
		return nil, err
	}
	keys := p.idempotencyKeys(cfg)
	obs := decorator.Observability{Logger: logger, Metrics: p.Metrics}

	var app orders.Application
	if app.Commands.PlaceOrder, err = orders.NewPlaceOrderHandler(repo, keys, p.Clock, obs); err != nil {
		return nil, err
	}
	if app.Commands.CancelOrder, err = orders.NewCancelOrderHandler(repo, p.Clock, obs); err != nil {
		return nil, err
	}
	if app.Commands.ConfirmOrder, err = orders.NewConfirmOrderHandler(repo, p.Clock, obs); err != nil {
		return nil, err
	}
	if app.Commands.RejectOrder, err = orders.NewRejectOrderHandler(repo, p.Clock, obs); err != nil {
		return nil, err
	}
	app.Queries = orders.Queries{
		Order:        orders.NewGetOrderHandler(views),
		Orders:       orders.NewListOrdersHandler(views),
		OrderHistory: orders.NewGetOrderHistoryHandler(store),
	}

	proc, err := p.newProcessors(cfg, p.processedMessages(cfg))
	if err != nil {
		return nil, err
	}
	policy, err := orders.NewReservationPolicy(app.Commands.ConfirmOrder, app.Commands.RejectOrder)
	if err != nil {
		return nil, err
	}
	if err := proc.AddEventHandler(handlerOrdersReservations, inventory.ReservationAggregateType, policy.Events(), policy, cqrs.EventHandlerOptions{Deduplicate: true}); err != nil {
		return nil, err
	}
	if err := proc.AddEventHandler(handlerOrdersProjection, order.AggregateType, p.eventNames(order.AggregateType), orders.NewOrderProjection(views), cqrs.EventHandlerOptions{}); err != nil {
		return nil, err
	}

	rebuild, err := ordersRebuild(store, views)
	if err != nil {
		return nil, err
	}
	base := p.httpBase(cfg, Orders, logger)
	newHandler := func(admin httpport.Admin) http.Handler { return httpport.NewOrdersHandler(app, admin, base) }
	return &Service{
		Name:       Orders,
		Handler:    newHandler(httpport.Admin{}),
		withAdmin:  newHandler,
		Store:      store,
		processors: proc,
		relay:      relay,
		rebuild:    rebuild,
	}, nil
}
