package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"shop/app/eventstore"
	"shop/domain/refusal"
)

// Rebuild is a read model that can be rebuilt from the events it projects.
type Rebuild struct {
	// Name is how operators call it: orders, products.
	Name           string
	Store          eventstore.Store
	AggregateTypes []string
	// Begin starts an empty copy of the read model beside the live one.
	Begin func(ctx context.Context) (Replacement, error)
	// Settle is how long, after the swap, processes may still write to the
	// old read model (they learn of the swap that late).
	Settle time.Duration
	// Lease, when set, keeps other processes from rebuilding the read model
	// at the same time: it answers ErrRebuildRunning while another holds it.
	Lease func(ctx context.Context) (Lease, error)
}

// Lease is a rebuild's hold on its read model, against other processes.
type Lease interface {
	// Lost returns an error wrapping ErrLeaseLost unless the lease is still
	// this rebuild's: it checks before each step another rebuild would undo.
	Lost(ctx context.Context) error
	// Release gives the lease up.
	Release()
}

// ErrLeaseLost is returned when a rebuild's lease passed to another process,
// or could not be renewed in time.
var ErrLeaseLost = errors.New("rebuild lease lost")

// Replacement is a read model being rebuilt beside the live one.
type Replacement interface {
	// Handle applies an event to the copy, guarded by version like the live
	// projection; after Swap, to what is now the live read model.
	Handle(ctx context.Context, rec eventstore.Record) error
	// Swap makes the copy the live read model.
	Swap(ctx context.Context) error
	// Retire drops the old read model, once nobody writes to it any more.
	Retire(ctx context.Context) error
	// Abandon drops the copy; the live read model stays as it was.
	Abandon(ctx context.Context) error
}

// Projector applies an event to a read model.
type Projector interface {
	Handle(ctx context.Context, rec eventstore.Record) error
}

// Steps are how an adapter swaps a rebuilt copy in; each may be nil.
type Steps struct {
	Swap, Retire, Abandon func(ctx context.Context) error
}

// NewReplacement rebuilds through copy; after the swap, events go through live.
func NewReplacement(copy, live Projector, steps Steps) Replacement {
	return &replacement{copy: copy, live: live, steps: steps}
}

type replacement struct {
	copy, live Projector
	steps      Steps
	swapped    bool
}

func (r *replacement) Handle(ctx context.Context, rec eventstore.Record) error {
	if r.swapped {
		return r.live.Handle(ctx, rec)
	}
	return r.copy.Handle(ctx, rec)
}

func (r *replacement) Swap(ctx context.Context) error {
	if err := run(ctx, r.steps.Swap); err != nil {
		return err
	}
	r.swapped = true
	return nil
}

func (r *replacement) Retire(ctx context.Context) error  { return run(ctx, r.steps.Retire) }
func (r *replacement) Abandon(ctx context.Context) error { return run(ctx, r.steps.Abandon) }

func run(ctx context.Context, step func(context.Context) error) error {
	if step == nil {
		return nil
	}
	return step(ctx)
}

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	Name string
	// Events counts the events projected into the copy; CaughtUp the ones
	// read again after the swap, to catch what the live projection applied
	// to the old read model meanwhile.
	Events   int
	CaughtUp int
	Took     time.Duration
}

// ErrUnknownProjection is returned for a read model nobody can rebuild here.
var ErrUnknownProjection = refusal.New(refusal.NotFound, "not_found", "unknown projection")

// ErrRebuildRunning is returned when the read model is being rebuilt already:
// two rebuilds would each swap in their copy and drop the other's.
var ErrRebuildRunning = refusal.New(refusal.Conflict, "rebuild_running", "a rebuild of this projection is already running")

// heldHere is the lease of a read model only this process can rebuild.
type heldHere struct{}

func (heldHere) Lost(context.Context) error { return nil }
func (heldHere) Release()                   {}

// runningRebuilds are the read models being rebuilt by this process; a
// read model in a shared database is also guarded across processes by its
// Rebuild's Lease.
type runningRebuilds struct {
	mu    sync.Mutex
	names map[string]bool
}

