package cqrs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"shop/app/eventstore"
)

// RecordPublisher publishes one stored record to the bus.
type RecordPublisher interface {
	Publish(ctx context.Context, rec eventstore.Record) error
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	Store     eventstore.Store
	Publisher RecordPublisher
	Topics    Topics
	Logger    *slog.Logger
	// SweepInterval is how often the store is searched for records nobody
	// published: those of a process that died between append and publish.
	SweepInterval time.Duration
	// SweepAge is how old an unpublished record must be before the sweep takes
	// it: younger ones are still on their way through a live process's relay.
	SweepAge time.Duration
	// SweepPage is how many records the sweep reads from the store at once.
	// Default 500.
	SweepPage int
	// SweepPages bounds how many pages one sweep reads; the next sweep goes
	// on from where it stopped. While the broker is down, this relay's own
	// backlog of unpublished records grows, and a sweep that read all of it
	// every interval would cost more with every minute of the outage.
	// Default 20.
	SweepPages int
	// RetryDelay is the first wait after a failed publish; it doubles up to 30 s.
	RetryDelay time.Duration
	// Published, when set, hears of every record published.
	Published func(rec eventstore.Record, at time.Time)
}

func (c *RelayConfig) setDefaults() {
	if c.SweepInterval == 0 {
		c.SweepInterval = 5 * time.Second
	}
	if c.SweepAge == 0 {
		c.SweepAge = 30 * time.Second
	}
	if c.SweepPage <= 0 {
		c.SweepPage = 500
	}
	if c.SweepPages <= 0 {
		c.SweepPages = 20
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 100 * time.Millisecond
	}
}

// Relay publishes what the event store holds: the outbox half of "the store is
// the source of truth". Records appended by this process are handed to it at
// once (Enqueue) and published in append order, one worker per partition, so
// that each aggregate's events reach the bus in version order while partitions
// proceed in parallel. A sweep publishes the records that no live process will:
// appended, then the process died before publishing them. Consumers
// deduplicate, so a record published twice has one effect.
type Relay struct {
	cfg RelayConfig

	mu      sync.Mutex
	queues  [][]eventstore.Record
	wake    []chan struct{}
	tracked map[string]bool // queued or being published by this relay
	// marked holds the records marked published since the running sweep
	// started: its query may have read them before they were marked.
	marked map[string]bool
	// sweepFrom is where the next sweep reads on from; zero starts over.
	// Only Run's goroutine uses it.
	sweepFrom eventstore.Position
}

// NewRelay builds a relay; Run starts it.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	cfg.setDefaults()
	if cfg.Store == nil || cfg.Publisher == nil || cfg.Logger == nil {
		return nil, errors.New("relay: store, publisher and logger are required")
	}
	if err := cfg.Topics.Validate(); err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:     cfg,
		queues:  make([][]eventstore.Record, cfg.Topics.Partitions),
		wake:    make([]chan struct{}, cfg.Topics.Partitions),
		tracked: map[string]bool{},
		marked:  map[string]bool{},
	}
	for i := range r.wake {
		r.wake[i] = make(chan struct{}, 1)
	}
	return r, nil
}

// Enqueue takes records that were just appended. It never blocks.
func (r *Relay) Enqueue(records []eventstore.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enqueueLocked(records)
}

func (r *Relay) enqueueLocked(records []eventstore.Record) {
	for _, rec := range records {
		if r.tracked[rec.EventID] {
			continue
		}
		r.tracked[rec.EventID] = true
		p := r.cfg.Topics.Partition(rec.AggregateID)
		r.queues[p] = append(r.queues[p], rec)
		select {
		case r.wake[p] <- struct{}{}:
		default:
		}
	}
}

// Run publishes until ctx is done. It sweeps once at start, so that what a
// previous process left unpublished goes out first.
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for p := range r.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx, p)
		}()
	}
	r.sweep(ctx)
	ticker := time.NewTicker(r.cfg.SweepInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-ticker.C:
			r.sweep(ctx)
		}
	}
}

// Drain waits until everything enqueued so far is published and marked, or
// ctx is done. Run must be running.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		if r.Pending() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay: %d events not published: %w", r.Pending(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Pending counts the records taken and not yet published and marked.
func (r *Relay) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tracked)
}

