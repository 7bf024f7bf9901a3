package inventory

import (
	"fmt"
	"time"

	"shop/domain/es"
)

// Line is a quantity of one product within an order's reservation.
type Line struct {
	ProductID string
	Quantity  int
}

// ShortageReason says why a line could not be reserved.
type ShortageReason struct{ s string }

var (
	ReasonUnknownProduct    = ShortageReason{"unknown_product"}
	ReasonInsufficientStock = ShortageReason{"insufficient_stock"}
)

// ShortageReasonFromString reads a reason as events spell it.
func ShortageReasonFromString(s string) (ShortageReason, error) {
	for _, r := range []ShortageReason{ReasonUnknownProduct, ReasonInsufficientStock} {
		if r.s == s {
			return r, nil
		}
	}
	return ShortageReason{}, fmt.Errorf("unknown shortage reason %q", s)
}

func (r ShortageReason) String() string { return r.s }

// MarshalText and UnmarshalText let events carry a reason by its name.
func (r ShortageReason) MarshalText() ([]byte, error) { return []byte(r.s), nil }

func (r *ShortageReason) UnmarshalText(b []byte) error {
	v, err := ShortageReasonFromString(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Shortage is a line that could not be reserved, and why.
type Shortage struct {
	ProductID string
	Reason    ShortageReason
	Requested int
	Available int
}

type reservationStatus int

const (
	reservationOpen reservationStatus = iota
	reservationConfirmed
	reservationRejected
	reservationCancelled
)

// Reservation is the decision about one order's stock. It exists so that the
// outcome of reserving several products is recorded once, and so that a cancel
// that overtakes the reservation is remembered: stock reserved afterwards for a
// cancelled order is given back instead of held forever.
type Reservation struct {
	es.Root

	status reservationStatus
	lines  []Line
}

// NewReservation is an order's reservation before anything was decided.
func NewReservation(orderID string) *Reservation {
	return &Reservation{Root: es.NewRoot(orderID)}
}

// Confirm records that every line is reserved.
func (r *Reservation) Confirm(lines []Line, now time.Time) error {
	if r.status != reservationOpen {
		return ErrReservationDecided
	}
	return r.record(&ReservationConfirmed{OrderID: r.ID(), Lines: append([]Line(nil), lines...), ConfirmedAt: now})
}

// Reject records that the order cannot be served, line by line.
func (r *Reservation) Reject(shortages []Shortage, now time.Time) error {
	if r.status != reservationOpen {
		return ErrReservationDecided
	}
	return r.record(&ReservationRejected{OrderID: r.ID(), Shortages: append([]Shortage(nil), shortages...), RejectedAt: now})
}

// Cancel records the order's cancellation; a confirmed reservation lists the
// lines to give back. Cancelling a rejected or cancelled reservation changes nothing.
func (r *Reservation) Cancel(now time.Time) error {
	switch r.status {
	case reservationRejected, reservationCancelled:
		return nil
	case reservationConfirmed:
		return r.record(&ReservationCancelled{OrderID: r.ID(), Released: r.lines, CancelledAt: now})
	default:
		return r.record(&ReservationCancelled{OrderID: r.ID(), CancelledAt: now})
	}
}

// ReservationFromHistory rebuilds a reservation from its stored events.
func ReservationFromHistory(orderID string, history []es.Event) (*Reservation, error) {
	r := NewReservation(orderID)
	for _, e := range history {
		if err := r.apply(e); err != nil {
			return nil, err
		}
		r.Replayed()
	}
	return r, nil
}

func (r *Reservation) record(e es.Event) error {
	if err := r.apply(e); err != nil {
		return err
	}
	r.Track(e)
	return nil
}

func (r *Reservation) apply(e es.Event) error {
	switch e := e.(type) {
	case *ReservationConfirmed:
		r.status, r.lines = reservationConfirmed, e.Lines
	case *ReservationRejected:
		r.status = reservationRejected
	case *ReservationCancelled:
		r.status, r.lines = reservationCancelled, e.Released
	default:
		return es.UnknownEventError(ReservationAggregateType, e)
	}
	return nil
}

// IsOpen is true until the reservation is confirmed, rejected or cancelled.
func (r *Reservation) IsOpen() bool { return r.status == reservationOpen }

// IsConfirmed is true once every line is reserved, until a cancellation.
func (r *Reservation) IsConfirmed() bool { return r.status == reservationConfirmed }

// IsCancelled is true once the order was cancelled.
func (r *Reservation) IsCancelled() bool { return r.status == reservationCancelled }

// Lines are the reserved lines of a confirmed reservation, or the lines a
// cancellation gave back.
func (r *Reservation) Lines() []Line { return append([]Line(nil), r.lines...) }

// ReservationSnapshot is a reservation's state as of a version (see
// StockSnapshot).
type ReservationSnapshot struct {
	Status string
	Lines  []Line
}

// ReservationSnapshotSchema versions ReservationSnapshot.
const ReservationSnapshotSchema = 1

var reservationStatuses = map[reservationStatus]string{
	reservationOpen: "open", reservationConfirmed: "confirmed", reservationRejected: "rejected", reservationCancelled: "cancelled",
}

// Snapshot is the reservation's state; its lines are a copy.
func (r *Reservation) Snapshot() ReservationSnapshot {
	return ReservationSnapshot{Status: reservationStatuses[r.status], Lines: r.Lines()}
}

// ReservationFromSnapshot rebuilds a reservation from its state at version
// and the events stored after it.
func ReservationFromSnapshot(orderID string, version int, snap ReservationSnapshot, tail []es.Event) (*Reservation, error) {
	r := &Reservation{Root: es.RestoredRoot(orderID, version), lines: append([]Line(nil), snap.Lines...)}
	found := false
	for status, name := range reservationStatuses {
		if name == snap.Status {
			r.status, found = status, true
		}
	}
	if !found {
		return nil, fmt.Errorf("reservation %s: snapshot of unknown status %q", orderID, snap.Status)
	}
	for _, e := range tail {
		if err := r.apply(e); err != nil {
			return nil, err
		}
		r.Replayed()
	}
	return r, nil
}
