package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

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
	// MaxAttempts bounds how often a change is tried while other writers keep
	// appending to the same stream first. Default 10.
	MaxAttempts int
	// CacheSize is how many aggregates this process keeps after writing them,
	// so that the next change needs no load. Default 10 000; negative disables.
	CacheSize int
}

func (c *RepositoryConfig[A]) setDefaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.CacheSize == 0 {
		c.CacheSize = 10_000
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
	return err
}

// Repository loads, changes and appends aggregates of one type with optimistic
// concurrency: an append expects the version the aggregate was loaded at, and a
// conflict means "reload and try again", a bounded number of times.
//
// Within one process, changes to one aggregate are serialised and the
// aggregate is cached after a successful append, so that a hot stream (a
// popular product) is not reloaded for every change. A cached aggregate may be
// stale when other processes write the same stream: an append then conflicts
// and is retried on fresh state, and a decision that appends nothing (a refusal,
// or a change already made) is trusted only after the store confirms the cached
// version is current.
type Repository[A Aggregate] struct {
	cfg   RepositoryConfig[A]
	locks [256]sync.Mutex
	cache *lru[A]
}

// NewRepository checks the configuration and builds a Repository.
func NewRepository[A Aggregate](cfg RepositoryConfig[A]) (*Repository[A], error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("repository of %s: %w", cfg.AggregateType, err)
	}
	return &Repository[A]{cfg: cfg, cache: newLRU[A](cfg.CacheSize)}, nil
}

// Load rebuilds an aggregate from the store, bypassing the cache: what it
// returns is the caller's to read. ErrNotFound when it has no events.
func (r *Repository[A]) Load(ctx context.Context, id string) (A, error) {
	a, err := r.load(ctx, id)
	if err == nil && a.Version() == 0 {
		err = fmt.Errorf("%s %s: %w", r.cfg.AggregateType, id, ErrNotFound)
	}
	return a, err
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

func (r *Repository[A]) update(ctx context.Context, id string, mustExist bool, change func(A) error) error {
	unlock := r.lock(id)
	defer unlock()
	useCache := true
	for attempt := 1; ; attempt++ {
		a, cached, err := r.current(ctx, id, useCache)
		if err != nil {
			return err
		}
		if mustExist && a.Version() == 0 {
			return fmt.Errorf("%s %s: %w", r.cfg.AggregateType, id, ErrNotFound)
		}
		changeErr := change(a)
		if changeErr != nil || len(a.Changes()) == 0 {
			// Nothing will be appended, so no conflict can reveal a stale cache:
			// confirm the decision was taken on the stored version.
			r.cache.remove(id)
			if cached {
				if stored, err := r.cfg.Store.Version(ctx, r.cfg.AggregateType, id); err != nil {
					return err
				} else if stored != a.StoredVersion() {
					useCache = false
					continue
				}
				if changeErr == nil {
					r.cache.put(id, a)
				}
			}
			return changeErr
		}
		err = r.append(ctx, a)
		if err == nil {
			return nil
		}
		r.cache.remove(id)
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
	if useCache {
		if a, ok := r.cache.get(id); ok {
			return a, true, nil
		}
	}
	a, err = r.load(ctx, id)
	return a, false, err
}

func (r *Repository[A]) load(ctx context.Context, id string) (A, error) {
	var zero A
	records, err := r.cfg.Store.Load(ctx, r.cfg.AggregateType, id)
	if err != nil {
		return zero, fmt.Errorf("load %s %s: %w", r.cfg.AggregateType, id, err)
	}
	history := make([]es.Event, len(records))
	for i, rec := range records {
		if rec.Version != i+1 {
			return zero, fmt.Errorf("load %s %s: version %d at position %d: the stream has a gap", r.cfg.AggregateType, id, rec.Version, i+1)
		}
		history[i] = rec.Event
	}
	return r.cfg.FromHistory(id, history)
}

// append stores the aggregate's changes, caches it and hands the records to
// the outbox, all while the caller holds the aggregate's lock so that records
// of one aggregate reach the outbox in version order.
func (r *Repository[A]) append(ctx context.Context, a A) error {
	changes := a.Changes()
	if len(changes) == 0 {
		return nil
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
		}
	}
	if err := r.cfg.Store.Append(ctx, records); err != nil {
		return fmt.Errorf("append %s %s: %w", r.cfg.AggregateType, a.ID(), err)
	}
	a.MarkStored()
	r.cache.put(a.ID(), a)
	r.cfg.Outbox.Enqueue(records)
	return nil
}

func (r *Repository[A]) lock(id string) (unlock func()) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	m := &r.locks[h.Sum32()%uint32(len(r.locks))]
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
