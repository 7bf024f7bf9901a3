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

	"github.com/google/uuid"

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
	// Holder names the relay in the origins it holds. Default: a random id.
	Holder string
	// RenewInterval is how often the relay renews the origins it holds,
	// moving their checkpoints up to what it published. Default 1 s, or a
	// fifth of SweepAge when that is shorter.
	RenewInterval time.Duration
	// SweepInterval is how often the relay looks for origins nobody renews:
	// those of relays that stopped before publishing everything they took.
	// Default 5 s.
	SweepInterval time.Duration
	// SweepAge is how long an origin may go unrenewed before another relay
	// takes it over. It must outlast several renewals and the pauses of a
	// live process. Default 30 s.
	SweepAge time.Duration
	// RotateEvery is how long the relay appends under one origin before it
	// opens the next. A takeover reads an origin's records from its
	// checkpoint on, which a server that indexes only equalities (FerretDB)
	// can do only by reading all of them: the rotation bounds that to what a
	// relay appends in this time. Default 1 min.
	RotateEvery time.Duration
	// SweepPage is how many records a takeover reads at once, and SweepPages
	// how many pages one sweep reads; the next sweep goes on from there.
	// Defaults 500 and 20.
	SweepPage  int
	SweepPages int
	// RetryDelay is the first wait after a failed publish; it doubles up to
	// MaxRetryDelay, so that the relay resumes soon after the bus is back.
	// Defaults 100 ms and 2 s.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// Published, when set, hears of every record published.
	Published func(rec eventstore.Record, at time.Time)
}

func (c *RelayConfig) setDefaults() {
	if c.Holder == "" {
		c.Holder = uuid.NewString()
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 5 * time.Second
	}
	if c.SweepAge <= 0 {
		c.SweepAge = 30 * time.Second
	}
	if c.RenewInterval <= 0 {
		c.RenewInterval = min(time.Second, c.SweepAge/5)
	}
	if c.RotateEvery <= 0 {
		c.RotateEvery = time.Minute
	}
	if c.SweepPage <= 0 {
		c.SweepPage = 500
	}
	if c.SweepPages <= 0 {
		c.SweepPages = 20
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 100 * time.Millisecond
	}
	if c.MaxRetryDelay < c.RetryDelay {
		c.MaxRetryDelay = max(2*time.Second, c.RetryDelay)
	}
}

// clockSlack is how far a relay's checkpoint stays behind the first time it
// cannot vouch for, so that a step back of the wall clock, which stamps
// recording times, does not put a record before a checkpoint it is not
// covered by.
const clockSlack = time.Second

// Relay publishes what the event store holds: the outbox half of "the store is
// the source of truth". Records appended by this process are handed to it at
// once (Slip.End) and published in append order, one worker per partition, so
// that each aggregate's events reach the bus in version order while partitions
// proceed in parallel.
//
// What it has published it keeps in its origin (eventstore.Origin), renewed
// once per RenewInterval with a checkpoint: no record of the origin recorded
// before it is still to be published. That is one small write per second
// instead of a flag written on every record. The checkpoint stays before every
// append under way and every record taken and not yet published, so a process
// that dies leaves an origin whose checkpoint is before everything it did not
// publish. Every relay looks out for such origins (not renewed for SweepAge),
// takes one over, publishes its records from the checkpoint on, and drops it.
// Consumers deduplicate, so a record published twice has one effect.
type Relay struct {
	cfg RelayConfig

	// opening lets one caller at a time store a new origin.
	opening sync.Mutex
	// renewing is held by a renewal for its whole run, so that Drain drops
	// the origins as the last renewal left them.
	renewing sync.Mutex

	mu      sync.Mutex
	queues  [][]eventstore.Record
	wake    []chan struct{}
	pending map[string]pendingRecord // taken and not yet published, by event id
	held    map[string]*heldOrigin
	current *heldOrigin // the origin new appends get; nil until one is stored
	slips   map[*slip]bool
	// uncertain are the appends whose outcome is unknown, to be looked up.
	uncertain []*slip
	closed    bool
}

