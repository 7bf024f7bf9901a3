package operations

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"shop/app/eventstore"
)

// ReplayRequest is the platform's replay as operators ask for it: stored
// events, or with Status "failed" the dead letters.
type ReplayRequest struct {
	// Status is "" for stored events, "failed" for the dead letters.
	Status      string
	EventType   string
	AggregateID string
	EventIDs    []string
	// Since and Until bound when the events were recorded, or when the dead
	// letters last failed.
	Since, Until time.Time
	// Services selects stored events only. All allows a replay nothing
	// else narrows: every stored event, or every failed dead letter.
	Services []string
	All      bool
	Limit    int
	// MaxReplays quarantines a dead letter replayed this often already.
	MaxReplays int
	DryRun     bool
	Pace       Pace
	By         string
}

func (r ReplayRequest) deadLetters() DeadLetterFilter {
	return DeadLetterFilter{EventType: r.EventType, IDs: r.EventIDs, Since: r.Since, Until: r.Until, Limit: r.Limit, All: r.All}
}

func (r ReplayRequest) events() EventFilter {
	f := EventFilter{Filter: eventstore.Filter{EventIDs: r.EventIDs, Since: r.Since, Until: r.Until, Limit: r.Limit}, Services: r.Services, All: r.All}
	if r.EventType != "" {
		f.Types = []string{r.EventType}
	}
	if r.AggregateID != "" {
		f.AggregateIDs = []string{r.AggregateID}
	}
	return f
}

// Validate refuses what Replay would refuse for the request alone, so that
// a tool can say so before it connects to anything.
func (r ReplayRequest) Validate() error {
	switch r.Status {
	case "failed":
		if r.AggregateID != "" || len(r.Services) > 0 {
			return invalidf(`status "failed" replays dead letters, selected by event type, event ids and dates; aggregate id and services select stored events`)
		}
		if r.MaxReplays < 1 {
			return invalidf("max replays must be at least 1, not %d", r.MaxReplays)
		}
		return r.deadLetters().ValidateReplay()
	case "":
		return r.events().Validate()
	}
	return invalidf(`status %q: want "failed" (the dead letters) or none (stored events)`, r.Status)
}

// Replay replays what the request selects.
func (o *Operations) Replay(ctx context.Context, r ReplayRequest, progress Progress) (Report, error) {
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	if r.Status == "failed" {
		return o.ReplayDeadLetters(ctx, r.deadLetters(), r.MaxReplays, r.DryRun, r.Pace, r.By, progress)
	}
	return o.ReplayEvents(ctx, r.events(), r.DryRun, r.Pace, r.By, progress)
}

// EventFilter selects stored events to replay, from the event stores of the
// named services (all of them when empty).
type EventFilter struct {
	eventstore.Filter
	Services []string
	// All allows a filter that selects nothing in particular: every stored
	// event of every store, up to Limit. A replay holds what it selected in
	// memory before publishing, so that has to be asked for.
	All bool
}

// Validate refuses filters that cannot match anything, and a replay of
// everything that was not asked for explicitly.
func (f EventFilter) Validate() error {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return invalidf("start date %s must be before end date %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Limit < 0 {
		return invalidf("limit must not be negative")
	}
	if !f.selects() && !f.All {
		return invalidf("replay needs a filter (event type, aggregate id, event ids, dates, services), or all to replay every stored event")
	}
	return nil
}

// selects reports whether the filter names something to replay, beyond how
// many.
func (f EventFilter) selects() bool {
	return len(f.Types) > 0 || len(f.AggregateIDs) > 0 || len(f.EventIDs) > 0 || len(f.AggregateTypes) > 0 ||
		!f.Since.IsZero() || !f.Until.IsZero() || len(f.Services) > 0
}

// ReplayEvents publishes stored events again, in the order each store
// recorded them. Consumers deduplicate by event id and projections by
// version, so a replay changes only what missed the events the first time.
func (o *Operations) ReplayEvents(ctx context.Context, f EventFilter, dryRun bool, pace Pace, by string, progress Progress) (report Report, err error) {
	if err := f.Validate(); err != nil {
		return Report{}, err
	}
	// Every name is checked before anything is read, and each store is read
	// once however often it is named.
	services := slices.Sorted(maps.Keys(o.stores))
	if len(f.Services) > 0 {
		services = slices.Compact(slices.Sorted(slices.Values(f.Services)))
		for _, s := range services {
			if _, ok := o.stores[s]; !ok {
				return Report{}, invalidf("no event store of service %q here", s)
			}
		}
	}
	report = Report{DryRun: dryRun, ByType: map[string]int{}}
	for _, s := range services {
		store := o.stores[s]
		limit := f.Limit
		if limit > 0 {
			f.Filter.Limit = limit - len(report.Events)
			if f.Filter.Limit <= 0 {
				break
			}
		}
		for rec, err := range store.Read(ctx, f.Filter) {
			if err != nil {
				return Report{}, err
			}
			report.Events = append(report.Events, rec)
			report.ByType[rec.Type]++
		}
		f.Filter.Limit = limit
	}
	report.Selected = len(report.Events)
	// Under a limit that cut the reading short, a named event may simply not
	// have been reached.
	if len(f.EventIDs) > 0 && (f.Limit == 0 || report.Selected < f.Limit) {
		for _, id := range f.EventIDs {
			if !slices.ContainsFunc(report.Events, func(r eventstore.Record) bool { return r.EventID == id }) {
				return Report{}, invalidf("no stored event %s matches", id)
			}
		}
	}
	if dryRun {
		return report, nil
	}
	run := o.startRun("events", describeEventFilter(f), by)
	report.RunID = run.ID
	defer func() { err = errors.Join(err, o.finishRun(ctx, run, report, err)) }()
	for i, rec := range report.Events {
		if i > 0 && !pace.wait(ctx) {
			report.Stopped = true
			break
		}
		if err = o.events.Publish(ctx, rec); err != nil {
			return report, fmt.Errorf("replay %s: %w", rec.EventID, err)
		}
		report.Published++
		if progress != nil {
			progress(i+1, report.Selected)
		}
	}
	return report, nil
}

func describeEventFilter(f EventFilter) string {
	var parts []string
	add := func(k string, v []string) {
		if len(v) > 0 {
			parts = append(parts, k+"="+strings.Join(v, ","))
		}
	}
	add("services", f.Services)
	add("event-type", f.Types)
	add("aggregate-id", f.AggregateIDs)
	add("event-ids", f.EventIDs)
	if !f.Since.IsZero() {
		parts = append(parts, "start-date="+f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "end-date="+f.Until.Format(time.RFC3339))
	}
	if f.Limit > 0 {
		parts = append(parts, fmt.Sprint("limit=", f.Limit))
	}
	if f.All {
		parts = append(parts, "all")
	}
	return strings.Join(parts, " ")
}
