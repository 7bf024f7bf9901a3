package inventory

import (
	"context"
	"errors"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/domain/inventory"
)

// ReserveStock reserves every line of an order, or none.
type ReserveStock struct {
	OrderID string
	Lines   []inventory.Line
}

func (ReserveStock) CommandName() string { return "inventory.reserve_stock" }

// ReleaseStock gives back what a cancelled order holds.
type ReleaseStock struct {
	OrderID string
}

func (ReleaseStock) CommandName() string { return "inventory.release_stock" }

// ReserveStockHandler handles ReserveStock.
type ReserveStockHandler decorator.CommandHandler[ReserveStock]

// ReleaseStockHandler handles ReleaseStock.
type ReleaseStockHandler decorator.CommandHandler[ReleaseStock]

type reservations struct {
	stock        StockRepository
	reservations ReservationRepository
	clock        eventstore.Clock
}

// NewReserveStockHandler builds the handler.
func NewReserveStockHandler(stock StockRepository, res ReservationRepository, clock eventstore.Clock, obs decorator.Observability) (ReserveStockHandler, error) {
	if stock == nil || res == nil || clock == nil {
		return nil, errors.New("reserve stock: repositories and clock are required")
	}
	return decorator.ApplyCommandDecorators[ReserveStock](reserveStockHandler{reservations{stock, res, clock}}, obs), nil
}

// NewReleaseStockHandler builds the handler.
func NewReleaseStockHandler(stock StockRepository, res ReservationRepository, clock eventstore.Clock, obs decorator.Observability) (ReleaseStockHandler, error) {
	if stock == nil || res == nil || clock == nil {
		return nil, errors.New("release stock: repositories and clock are required")
	}
	return decorator.ApplyCommandDecorators[ReleaseStock](releaseStockHandler{reservations{stock, res, clock}}, obs), nil
}

type reserveStockHandler struct{ reservations }

// Handle reserves the lines one product at a time. When one cannot be
// reserved, the lines after it are only checked, so that the rejection names
// every line's reason without holding stock that other orders could take; the
// lines already reserved are released before the rejection is recorded.
//
// The order's reservation is not read first: it almost never exists yet, and
// its first event is appended on the assumption that it does not
// (CreateOrUpdate), which the event store's version check verifies. Every step
// is idempotent, so a redelivered command, or one that crashed half way, ends
// in the same place: reserving again for an order that holds a product's stock
// changes nothing, the reservation is decided once, and when the decision
// stored is not this run's (a cancellation that overtook the reservation, or a
// rejection an earlier run recorded while this one found the stock), what this
// run reserved is given back.
func (h reserveStockHandler) Handle(ctx context.Context, cmd ReserveStock) error {
	var reserved []inventory.Line
	var shortages []inventory.Shortage
	for _, line := range cmd.Lines {
		shortage, err := h.reserveLine(ctx, cmd.OrderID, line, len(shortages) > 0)
		if err != nil {
			return err
		}
		if shortage != nil {
			shortages = append(shortages, *shortage)
		} else if len(shortages) == 0 {
			reserved = append(reserved, line)
		}
	}
	if len(shortages) > 0 {
		if err := h.release(ctx, cmd.OrderID, reserved); err != nil {
			return err
		}
	}

	var holds bool
	err := h.reservations.reservations.CreateOrUpdate(ctx, cmd.OrderID, func(r *inventory.Reservation) error {
		if r.IsOpen() {
			holds = len(shortages) == 0
			if !holds {
				return r.Reject(shortages, h.clock.Now())
			}
			return r.Confirm(cmd.Lines, h.clock.Now())
		}
		holds = r.IsConfirmed()
		return nil
	})
	if err != nil {
		return err
	}
	if !holds && len(shortages) == 0 {
		// Decided before, and not as a confirmation: the order must hold
		// nothing, and this run reserved every line.
		return h.release(ctx, cmd.OrderID, cmd.Lines)
	}
	return nil
}

// reserveLine reserves one line, or with checkOnly just checks it could be.
func (h reserveStockHandler) reserveLine(ctx context.Context, orderID string, line inventory.Line, checkOnly bool) (*inventory.Shortage, error) {
	var err error
	if checkOnly {
		var s *inventory.Stock
		if s, err = h.stock.Load(ctx, line.ProductID); err == nil && s.Available() < line.Quantity {
			err = &inventory.InsufficientStockError{ProductID: line.ProductID, Requested: line.Quantity, Available: s.Available()}
		}
	} else {
		err = h.stock.Update(ctx, line.ProductID, func(s *inventory.Stock) error {
			return s.Reserve(orderID, line.Quantity, h.clock.Now())
		})
	}
	var short *inventory.InsufficientStockError
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, eventstore.ErrNotFound):
		return &inventory.Shortage{ProductID: line.ProductID, Reason: inventory.ReasonUnknownProduct, Requested: line.Quantity}, nil
	case errors.As(err, &short):
		return &inventory.Shortage{ProductID: line.ProductID, Reason: inventory.ReasonInsufficientStock, Requested: line.Quantity, Available: short.Available}, nil
	default:
		return nil, err
	}
}

type releaseStockHandler struct{ reservations }

// Handle records the cancellation on the order's reservation, then gives back
// the lines it held. Run again, it gives back the same lines, which changes
// nothing the second time.
func (h releaseStockHandler) Handle(ctx context.Context, cmd ReleaseStock) error {
	var lines []inventory.Line
	err := h.reservations.reservations.UpdateOrCreate(ctx, cmd.OrderID, func(r *inventory.Reservation) error {
		if err := r.Cancel(h.clock.Now()); err != nil {
			return err
		}
		lines = r.Lines()
		return nil
	})
	if err != nil {
		return err
	}
	return h.release(ctx, cmd.OrderID, lines)
}

func (h reservations) release(ctx context.Context, orderID string, lines []inventory.Line) error {
	for _, line := range lines {
		err := h.stock.Update(ctx, line.ProductID, func(s *inventory.Stock) error {
			return s.Release(orderID, h.clock.Now())
		})
		if err != nil && !errors.Is(err, eventstore.ErrNotFound) {
			return err
		}
	}
	return nil
}
