package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"shop/app/eventstore"
	"shop/app/reaction"
	"shop/domain/inventory"
	"shop/domain/refusal"
)

var (
	// ErrProductNotFound is returned for a product the catalog does not hold.
	ErrProductNotFound = refusal.New(refusal.NotFound, "product_not_found", "no product has this id")
)

// ProductView is a product's stock as queries see it.
type ProductView struct {
	ProductID string
	Name      string
	Available int
	Reserved  int
	UpdatedAt time.Time
	// Version is the version of the product's last event applied to the view.
	Version int
}

// StockChange is how an event after the first moves a product's counts.
type StockChange struct {
	AvailableDelta int
	ReservedDelta  int
	UpdatedAt      time.Time
}

// ProductFilter selects a page of products in product id order.
type ProductFilter struct {
	Limit int
	// After is the id of the last product of the previous page.
	After string
}

// ProductPage is one page of products and the cursor of the next, if any.
type ProductPage struct {
	Products []ProductView
	Next     string
}

// ProductViews is the products read model, guarded by version
// (see readmodel.ShouldApply).
type ProductViews interface {
	// Create adds the view of a new product (Version 1); if it exists, nothing changes.
	Create(ctx context.Context, v ProductView) error
	// Update applies the change of the product's event number version.
	Update(ctx context.Context, productID string, version int, c StockChange) error
	// Get returns ErrProductNotFound for an unknown product.
	Get(ctx context.Context, productID string) (ProductView, error)
	List(ctx context.Context, f ProductFilter) (ProductPage, error)
}

// NewProductProjection builds the projection that keeps the products read
// model up to date. Every stock event changes the view's version, so it
// reacts to each of them (the service refuses to start a projection that
// misses one).
func NewProductProjection(views ProductViews) (*reaction.Handler, error) {
	p := productProjection{views: views}
	return reaction.New(reaction.On(p.added), reaction.On(p.restocked), reaction.On(p.reserved), reaction.On(p.released))
}

type productProjection struct {
	views ProductViews
}

func (p productProjection) added(ctx context.Context, rec eventstore.Record, e *inventory.ProductAdded) error {
	return p.views.Create(ctx, ProductView{ProductID: e.ProductID, Name: e.Name, Available: e.InitialStock, UpdatedAt: e.AddedAt, Version: rec.Version})
}

func (p productProjection) restocked(ctx context.Context, rec eventstore.Record, e *inventory.StockRestocked) error {
	return p.views.Update(ctx, rec.AggregateID, rec.Version, StockChange{AvailableDelta: e.Quantity, UpdatedAt: e.RestockedAt})
}

func (p productProjection) reserved(ctx context.Context, rec eventstore.Record, e *inventory.StockReserved) error {
	return p.views.Update(ctx, rec.AggregateID, rec.Version, StockChange{AvailableDelta: -e.Quantity, ReservedDelta: e.Quantity, UpdatedAt: e.ReservedAt})
}

func (p productProjection) released(ctx context.Context, rec eventstore.Record, e *inventory.StockReleased) error {
	return p.views.Update(ctx, rec.AggregateID, rec.Version, StockChange{AvailableDelta: e.Quantity, ReservedDelta: -e.Quantity, UpdatedAt: e.ReleasedAt})
}

// GetProduct asks for the read model's view of a product.
type GetProduct struct {
	ProductID string
}

// GetProductHandler answers GetProduct.
type GetProductHandler struct {
	views ProductViews
}

func NewGetProductHandler(views ProductViews) GetProductHandler {
	return GetProductHandler{views: views}
}

func (h GetProductHandler) Handle(ctx context.Context, q GetProduct) (ProductView, error) {
	return h.views.Get(ctx, q.ProductID)
}

// ListProducts asks for a page of the catalog.
type ListProducts = ProductFilter

// ListProductsHandler answers ListProducts.
type ListProductsHandler struct {
	views ProductViews
}

func NewListProductsHandler(views ProductViews) ListProductsHandler {
	return ListProductsHandler{views: views}
}

func (h ListProductsHandler) Handle(ctx context.Context, q ListProducts) (ProductPage, error) {
	return h.views.List(ctx, q)
}

// GetStock asks for a product's stock as its own events have it, without the
// read model's lag: the answer to the request that changed it.
type GetStock struct {
	ProductID string
}

// GetStockHandler answers GetStock from the write side.
type GetStockHandler struct {
	stock StockRepository
}

func NewGetStockHandler(stock StockRepository) GetStockHandler { return GetStockHandler{stock: stock} }

func (h GetStockHandler) Handle(ctx context.Context, q GetStock) (ProductView, error) {
	s, err := h.stock.Load(ctx, q.ProductID)
	if errors.Is(err, eventstore.ErrNotFound) {
		return ProductView{}, fmt.Errorf("%w: %s", ErrProductNotFound, q.ProductID)
	}
	if err != nil {
		return ProductView{}, err
	}
	return ProductView{ProductID: s.ID(), Name: s.Name(), Available: s.Available(), Reserved: s.Reserved(), Version: s.Version()}, nil
}
