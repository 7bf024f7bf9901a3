package service

import (
	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/orders"
	"shop/cqrs"
	"shop/domain/inventory"
	"shop/domain/order"
	"shop/infrastructure/memory"
	"shop/ports/httpport"
)

func newOrders(d serviceDeps) (*Service, error) {
	p, cfg := d.platform, d.cfg
	logger := p.Logger.With("service", Orders)
	store := d.adapters.store(Orders, memory.NewEventStore(p.Registry))
	relay, err := p.newRelay(cfg, store)
	if err != nil {
		return nil, err
	}
	repo, err := orders.NewRepository(eventstore.RepositoryConfig[*order.Order]{Store: store, Outbox: relay, Clock: p.Clock, IDs: p.IDs})
	if err != nil {
		return nil, err
	}
	views := memory.NewOrderViews()
	keys := memory.NewIdempotencyKeys(cfg.IdempotencyTTL)
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
		PlacedOrder:  orders.NewGetPlacedOrderHandler(repo),
		OrderHistory: orders.NewGetOrderHistoryHandler(store),
	}

	router, proc, err := p.newRouter(cfg, memory.NewProcessedMessages(cfg.DedupTTL, cfg.DedupMemoryMax))
	if err != nil {
		return nil, err
	}
	commands, err := p.newCommandBus()
	if err != nil {
		return nil, err
	}
	if err := cqrs.AddCommandHandler(proc, handlerConfirmOrder, app.Commands.ConfirmOrder.Handle); err != nil {
		return nil, err
	}
	if err := cqrs.AddCommandHandler(proc, handlerRejectOrder, app.Commands.RejectOrder.Handle); err != nil {
		return nil, err
	}
	policy := orders.NewReservationPolicy(commands)
	if err := proc.AddEventHandler(handlerOrdersReservations, inventory.ReservationAggregateType, policy.Events(), policy, cqrs.EventHandlerOptions{Deduplicate: true}); err != nil {
		return nil, err
	}
	if err := proc.AddEventHandler(handlerOrdersProjection, order.AggregateType, p.eventNames(order.AggregateType), orders.NewOrderProjection(views), cqrs.EventHandlerOptions{}); err != nil {
		return nil, err
	}

	health := httpport.NewHealth(p.busDependency())
	return &Service{
		Name:    Orders,
		Handler: httpport.NewOrdersHandler(app, health, logger),
		Store:   store,
		router:  router,
		relay:   relay,
	}, nil
}
