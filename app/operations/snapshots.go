package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"shop/app/eventstore"
)

// Snapshotted is one aggregate type's streams and their snapshots.
type Snapshotted struct {
	AggregateType string
	Store         eventstore.Store
	Snapshots     eventstore.Snapshots
	// Take snapshots one stream from all its events, and reports whether it
	// was long enough to (eventstore.Repository.TakeSnapshot).
	Take func(ctx context.Context, id string) (bool, error)
}

// SnapshotReport is what a rebuild of one aggregate type's snapshots did.
type SnapshotReport struct {
	AggregateType string
	// Streams is how many streams of the type are stored, Taken how many
	// were long enough to be snapshotted.
	Streams int
	Taken   int
	Took    time.Duration
}

// SnapshottedTypes names the aggregate types whose snapshots can be rebuilt.
func (o *Operations) SnapshottedTypes() []string {
	var names []string
	for _, s := range o.snapshotted {
		names = append(names, s.AggregateType)
	}
	return names
}

// RebuildSnapshots takes again, from every event, the snapshot of each
// stream of the aggregate type (every type, with ""), that is long enough:
// after a change of a snapshot's schema, or of how many events apart they
// are taken, so that no load pays for the change. The streams are found by
// reading the type's events once.
func (o *Operations) RebuildSnapshots(ctx context.Context, aggregateType string, progress Progress) ([]SnapshotReport, error) {
	var selected []Snapshotted
	for _, s := range o.snapshotted {
		if aggregateType == "" || s.AggregateType == aggregateType {
			selected = append(selected, s)
		}
	}
	if len(selected) == 0 {
		return nil, invalidf("no snapshots of %q: the aggregate types are %v", aggregateType, o.SnapshottedTypes())
	}
	var reports []SnapshotReport
	for _, s := range selected {
		report, err := rebuildSnapshots(ctx, s, progress)
		if errors.Is(err, eventstore.ErrNoSnapshots) {
			if aggregateType == "" {
				continue // a type not snapshotted, among all
			}
			return reports, invalidf("no snapshots are taken of %s: set SNAPSHOT_EVERY", s.AggregateType)
		}
		if err != nil {
			return reports, err
		}
		reports = append(reports, report)
	}
	return reports, nil
}

func rebuildSnapshots(ctx context.Context, s Snapshotted, progress Progress) (SnapshotReport, error) {
	start := time.Now()
	report := SnapshotReport{AggregateType: s.AggregateType}
	var ids []string
	seen := map[string]bool{}
	for rec, err := range s.Store.Read(ctx, eventstore.Filter{AggregateTypes: []string{s.AggregateType}}) {
		if err != nil {
			return report, fmt.Errorf("find the streams of %s: %w", s.AggregateType, err)
		}
		if !seen[rec.AggregateID] {
			seen[rec.AggregateID] = true
			ids = append(ids, rec.AggregateID)
		}
	}
	slices.Sort(ids)
	report.Streams = len(ids)
	for i, id := range ids {
		taken, err := s.Take(ctx, id)
		if err != nil {
			return report, fmt.Errorf("snapshot of %s %s: %w", s.AggregateType, id, err)
		}
		if taken {
			report.Taken++
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	report.Took = time.Since(start)
	return report, nil
}
