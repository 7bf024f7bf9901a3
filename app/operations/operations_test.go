package operations_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/infrastructure/memory"
)

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

type counterIDs struct{ n atomic.Int64 }

func (c *counterIDs) NewID() string { return fmt.Sprint("run-", c.n.Add(1)) }

type published struct {
	mu     sync.Mutex
	events []string
}

func (p *published) Publish(_ context.Context, rec eventstore.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, rec.EventID)
	return nil
}

func (p *published) Republish(_ context.Context, d operations.DeadLetter, _ int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, d.ID)
	return nil
}

// Release records the notice of a discarded dead letter as "released:" and its id.
func (p *published) Release(_ context.Context, d operations.DeadLetter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, "released:"+d.ID)
	return nil
}

func (p *published) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// recordsStore reads its records; nothing else of a store is used here.
type recordsStore struct {
	eventstore.Store
	records []eventstore.Record
}

func (s recordsStore) Read(ctx context.Context, f eventstore.Filter) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		for _, rec := range s.records {
			if err := ctx.Err(); err != nil {
				yield(eventstore.Record{}, err)
				return
			}
			if !f.Since.IsZero() && rec.RecordedAt.Before(f.Since) {
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func records(n int) recordsStore {
	var s recordsStore
	for i := range n {
		s.records = append(s.records, eventstore.Record{
			EventID: fmt.Sprint("e-", i), AggregateType: "order", AggregateID: fmt.Sprint("o-", i), Version: 1,
			Type: "order.placed", RecordedAt: time.Now(),
		})
	}
	return s
}

// projected counts what a projection was handed, refusing it once its
// context is done, as a database would.
type projected struct{ n atomic.Int64 }

func (p *projected) Handle(ctx context.Context, _ eventstore.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.n.Add(1)
	return nil
}

func newOperations(t *testing.T, store eventstore.Store, pub *published, rebuilds ...operations.Rebuild) *operations.Operations {
	t.Helper()
	ops, err := operations.New(operations.Config{
		DeadLetters: memory.NewDeadLetters(), Parking: memory.NewParking(), Runs: memory.NewRuns(), Republisher: pub, Events: pub,
		Stores: map[string]eventstore.Store{"orders": store}, Rebuilds: rebuilds, Clock: systemClock{}, IDs: &counterIDs{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestARebuildWhoseCallerGoesAwayAtTheSwapStillCatchesUpAndDropsTheOldReadModel(t *testing.T) {
	t.Parallel()
	ctx, callerGone := context.WithCancel(context.Background())
	defer callerGone()
	store := records(3)
	live := &projected{}
	var retired, abandoned atomic.Bool
	rebuild := operations.Rebuild{
		Name: "orders", Store: store, AggregateTypes: []string{"order"}, Settle: 10 * time.Millisecond,
		Begin: func(context.Context) (operations.Replacement, error) {
			return operations.NewReplacement(&projected{}, live, operations.Steps{
				Swap: func(context.Context) error { callerGone(); return nil },
				Retire: func(ctx context.Context) error {
					retired.Store(ctx.Err() == nil)
					return ctx.Err()
				},
				Abandon: func(context.Context) error { abandoned.Store(true); return nil },
			}), nil
		},
	}
	ops := newOperations(t, store, &published{}, rebuild)
	report, err := ops.RebuildProjection(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Events != 3 || report.CaughtUp != 3 || live.n.Load() != 3 {
		t.Fatalf("projected %d, caught up %d, live read model got %d; want 3 each", report.Events, report.CaughtUp, live.n.Load())
	}
	if !retired.Load() || abandoned.Load() {
		t.Fatalf("old read model dropped %v, copy abandoned %v", retired.Load(), abandoned.Load())
	}
}

func TestARebuildWhoseCallerGoesAwayBeforeTheSwapIsAbandoned(t *testing.T) {
	t.Parallel()
	ctx, callerGone := context.WithCancel(context.Background())
	var swapped, abandoned atomic.Bool
	store := records(3)
	rebuild := operations.Rebuild{
		Name: "orders", Store: store, AggregateTypes: []string{"order"},
		Begin: func(context.Context) (operations.Replacement, error) {
			callerGone()
			return operations.NewReplacement(&projected{}, &projected{}, operations.Steps{
				Swap:    func(context.Context) error { swapped.Store(true); return nil },
				Abandon: func(ctx context.Context) error { abandoned.Store(ctx.Err() == nil); return nil },
			}), nil
		},
	}
	ops := newOperations(t, store, &published{}, rebuild)
	if _, err := ops.RebuildProjection(ctx, "orders", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("rebuild: %v, want it cancelled", err)
	}
	if swapped.Load() || !abandoned.Load() {
		t.Fatalf("swapped %v, abandoned %v", swapped.Load(), abandoned.Load())
	}
}

func TestASecondRebuildOfAProjectionIsRefusedWhileTheFirstRuns(t *testing.T) {
	t.Parallel()
	store := records(1)
	began := make(chan struct{}, 2)
	release := make(chan struct{})
	blocking := operations.Rebuild{
		Name: "orders", Store: store, AggregateTypes: []string{"order"},
		Begin: func(context.Context) (operations.Replacement, error) {
			began <- struct{}{}
			<-release
			return operations.NewReplacement(&projected{}, &projected{}, operations.Steps{}), nil
		},
	}
	other := operations.Rebuild{
		Name: "products", Store: store, AggregateTypes: []string{"order"},
		Begin: func(context.Context) (operations.Replacement, error) {
			return operations.NewReplacement(&projected{}, &projected{}, operations.Steps{}), nil
		},
	}
	ops := newOperations(t, store, &published{}, blocking, other)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := ops.RebuildProjection(ctx, "orders", nil)
		first <- err
	}()
	<-began
	second := make(chan error, 1)
	go func() {
		_, err := ops.RebuildProjection(ctx, "orders", nil)
		second <- err
	}()
	select {
	case err := <-second:
		if !errors.Is(err, operations.ErrRebuildRunning) {
			t.Fatalf("second rebuild: %v, want ErrRebuildRunning", err)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the second rebuild ran beside the first")
	}
	if _, err := ops.RebuildProjection(ctx, "products", nil); err != nil {
		t.Fatalf("another projection meanwhile: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := ops.RebuildProjection(ctx, "orders", nil); err != nil {
		t.Fatalf("a rebuild after the first one ended: %v", err)
	}
}

func TestRequestsThatCannotBeMeantAreRefusedAsInvalidArguments(t *testing.T) {
	t.Parallel()
	pub := &published{}
	ops := newOperations(t, records(3), pub)
	ctx := context.Background()
	never := operations.Pace{}
	day := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for name, call := range map[string]func() error{
		"negative max replays": func() error {
			_, err := ops.ReplayDeadLetters(ctx, operations.DeadLetterFilter{All: true}, -1, false, never, "t", nil)
			return err
		},
		"zero max replays": func() error {
			_, err := ops.ReplayDeadLetters(ctx, operations.DeadLetterFilter{All: true}, 0, false, never, "t", nil)
			return err
		},
		"dead-letter replay without a filter": func() error {
			_, err := ops.ReplayDeadLetters(ctx, operations.DeadLetterFilter{}, 3, false, never, "t", nil)
			return err
		},
		"dead-letter replay by status only": func() error {
			_, err := ops.ReplayDeadLetters(ctx, operations.DeadLetterFilter{Statuses: []operations.Status{operations.StatusFailed}}, 3, false, never, "t", nil)
			return err
		},
		"discard of all": func() error {
			_, err := ops.DiscardDeadLetters(ctx, operations.DeadLetterFilter{All: true}, false, "t")
			return err
		},
		"dead letters since after until": func() error {
			_, err := ops.DeadLetters(ctx, operations.DeadLetterFilter{Since: day, Until: day.Add(-time.Hour)})
			return err
		},
		"negative limit": func() error {
			_, err := ops.DeadLetters(ctx, operations.DeadLetterFilter{Limit: -1})
			return err
		},
		"discard without a filter": func() error {
			_, err := ops.DiscardDeadLetters(ctx, operations.DeadLetterFilter{}, false, "t")
			return err
		},
		"event replay without a filter": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{}, false, never, "t", nil)
			return err
		},
		"event replay with only a limit": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{Filter: eventstore.Filter{Limit: 10}}, false, never, "t", nil)
			return err
		},
		"event replay start after end": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{Filter: eventstore.Filter{Since: day, Until: day}}, false, never, "t", nil)
			return err
		},
		"event replay with a negative limit": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{All: true, Filter: eventstore.Filter{Limit: -1}}, false, never, "t", nil)
			return err
		},
		"event replay of an unknown store beside a known one": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{Services: []string{"orders", "payments"}}, false, never, "t", nil)
			return err
		},
		"event replay of an unknown store": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{Services: []string{"payments"}}, false, never, "t", nil)
			return err
		},
		"event replay of an unknown event": func() error {
			_, err := ops.ReplayEvents(ctx, operations.EventFilter{Filter: eventstore.Filter{EventIDs: []string{"nope"}}}, false, never, "t", nil)
			return err
		},
		"replay of dead letters by aggregate": func() error {
			_, err := ops.Replay(ctx, operations.ReplayRequest{Status: "failed", AggregateID: "o-1", MaxReplays: 3}, nil)
			return err
		},
		"replay of the failed without a filter": func() error {
			_, err := ops.Replay(ctx, operations.ReplayRequest{Status: "failed", MaxReplays: 3}, nil)
			return err
		},
		"replay of an unknown status": func() error {
			_, err := ops.Replay(ctx, operations.ReplayRequest{Status: "lost", All: true}, nil)
			return err
		},
		"unknown status": func() error {
			_, err := operations.StatusFromString("lost")
			return err
		},
	} {
		if err := call(); !errors.Is(err, operations.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := pub.count(); n != 0 {
		t.Fatalf("refused requests published %d messages", n)
	}
}

func TestAnEventReplayOfEverythingIsAskedForExplicitly(t *testing.T) {
	t.Parallel()
	pub := &published{}
	ops := newOperations(t, records(3), pub)
	report, err := ops.ReplayEvents(context.Background(), operations.EventFilter{All: true}, false, operations.Pace{}, "t", nil)
	if err != nil || report.Published != 3 || pub.count() != 3 {
		t.Fatalf("published %d (%d): %v", report.Published, pub.count(), err)
	}
	runs, err := ops.RecentRuns(context.Background(), 1)
	if err != nil || len(runs) != 1 || runs[0].Filter != "all" {
		t.Fatalf("runs %+v %v", runs, err)
	}
}

func TestADryRunOfADeadLetterReplaySaysWhichWouldBeQuarantined(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pub := &published{}
	ops := newOperations(t, records(0), pub)
	for i, replays := range []int{0, 2, 3, 5} {
		if err := ops.Archive(ctx, operations.DeadLetter{MessageID: fmt.Sprint("m-", i), Handler: "h", Topic: "t", Reason: "boom", Replays: replays}); err != nil {
			t.Fatal(err)
		}
	}
	report, err := ops.ReplayDeadLetters(ctx, operations.DeadLetterFilter{All: true}, 3, true, operations.Pace{}, "t", nil)
	if err != nil || report.Selected != 4 || report.Quarantined != 2 || report.Published != 0 || pub.count() != 0 {
		t.Fatalf("dry run: selected %d, quarantined %d, published %d (%d on the bus): %v", report.Selected, report.Quarantined, report.Published, pub.count(), err)
	}
}

// unsavedRuns cannot save the log of runs.
type unsavedRuns struct{ operations.Runs }

func (unsavedRuns) Save(context.Context, operations.Run) error { return errors.New("disk full") }

func TestAReplayWhoseLogCannotBeSavedSaysSo(t *testing.T) {
	t.Parallel()
	pub := &published{}
	ops, err := operations.New(operations.Config{
		DeadLetters: memory.NewDeadLetters(), Parking: memory.NewParking(), Runs: unsavedRuns{memory.NewRuns()}, Republisher: pub, Events: pub,
		Stores: map[string]eventstore.Store{"orders": records(2)}, Clock: systemClock{}, IDs: &counterIDs{},
	})
	if err != nil {
		t.Fatal(err)
	}
	report, err := ops.ReplayEvents(context.Background(), operations.EventFilter{All: true}, false, operations.Pace{}, "t", nil)
	if err == nil || !strings.Contains(err.Error(), "log was not saved") || report.Published != 2 {
		t.Fatalf("published %d: %v", report.Published, err)
	}
}

// lostLease is lost from the given step on: 1 before the swap, 2 before the
// old read model is dropped.
type lostLease struct {
	lostAt   int
	checks   atomic.Int32
	released atomic.Bool
}

func (l *lostLease) Lost(context.Context) error {
	if int(l.checks.Add(1)) >= l.lostAt {
		return fmt.Errorf("%w: taken over", operations.ErrLeaseLost)
	}
	return nil
}

func (l *lostLease) Release() { l.released.Store(true) }

func TestARebuildThatLostItsLeaseUndoesNothingAnotherRebuildDid(t *testing.T) {
	t.Parallel()
	for _, lostAt := range []int{1, 2} {
		store := records(3)
		lease := &lostLease{lostAt: lostAt}
		var swapped, retired, abandoned atomic.Bool
		rebuild := operations.Rebuild{
			Name: "orders", Store: store, AggregateTypes: []string{"order"},
			Lease: func(context.Context) (operations.Lease, error) { return lease, nil },
			Begin: func(context.Context) (operations.Replacement, error) {
				return operations.NewReplacement(&projected{}, &projected{}, operations.Steps{
					Swap:    func(context.Context) error { swapped.Store(true); return nil },
					Retire:  func(context.Context) error { retired.Store(true); return nil },
					Abandon: func(context.Context) error { abandoned.Store(true); return nil },
				}), nil
			},
		}
		ops := newOperations(t, store, &published{}, rebuild)
		_, err := ops.RebuildProjection(context.Background(), "orders", nil)
		if !errors.Is(err, operations.ErrLeaseLost) || !lease.released.Load() {
			t.Fatalf("lost at check %d: %v, released %v", lostAt, err, lease.released.Load())
		}
		// Lost before the swap: its copy goes, the live read model stays.
		// Lost after it: the old read model, maybe the other rebuild's live
		// one, is kept.
		if retired.Load() || swapped.Load() != (lostAt == 2) || abandoned.Load() != (lostAt == 1) {
			t.Fatalf("lost at check %d: swapped %v, retired %v, abandoned %v", lostAt, swapped.Load(), retired.Load(), abandoned.Load())
		}
	}
}

func TestDiscardingADeadLetterThatHoldsItsAggregateReleasesWhatIsParkedBehindIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parking, pub := memory.NewParking(), &published{}
	ops, err := operations.New(operations.Config{
		DeadLetters: memory.NewDeadLetters(), Parking: parking, Runs: memory.NewRuns(), Republisher: pub, Events: pub,
		Clock: systemClock{}, IDs: &counterIDs{},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []operations.DeadLetter{
		{MessageID: "m2", Handler: "notifications.orders.p0", Topic: "t", AggregateID: "a", AggregateVersion: 2},
		{MessageID: "n2", Handler: "notifications.orders.p0", Topic: "t", AggregateID: "b", AggregateVersion: 2},
	} {
		if err := ops.Archive(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	lane := operations.Lane{Handler: "notifications.orders.p0", AggregateID: "a"}
	if err := parking.Block(ctx, operations.Block{Lane: lane, MessageID: "m2"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m3", "m4"} {
		if err := parking.Park(ctx, operations.ParkedMessage{Lane: lane, MessageID: id, AggregateVersion: 3}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := ops.DeadLetters(ctx, operations.DeadLetterFilter{})
	if err != nil || len(list) != 2 || list[0].Parked != 2 || list[1].Parked != 0 {
		t.Fatalf("dead letters %+v %v", list, err)
	}
	if stats, err := ops.DeadLetterStats(ctx, operations.DeadLetterFilter{}); err != nil || stats.Parked != 2 {
		t.Fatalf("stats %+v %v", stats, err)
	}
	if d, err := ops.DeadLetter(ctx, "m2"); err != nil || d.Parked != 2 {
		t.Fatalf("dead letter %+v %v", d, err)
	}

	report, err := ops.DiscardDeadLetters(ctx, operations.DeadLetterFilter{AggregateIDs: []string{"a", "b"}}, false, "t")
	if err != nil || report.Selected != 2 {
		t.Fatalf("discard %+v %v", report, err)
	}
	// Only the dead letter that holds its lane sends the release.
	if want := []string{"released:m2@notifications.orders.p0"}; !slices.Equal(pub.events, want) {
		t.Fatalf("published %v, want %v", pub.events, want)
	}
}
