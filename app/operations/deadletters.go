package operations

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"shop/domain/refusal"
)

// Status is where a dead letter stands.
type Status struct{ s string }

var (
	// StatusFailed: a handler gave up on the message; it waits for an operator.
	StatusFailed = Status{"failed"}
	// StatusReplayed: the message was published again; if it fails again it
	// comes back as failed, with its replay count.
	StatusReplayed = Status{"replayed"}
	// StatusDiscarded: an operator decided the message needs no handling.
	StatusDiscarded = Status{"discarded"}
	// StatusQuarantined: replayed too often; it is not replayed again until
	// an operator looks at it.
	StatusQuarantined = Status{"quarantined"}
)

// StatusFromString reads a status as operators spell it.
func StatusFromString(s string) (Status, error) {
	for _, st := range []Status{StatusFailed, StatusReplayed, StatusDiscarded, StatusQuarantined} {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, invalidf("unknown dead letter status %q: want failed, replayed, discarded or quarantined", s)
}

func (s Status) String() string { return s.s }

// ErrDeadLetterNotFound is returned for an id the archive does not hold.
var ErrDeadLetterNotFound = refusal.New(refusal.NotFound, "not_found", "dead letter not found")

// ErrInvalidArgument is wrapped by the refusals of what a use case was asked:
// a filter that cannot match, a bound out of range, a selection too broad to
// be meant. Nothing was changed; asking differently may succeed.
var ErrInvalidArgument = refusal.New(refusal.Invalid, "invalid_parameter", "invalid argument")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// DeadLetter is a message a handler gave up on, as the archive keeps it.
type DeadLetter struct {
	// ID is the message id and the handler that gave up on it: the same
	// message poisoned by two handlers is two dead letters.
	ID        string
	MessageID string
	// Handler is the consumer group that failed, such as
	// "inventory.order-policy.p1"; HandlerName drops the partition.
	Handler string
	Topic   string
	// EventType is the message's type: an event's or a command's name.
	EventType   string
	AggregateID string
	// AggregateVersion orders an aggregate's dead letters when replaying; 0
	// for commands.
	AggregateVersion int
	Payload          []byte
	Metadata         map[string]string
	Reason           string
	FirstFailedAt    time.Time
	LastFailedAt     time.Time
	// Failures counts how often the message was poisoned, Replays how often
	// an operator published it again.
	Failures int
	Replays  int
	Status   Status
	History  []Action
	// Parked counts the later messages of the aggregate that wait, for the
	// same handler, until this one is replayed or discarded.
	Parked int
}

// Action is something an operator did to a dead letter.
type Action struct {
	At   time.Time
	What string
	By   string
}

var partitionSuffix = regexp.MustCompile(`\.p\d+$`)

// HandlerName is the handler without its partition.
func (d DeadLetter) HandlerName() string { return Lane{Handler: d.Handler}.HandlerName() }

// deadLetterID names the dead letter of a message and a handler.
func deadLetterID(messageID, handler string) string { return messageID + "@" + handler }

// DeadLetterFilter selects dead letters. Zero fields do not filter.
type DeadLetterFilter struct {
	// Handler matches with or without the partition.
	Handler   string
	Topic     string
	EventType string
	// Reason matches a substring of the reason, ignoring case.
	Reason string
	// Since and Until bound the last failure: Since inclusive, Until exclusive.
	Since, Until time.Time
	IDs          []string
	// AggregateIDs matches the dead letters of these aggregates' events.
	AggregateIDs []string
	Statuses     []Status
	Limit        int
	// All allows a replay that nothing above narrows: every failed dead
	// letter. A discard never takes every one.
	All bool
}

// ValidateReplay refuses what Validate does, and a replay of every dead
// letter not asked for as such.
func (f DeadLetterFilter) ValidateReplay() error {
	if err := f.Validate(); err != nil {
		return err
	}
	if !f.selects() && !f.All {
		return invalidf("a replay of dead letters needs ids or a filter (handler, topic, event type, reason, dates), or all to replay every one")
	}
	return nil
}

// ValidateDiscard refuses what Validate does, and a discard of every dead
// letter.
func (f DeadLetterFilter) ValidateDiscard() error {
	if err := f.Validate(); err != nil {
		return err
	}
	if !f.selects() {
		return invalidf("discard needs ids or a filter (handler, topic, event type, reason, dates): it will not discard every dead letter")
	}
	return nil
}

// selects reports whether the filter names some dead letters, beyond their
// status and how many.
func (f DeadLetterFilter) selects() bool {
	return f.Handler != "" || f.Topic != "" || f.EventType != "" || f.Reason != "" || !f.Since.IsZero() || !f.Until.IsZero() || len(f.IDs) > 0 || len(f.AggregateIDs) > 0
}

// Validate refuses filters that cannot match anything.
func (f DeadLetterFilter) Validate() error {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return invalidf("since (%s) must be before until (%s)", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Limit < 0 {
		return invalidf("limit must not be negative")
	}
	return nil
}

// Matches reports whether d passes the filter; adapters that cannot filter
// on everything in their query use it for the rest.
func (f DeadLetterFilter) Matches(d DeadLetter) bool {
	if f.Handler != "" && d.Handler != f.Handler && d.HandlerName() != f.Handler {
		return false
	}
	if (f.Topic != "" && d.Topic != f.Topic) || (f.EventType != "" && d.EventType != f.EventType) {
		return false
	}
	if f.Reason != "" && !strings.Contains(strings.ToLower(d.Reason), strings.ToLower(f.Reason)) {
		return false
	}
	if (!f.Since.IsZero() && d.LastFailedAt.Before(f.Since)) || (!f.Until.IsZero() && !d.LastFailedAt.Before(f.Until)) {
		return false
	}
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, d.ID) && !slices.Contains(f.IDs, d.MessageID) {
		return false
	}
	if len(f.AggregateIDs) > 0 && !slices.Contains(f.AggregateIDs, d.AggregateID) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, d.Status) {
		return false
	}
	return true
}

