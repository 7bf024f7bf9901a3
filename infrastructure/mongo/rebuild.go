package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/fault"
	"shop/app/operations"
)

// PointerTTL is how long a process keeps using a read model's collection
// before it looks again which one is live: the time it takes every process
// to follow a rebuild's swap.
const PointerTTL = time.Second

// activeCollection is the collection a read model lives in now. A rebuild
// fills a collection of its own and then points the read model at it in the
// database's "read_models" collection, instead of renaming it over the old
// one: renaming over an existing collection is not available on every
// MongoDB-compatible server (FerretDB), and a pointer swaps in one write.
type activeCollection struct {
	client   *Client
	db       *mongo.Database
	name     string // the read model's name, and its first collection's
	pointers *mongo.Collection
	fixed    bool // a rebuild's copy: never follows the pointer

	mu      sync.Mutex
	current *mongo.Collection
	checked time.Time
	// grouped are the group inserters of the collections written so far.
	grouped map[string]*grouped
	// lookup is closed when the pointer lookup under way ends; nil when none
	// is. lookupErr is how the last one failed.
	lookup    chan struct{}
	lookupErr error
	// swaps counts the swaps made through this process, so that a lookup
	// that read the pointer before one does not undo it.
	swaps int
}

func newActiveCollection(client *Client, service, name string) *activeCollection {
	db := client.Database(service)
	return &activeCollection{client: client, db: db, name: name, pointers: db.Collection("read_models"), current: db.Collection(name)}
}

type pointerDoc struct {
	ID         string `bson:"_id"`
	Collection string `bson:"collection"`
}

// get returns the live collection, looking at the pointer at most once per
// PointerTTL. One lookup serves every caller that needs it, and runs outside
// the lock: while MongoDB is slow to answer it, callers wait for it only as
// long as their own context allows.
//
// An answer is trusted for PointerTTL from when its lookup began, since the
// pointer may have been swapped right after it was read; a caller whose
// lookup brought no answer in time gets an error rather than the last known
// collection. So an event handled from PointerTTL after a swap on goes to
// the new collection, and the rebuild's catch-up, which starts 2×PointerTTL
// after the swap, applies every event recorded before it to the new one
// again. A write that a slow server delays past that may still reach the old
// collection: the new one has its event from the catch-up, and at worst the
// write recreates the old collection after it was dropped, with nothing
// reading it.
//
// Call it outside the breaker: the lookup is a breaker call of its own, and
// inside another one it could not be a half-open breaker's single trial.
func (a *activeCollection) get(ctx context.Context) (*mongo.Collection, error) {
	a.mu.Lock()
	if a.fixed || a.trusted() {
		defer a.mu.Unlock()
		return a.current, nil
	}
	done := a.lookup
	if done == nil {
		done = make(chan struct{})
		a.lookup = done
		// Its own context: the caller that starts it may give up, the others
		// still wait for it. The breaker's call timeout bounds it.
		go a.follow(context.WithoutCancel(ctx), done, a.swaps)
	}
	a.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("read model %s: which collection is live: %w", a.name, ctx.Err())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.trusted() {
		return a.current, nil
	}
	if a.lookupErr != nil {
		return nil, fmt.Errorf("read model %s: which collection is live: %w", a.name, a.lookupErr)
	}
	return nil, fault.Unavailable("mongodb", fmt.Errorf("read model %s: the collection that is live was not read within %s", a.name, PointerTTL))
}

// trusted reports whether the last answer is recent enough to act on.
func (a *activeCollection) trusted() bool {
	return time.Since(a.checked) < PointerTTL
}

