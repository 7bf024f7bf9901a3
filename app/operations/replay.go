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

// Republisher publishes a dead letter again, to its original topic, with the
// number of times it has now been replayed.
type Republisher interface {
	Republish(ctx context.Context, d DeadLetter, replays int) error
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
	runs        Runs
	republisher Republisher
	events      EventPublisher
	stores      map[string]eventstore.Store
	clock       eventstore.Clock
	ids         eventstore.IDs
	rebuilds    map[string]Rebuild
	running     runningRebuilds
}

// Config holds what Operations needs. Stores are the event stores it can
// replay from, by service; Rebuilds the read models it can rebuild, by name.
type Config struct {
	DeadLetters DeadLetters
	Runs        Runs
	Republisher Republisher
	Events      EventPublisher
	Stores      map[string]eventstore.Store
	Rebuilds    []Rebuild
	Clock       eventstore.Clock
	IDs         eventstore.IDs
}

// New builds the operators' use cases.
func New(cfg Config) (*Operations, error) {
	if cfg.DeadLetters == nil || cfg.Runs == nil || cfg.Republisher == nil || cfg.Events == nil || cfg.Clock == nil || cfg.IDs == nil {
		return nil, errors.New("operations: dead letters, runs, publishers, clock and ids are required")
	}
	o := &Operations{
		deadLetters: cfg.DeadLetters, runs: cfg.Runs, republisher: cfg.Republisher, events: cfg.Events,
		stores: cfg.Stores, clock: cfg.Clock, ids: cfg.IDs, rebuilds: map[string]Rebuild{},
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

// Archive stores a poisoned message.
func (o *Operations) Archive(ctx context.Context, d DeadLetter) error {
	now := o.clock.Now()
	d.ID = deadLetterID(d.MessageID, d.Handler)
	d.FirstFailedAt, d.LastFailedAt, d.Failures, d.Status = now, now, 1, StatusFailed
	return o.deadLetters.Record(ctx, d)
}

// DeadLetter returns one dead letter by its id or its message id.
func (o *Operations) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	d, err := o.deadLetters.Get(ctx, id)
	if !errors.Is(err, ErrDeadLetterNotFound) {
		return d, err
	}
	found, err := o.deadLetters.List(ctx, DeadLetterFilter{IDs: []string{id}, Limit: 2})
	switch {
	case err != nil:
		return DeadLetter{}, err
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return DeadLetter{}, invalidf("message %s failed in several handlers; name one of: %s@…", id, id)
	}
	return DeadLetter{}, fmt.Errorf("%w: %s", ErrDeadLetterNotFound, id)
}

// DeadLetters lists dead letters.
func (o *Operations) DeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return o.deadLetters.List(ctx, f)
}

// DefaultMaxReplays is how often a dead letter is replayed before it is
// quarantined, unless the operator says otherwise.
const DefaultMaxReplays = 3

// ReplayDeadLetters publishes the selected dead letters again, each to its
// original topic, in the order of each aggregate's versions so that a
// consumer gets an aggregate's events in order. A dead letter already
// replayed maxReplays times is quarantined instead. Each is marked replayed
// only after its publish succeeded, so a run cut short can be run again.
// Without statuses in the filter, only failed dead letters are selected.
func (o *Operations) ReplayDeadLetters(ctx context.Context, f DeadLetterFilter, maxReplays int, dryRun bool, pace Pace, by string, progress Progress) (report Report, err error) {
	if len(f.Statuses) == 0 {
		f.Statuses = []Status{StatusFailed}
	}
	if maxReplays < 1 {
		return Report{}, invalidf("max replays must be at least 1, not %d", maxReplays)
	}
	selected, err := o.selectDeadLetters(ctx, f)
	if err != nil {
		return Report{}, err
	}
	slices.SortStableFunc(selected, func(a, b DeadLetter) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		if c := strings.Compare(a.AggregateID, b.AggregateID); c != 0 {
			return c
		}
		if a.AggregateVersion != b.AggregateVersion {
			return a.AggregateVersion - b.AggregateVersion
		}
		return a.FirstFailedAt.Compare(b.FirstFailedAt)
	})
	report = newDeadLetterReport(selected, dryRun)
	if dryRun {
		// What the run would do with each: quarantine it, or publish it.
		for _, d := range selected {
			if d.Replays >= maxReplays {
				report.Quarantined++
			}
		}
		return report, nil
	}
	run := o.startRun("dead-letters", describeDeadLetterFilter(f), by)
	report.RunID = run.ID
	defer func() { err = errors.Join(err, o.finishRun(ctx, run, report, err)) }()
	for i, d := range selected {
		if i > 0 && !pace.wait(ctx) {
			report.Stopped = true
			break
		}
		action := Action{At: o.clock.Now(), By: by}
		if d.Replays >= maxReplays {
			action.What = fmt.Sprintf("quarantined after %d replays", d.Replays)
			if err = o.deadLetters.Act(ctx, d.ID, StatusQuarantined, action); err != nil {
				return report, err
			}
			report.Quarantined++
		} else {
			if err = o.republisher.Republish(ctx, d, d.Replays+1); err != nil {
				return report, fmt.Errorf("replay %s: %w", d.ID, err)
			}
			action.What = fmt.Sprintf("replayed (%d)", d.Replays+1)
			if err = o.deadLetters.Replayed(ctx, d.ID, d.Failures, action); err != nil {
				return report, err
			}
			report.Published++
		}
		if progress != nil {
			progress(i+1, len(selected))
		}
	}
	return report, nil
}

