package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"shop/domain/es"
)

// Aggregate is what every event-sourced aggregate offers through es.Root.
type Aggregate interface {
	ID() string
	Version() int
	StoredVersion() int
	Changes() []es.Event
	MarkStored()
}

// Sealer encrypts personal data in place (app/personal): Seal that of
// events, making the subject's key if need be; Reseal that of state derived
// from stored events, with the subject's key if it still has one, and
// erasing it if not.
type Sealer interface {
	Seal(ctx context.Context, e es.Personal) error
	Reseal(ctx context.Context, e es.Personal) error
}

// IDs makes identifiers for new records; a port so that tests control them.
type IDs interface {
	NewID() string
}

// RepositoryConfig configures a Repository of one aggregate type.
type RepositoryConfig[A Aggregate] struct {
	// AggregateType names the aggregate's streams.
	AggregateType string
	// FromHistory rebuilds an aggregate from its events; given none, it returns
	// the aggregate as it is before its first event.
	FromHistory func(id string, history []es.Event) (A, error)
	Store       Store
	Outbox      Outbox
	Clock       Clock
	// IDs makes event ids.
	IDs IDs
	// Sealer, when set, seals the personal data of every change that has
	// some (es.Personal) before it is stored, and so before it is published,
	// and of snapshots.
	Sealer Sealer
	// Snapshots, with a Snapshot codec, loads the streams from their latest
	// snapshot and the events after it, and snapshots them as they grow.
	Snapshots SnapshotPolicy
	Snapshot  SnapshotCodec[A]
	// MaxAttempts bounds how often a change is tried while other writers keep
	// appending to the same stream first. Default 10.
	MaxAttempts int
	// CacheSize is how many aggregates this process keeps after writing or
	// loading them, so that the next change needs no load. Default 2 000:
	// the most recent ones, which the next command of an order (its
	// confirmation, a few milliseconds after its placement) finds, and the
	// hot ones (popular products), touched all the time; at 100 orders a
	// second, an order stays 20 s. Negative disables.
	CacheSize int
}

func (c *RepositoryConfig[A]) setDefaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.CacheSize == 0 {
		c.CacheSize = 2_000
	}
}

// Validate reports every missing dependency.
func (c RepositoryConfig[A]) Validate() error {
	var err error
	if c.AggregateType == "" {
		err = errors.Join(err, errors.New("missing AggregateType"))
	}
	if c.FromHistory == nil {
		err = errors.Join(err, errors.New("missing FromHistory"))
	}
	if c.Store == nil {
		err = errors.Join(err, errors.New("missing Store"))
	}
	if c.Outbox == nil {
		err = errors.Join(err, errors.New("missing Outbox"))
	}
	if c.Clock == nil {
		err = errors.Join(err, errors.New("missing Clock"))
	}
	if c.IDs == nil {
		err = errors.Join(err, errors.New("missing IDs"))
	}
	if c.MaxAttempts < 1 {
		err = errors.Join(err, errors.New("MaxAttempts must be at least 1"))
	}
	if c.Snapshots.Every < 0 {
		err = errors.Join(err, errors.New("snapshots every negative number of events"))
	}
	if c.Snapshots.Every > 0 && (c.Snapshots.Store == nil || c.Snapshot.isZero()) {
		err = errors.Join(err, errors.New("snapshots need a store and a codec"))
	}
	return err
}

// Repository loads, changes and appends aggregates of one type with optimistic
// concurrency: an append expects the version the aggregate was loaded at, and a
// conflict means "reload and try again", a bounded number of times.
//
// Within one process, changes to one aggregate are serialised and the
// aggregate is cached after a successful append or a load, so that a hot
// stream (a popular product) is not reloaded for every change, and a change
// after a look (is this notification sent yet?) reads the store once. A cached
// aggregate may be stale when other processes write the same stream: an append
// then conflicts and is retried on fresh state, and a decision that appends
// nothing (a refusal, or a change already made) is trusted only after the
// store confirms the cached version is current.
type Repository[A Aggregate] struct {
	cfg   RepositoryConfig[A]
	locks [256]sync.Mutex
	seed  maphash.Seed // spreads ids over the locks
	// cache is nil when disabled.
	cache *lru.Cache[string, A]
}