// follow reads the pointer and makes the collection it names current, unless
// a swap came in between. An answer that took longer than PointerTTL is
// stale on arrival: the pointer is read again, up to three times.
func (a *activeCollection) follow(ctx context.Context, done chan struct{}, swaps int) {
	defer close(done)
	for range 3 {
		began := time.Now()
		live, err := a.pointsAt(ctx)
		if err == nil && time.Since(began) >= PointerTTL {
			continue
		}
		a.mu.Lock()
		a.lookup, a.lookupErr = nil, err
		if err == nil && a.swaps == swaps {
			a.current, a.checked = a.db.Collection(live), began
		}
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	a.lookup, a.lookupErr = nil, nil
	a.mu.Unlock()
}

// inserts is the group inserter of coll, one of the read model's collections.
func (a *activeCollection) inserts(coll *mongo.Collection) *grouped {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.grouped == nil {
		a.grouped = map[string]*grouped{}
	}
	g, ok := a.grouped[coll.Name()]
	if !ok {
		g = newGrouped(a.client, coll)
		a.grouped[coll.Name()] = g
	}
	return g
}

// rebuilding starts a fresh collection for the read model and returns it
// with the steps that swap it in.
func (a *activeCollection) rebuilding(ctx context.Context) (*activeCollection, operations.Steps, error) {
	old, err := a.get(ctx)
	if err != nil {
		return nil, operations.Steps{}, err
	}
	fresh := &activeCollection{
		client: a.client, db: a.db, name: a.name, pointers: a.pointers, fixed: true,
		current: a.db.Collection(fmt.Sprintf("%s_%s", a.name, time.Now().UTC().Format("20060102T150405.000"))),
	}
	return fresh, operations.Steps{
		Swap: func(ctx context.Context) error {
			err := a.client.do(ctx, func(ctx context.Context) error {
				_, err := a.pointers.UpdateOne(ctx, bson.D{{Key: "_id", Value: a.name}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "collection", Value: fresh.current.Name()}}}},
					options.UpdateOne().SetUpsert(true))
				return err
			})
			if err != nil {
				// The write may have been applied and only its answer lost.
				if live, lerr := a.pointsAt(ctx); lerr != nil || live != fresh.current.Name() {
					return fmt.Errorf("swap %s: %w", a.name, err)
				}
			}
			a.mu.Lock()
			a.current, a.checked = fresh.current, time.Now()
			a.swaps++
			a.mu.Unlock()
			return nil
		},
		Retire: func(ctx context.Context) error {
			return a.client.do(ctx, func(ctx context.Context) error { return old.Drop(ctx) })
		},
		// Abandon drops the copy only once the pointer is known not to name
		// it: after a swap whose outcome is unknown, the copy may be live.
		Abandon: func(ctx context.Context) error {
			live, err := a.pointsAt(ctx)
			if err != nil {
				return fmt.Errorf("%s kept: whether it is live cannot be told: %w", fresh.current.Name(), err)
			}
			if live == fresh.current.Name() {
				return fmt.Errorf("%s kept: it is the live %s read model", live, a.name)
			}
			return a.client.do(ctx, func(ctx context.Context) error { return fresh.current.Drop(ctx) })
		},
	}, nil
}