// selectDeadLetters lists the dead letters the filter selects. Ids it names
// must exist, though the other filters may leave them out: an unknown id is
// a mistake the operator hears of before anything is done.
func (o *Operations) selectDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	selected, err := o.DeadLetters(ctx, f)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range f.IDs {
		if slices.ContainsFunc(selected, func(d DeadLetter) bool { return d.ID == id || d.MessageID == id }) {
			continue
		}
		_, err := o.deadLetters.Get(ctx, id)
		switch {
		case errors.Is(err, ErrDeadLetterNotFound):
			missing = append(missing, id)
		case err != nil:
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrDeadLetterNotFound, strings.Join(missing, ", "))
	}
	return selected, nil
}

// newDeadLetterReport counts the selected dead letters by reason, handler
// and type.
func newDeadLetterReport(selected []DeadLetter, dryRun bool) Report {
	report := Report{DryRun: dryRun, Selected: len(selected), DeadLetters: selected, ByReason: map[string]int{}, ByHandler: map[string]int{}, ByType: map[string]int{}}
	for _, d := range selected {
		report.ByReason[d.Reason]++
		report.ByHandler[d.HandlerName()]++
		report.ByType[d.EventType]++
	}
	return report
}

// DiscardDeadLetters marks the selected dead letters discarded: they need no
// handling. The filter must select something explicitly.
func (o *Operations) DiscardDeadLetters(ctx context.Context, f DeadLetterFilter, dryRun bool, by string) (Report, error) {
	if f.Handler == "" && f.Topic == "" && f.EventType == "" && f.Reason == "" && f.Since.IsZero() && f.Until.IsZero() && len(f.IDs) == 0 {
		return Report{}, invalidf("discard needs ids or a filter: it will not discard every dead letter")
	}
	if len(f.Statuses) == 0 {
		f.Statuses = []Status{StatusFailed, StatusQuarantined}
	}
	selected, err := o.selectDeadLetters(ctx, f)
	if err != nil {
		return Report{}, err
	}
	report := newDeadLetterReport(selected, dryRun)
	if dryRun {
		return report, nil
	}
	for _, d := range selected {
		if err := o.deadLetters.Act(ctx, d.ID, StatusDiscarded, Action{At: o.clock.Now(), What: "discarded", By: by}); err != nil {
			return report, err
		}
	}
	return report, nil
}

// Stats counts the dead letters by status, handler, type and reason.
type Stats struct {
	Total     int
	ByStatus  map[string]int
	ByHandler map[string]int
	ByType    map[string]int
	ByReason  map[string]int
}

// DeadLetterStats counts the dead letters the filter selects.
func (o *Operations) DeadLetterStats(ctx context.Context, f DeadLetterFilter) (Stats, error) {
	all, err := o.DeadLetters(ctx, f)
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Total: len(all), ByStatus: map[string]int{}, ByHandler: map[string]int{}, ByType: map[string]int{}, ByReason: map[string]int{}}
	for _, d := range all {
		s.ByStatus[d.Status.String()]++
		s.ByHandler[d.HandlerName()]++
		s.ByType[d.EventType]++
		s.ByReason[d.Reason]++
	}
	return s, nil
}

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
	// Services and All select stored events only.
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
	return DeadLetterFilter{EventType: r.EventType, IDs: r.EventIDs, Since: r.Since, Until: r.Until, Limit: r.Limit}
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
		if r.AggregateID != "" || len(r.Services) > 0 || r.All {
			return invalidf(`status "failed" replays dead letters, selected by event type, event ids and dates; aggregate id, services and all select stored events`)
		}
		if r.MaxReplays < 1 {
			return invalidf("max replays must be at least 1, not %d", r.MaxReplays)
		}
		return r.deadLetters().Validate()
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

func describeDeadLetterFilter(f DeadLetterFilter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("handler", f.Handler)
	add("topic", f.Topic)
	add("event-type", f.EventType)
	add("reason", f.Reason)
	if !f.Since.IsZero() {
		add("since", f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.Format(time.RFC3339))
	}
	add("ids", strings.Join(f.IDs, ","))
	var statuses []string
	for _, s := range f.Statuses {
		statuses = append(statuses, s.String())
	}
	add("status", strings.Join(statuses, ","))
	if f.Limit > 0 {
		add("limit", fmt.Sprint(f.Limit))
	}
	return strings.Join(parts, " ")
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
