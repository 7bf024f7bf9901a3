package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"shop/app/eventstore"
	"shop/app/inventory"
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

const (
	handlerInventoryOrders     = "inventory.order-policy"
	handlerInventoryProjection = "inventory.product-projection"
)

var inventorySpec = serviceSpec{
	name: Inventory,
	subscriptions: []subscription{
		{handler: handlerInventoryOrders, aggregateType: order.AggregateType, deduplicate: true},
		{handler: handlerInventoryProjection, aggregateType: domain.StockAggregateType, everyEvent: true},
	},
	build: buildInventory,
}

func buildInventory(c serviceCore) (serviceParts, error) {
	p := c.platform
	stock, err := inventory.NewStockRepository(repository[*domain.Stock](c, domain.StockAggregateType))
	if err != nil {
		return serviceParts{}, err
	}
	reservations, err := inventory.NewReservationRepository(repository[*domain.Reservation](c, domain.ReservationAggregateType))
	if err != nil {
		return serviceParts{}, err
	}
	views, err := p.productViews(c.ctx)
	if err != nil {
		return serviceParts{}, err
	}

	var app inventory.Application
	if app.Commands.AddProduct, err = inventory.NewAddProductHandler(stock, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	if app.Commands.Restock, err = inventory.NewRestockHandler(stock, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	if app.Commands.ReserveStock, err = inventory.NewReserveStockHandler(stock, reservations, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	if app.Commands.ReleaseStock, err = inventory.NewReleaseStockHandler(stock, reservations, p.Clock, c.obs); err != nil {
		return serviceParts{}, err
	}
	app.Queries = inventory.Queries{
		Product:  inventory.NewGetProductHandler(views),
		Products: inventory.NewListProductsHandler(views),
		Stock:    inventory.NewGetStockHandler(stock),
	}
	policy, err := inventory.NewOrderPolicy(app.Commands.ReserveStock, app.Commands.ReleaseStock)
	if err != nil {
		return serviceParts{}, err
	}
	projection, err := inventory.NewProductProjection(views)
	if err != nil {
		return serviceParts{}, err
	}
	rebuild, err := productsRebuild(c.store, views)
	if err != nil {
		return serviceParts{}, err
	}
	parts := serviceParts{
		handlers: map[string]eventHandler{
			handlerInventoryOrders:     policy,
			handlerInventoryProjection: projection,
		},
		api: func(base httpport.Base, _ httpport.Admin) http.Handler {
			return httpport.NewInventoryHandler(app, base)
		},
		rebuild: rebuild,
	}
	if c.cfg.DemoCatalog {
		parts.onStart = func(ctx context.Context) error {
			for _, cmd := range demoCatalog {
				err := app.Commands.AddProduct.Handle(ctx, cmd)
				if err != nil && !errors.Is(err, eventstore.ErrAlreadyExists) {
					return fmt.Errorf("demo catalog: %w", err)
				}
			}
			c.logger.Info("demo catalog ready", "products", len(demoCatalog))
			return nil
		}
	}
	return parts, nil
}