// start claims name; false when it is claimed already.
func (r *runningRebuilds) start(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		return false
	}
	if r.names == nil {
		r.names = map[string]bool{}
	}
	r.names[name] = true
	return true
}

func (r *runningRebuilds) done(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.names, name)
}

// Projections lists the read models that can be rebuilt here.
func (o *Operations) Projections() []string {
	names := make([]string, 0, len(o.rebuilds))
	for n := range o.rebuilds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// RebuildProjection rebuilds a read model from its events into a fresh copy,
// and swaps the copy in when it is complete: queries keep reading the live
// read model meanwhile. Events that arrive during the rebuild reach the live
// read model; those recorded since the rebuild began are applied to the new
// one again after the swap, which the version guard makes harmless.
//
// Cancelling ctx abandons the copy until the swap; from the swap on, the
// rebuild runs to its end regardless, since the new read model lacks what the
// live projection wrote to the old one until the catch-up has run.
func (o *Operations) RebuildProjection(ctx context.Context, name string, progress Progress) (RebuildReport, error) {
	r, ok := o.rebuilds[name]
	if !ok {
		return RebuildReport{}, fmt.Errorf("%w %q: want one of %v", ErrUnknownProjection, name, o.Projections())
	}
	if !o.running.start(name) {
		return RebuildReport{}, fmt.Errorf("%w: %s", ErrRebuildRunning, name)
	}
	defer o.running.done(name)
	lease := Lease(heldHere{})
	if r.Lease != nil {
		var err error
		if lease, err = r.Lease(ctx); err != nil {
			return RebuildReport{}, err
		}
		defer lease.Release()
	}
	began := o.clock.Now()
	copy, err := r.Begin(ctx)
	if err != nil {
		return RebuildReport{}, err
	}
	report := RebuildReport{Name: name}
	project := func(ctx context.Context, f eventstore.Filter, count *int) error {
		f.AggregateTypes = r.AggregateTypes
		for rec, err := range r.Store.Read(ctx, f) {
			if err != nil {
				return err
			}
			if err := copy.Handle(ctx, rec); err != nil {
				return fmt.Errorf("project %s %s v%d: %w", rec.AggregateType, rec.AggregateID, rec.Version, err)
			}
			*count++
			if progress != nil && *count%100 == 0 {
				progress(report.Events+report.CaughtUp, 0)
			}
		}
		return nil
	}
	err = project(ctx, eventstore.Filter{}, &report.Events)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return report, errors.Join(err, copy.Abandon(context.WithoutCancel(ctx)))
	}
	// The catch-up reads what was recorded while the copy was being filled,
	// and a minute before: a fraction of the history the filling read in the
	// same time. Bounded by that, a stalled database cannot hold the rebuild
	// forever.
	finish, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Settle+time.Minute+o.clock.Now().Sub(began))
	defer cancel()
	if err := lease.Lost(finish); err != nil {
		return report, errors.Join(err, copy.Abandon(finish))
	}
	if err := copy.Swap(finish); err != nil {
		return report, errors.Join(err, copy.Abandon(finish))
	}
	// Writes already under way against the old read model settle; bounded,
	// as the rest of the finish is, by its deadline.
	select {
	case <-finish.Done():
	case <-time.After(r.Settle):
	}
	// Recording times come from the clocks of the processes that appended;
	// a minute of margin covers their skew.
	if err := project(finish, eventstore.Filter{Since: began.Add(-time.Minute)}, &report.CaughtUp); err != nil {
		return report, fmt.Errorf("%s swapped in, not caught up: %w; rebuild it again", name, err)
	}
	// Another rebuild may have swapped its copy in since: the old read model
	// would then be its live one.
	if err := lease.Lost(finish); err != nil {
		return report, fmt.Errorf("%s swapped in and caught up; the old read model was kept: %w", name, err)
	}
	if err := copy.Retire(finish); err != nil {
		return report, fmt.Errorf("%s rebuilt, but the old read model was not dropped: %w", name, err)
	}
	report.Took = o.clock.Now().Sub(began)
	if progress != nil {
		progress(report.Events+report.CaughtUp, report.Events+report.CaughtUp)
	}
	return report, nil
}