type pendingRecord struct {
	origin     string
	recordedAt time.Time
}

// heldOrigin is an origin this relay renews: one it opened, or one it took
// over from a relay that stopped.
type heldOrigin struct {
	eventstore.Origin // as last stored
	own               bool
	openedAt          time.Time
	pending           int
	// A takeover reads the origin's records page by page from the
	// checkpoint, which it leaves as it found it; cursor is the last read,
	// seen the records taken. Once every page is read, and SweepAge after the
	// takeover, in which the relay that lost the origin may still have
	// finished an append begun before, it reads them all once more and takes
	// what it has not seen, then drops the origin.
	cursor    eventstore.Position
	seen      map[string]bool
	read      bool
	takenAt   time.Time
	checking  bool // the last look is under way, from checkFrom
	checkFrom eventstore.Position
	lastCheck bool
}

type slip struct {
	relay   *Relay
	origin  string
	begun   time.Time
	records []eventstore.Record // of an uncertain append
}

func (s *slip) Origin() string { return s.origin }

// End takes the records of the append the slip was begun for.
func (s *slip) End(records []eventstore.Record, err error) {
	r := s.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		delete(r.slips, s)
		r.enqueueLocked(records)
	case errors.Is(err, eventstore.ErrConflict):
		// Nothing was stored.
		delete(r.slips, s)
	default:
		// The records may be stored: the slip holds the checkpoint back
		// until they are looked up.
		s.records = records
		r.uncertain = append(r.uncertain, s)
	}
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
	if cfg.SweepAge < 3*cfg.RenewInterval {
		return nil, errors.New("relay: the sweep age must be at least three renew intervals")
	}
	r := &Relay{
		cfg:     cfg,
		queues:  make([][]eventstore.Record, cfg.Topics.Partitions),
		wake:    make([]chan struct{}, cfg.Topics.Partitions),
		pending: map[string]pendingRecord{},
		held:    map[string]*heldOrigin{},
		slips:   map[*slip]bool{},
	}
	for i := range r.wake {
		r.wake[i] = make(chan struct{}, 1)
	}
	return r, nil
}

// ErrRelayClosed is returned by Begin once the relay drained for good.
var ErrRelayClosed = errors.New("relay closed")

// Begin opens a slip for an append. The first one stores the relay's first
// origin, within ctx.
func (r *Relay) Begin(ctx context.Context) (eventstore.Slip, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, ErrRelayClosed
		}
		if r.current != nil {
			s := &slip{relay: r, origin: r.current.ID, begun: time.Now()}
			r.slips[s] = true
			r.mu.Unlock()
			return s, nil
		}
		r.mu.Unlock()
		if err := r.open(ctx, false); err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
	}
}

// open stores a new origin and makes it current; with rotate it does so even
// when there is a current one. The origin is stored before any append carries
// it: a record of an origin the store does not know would never be swept.
func (r *Relay) open(ctx context.Context, rotate bool) error {
	r.opening.Lock()
	defer r.opening.Unlock()
	r.mu.Lock()
	done := r.closed || (r.current != nil && !rotate)
	r.mu.Unlock()
	if done {
		return nil
	}
	now := time.Now()
	o := eventstore.Origin{ID: uuid.Must(uuid.NewV7()).String(), Holder: r.cfg.Holder, PublishedBefore: now.Add(-clockSlack), RenewedAt: now}
	saved, err := r.cfg.Store.SaveOrigin(ctx, o, time.Time{})
	if err != nil {
		return fmt.Errorf("open origin: %w", err)
	}
	if !saved {
		return fmt.Errorf("open origin: %s exists already", o.ID)
	}
	o.PublishedBefore, o.RenewedAt = o.PublishedBefore.UTC().Truncate(time.Millisecond), o.RenewedAt.UTC().Truncate(time.Millisecond)
	h := &heldOrigin{Origin: o, own: true, openedAt: now}
	r.mu.Lock()
	r.held[o.ID] = h
	r.current = h
	r.mu.Unlock()
	return nil
}

