package cqrs

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Leases are how the replicas of a service agree on which of them consumes
// which partition: each replica says it is alive, and holds the lease of
// every partition it consumes; a lease not renewed expires.
type Leases interface {
	// Join says member of group is alive for ttl and returns every member
	// alive, sorted.
	Join(ctx context.Context, group, member string, ttl time.Duration) ([]string, error)
	// Leave removes member from group at once.
	Leave(ctx context.Context, group, member string) error
	// Hold takes the lease of key for member for ttl when nobody holds it,
	// renews it when member does, and reports whether member holds it.
	Hold(ctx context.Context, key, member string, ttl time.Duration) (bool, error)
	// Release gives up the lease of key if member holds it.
	Release(ctx context.Context, key, member string) error
}

// AssignmentConfig configures an Assignment.
type AssignmentConfig struct {
	// Group names the replicas that share the partitions: one service of
	// one system.
	Group string
	// Member names this replica; unique among the live replicas.
	Member     string
	Partitions int
	Leases     Leases
	// TTL is how long a replica that stopped renewing keeps its partitions:
	// the time a dead replica's partitions wait for a survivor.
	TTL time.Duration
	// KeepWhenUnreachable is for a bus that itself lets one consumer at a
	// time take a partition's messages (RabbitMQ's single-active-consumer
	// queues). While the leases cannot be read, the replica then keeps what
	// it holds and subscribes the rest too, standing by where another is
	// active: the partitions are consumed, not spread, until the leases are
	// back and the replicas let go of what others hold. Without it, a
	// partition is stopped once its lease may have expired.
	KeepWhenUnreachable bool
	// Start starts consuming a partition; the stop it returns stops
	// consuming, and returns once what was handed out is acknowledged.
	Start func(ctx context.Context, partition int) (stop func() error, err error)
	// Moved, when set, hears of every partition this replica took or let go.
	Moved  func(partition int, owned bool, reason string)
	Logger *slog.Logger
}

// Assignment spreads the partitions of a service over its live replicas,
// each consumed by one of them at a time.
//
// Written here because neither broker spreads partitions: RabbitMQ's
// single-active-consumer queue makes the first replica active on every
// queue, and a Redis consumer group spreads entries, not aggregates. The
// rule is small: the live members, sorted, take the partitions in turn
// (partition p goes to member p mod n), so that each consumes about P/n;
// a replica consumes a partition only while it holds the partition's lease,
// and lets a lease go only after the partition's router has closed, with
// every message it was handed acknowledged, so that the next owner starts
// where it stopped. A replica that dies stops renewing: its membership and
// leases expire after TTL and the survivors take its partitions.
type Assignment struct {
	cfg AssignmentConfig

	mu    sync.Mutex
	parts map[int]*owned
	stops sync.WaitGroup
	// cancel ends the loop, which closes ended when it has.
	cancel context.CancelFunc
	ended  chan struct{}
	// now is the clock; tests set it.
	now func() time.Time
	// told is what the last "partitions owned" line said.
	told []int
}

type owned struct {
	stop func() error
	// renewed is when the lease was last held for sure.
	renewed time.Time
	// stopping is closed once a stop that was asked for has finished.
	stopping chan struct{}
}

// NewAssignment checks cfg and builds an assignment; nothing runs until Run.
func NewAssignment(cfg AssignmentConfig) (*Assignment, error) {
	if cfg.Group == "" || cfg.Member == "" || cfg.Leases == nil || cfg.Start == nil || cfg.Logger == nil {
		return nil, errors.New("assignment: group, member, leases, start and logger are required")
	}
	if cfg.Partitions < 1 || cfg.TTL < 300*time.Millisecond {
		return nil, errors.New("assignment: at least one partition and a TTL of at least 300ms are required")
	}
	return &Assignment{cfg: cfg, parts: map[int]*owned{}, ended: make(chan struct{}), now: time.Now}, nil
}

// Owned lists the partitions this replica consumes, sorted.
func (a *Assignment) Owned() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ps []int
	for p, o := range a.parts {
		if o.stopping == nil {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// Run takes this replica's share once, then keeps it up to date every third
// of the TTL until Stop; it returns after the first round.
func (a *Assignment) Run(ctx context.Context) {
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	a.round(ctx)
	a.tell()
	go func() {
		defer close(a.ended)
		ticker := time.NewTicker(a.cfg.TTL / 3)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				a.round(ctx)
				a.tell()
			}
		}
	}()
}