// NewRepository checks the configuration and builds a Repository.
func NewRepository[A Aggregate](cfg RepositoryConfig[A]) (*Repository[A], error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("repository of %s: %w", cfg.AggregateType, err)
	}
	r := &Repository[A]{cfg: cfg, seed: maphash.MakeSeed()}
	if cfg.CacheSize > 0 {
		var err error
		if r.cache, err = lru.New[string, A](cfg.CacheSize); err != nil {
			return nil, fmt.Errorf("repository of %s: %w", cfg.AggregateType, err)
		}
	}
	return r, nil
}

// Load rebuilds an aggregate from the store, bypassing the cache: what it
// returns is the caller's to read. ErrNotFound when it has no events. A twin
// built from the same events goes to the cache, unless it holds the aggregate
// already, so that a change that follows needs no second read; also the twin
// of an aggregate not found, which the change that creates it starts from.
func (r *Repository[A]) Load(ctx context.Context, id string) (A, error) {
	a, s, err := r.fetch(ctx, id)
	if err != nil {
		return a, err
	}
	if r.cache != nil && !r.cache.Contains(id) {
		// The twin shares the decoded events, which no aggregate changes.
		if twin, err := r.build(id, s); err == nil {
			r.cache.ContainsOrAdd(id, twin)
		}
	}
	if a.Version() == 0 {
		return a, fmt.Errorf("%s %s: %w", r.cfg.AggregateType, id, ErrNotFound)
	}
	return a, nil
}

// View lets look read an aggregate as this process knows it: the one cached,
// or else the stored one, which is then cached, as it is before its first
// event when it has none. look must neither change the aggregate nor keep it.
// A cached aggregate may lag what other processes appended since; a change
// decided on what look saw is checked by its append's version.
func (r *Repository[A]) View(ctx context.Context, id string, look func(A)) error {
	unlock := r.lock(id)
	defer unlock()
	a, cached, err := r.current(ctx, id, true)
	if err != nil {
		return err
	}
	if !cached {
		r.remember(a)
	}
	look(a)
	return nil
}

// Add stores a new aggregate. ErrAlreadyExists when its stream has events.
func (r *Repository[A]) Add(ctx context.Context, a A) error {
	unlock := r.lock(a.ID())
	defer unlock()
	if err := r.append(ctx, a); err != nil {
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("%s %s: %w", r.cfg.AggregateType, a.ID(), ErrAlreadyExists)
		}
		return err
	}
	return nil
}

// Update applies change to an existing aggregate and appends what it recorded.
// ErrNotFound when the aggregate has no events.
func (r *Repository[A]) Update(ctx context.Context, id string, change func(A) error) error {
	return r.update(ctx, id, true, change)
}

// UpdateOrCreate is Update for aggregates that may not exist yet: change gets
// the aggregate as it is before its first event.
func (r *Repository[A]) UpdateOrCreate(ctx context.Context, id string, change func(A) error) error {
	return r.update(ctx, id, false, change)
}

// CreateOrUpdate is UpdateOrCreate for aggregates that rarely exist yet when
// a change first names them, such as an order's reservation: when the
// aggregate is not cached, change is tried on it as it is before its first
// event, and the append's version check tells whether it existed. Only then
// is it read, and change tried again on what is stored. That saves the read
// before every first write. change may run twice: it must not act outside
// the aggregate.
func (r *Repository[A]) CreateOrUpdate(ctx context.Context, id string, change func(A) error) error {
	unlock := r.lock(id)
	defer unlock()
	if r.cache == nil || !r.cache.Contains(id) {
		a, err := r.cfg.FromHistory(id, nil)
		if err != nil {
			return err
		}
		// A change that refuses or records nothing on a new aggregate says
		// nothing about the stored one: decide again on what is stored.
		if change(a) == nil && len(a.Changes()) > 0 {
			err := r.append(ctx, a)
			if err == nil || !errors.Is(err, ErrConflict) {
				return err
			}
		}
	}
	return r.updateLocked(ctx, id, false, change)
}

func (r *Repository[A]) update(ctx context.Context, id string, mustExist bool, change func(A) error) error {
	unlock := r.lock(id)
	defer unlock()
	return r.updateLocked(ctx, id, mustExist, change)
}