func (r *Relay) enqueueLocked(records []eventstore.Record) {
	for _, rec := range records {
		if _, ok := r.pending[rec.EventID]; ok {
			continue
		}
		r.pending[rec.EventID] = pendingRecord{origin: rec.Origin, recordedAt: rec.RecordedAt}
		if h := r.held[rec.Origin]; h != nil {
			h.pending++
		}
		p := r.cfg.Topics.Partition(rec.AggregateID)
		r.queues[p] = append(r.queues[p], rec)
		select {
		case r.wake[p] <- struct{}{}:
		default:
		}
	}
}

// Run publishes until ctx is done. It looks for origins to take over at once,
// so that what a stopped relay left unpublished goes out early.
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for p := range r.queues {
		wg.Go(func() { r.work(ctx, p) })
	}
	r.sweep(ctx)
	renew := time.NewTicker(r.cfg.RenewInterval)
	defer renew.Stop()
	sweep := time.NewTicker(r.cfg.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-renew.C:
			r.resolve(ctx)
			r.renew(ctx)
		case <-sweep.C:
			r.sweep(ctx)
		}
	}
}

// Drain waits until every append begun is published, or ctx is done, then
// drops the origins this relay opened: nothing of them is left to publish,
// and no relay needs to take them over. Begin fails afterwards. Run must be
// running.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		r.mu.Lock()
		left := len(r.pending) + len(r.slips)
		r.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay: %d events not published: %w", left, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	// No renewal under way (a later one finds the relay closed), and the
	// same order of locks as a renewal that opens an origin.
	r.renewing.Lock()
	defer r.renewing.Unlock()
	r.opening.Lock()
	defer r.opening.Unlock()
	r.mu.Lock()
	r.closed = true
	var own []eventstore.Origin
	for _, h := range r.held {
		if h.own {
			own = append(own, h.Origin)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, o := range own {
		if err := r.cfg.Store.DropOrigin(ctx, o.ID, o.RenewedAt); err != nil {
			// Everything is published: a relay that takes it over finds nothing.
			errs = append(errs, fmt.Errorf("relay: drop origin %s: %w", o.ID, err))
		}
		r.mu.Lock()
		delete(r.held, o.ID)
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Pending counts the records taken and not yet published, and the appends
// whose outcome is not known yet.
func (r *Relay) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) + len(r.uncertain)
}

// resolve looks up the records of appends that ended without a clear answer
// (a cut connection, a timeout) and publishes those the store has.
func (r *Relay) resolve(ctx context.Context) {
	r.mu.Lock()
	uncertain := slices.Clone(r.uncertain)
	r.mu.Unlock()
	for _, s := range uncertain {
		ids := make([]string, len(s.records))
		for i, rec := range s.records {
			ids[i] = rec.EventID
		}
		var stored []eventstore.Record
		var err error
		for rec, rerr := range r.cfg.Store.Read(ctx, eventstore.Filter{EventIDs: ids}) {
			if rerr != nil {
				err = rerr
				break
			}
			stored = append(stored, rec)
		}
		if err != nil {
			// Still unknown: the checkpoint waits, and so does the look-up.
			r.cfg.Logger.Warn("relay could not look up an append whose outcome is unknown; trying again", "events", len(ids), "error", err)
			return
		}
		slices.SortFunc(stored, func(a, b eventstore.Record) int { return cmp.Compare(a.Version, b.Version) })
		r.mu.Lock()
		r.uncertain = slices.DeleteFunc(r.uncertain, func(u *slip) bool { return u == s })
		delete(r.slips, s)
		r.enqueueLocked(stored)
		r.mu.Unlock()
	}
}

// checkpointLocked is the time before which every record of h is published:
// the earliest of the appends under way, the records taken and not yet
// published and, for an origin taken over, the records not yet read.
func (r *Relay) checkpointLocked(h *heldOrigin, now time.Time) time.Time {
	t := now
	for s := range r.slips {
		if s.origin == h.ID && s.begun.Before(t) {
			t = s.begun
		}
	}
	for _, p := range r.pending {
		if p.origin == h.ID && p.recordedAt.Before(t) {
			t = p.recordedAt
		}
	}
	if !h.own {
		// Kept as found: should this relay stop too, the next takes over
		// from there.
		return h.PublishedBefore
	}
	t = t.Add(-clockSlack)
	if t.Before(h.PublishedBefore) {
		return h.PublishedBefore
	}
	return t.UTC().Truncate(time.Millisecond)
}

// renew opens the next origin when the current one is due, stores the
// checkpoint of every origin held, and drops those with nothing left to
// publish.
func (r *Relay) renew(ctx context.Context) {
	r.renewing.Lock()
	defer r.renewing.Unlock()
	r.mu.Lock()
	due := r.current != nil && time.Since(r.current.openedAt) >= r.cfg.RotateEvery && !r.closed
	r.mu.Unlock()
	if due {
		if err := r.open(ctx, true); err != nil {
			r.cfg.Logger.Warn("relay could not open its next origin; the current one stays", "error", err)
		}
	}
	now := time.Now()
	type step struct {
		h    *heldOrigin
		next eventstore.Origin
		drop bool
	}
	var steps []step
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	for _, h := range r.held {
		inUse := h == r.current
		for s := range r.slips {
			inUse = inUse || s.origin == h.ID
		}
		drained := !inUse && h.pending == 0
		if !h.own {
			// A taken origin is dropped after its last look.
			drained = drained && h.read && h.lastCheck
		}
		next := h.Origin
		next.Holder, next.PublishedBefore, next.RenewedAt = r.cfg.Holder, r.checkpointLocked(h, now), now.UTC().Truncate(time.Millisecond)
		steps = append(steps, step{h: h, next: next, drop: drained})
	}
	r.mu.Unlock()
	for _, s := range steps {
		if s.drop {
			if err := r.cfg.Store.DropOrigin(ctx, s.h.ID, s.h.RenewedAt); err != nil {
				r.cfg.Logger.Warn("relay could not drop an origin it published everything of", "origin", s.h.ID, "error", err)
				continue
			}
			r.forget(s.h)
			continue
		}
		saved, err := r.cfg.Store.SaveOrigin(ctx, s.next, s.h.RenewedAt)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Warn("relay could not renew an origin", "origin", s.h.ID, "error", err)
			}
			continue
		}
		if !saved {
			// Another relay took it over, having found it unrenewed: this one
			// was paused or cut off for longer than the sweep age. What it
			// still holds of it it publishes anyway; the other does too.
			r.cfg.Logger.Warn("relay lost an origin to another relay; it opens a new one", "origin", s.h.ID)
			r.forget(s.h)
			continue
		}
		r.mu.Lock()
		s.h.Origin = s.next
		r.mu.Unlock()
	}
}

