package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"shop/app/eventstore"
)

// Rebuild is a read model that can be rebuilt from the events it projects.
type Rebuild struct {
	// Name is how operators call it: orders, products, notifications.
	Name           string
	Store          eventstore.Store
	AggregateTypes []string
	// Begin starts an empty copy of the read model beside the live one.
	Begin func(ctx context.Context) (Replacement, error)
	// Settle is how long, after the swap, processes may still write to the
	// old read model (they learn of the swap that late).
	Settle time.Duration
}

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
var ErrUnknownProjection = errors.New("unknown projection")

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
func (o *Operations) RebuildProjection(ctx context.Context, name string, progress Progress) (RebuildReport, error) {
	r, ok := o.rebuilds[name]
	if !ok {
		return RebuildReport{}, fmt.Errorf("%w %q: want one of %v", ErrUnknownProjection, name, o.Projections())
	}
	began := o.clock.Now()
	copy, err := r.Begin(ctx)
	if err != nil {
		return RebuildReport{}, err
	}
	report := RebuildReport{Name: name}
	project := func(f eventstore.Filter, count *int) error {
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
	if err := project(eventstore.Filter{}, &report.Events); err != nil {
		return report, errors.Join(err, copy.Abandon(context.WithoutCancel(ctx)))
	}
	if err := copy.Swap(ctx); err != nil {
		return report, errors.Join(err, copy.Abandon(context.WithoutCancel(ctx)))
	}
	if r.Settle > 0 {
		t := time.NewTimer(r.Settle)
		select {
		case <-ctx.Done():
			t.Stop()
			return report, ctx.Err()
		case <-t.C:
		}
	}
	// Recording times come from the clocks of the processes that appended;
	// a minute of margin covers their skew.
	if err := project(eventstore.Filter{Since: began.Add(-time.Minute)}, &report.CaughtUp); err != nil {
		return report, err
	}
	if err := copy.Retire(ctx); err != nil {
		return report, err
	}
	report.Took = o.clock.Now().Sub(began)
	if progress != nil {
		progress(report.Events+report.CaughtUp, report.Events+report.CaughtUp)
	}
	return report, nil
}