func (r *Repository[A]) updateLocked(ctx context.Context, id string, mustExist bool, change func(A) error) error {
	useCache := true
	for attempt := 1; ; attempt++ {
		a, cached, err := r.current(ctx, id, useCache)
		if err != nil {
			return err
		}
		if mustExist && a.Version() == 0 {
			if cached {
				// Not found when this process last looked: look again.
				r.forget(id)
				useCache = false
				continue
			}
			return fmt.Errorf("%s %s: %w", r.cfg.AggregateType, id, ErrNotFound)
		}
		changeErr := change(a)
		if changeErr != nil || len(a.Changes()) == 0 {
			// Nothing will be appended, so no conflict can reveal a stale cache:
			// confirm the decision was taken on the stored version.
			r.forget(id)
			if cached {
				if stored, err := r.cfg.Store.Version(ctx, r.cfg.AggregateType, id); err != nil {
					return err
				} else if stored != a.StoredVersion() {
					useCache = false
					continue
				}
				if changeErr == nil {
					r.remember(a)
				}
			}
			return changeErr
		}
		err = r.append(ctx, a)
		if err == nil {
			return nil
		}
		r.forget(id)
		if !errors.Is(err, ErrConflict) || attempt >= r.cfg.MaxAttempts {
			return err
		}
		useCache = false
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// current returns the aggregate from the cache or, failing that, the store.
func (r *Repository[A]) current(ctx context.Context, id string, useCache bool) (a A, cached bool, err error) {
	if useCache && r.cache != nil {
		if a, ok := r.cache.Get(id); ok {
			return a, true, nil
		}
	}
	a, _, err = r.fetch(ctx, id)
	return a, false, err
}

func (r *Repository[A]) records(ctx context.Context, id string) ([]Record, error) {
	records, err := r.cfg.Store.Load(ctx, r.cfg.AggregateType, id)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", r.cfg.AggregateType, id, err)
	}
	return records, nil
}

func (r *Repository[A]) rebuild(id string, records []Record) (A, error) {
	var zero A
	history := make([]es.Event, len(records))
	for i, rec := range records {
		if rec.Version != i+1 {
			return zero, fmt.Errorf("load %s %s: version %d at position %d: the stream has a gap", r.cfg.AggregateType, id, rec.Version, i+1)
		}
		history[i] = rec.Event
	}
	return r.cfg.FromHistory(id, history)
}

func (r *Repository[A]) remember(a A) {
	if r.cache != nil {
		r.cache.Add(a.ID(), a)
	}
}

func (r *Repository[A]) forget(id string) {
	if r.cache != nil {
		r.cache.Remove(id)
	}
}

// append stores the aggregate's changes, caches it and hands the records to
// the outbox, all while the caller holds the aggregate's lock so that records
// of one aggregate reach the outbox in version order.
func (r *Repository[A]) append(ctx context.Context, a A) error {
	changes := a.Changes()
	if len(changes) == 0 {
		return nil
	}
	if r.cfg.Sealer != nil {
		for _, e := range changes {
			if p, ok := e.(es.Personal); ok {
				if err := r.cfg.Sealer.Seal(ctx, p); err != nil {
					return fmt.Errorf("append %s %s: %w", r.cfg.AggregateType, a.ID(), err)
				}
			}
		}
	}
	slip, err := r.cfg.Outbox.Begin(ctx)
	if err != nil {
		return fmt.Errorf("append %s %s: %w", r.cfg.AggregateType, a.ID(), err)
	}
	cause := CauseFrom(ctx)
	now := r.cfg.Clock.Now()
	records := make([]Record, len(changes))
	for i, e := range changes {
		records[i] = Record{
			EventID:       r.cfg.IDs.NewID(),
			AggregateType: r.cfg.AggregateType,
			AggregateID:   a.ID(),
			Version:       a.StoredVersion() + i + 1,
			Type:          e.EventName(),
			Event:         e,
			CorrelationID: cause.CorrelationID,
			CausationID:   cause.CausationID,
			OccurredAt:    now,
			Origin:        slip.Origin(),
		}
	}
	err = r.cfg.Store.Append(ctx, records)
	slip.End(records, err)
	if err != nil {
		return fmt.Errorf("append %s %s: %w", r.cfg.AggregateType, a.ID(), err)
	}
	from := a.StoredVersion()
	a.MarkStored()
	r.remember(a)
	r.snapshotAfter(a, from)
	return nil
}

func (r *Repository[A]) lock(id string) (unlock func()) {
	m := &r.locks[maphash.String(r.seed, id)%uint64(len(r.locks))]
	m.Lock()
	return m.Unlock
}

// pause waits a short, growing, jittered time before retrying a conflict, so
// that writers that collided do not collide again in lockstep.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(attempt)*int64(2*time.Millisecond) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
