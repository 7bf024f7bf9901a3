// Package inventory holds the use cases of the inventory service: the product
// catalog and its stock, reserving and releasing stock for orders, the
// products read model and its queries.
package inventory

import (
	"shop/app/eventstore"
	"shop/domain/inventory"
)

// StockRepository is the event-sourced store of products' stock.
type StockRepository = *eventstore.Repository[*inventory.Stock]

// ReservationRepository is the event-sourced store of orders' reservations.
type ReservationRepository = *eventstore.Repository[*inventory.Reservation]

// NewStockRepository builds the stock repository on a store.
func NewStockRepository(cfg eventstore.RepositoryConfig[*inventory.Stock]) (StockRepository, error) {
	cfg.AggregateType = inventory.StockAggregateType
	cfg.FromHistory = inventory.StockFromHistory
	cfg.Snapshot = StockSnapshots()
	return eventstore.NewRepository(cfg)
}

// StockSnapshots encodes a stock's snapshots.
func StockSnapshots() eventstore.SnapshotCodec[*inventory.Stock] {
	return eventstore.JSONSnapshot(inventory.StockSnapshotSchema, (*inventory.Stock).Snapshot, inventory.StockFromSnapshot)
}

// ReservationSnapshots encodes a reservation's snapshots.
func ReservationSnapshots() eventstore.SnapshotCodec[*inventory.Reservation] {
	return eventstore.JSONSnapshot(inventory.ReservationSnapshotSchema, (*inventory.Reservation).Snapshot, inventory.ReservationFromSnapshot)
}

// NewReservationRepository builds the reservation repository on a store.
func NewReservationRepository(cfg eventstore.RepositoryConfig[*inventory.Reservation]) (ReservationRepository, error) {
	cfg.AggregateType = inventory.ReservationAggregateType
	cfg.FromHistory = inventory.ReservationFromHistory
	cfg.Snapshot = ReservationSnapshots()
	return eventstore.NewRepository(cfg)
}

// Application is everything the inventory service can do, as its ports see it.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands are the inventory service's command handlers.
type Commands struct {
	AddProduct   AddProductHandler
	Restock      RestockHandler
	ReserveStock ReserveStockHandler
	ReleaseStock ReleaseStockHandler
}

// Queries are the inventory service's query handlers.
type Queries struct {
	Product  GetProductHandler
	Products ListProductsHandler
	Stock    GetStockHandler
}
