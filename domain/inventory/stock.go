// Package inventory is the stock bounded context: each product's stock is an
// aggregate, and each order's reservation across products is another, so that
// reserving all of an order's lines is all or nothing.
package inventory

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"shop/domain/es"
	"shop/domain/validation"
)

// Limits of stock quantities.
const (
	MaxStock        = 1_000_000_000
	maxIDLength     = 128
	maxNameLength   = 200
	maxRestockUnits = MaxStock
)

// Stock is one product's stock: units available to reserve, and the units
// reserved per order.
type Stock struct {
	es.Root

	name         string
	available    int
	reserved     int
	reservations map[string]int
}

// AddProduct puts a new product in the catalog.
func AddProduct(id, name string, initialStock int, now time.Time) (*Stock, error) {
	var v validation.Errors
	if !validation.SafeID(id, maxIDLength) {
		v.Add("productId", validation.SafeIDRule, maxIDLength)
	}
	if strings.TrimSpace(name) == "" || len(name) > maxNameLength {
		v.Add("name", "must be 1 to %d characters", maxNameLength)
	}
	if initialStock < 0 || initialStock > MaxStock {
		v.Add("stock", "must be between 0 and %d", MaxStock)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	s := newStock(id)
	err := s.record(&ProductAdded{ProductID: id, Name: name, InitialStock: initialStock, AddedAt: now})
	return s, err
}

func newStock(id string) *Stock {
	return &Stock{Root: es.NewRoot(id), reservations: map[string]int{}}
}

// Restock adds arrived units.
func (s *Stock) Restock(quantity int, now time.Time) error {
	if quantity < 1 || quantity > maxRestockUnits || s.available+s.reserved+quantity > MaxStock {
		var v validation.Errors
		v.Add("quantity", "must be between 1 and %d, and the stock at most %d", maxRestockUnits, MaxStock)
		return v.Err()
	}
	return s.record(&StockRestocked{ProductID: s.ID(), Quantity: quantity, RestockedAt: now})
}

// Reserve sets units aside for an order. Reserving again for the same order
// changes nothing, so a redelivered request has one effect.
func (s *Stock) Reserve(orderID string, quantity int, now time.Time) error {
	if _, done := s.reservations[orderID]; done {
		return nil
	}
	if quantity < 1 {
		return fmt.Errorf("reserve %d units of %s: quantity must be positive", quantity, s.ID())
	}
	if quantity > s.available {
		return &InsufficientStockError{ProductID: s.ID(), Requested: quantity, Available: s.available}
	}
	return s.record(&StockReserved{ProductID: s.ID(), OrderID: orderID, Quantity: quantity, ReservedAt: now})
}

// Release gives back what an order reserved. Releasing what was never reserved,
// or releasing twice, changes nothing.
func (s *Stock) Release(orderID string, now time.Time) error {
	quantity, ok := s.reservations[orderID]
	if !ok {
		return nil
	}
	return s.record(&StockReleased{ProductID: s.ID(), OrderID: orderID, Quantity: quantity, ReleasedAt: now})
}

// StockFromHistory rebuilds a product's stock from its stored events.
func StockFromHistory(id string, history []es.Event) (*Stock, error) {
	s := newStock(id)
	for _, e := range history {
		if err := s.apply(e); err != nil {
			return nil, err
		}
		s.Replayed()
	}
	return s, nil
}

func (s *Stock) record(e es.Event) error {
	if err := s.apply(e); err != nil {
		return err
	}
	s.Track(e)
	return nil
}

func (s *Stock) apply(e es.Event) error {
	switch e := e.(type) {
	case *ProductAdded:
		s.name, s.available = e.Name, e.InitialStock
	case *StockRestocked:
		s.available += e.Quantity
	case *StockReserved:
		s.available -= e.Quantity
		s.reserved += e.Quantity
		s.reservations[e.OrderID] = e.Quantity
	case *StockReleased:
		s.available += e.Quantity
		s.reserved -= e.Quantity
		delete(s.reservations, e.OrderID)
	default:
		return es.UnknownEventError(StockAggregateType, e)
	}
	return nil
}

func (s *Stock) Name() string   { return s.name }
func (s *Stock) Available() int { return s.available }
func (s *Stock) Reserved() int  { return s.reserved }

// ReservedFor is what the order holds of this product.
func (s *Stock) ReservedFor(orderID string) int { return s.reservations[orderID] }

// StockSnapshot is a stock's state as of a version: a product restocked and
// reserved for thousands of times loads from it and the events after it.
// Its fields are its stored form: changing them is a new StockSnapshotSchema,
// and snapshots of another schema are not read.
type StockSnapshot struct {
	Name         string
	Available    int
	Reserved     int
	Reservations map[string]int
}

// StockSnapshotSchema versions StockSnapshot.
const StockSnapshotSchema = 1

// Snapshot is the stock's state; its map is a copy.
func (s *Stock) Snapshot() StockSnapshot {
	return StockSnapshot{Name: s.name, Available: s.available, Reserved: s.reserved, Reservations: maps.Clone(s.reservations)}
}

// StockFromSnapshot rebuilds a stock from its state at version and the
// events stored after it.
func StockFromSnapshot(id string, version int, snap StockSnapshot, tail []es.Event) (*Stock, error) {
	s := &Stock{Root: es.RestoredRoot(id, version), name: snap.Name, available: snap.Available, reserved: snap.Reserved, reservations: maps.Clone(snap.Reservations)}
	if s.reservations == nil {
		s.reservations = map[string]int{}
	}
	for _, e := range tail {
		if err := s.apply(e); err != nil {
			return nil, err
		}
		s.Replayed()
	}
	return s, nil
}
