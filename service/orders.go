package service

import (
	"net/http"

	"shop/app/orders"
	"shop/domain/inventory"
	"shop/domain/order"
	"shop/ports/httpport"
)

const (
	handlerOrdersReservations = "orders.reservation-policy"
	handlerOrdersProjection   = "orders.order-projection"
)

var ordersSpec = serviceSpec{
	name: Orders,
	subscriptions: []subscription{
		{handler: handlerOrdersReservations, aggregateType: inventory.ReservationAggregateType, deduplicate: true},
		{handler: handlerOrdersProjection, aggregateType: order.AggregateType, everyEvent: true},
	},
	build: buildOrders,
}

func buildOrders(c serviceCore) (serviceParts, error) {
	p := c.platform
	repo, err := orders.NewRepository(repository[*order.Order](c, order.AggregateType))
	if err != nil {
		return serviceParts{}, err
	}
	views, err := p.orderViews(c.ctx)
	if err != nil {
		return serviceParts{}, err
	}
	keys := p.idempotencyKeys(c.cfg)

	var app orders.Application
	if app.Commands.PlaceOrder, err = orders.NewPlaceOrderHandler(repo, keys, p.Vault, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	if app.Commands.CancelOrder, err = orders.NewCancelOrderHandler(repo, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	if app.Commands.ConfirmOrder, err = orders.NewConfirmOrderHandler(repo, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	if app.Commands.RejectOrder, err = orders.NewRejectOrderHandler(repo, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	app.Queries = orders.Queries{
		Order:        orders.NewGetOrderHandler(views),
		Orders:       orders.NewListOrdersHandler(views),
		OrderHistory: orders.NewGetOrderHistoryHandler(c.store),
	}
	policy, err := orders.NewReservationPolicy(app.Commands.ConfirmOrder, app.Commands.RejectOrder)
	if err != nil {
		return serviceParts{}, err
	}
	projection, err := orders.NewOrderProjection(views)
	if err != nil {
		return serviceParts{}, err
	}
	rebuild, err := ordersRebuild(c.store, views)
	if err != nil {
		return serviceParts{}, err
	}
	return serviceParts{
		handlers: map[string]eventHandler{
			handlerOrdersReservations: policy,
			handlerOrdersProjection:   projection,
		},
		api: func(base httpport.Base, admin httpport.Admin) http.Handler {
			return httpport.NewOrdersHandler(app, admin, base)
		},
		rebuild: rebuild,
	}, nil
}
