// Package orders holds the use cases of the orders service: placing and
// cancelling orders, confirming or rejecting them when the inventory has
// decided, the order read model, and the queries on it.
package orders

import (
	"shop/app/eventstore"
	"shop/domain/order"
)

// Repository is the event-sourced store of orders.
type Repository = *eventstore.Repository[*order.Order]

// NewRepository builds the orders repository on a store.
func NewRepository(cfg eventstore.RepositoryConfig[*order.Order]) (Repository, error) {
	cfg.AggregateType = order.AggregateType
	cfg.FromHistory = order.FromHistory
	cfg.Snapshot = Snapshots()
	return eventstore.NewRepository(cfg)
}

// Snapshots encodes an order's snapshots.
func Snapshots() eventstore.SnapshotCodec[*order.Order] {
	return eventstore.JSONSnapshot(order.SnapshotSchema, (*order.Order).Snapshot, order.FromSnapshot)
}