// Stop ends the loop, stops consuming every partition, then gives up the
// leases and the membership, so that the other replicas take the
// partitions at once instead of after the TTL.
func (a *Assignment) Stop(ctx context.Context) error {
	if a.cancel != nil {
		a.cancel()
		<-a.ended
	}
	a.mu.Lock()
	for p, o := range a.parts {
		if o.stopping == nil {
			a.stopPartition(p, o, true, "stopping")
		}
	}
	a.mu.Unlock()
	a.stops.Wait()
	leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.TTL)
	defer cancel()
	if err := a.cfg.Leases.Leave(leaveCtx, a.cfg.Group, a.cfg.Member); err != nil {
		// The membership expires after the TTL instead.
		a.cfg.Logger.Warn("membership not given up; it expires", "group", a.cfg.Group, "error", err)
	}
	return nil
}

// desired are the partitions the sorted live members give this one.
func (a *Assignment) desired(members []string) map[int]bool {
	want := map[int]bool{}
	i := slices.Index(members, a.cfg.Member)
	if i < 0 {
		return want
	}
	for p := i; p < a.cfg.Partitions; p += len(members) {
		want[p] = true
	}
	return want
}

func (a *Assignment) round(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	ttl := a.cfg.TTL
	// Each call to the leases is bounded by a round's interval: a lease
	// store that does not answer must not hold the round past the next.
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, ttl/3) }
	joinCtx, cancel := call()
	members, err := a.cfg.Leases.Join(joinCtx, a.cfg.Group, a.cfg.Member, ttl)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			a.cfg.Logger.Warn("partition leases unreachable", "group", a.cfg.Group, "error", err)
			a.expire(ctx)
		}
		return
	}
	want := a.desired(members)

	// Renew what is held, the partitions on their way out too: their next
	// owner must wait until they have stopped.
	a.mu.Lock()
	held := make(map[int]*owned, len(a.parts))
	for p, o := range a.parts {
		held[p] = o
	}
	a.mu.Unlock()
	for p, o := range held {
		holdCtx, cancel := call()
		ok, err := a.cfg.Leases.Hold(holdCtx, a.key(p), a.cfg.Member, ttl)
		cancel()
		a.mu.Lock()
		switch {
		case err != nil:
			a.mu.Unlock()
			if ctx.Err() == nil {
				a.cfg.Logger.Warn("partition lease not renewed", "group", a.cfg.Group, "partition", p, "error", err)
				a.expire(ctx)
			}
			return
		case !ok:
			// Another replica holds it: this one was away longer than the
			// TTL. Stop at once, and leave the lease to its holder.
			if a.parts[p] == o && o.stopping == nil {
				a.cfg.Logger.Warn("partition lease lost to another replica", "group", a.cfg.Group, "partition", p)
				a.stopPartition(p, o, false, "lost")
			}
		default:
			o.renewed = a.now()
			if o.stopping == nil && !want[p] {
				a.stopPartition(p, o, true, "rebalanced")
			}
		}
		a.mu.Unlock()
	}

	for p := range a.cfg.Partitions {
		a.mu.Lock()
		_, have := a.parts[p]
		a.mu.Unlock()
		if !want[p] || have || ctx.Err() != nil {
			continue
		}
		holdCtx, cancel := call()
		ok, err := a.cfg.Leases.Hold(holdCtx, a.key(p), a.cfg.Member, ttl)
		cancel()
		if err != nil || !ok {
			// Held by its previous owner until it has stopped, or expiring.
			continue
		}
		stop, err := a.cfg.Start(ctx, p)
		if err != nil {
			a.cfg.Logger.Error("partition not started; its lease is given back", "group", a.cfg.Group, "partition", p, "error", err)
			_ = a.cfg.Leases.Release(context.WithoutCancel(ctx), a.key(p), a.cfg.Member)
			continue
		}
		a.mu.Lock()
		a.parts[p] = &owned{stop: stop, renewed: a.now()}
		a.mu.Unlock()
		a.moved(p, true, "acquired")
	}
}

