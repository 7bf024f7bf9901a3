package inventory

import (
	"context"
	"errors"
	"fmt"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/domain/inventory"
)

// AddProduct puts a new product with its initial stock in the catalog.
type AddProduct struct {
	ProductID    string
	Name         string
	InitialStock int
}

func (AddProduct) CommandName() string { return "inventory.add_product" }

// AddProductHandler handles AddProduct; an existing product id is
// eventstore.ErrAlreadyExists.
type AddProductHandler decorator.CommandHandler[AddProduct]

type addProductHandler struct {
	stock StockRepository
	clock eventstore.Clock
}

// NewAddProductHandler builds the handler.
func NewAddProductHandler(stock StockRepository, clock eventstore.Clock, obs decorator.Observability) (AddProductHandler, error) {
	if stock == nil || clock == nil {
		return nil, errors.New("add product: repository and clock are required")
	}
	return decorator.ApplyCommandDecorators[AddProduct](addProductHandler{stock: stock, clock: clock}, obs), nil
}

func (h addProductHandler) Handle(ctx context.Context, cmd AddProduct) error {
	s, err := inventory.AddProduct(cmd.ProductID, cmd.Name, cmd.InitialStock, h.clock.Now())
	if err != nil {
		return err
	}
	return h.stock.Add(ctx, s)
}

// Restock adds arrived units of a product.
type Restock struct {
	ProductID string
	Quantity  int
}

func (Restock) CommandName() string { return "inventory.restock" }

// RestockHandler handles Restock; an unknown product is ErrProductNotFound.
type RestockHandler decorator.CommandHandler[Restock]

type restockHandler struct {
	stock StockRepository
	clock eventstore.Clock
}

// NewRestockHandler builds the handler.
func NewRestockHandler(stock StockRepository, clock eventstore.Clock, obs decorator.Observability) (RestockHandler, error) {
	if stock == nil || clock == nil {
		return nil, errors.New("restock: repository and clock are required")
	}
	return decorator.ApplyCommandDecorators[Restock](restockHandler{stock: stock, clock: clock}, obs), nil
}

func (h restockHandler) Handle(ctx context.Context, cmd Restock) error {
	err := h.stock.Update(ctx, cmd.ProductID, func(s *inventory.Stock) error {
		return s.Restock(cmd.Quantity, h.clock.Now())
	})
	if errors.Is(err, eventstore.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrProductNotFound, err)
	}
	return err
}