// sweep enqueues the records older than SweepAge that nobody published,
// walking the store page after page, up to SweepPages pages; the next sweep
// goes on from there, and one that reaches the end starts over. It reads its
// pages before enqueueing any and sorts them by stream and version: the
// store orders them by recording time, which comes from the clocks of the
// processes that appended, so an aggregate's later version may come on an
// earlier page than its earlier one when those clocks disagree, and a
// partition publishes in the order it is given. (Across two sweeps such a
// pair can still come in the wrong order; consumers wait for the earlier
// version, which the next sweep brings.)
func (r *Relay) sweep(ctx context.Context) {
	r.mu.Lock()
	clear(r.marked)
	r.mu.Unlock()
	orphans, next, err := r.unpublished(ctx, time.Now().Add(-r.cfg.SweepAge), r.sweepFrom)
	r.sweepFrom = next
	if err != nil && ctx.Err() == nil {
		// What was read before the failure still goes out: consumers wait for
		// a missing earlier version, and the next sweep starts over.
		r.cfg.Logger.Warn("relay sweep failed", "read", len(orphans), "error", err)
	}
	slices.SortFunc(orphans, func(a, b eventstore.Record) int {
		return cmp.Or(
			strings.Compare(a.AggregateType, b.AggregateType),
			strings.Compare(a.AggregateID, b.AggregateID),
			cmp.Compare(a.Version, b.Version),
		)
	})
	r.mu.Lock()
	var fresh []eventstore.Record
	for _, rec := range orphans {
		// Checked now rather than as each page is read: marked holds every
		// record marked since the sweep began, so one read as unpublished and
		// published since is not taken again.
		if !r.tracked[rec.EventID] && !r.marked[rec.EventID] {
			fresh = append(fresh, rec)
		}
	}
	r.enqueueLocked(fresh)
	r.mu.Unlock()
	if len(fresh) > 0 {
		r.cfg.Logger.Info("relay found unpublished events", "count", len(fresh))
	}
}

// unpublished reads the unpublished records recorded before a time and after
// a position, one page after another until a page comes back short or
// SweepPages were read, and returns where to go on from: zero once the end
// was reached. It returns what it read before an error along with the error.
func (r *Relay) unpublished(ctx context.Context, recordedBefore time.Time, after eventstore.Position) ([]eventstore.Record, eventstore.Position, error) {
	var all []eventstore.Record
	for range r.cfg.SweepPages {
		page, err := r.cfg.Store.Unpublished(ctx, recordedBefore, after, r.cfg.SweepPage)
		if err != nil {
			return all, eventstore.Position{}, fmt.Errorf("unpublished after %d records: %w", len(all), err)
		}
		all = append(all, page...)
		if len(page) < r.cfg.SweepPage {
			return all, eventstore.Position{}, nil
		}
		after = eventstore.PositionOf(page[len(page)-1])
	}
	return all, after, nil
}

func (r *Relay) work(ctx context.Context, partition int) {
	for {
		r.mu.Lock()
		batch := r.queues[partition]
		r.queues[partition] = nil
		r.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.wake[partition]:
				continue
			}
		}
		published := make([]string, 0, len(batch))
		for i, rec := range batch {
			if err := r.publish(ctx, rec); err != nil {
				// Shutting down: put back what is left, in order, for Drain
				// to report and the next process's sweep to publish.
				r.requeue(partition, batch[i:])
				r.mark(published)
				return
			}
			published = append(published, rec.EventID)
			if r.cfg.Published != nil {
				r.cfg.Published(rec, time.Now())
			}
		}
		r.mark(published)
	}
}

// publish retries until the record is on the bus or ctx is done: the records
// after it must wait, or their order would break.
func (r *Relay) publish(ctx context.Context, rec eventstore.Record) error {
	delay := r.cfg.RetryDelay
	for {
		err := r.cfg.Publisher.Publish(ctx, rec)
		if err == nil {
			return nil
		}
		r.cfg.Logger.Warn("relay could not publish, retrying", "event_id", rec.EventID, "event_type", rec.Type, "retry_in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (r *Relay) requeue(partition int, rest []eventstore.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queues[partition] = append(rest, r.queues[partition]...)
}

func (r *Relay) mark(ids []string) {
	if len(ids) == 0 {
		return
	}
	// Marking uses its own context: the records are on the bus, and saying so
	// spares the next sweep from publishing them again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.cfg.Store.MarkPublished(ctx, ids); err != nil {
		r.cfg.Logger.Warn("relay could not mark events published; a sweep will publish them again", "count", len(ids), "error", err)
	}
	r.mu.Lock()
	for _, id := range ids {
		delete(r.tracked, id)
		r.marked[id] = true
	}
	r.mu.Unlock()
}