func (r *Relay) forget(h *heldOrigin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.held, h.ID)
	if r.current == h {
		r.current = nil
	}
}

// sweep takes over the origins nobody renewed for SweepAge, and reads the
// records of those it holds page after page, up to SweepPages pages; the
// next sweep goes on from there.
func (r *Relay) sweep(ctx context.Context) {
	stale, err := r.cfg.Store.StaleOrigins(ctx, time.Now().Add(-r.cfg.SweepAge))
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Warn("relay could not look for origins to take over", "error", err)
		}
		return
	}
	for _, o := range stale {
		r.mu.Lock()
		_, mine := r.held[o.ID]
		closed := r.closed
		r.mu.Unlock()
		if mine || closed {
			continue
		}
		now := time.Now()
		next := o
		next.Holder, next.RenewedAt = r.cfg.Holder, now.UTC().Truncate(time.Millisecond)
		saved, err := r.cfg.Store.SaveOrigin(ctx, next, o.RenewedAt)
		if err != nil || !saved {
			continue // another relay was quicker, or the store is away
		}
		r.cfg.Logger.Info("relay took over the origin of a relay that stopped", "origin", o.ID, "holder", o.Holder, "published_before", o.PublishedBefore)
		r.mu.Lock()
		r.held[o.ID] = &heldOrigin{Origin: next, takenAt: now, seen: map[string]bool{}}
		r.mu.Unlock()
	}
	r.mu.Lock()
	var taken []*heldOrigin
	for _, h := range r.held {
		if !h.own && !h.lastCheck {
			taken = append(taken, h)
		}
	}
	r.mu.Unlock()
	for _, h := range taken {
		r.readTaken(ctx, h)
	}
}

