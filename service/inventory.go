package service

import (
	"context"
	"errors"
	"fmt"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/inventory"
	"shop/cqrs"
	domain "shop/domain/inventory"
	"shop/domain/order"
	"shop/ports/httpport"
)

// demoCatalog is added when the inventory starts with DemoCatalog set, so that
// the platform readme's example order can be placed right away.
var demoCatalog = []inventory.AddProduct{
	{ProductID: "prod-123", Name: "Laptop", InitialStock: 1_000_000},
	{ProductID: "prod-456", Name: "Wireless Mouse", InitialStock: 1_000_000},
	{ProductID: "prod-789", Name: "Mechanical Keyboard", InitialStock: 1_000_000},
	{ProductID: "prod-321", Name: "27-inch Monitor", InitialStock: 50},
	{ProductID: "prod-654", Name: "USB-C Dock", InitialStock: 0},
}

func newInventory(d serviceDeps) (*Service, error) {
	p, cfg := d.platform, d.cfg
	logger := p.Logger.With("service", Inventory)
	store, err := p.eventStore(d.ctx, Inventory)
	if err != nil {
		return nil, err
	}
	store = d.adapters.store(Inventory, store)
	relay, err := p.newRelay(cfg, Inventory, store)
	if err != nil {
		return nil, err
	}
	stock, err := inventory.NewStockRepository(eventstore.RepositoryConfig[*domain.Stock]{Store: store, Outbox: relay, Clock: p.Clock, IDs: p.IDs})
	if err != nil {
		return nil, err
	}
	reservations, err := inventory.NewReservationRepository(eventstore.RepositoryConfig[*domain.Reservation]{Store: store, Outbox: relay, Clock: p.Clock, IDs: p.IDs})
	if err != nil {
		return nil, err
	}
	views, err := p.productViews(d.ctx)
	if err != nil {
		return nil, err
	}
	obs := decorator.Observability{Logger: logger, Metrics: p.Metrics}

	var app inventory.Application
	if app.Commands.AddProduct, err = inventory.NewAddProductHandler(stock, p.Clock, obs); err != nil {
		return nil, err
	}
	if app.Commands.Restock, err = inventory.NewRestockHandler(stock, p.Clock, obs); err != nil {
		return nil, err
	}
	if app.Commands.ReserveStock, err = inventory.NewReserveStockHandler(stock, reservations, p.Clock, obs); err != nil {
		return nil, err
	}
	if app.Commands.ReleaseStock, err = inventory.NewReleaseStockHandler(stock, reservations, p.Clock, obs); err != nil {
		return nil, err
	}
	app.Queries = inventory.Queries{
		Product:  inventory.NewGetProductHandler(views),
		Products: inventory.NewListProductsHandler(views),
		Stock:    inventory.NewGetStockHandler(stock),
	}

	proc, err := p.newProcessors(cfg, p.processedMessages(cfg))
	if err != nil {
		return nil, err
	}
	policy, err := inventory.NewOrderPolicy(app.Commands.ReserveStock, app.Commands.ReleaseStock)
	if err != nil {
		return nil, err
	}
	if err := proc.AddEventHandler(handlerInventoryOrders, order.AggregateType, policy.Events(), policy, cqrs.EventHandlerOptions{Deduplicate: true}); err != nil {
		return nil, err
	}
	if err := proc.AddEventHandler(handlerInventoryProjection, domain.StockAggregateType, p.eventNames(domain.StockAggregateType), inventory.NewProductProjection(views), cqrs.EventHandlerOptions{}); err != nil {
		return nil, err
	}

	rebuild, err := productsRebuild(store, views)
	if err != nil {
		return nil, err
	}
	svc := &Service{
		Name:       Inventory,
		Handler:    httpport.NewInventoryHandler(app, p.httpBase(cfg, Inventory, logger)),
		Store:      store,
		processors: proc,
		relay:      relay,
		rebuild:    rebuild,
	}
	if cfg.DemoCatalog {
		svc.onStart = func(ctx context.Context) error {
			for _, cmd := range demoCatalog {
				err := app.Commands.AddProduct.Handle(ctx, cmd)
				if err != nil && !errors.Is(err, eventstore.ErrAlreadyExists) {
					return fmt.Errorf("demo catalog: %w", err)
				}
			}
			logger.Info("demo catalog ready", "products", len(demoCatalog))
			return nil
		}
	}
	return svc, nil
}
