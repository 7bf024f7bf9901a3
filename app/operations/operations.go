// Package operations holds the operators' use cases: the archive of dead
// letters and their replay, the replay of stored events, and the rebuild of
// read models. The command line and the admin HTTP API drive them.
package operations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"shop/app/eventstore"
)

// Republisher publishes a dead letter again, to its original topic, with the
// number of times it has now been replayed; and, once one is discarded, the
// release of the messages parked behind it.
type Republisher interface {
	Republish(ctx context.Context, d DeadLetter, replays int) error
	Releaser
}

// EventPublisher publishes a stored event.
type EventPublisher interface {
	Publish(ctx context.Context, rec eventstore.Record) error
}

// Pace spaces out publishing: a fixed delay, or a rate per second, or neither.
type Pace struct {
	Delay time.Duration
	Rate  float64
}

func (p Pace) interval() time.Duration {
	if p.Rate > 0 {
		return time.Duration(float64(time.Second) / p.Rate)
	}
	return p.Delay
}

// wait paces before the next publish; false when ctx is done.
func (p Pace) wait(ctx context.Context) bool {
	d := p.interval()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Progress hears how far a long run is.
type Progress func(done, total int)

// Report says what a replay selected and did.
type Report struct {
	RunID    string
	DryRun   bool
	Selected int
	// Published counts what went out again; Quarantined the dead letters
	// that had been replayed too often.
	Published   int
	Quarantined int
	// ByReason and ByHandler count the selected dead letters; ByType the
	// selected events or dead letters by type.
	ByReason  map[string]int
	ByHandler map[string]int
	ByType    map[string]int
	// DeadLetters and Events are what was selected.
	DeadLetters []DeadLetter
	Events      []eventstore.Record
	// Stopped is set when the run was cancelled before its end.
	Stopped bool
}

// Operations holds the operators' use cases.
type Operations struct {
	deadLetters DeadLetters
	parking     Parking
	runs        Runs
	republisher Republisher
	events      EventPublisher
	stores      map[string]eventstore.Store
	clock       eventstore.Clock
	ids         eventstore.IDs
	rebuilds    map[string]Rebuild
	running     runningRebuilds
	vault       Eraser
	archive     ArchiveEraser
	snapshotted []Snapshotted
}

// Config holds what Operations needs. Stores are the event stores it can
// replay from, by service; Rebuilds the read models it can rebuild, by name.
type Config struct {
	DeadLetters DeadLetters
	// Parking holds the messages of aggregates whose earlier message is a
	// dead letter.
	Parking     Parking
	Runs        Runs
	Republisher Republisher
	Events      EventPublisher
	Stores      map[string]eventstore.Store
	Rebuilds    []Rebuild
	Clock       eventstore.Clock
	IDs         eventstore.IDs
	// Vault holds the keys of customers' personal data, which an erasure
	// deletes; Archive, when set, the notifications of versions before
	// correspondences.
	Vault   Eraser
	Archive ArchiveEraser
	// Snapshotted are the aggregate types whose snapshots are rebuilt and,
	// in an erasure, deleted.
	Snapshotted []Snapshotted
}

// New builds the operators' use cases.
func New(cfg Config) (*Operations, error) {
	if cfg.DeadLetters == nil || cfg.Parking == nil || cfg.Runs == nil || cfg.Republisher == nil || cfg.Events == nil || cfg.Clock == nil || cfg.IDs == nil {
		return nil, errors.New("operations: dead letters, parking, runs, publishers, clock and ids are required")
	}
	o := &Operations{
		deadLetters: cfg.DeadLetters, parking: cfg.Parking, runs: cfg.Runs, republisher: cfg.Republisher, events: cfg.Events,
		stores: cfg.Stores, clock: cfg.Clock, ids: cfg.IDs, rebuilds: map[string]Rebuild{},
		vault: cfg.Vault, archive: cfg.Archive, snapshotted: cfg.Snapshotted,
	}
	for _, r := range cfg.Rebuilds {
		if r.Name == "" || r.Store == nil || r.Begin == nil {
			return nil, fmt.Errorf("operations: rebuild %q needs a name, a store and a beginning", r.Name)
		}
		if _, ok := o.rebuilds[r.Name]; ok {
			return nil, fmt.Errorf("operations: two rebuilds of %q", r.Name)
		}
		o.rebuilds[r.Name] = r
	}
	return o, nil
}