// DeadLetters is the archive.
type DeadLetters interface {
	// Record stores a poisoned message. The same message poisoned again by
	// the same handler updates its record: the last failure, the failure
	// count, the reason, and the status back to failed unless an operator
	// quarantined or discarded it.
	Record(ctx context.Context, d DeadLetter) error
	// Get returns ErrDeadLetterNotFound for an unknown id.
	Get(ctx context.Context, id string) (DeadLetter, error)
	// List returns the matching dead letters, oldest failure first.
	List(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error)
	// Act records an operator's action: the new status and the action in
	// the history.
	Act(ctx context.Context, id string, status Status, a Action) error
	// Replayed records a replay: the replay count grows by one and the
	// action goes into the history. The status becomes replayed only if the
	// dead letter still has the failures it had when the replay read it: a
	// replayed message can fail again before the replay is recorded, and then
	// it stays failed.
	Replayed(ctx context.Context, id string, failures int, a Action) error
	// Redact replaces a dead letter's message payload, to erase personal
	// data it holds in clear; ErrDeadLetterNotFound for an unknown id.
	Redact(ctx context.Context, id string, payload []byte) error
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
	if err == nil {
		list := []DeadLetter{d}
		err = o.countParked(ctx, list)
		return list[0], err
	}
	if !errors.Is(err, ErrDeadLetterNotFound) {
		return d, err
	}
	found, err := o.deadLetters.List(ctx, DeadLetterFilter{IDs: []string{id}, Limit: 2})
	switch {
	case err != nil:
		return DeadLetter{}, err
	case len(found) == 1:
		err = o.countParked(ctx, found)
		return found[0], err
	case len(found) > 1:
		return DeadLetter{}, invalidf("message %s failed in several handlers; name one of: %s@…", id, id)
	}
	return DeadLetter{}, fmt.Errorf("%w: %s", ErrDeadLetterNotFound, id)
}

// DeadLetters lists dead letters, each with the messages parked behind it.
func (o *Operations) DeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	list, err := o.deadLetters.List(ctx, f)
	if err != nil {
		return nil, err
	}
	return list, o.countParked(ctx, list)
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
	if err := f.ValidateReplay(); err != nil {
		return Report{}, err
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
// handling. The filter must select something explicitly. The messages parked
// behind a discarded dead letter are released: its handler is told first, so
// that a run cut short after the notice leaves the dead letter to be
// discarded again, never a lane held behind a discarded one.
func (o *Operations) DiscardDeadLetters(ctx context.Context, f DeadLetterFilter, dryRun bool, by string) (Report, error) {
	if err := f.ValidateDiscard(); err != nil {
		return Report{}, err
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
	holders, err := o.holders(ctx)
	if err != nil {
		return report, err
	}
	for _, d := range selected {
		if _, holds := holders[d.ID]; holds {
			if err := o.republisher.Release(ctx, d); err != nil {
				return report, fmt.Errorf("release what is parked behind %s: %w", d.ID, err)
			}
		}
		if err := o.deadLetters.Act(ctx, d.ID, StatusDiscarded, Action{At: o.clock.Now(), What: "discarded", By: by}); err != nil {
			return report, err
		}
	}
	return report, nil
}

// Stats counts the dead letters by status, handler, type and reason.
type Stats struct {
	Total int
	// Parked counts the messages parked behind the dead letters.
	Parked    int
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
		s.Parked += d.Parked
		s.ByStatus[d.Status.String()]++
		s.ByHandler[d.HandlerName()]++
		s.ByType[d.EventType]++
		s.ByReason[d.Reason]++
	}
	return s, nil
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
