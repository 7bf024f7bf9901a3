package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"shop/app/eventstore"
	"shop/app/personal"
	"shop/domain/es"
	"shop/domain/notification"
)

// Eraser deletes a data subject's key (app/personal.Vault), which any
// process may go on using for KeyCacheTTL.
type Eraser interface {
	Erase(ctx context.Context, subject string) (bool, error)
	KeyCacheTTL() time.Duration
}

// ArchiveEraser empties the addresses of the orders' notifications in the
// archive that versions before correspondences kept.
type ArchiveEraser interface {
	Erase(ctx context.Context, orderIDs []string) (int, error)
}

// Erasure is what erasing a customer's personal data did.
type Erasure struct {
	CustomerID string
	// KeyDeleted is set when the customer had a key: everything it sealed,
	// wherever a copy is, cannot be read any more. Unset when there was
	// none (nothing sealed, or erased before).
	KeyDeleted bool
	// Orders are the customer's orders found in the event stores.
	Orders []string
	// EventsRedacted counts the events stored in clear, before personal
	// data was sealed, whose personal values were overwritten.
	EventsRedacted int
	// DeadLettersRedacted counts the dead letters whose payload held
	// those values in clear.
	DeadLettersRedacted int
	// ParkedRedacted counts the parked messages whose payload held them.
	ParkedRedacted int
	// ArchivedNotificationsRedacted counts the notifications of the
	// archive whose addresses were emptied.
	ArchivedNotificationsRedacted int
}

// EraseCustomer erases a customer's personal data (the right to erasure):
// the customer's key is deleted first, which makes every sealed copy noise
// at once, in the event stores, on the bus and in dead letters alike. Then
// what was stored in clear before sealing existed is overwritten: the
// personal values of the customer's events in every store, those values
// where dead letters of the customer's orders quote them, and the archived
// notifications' addresses; the snapshots of the customer's streams are
// deleted. The orders themselves, their items, totals and
// statuses, stay. Erasing again is harmless, and finishes what a failed
// erasure left.
//
// It answers once no process can still use the key, KeyCacheTTL after it
// was deleted: from then on nothing is sent to the customer, and an order
// the customer places gets a new key.
func (o *Operations) EraseCustomer(ctx context.Context, customerID string) (Erasure, error) {
	customerID = strings.TrimSpace(customerID)
	if customerID == "" {
		return Erasure{}, invalidf("a customer id is required")
	}
	if o.vault == nil {
		return Erasure{}, errors.New("erase: no key store of personal data is configured")
	}
	report := Erasure{CustomerID: customerID}
	var err error
	if report.KeyDeleted, err = o.vault.Erase(ctx, customerID); err != nil {
		return report, fmt.Errorf("erase %s: delete the key: %w", customerID, err)
	}
	forgotten := time.Now().Add(o.vault.KeyCacheTTL())
	services := slices.Sorted(maps.Keys(o.stores))
	orders := map[string]bool{}
	for _, name := range services {
		for rec, err := range o.stores[name].Read(ctx, eventstore.Filter{Subjects: []string{customerID}}) {
			if err != nil {
				return report, fmt.Errorf("erase %s: find the customer's events in %s: %w", customerID, name, err)
			}
			orders[rec.AggregateID] = true
		}
	}
	report.Orders = slices.Sorted(maps.Keys(orders))
	var streams []string
	for _, id := range report.Orders {
		streams = append(streams, notification.StreamsOf(id)...)
	}
	var clear [][]byte
	if len(streams) > 0 {
		for _, name := range services {
			redacted, values, err := redactStore(ctx, o.stores[name], customerID, streams)
			report.EventsRedacted += redacted
			clear = append(clear, values...)
			if err != nil {
				return report, fmt.Errorf("erase %s: redact %s's events: %w", customerID, name, err)
			}
		}
	}
	// A snapshot may hold what an event held in clear: it is taken again
	// from the redacted events when the stream next passes a multiple.
	var cleared []eventstore.Snapshots // the aggregate types of a service share its store
	for _, s := range o.snapshotted {
		if slices.Contains(cleared, s.Snapshots) {
			continue
		}
		cleared = append(cleared, s.Snapshots)
		if err := s.Snapshots.Delete(ctx, streams); err != nil {
			return report, fmt.Errorf("erase %s: %w", customerID, err)
		}
	}
	if report.DeadLettersRedacted, err = o.redactDeadLetters(ctx, streams, clear); err != nil {
		return report, fmt.Errorf("erase %s: %w", customerID, err)
	}
	if report.ParkedRedacted, err = o.redactParked(ctx, streams, clear); err != nil {
		return report, fmt.Errorf("erase %s: %w", customerID, err)
	}
	if o.archive != nil {
		if report.ArchivedNotificationsRedacted, err = o.archive.Erase(ctx, report.Orders); err != nil {
			return report, fmt.Errorf("erase %s: %w", customerID, err)
		}
	}
	if report.KeyDeleted {
		t := time.NewTimer(time.Until(forgotten))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return report, fmt.Errorf("erase %s: the key is deleted, and processes may use it until %s: %w", customerID, forgotten.Format(time.RFC3339), ctx.Err())
		case <-t.C:
		}
	}
	return report, nil
}