// pointsAt reads which collection the pointer names.
func (a *activeCollection) pointsAt(ctx context.Context) (string, error) {
	var p pointerDoc
	err := a.client.do(ctx, func(ctx context.Context) error {
		return a.pointers.FindOne(ctx, bson.D{{Key: "_id", Value: a.name}}).Decode(&p)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return a.name, nil
	}
	return cmp.Or(p.Collection, a.name), err
}

// Rebuilding returns an empty copy of the read model, and the steps that make
// it the live one.
func (v *OrderViews) Rebuilding(ctx context.Context) (*OrderViews, operations.Steps, error) {
	coll, steps, err := v.coll.rebuilding(ctx)
	if err != nil {
		return nil, steps, err
	}
	fresh, err := openOrderViews(ctx, v.client, coll)
	return fresh, steps, err
}

// Rebuilding returns an empty copy of the read model, and the steps that make
// it the live one.
func (v *ProductViews) Rebuilding(ctx context.Context) (*ProductViews, operations.Steps, error) {
	coll, steps, err := v.coll.rebuilding(ctx)
	if err != nil {
		return nil, steps, err
	}
	return &ProductViews{client: v.client, coll: coll}, steps, nil
}

// LeaseTTL is how long a rebuild's lease outlives a holder that stopped
// renewing it (a process that died): then another process may rebuild.
const LeaseTTL = time.Minute

type leaseDoc struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"owner"`
	Until time.Time `bson:"until"`
}

// lease takes the lease on rebuilding the read model, in the service
// database's "rebuild_leases" collection: one document per read model, which
// only one process can insert, or take over once it has expired. Written here
// because a lease is two conditional writes that every MongoDB-compatible
// server offers, and no library of ours has one.
func (a *activeCollection) lease(ctx context.Context) (operations.Lease, error) {
	leases := a.db.Collection("rebuild_leases")
	owner := uuid.NewString()
	mine := bson.D{{Key: "_id", Value: a.name}, {Key: "owner", Value: owner}}
	// Twice: a lease released between the insert and the takeover is free.
	for range 2 {
		now := time.Now()
		until := now.Add(LeaseTTL)
		err := a.client.do(ctx, func(ctx context.Context) error {
			_, err := leases.InsertOne(ctx, leaseDoc{ID: a.name, Owner: owner, Until: until})
			return err
		})
		if err == nil {
			return newRebuildLease(a.name, leases, mine, now), nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			// The insert may have been made and only its answer lost: a
			// lease nobody renews would refuse every rebuild for LeaseTTL.
			dropCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = leases.DeleteOne(dropCtx, mine)
			cancel()
			return nil, fmt.Errorf("rebuild lease of %s: %w", a.name, err)
		}
		var taken int64
		err = a.client.do(ctx, func(ctx context.Context) error {
			res, err := leases.UpdateOne(ctx,
				bson.D{{Key: "_id", Value: a.name}, {Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: owner}, {Key: "until", Value: until}}}})
			if err != nil {
				return err
			}
			taken = res.MatchedCount
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rebuild lease of %s: %w", a.name, err)
		}
		if taken > 0 {
			return newRebuildLease(a.name, leases, mine, now), nil
		}
	}
	return nil, fmt.Errorf("%w: %s, by another process", operations.ErrRebuildRunning, a.name)
}

// rebuildLease is renewed every sixth of LeaseTTL until released. Renewals
// go to MongoDB directly, not through the breaker: a breaker opened by other
// traffic must not let the lease lapse.
type rebuildLease struct {
	name   string
	leases *mongo.Collection
	mine   bson.D // the lease document, while this process owns it

	mu      sync.Mutex
	renewed time.Time // when the last successful renewal was sent
	lost    error

	stop, stopped chan struct{}
}

func newRebuildLease(name string, leases *mongo.Collection, mine bson.D, taken time.Time) *rebuildLease {
	l := &rebuildLease{name: name, leases: leases, mine: mine, renewed: taken, stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.keep()
	return l
}

func (l *rebuildLease) keep() {
	defer close(l.stopped)
	ticker := time.NewTicker(LeaseTTL / 6)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ticker.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/6)
		// Tried again at the next tick when it fails; Lost tells when too
		// many did.
		_ = l.renew(ctx)
		cancel()
	}
}

// renew moves the lease's expiry on, and records the lease lost when the
// document is no longer this process's.
func (l *rebuildLease) renew(ctx context.Context) error {
	at := time.Now()
	res, err := l.leases.UpdateOne(ctx, l.mine, bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: at.Add(LeaseTTL)}}}})
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		return err
	case res.MatchedCount == 0:
		if l.lost == nil {
			l.lost = fmt.Errorf("%w: %s was taken over by another process", operations.ErrLeaseLost, l.name)
		}
	default:
		l.renewed = at
	}
	return nil
}

// Lost renews the lease and reports it lost when another process holds it
// now. When MongoDB does not answer, a renewal in the last half of LeaseTTL
// still vouches for it (the lease runs until a full LeaseTTL after that);
// past that, whether it is held cannot be told, which is reported as
// MongoDB being unavailable.
func (l *rebuildLease) Lost(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, LeaseTTL/6)
	defer cancel()
	err := l.renew(ctx)
	l.mu.Lock()
	lost, renewed := l.lost, l.renewed
	l.mu.Unlock()
	switch {
	case lost != nil:
		return lost
	case err == nil, time.Since(renewed) < LeaseTTL/2:
		return nil
	default:
		return fault.Unavailable("mongodb", fmt.Errorf("whether the rebuild lease of %s is still held cannot be told: %w", l.name, err))
	}
}

// Release stops the renewals and deletes the lease; if the delete fails,
// the lease expires after LeaseTTL.
func (l *rebuildLease) Release() {
	close(l.stop)
	<-l.stopped
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = l.leases.DeleteOne(ctx, l.mine)
}

// RebuildLease keeps other processes from rebuilding the read model
// (operations.Rebuild.Lease).
func (v *OrderViews) RebuildLease(ctx context.Context) (operations.Lease, error) {
	return v.coll.lease(ctx)
}

// RebuildLease keeps other processes from rebuilding the read model
// (operations.Rebuild.Lease).
func (v *ProductViews) RebuildLease(ctx context.Context) (operations.Lease, error) {
	return v.coll.lease(ctx)
}
