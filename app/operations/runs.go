package operations

import (
	"context"
	"fmt"
	"time"
)

// Run is one replay, as the log of replays keeps it: what was asked, by whom,
// and what happened.
type Run struct {
	ID          string
	Kind        string // "events" or "dead-letters"
	Filter      string
	By          string
	StartedAt   time.Time
	FinishedAt  time.Time
	Selected    int
	Published   int
	Quarantined int
	Stopped     bool
	Error       string
}

// Runs is the log of replays.
type Runs interface {
	Save(ctx context.Context, r Run) error
	// Recent returns the latest runs, newest first.
	Recent(ctx context.Context, limit int) ([]Run, error)
}

// RecentRuns returns the latest replays, newest first.
func (o *Operations) RecentRuns(ctx context.Context, limit int) ([]Run, error) {
	return o.runs.Recent(ctx, limit)
}

func (o *Operations) startRun(kind, filter, by string) Run {
	return Run{ID: o.ids.NewID(), Kind: kind, Filter: filter, By: by, StartedAt: o.clock.Now()}
}

// finishRun logs the run. It uses its own context: a run cancelled by its
// caller is still logged. A log that cannot be saved is an error of the run,
// though its work is done: who replayed what must not go missing unnoticed.
func (o *Operations) finishRun(ctx context.Context, r Run, report Report, err error) error {
	r.FinishedAt = o.clock.Now()
	r.Selected, r.Published, r.Quarantined, r.Stopped = report.Selected, report.Published, report.Quarantined, report.Stopped
	if err != nil {
		r.Error = err.Error()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.runs.Save(ctx, r); err != nil {
		return fmt.Errorf("%s run %s done, but its log was not saved: %w", r.Kind, r.ID, err)
	}
	return nil
}