// readTaken reads the next pages of an origin taken over and enqueues what
// it has not taken yet.
func (r *Relay) readTaken(ctx context.Context, h *heldOrigin) {
	r.mu.Lock()
	from, cursor, read := h.PublishedBefore, h.cursor, h.read
	last := h.checking || (read && h.pending == 0 && time.Since(h.takenAt) >= r.cfg.SweepAge)
	if last {
		h.checking, cursor = true, h.checkFrom
	}
	r.mu.Unlock()
	if read && !last {
		return
	}
	var found []eventstore.Record
	complete := false
	for range r.cfg.SweepPages {
		page, err := r.cfg.Store.OriginRecords(ctx, h.ID, from, cursor, r.cfg.SweepPage)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Warn("relay could not read an origin it took over", "origin", h.ID, "error", err)
			}
			break
		}
		for _, rec := range page {
			if !h.seen[rec.EventID] {
				found = append(found, rec)
			}
		}
		if len(page) > 0 {
			cursor = eventstore.PositionOf(page[len(page)-1])
		}
		if len(page) < r.cfg.SweepPage {
			complete = true
			break
		}
	}
	// One process's clock stamped them, but a clock may step back: publish
	// each aggregate's records in version order whatever their times.
	slices.SortFunc(found, func(a, b eventstore.Record) int {
		return cmp.Or(strings.Compare(a.AggregateType, b.AggregateType), strings.Compare(a.AggregateID, b.AggregateID), cmp.Compare(a.Version, b.Version))
	})
	r.mu.Lock()
	if last {
		h.checkFrom = cursor
		// Anything found on the last look gets another after it.
		h.checking = !complete || len(found) > 0
		h.lastCheck = complete && len(found) == 0
		if h.checking && complete {
			h.checkFrom = eventstore.Position{}
		}
	} else {
		h.cursor = cursor
		h.read = complete
	}
	for _, rec := range found {
		h.seen[rec.EventID] = true
	}
	r.enqueueLocked(found)
	r.mu.Unlock()
	if len(found) > 0 {
		r.cfg.Logger.Info("relay found unpublished events", "origin", h.ID, "count", len(found))
	}
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
		for i, rec := range batch {
			if err := r.publish(ctx, rec); err != nil {
				// Shutting down: put back what is left, in order, for Drain
				// to report; the origin's checkpoint stays before it.
				r.requeue(partition, batch[i:])
				return
			}
			r.published(rec)
			if r.cfg.Published != nil {
				r.cfg.Published(rec, time.Now())
			}
		}
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
		delay = min(2*delay, r.cfg.MaxRetryDelay)
	}
}

func (r *Relay) published(rec eventstore.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, rec.EventID)
	if h := r.held[rec.Origin]; h != nil {
		h.pending--
	}
}

func (r *Relay) requeue(partition int, rest []eventstore.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queues[partition] = append(rest, r.queues[partition]...)
}