// redactStore overwrites the personal values in clear of the customer's
// events in the streams, and returns them JSON-encoded, as payloads hold them.
func redactStore(ctx context.Context, store eventstore.Store, customerID string, streams []string) (int, [][]byte, error) {
	var redacted []eventstore.Record
	var values [][]byte
	for rec, err := range store.Read(ctx, eventstore.Filter{AggregateIDs: streams}) {
		if err != nil {
			return 0, nil, err
		}
		p, ok := rec.Event.(es.Personal)
		// Deliveries recorded before they named the customer have no
		// subject: the stream says whose they are.
		if !ok || (p.DataSubject() != "" && p.DataSubject() != customerID) {
			continue
		}
		was := personal.Redact(p)
		if len(was) == 0 {
			continue
		}
		for _, v := range was {
			encoded, err := json.Marshal(v)
			if err != nil {
				return 0, nil, err
			}
			values = append(values, bytes.Trim(encoded, `"`))
		}
		redacted = append(redacted, rec)
	}
	if err := store.Redact(ctx, redacted); err != nil {
		return 0, nil, err
	}
	return len(redacted), values, nil
}

// redactParked overwrites the values in clear where the payloads of the
// streams' parked messages hold them.
func (o *Operations) redactParked(ctx context.Context, streams []string, clear [][]byte) (int, error) {
	if len(streams) == 0 || len(clear) == 0 {
		return 0, nil
	}
	lanes, err := o.parking.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("find the parked messages of the customer's orders: %w", err)
	}
	redacted := 0
	for lane := range lanes {
		if !slices.Contains(streams, lane.AggregateID) {
			continue
		}
		parked, err := o.parking.Parked(ctx, lane)
		if err != nil {
			return redacted, fmt.Errorf("find the parked messages of %s: %w", lane.AggregateID, err)
		}
		for _, m := range parked {
			payload := erased(m.Payload, clear)
			if bytes.Equal(payload, m.Payload) {
				continue
			}
			if err := o.parking.Redact(ctx, lane, m.MessageID, payload); err != nil {
				return redacted, fmt.Errorf("redact parked message %s: %w", m.MessageID, err)
			}
			redacted++
		}
	}
	return redacted, nil
}

// erased is the payload with each of the values in clear overwritten.
func erased(payload []byte, clear [][]byte) []byte {
	for _, v := range clear {
		payload = bytes.ReplaceAll(payload, v, []byte(personal.Erased))
	}
	return payload
}

// redactDeadLetters overwrites the values in clear where the payloads of the
// streams' dead letters hold them.
func (o *Operations) redactDeadLetters(ctx context.Context, streams []string, clear [][]byte) (int, error) {
	if len(streams) == 0 || len(clear) == 0 {
		return 0, nil
	}
	letters, err := o.deadLetters.List(ctx, DeadLetterFilter{AggregateIDs: streams})
	if err != nil {
		return 0, fmt.Errorf("find the dead letters of the customer's orders: %w", err)
	}
	redacted := 0
	for _, d := range letters {
		payload := erased(d.Payload, clear)
		if bytes.Equal(payload, d.Payload) {
			continue
		}
		if err := o.deadLetters.Redact(ctx, d.ID, payload); err != nil {
			return redacted, fmt.Errorf("redact dead letter %s: %w", d.ID, err)
		}
		redacted++
	}
	return redacted, nil
}