// expire stops the partitions whose lease may have expired while the
// leases could not be read, unless the bus keeps them exclusive itself.
func (a *Assignment) expire(ctx context.Context) {
	if a.cfg.KeepWhenUnreachable {
		a.standBy(ctx)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, o := range a.parts {
		if o.stopping == nil && a.now().Sub(o.renewed) >= a.cfg.TTL*2/3 {
			a.stopPartition(p, o, false, "expired")
		}
	}
}

// standBy subscribes every partition not held, without its lease.
func (a *Assignment) standBy(ctx context.Context) {
	for p := range a.cfg.Partitions {
		a.mu.Lock()
		_, have := a.parts[p]
		a.mu.Unlock()
		if have || ctx.Err() != nil {
			continue
		}
		stop, err := a.cfg.Start(ctx, p)
		if err != nil {
			a.cfg.Logger.Error("partition not started", "group", a.cfg.Group, "partition", p, "error", err)
			continue
		}
		a.mu.Lock()
		a.parts[p] = &owned{stop: stop}
		a.mu.Unlock()
		a.moved(p, true, "unreachable")
	}
}

// stopPartition stops consuming p in the background, and then, when
// release is set, gives its lease up. Called with a.mu held.
func (a *Assignment) stopPartition(p int, o *owned, release bool, reason string) {
	o.stopping = make(chan struct{})
	a.stops.Add(1)
	go func() {
		defer a.stops.Done()
		defer close(o.stopping)
		if err := o.stop(); err != nil {
			a.cfg.Logger.Error("partition did not stop cleanly", "group", a.cfg.Group, "partition", p, "error", err)
		}
		if release {
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.TTL)
			if err := a.cfg.Leases.Release(ctx, a.key(p), a.cfg.Member); err != nil {
				a.cfg.Logger.Warn("partition lease not given back; it expires", "group", a.cfg.Group, "partition", p, "error", err)
			}
			cancel()
		}
		a.mu.Lock()
		if a.parts[p] == o {
			delete(a.parts, p)
		}
		a.mu.Unlock()
		a.moved(p, false, reason)
	}()
}

// tell logs the partitions this replica owns when they changed since it
// last did: one line per change of the share, the moves themselves at debug.
func (a *Assignment) tell() {
	owned := a.Owned()
	if slices.Equal(owned, a.told) && a.told != nil {
		return
	}
	a.told = append([]int{}, owned...)
	a.cfg.Logger.Info("partitions owned", "group", a.cfg.Group, "partitions", owned, "of", a.cfg.Partitions)
}

func (a *Assignment) moved(p int, owned bool, reason string) {
	if owned {
		a.cfg.Logger.Debug("partition taken", "group", a.cfg.Group, "partition", p)
	} else {
		a.cfg.Logger.Debug("partition let go", "group", a.cfg.Group, "partition", p, "reason", reason)
	}
	if a.cfg.Moved != nil {
		a.cfg.Moved(p, owned, reason)
	}
}

func (a *Assignment) key(p int) string { return PartitionName(a.cfg.Group, p) }

// MemoryLeases are leases within one process: the embedded system's, and a
// single process's on a broker where no lease store is configured.
type MemoryLeases struct {
	mu      sync.Mutex
	members map[string]map[string]time.Time
	leases  map[string]memoryLease
	now     func() time.Time
}

type memoryLease struct {
	member  string
	expires time.Time
}

// NewMemoryLeases makes an empty lease store.
func NewMemoryLeases() *MemoryLeases {
	return &MemoryLeases{members: map[string]map[string]time.Time{}, leases: map[string]memoryLease{}, now: time.Now}
}

// Join implements Leases.
func (l *MemoryLeases) Join(_ context.Context, group, member string, ttl time.Duration) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.members[group] == nil {
		l.members[group] = map[string]time.Time{}
	}
	l.members[group][member] = now.Add(ttl)
	var alive []string
	for m, until := range l.members[group] {
		if until.After(now) {
			alive = append(alive, m)
		} else {
			delete(l.members[group], m)
		}
	}
	slices.Sort(alive)
	return alive, nil
}

// Leave implements Leases.
func (l *MemoryLeases) Leave(_ context.Context, group, member string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.members[group], member)
	return nil
}

// Hold implements Leases.
func (l *MemoryLeases) Hold(_ context.Context, key, member string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if cur, ok := l.leases[key]; ok && cur.member != member && cur.expires.After(now) {
		return false, nil
	}
	l.leases[key] = memoryLease{member: member, expires: now.Add(ttl)}
	return true, nil
}

// Release implements Leases.
func (l *MemoryLeases) Release(_ context.Context, key, member string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leases[key].member == member {
		delete(l.leases, key)
	}
	return nil
}
