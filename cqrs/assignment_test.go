package cqrs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"shop/cqrs"
)

// replica is one member of an assignment whose partitions are recorded as
// they start and stop, and checked never to run on two members at once.
type replica struct {
	name string
	a    *cqrs.Assignment
}

type partitionLog struct {
	mu      sync.Mutex
	running map[int]string
	overlap []string
}

func (l *partitionLog) start(member string, p int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if other, ok := l.running[p]; ok {
		l.overlap = append(l.overlap, fmt.Sprintf("partition %d started on %s while %s ran it", p, member, other))
	}
	l.running[p] = member
}

func (l *partitionLog) stop(member string, p int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running[p] == member {
		delete(l.running, p)
	}
}

func newReplica(t *testing.T, leases cqrs.Leases, log *partitionLog, name string, partitions int) *replica {
	t.Helper()
	a, err := cqrs.NewAssignment(cqrs.AssignmentConfig{
		Group: "test-group", Member: name, Partitions: partitions, Leases: leases, TTL: 600 * time.Millisecond,
		Start: func(_ context.Context, p int) (func() error, error) {
			log.start(name, p)
			return func() error {
				// A partition's router takes a moment to drain.
				time.Sleep(50 * time.Millisecond)
				log.stop(name, p)
				return nil
			}, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &replica{name: name, a: a}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func shares(rs ...*replica) []int {
	var n []int
	for _, r := range rs {
		n = append(n, len(r.a.Owned()))
	}
	return n
}

func TestPartitionsAreSpreadAndMoveWhenReplicasComeAndGo(t *testing.T) {
	const partitions = 16
	leases := cqrs.NewMemoryLeases()
	log := &partitionLog{running: map[int]string{}}
	ctx := context.Background()

	a := newReplica(t, leases, log, "a", partitions)
	a.a.Run(ctx)
	if got := len(a.a.Owned()); got != partitions {
		t.Fatalf("a single replica owns %d of %d partitions", got, partitions)
	}

	b := newReplica(t, leases, log, "b", partitions)
	c := newReplica(t, leases, log, "c", partitions)
	b.a.Run(ctx)
	c.a.Run(ctx)
	waitUntil(t, "three replicas share 6/5/5", func() bool {
		s := shares(a, b, c)
		slices.Sort(s)
		return slices.Equal(s, []int{5, 5, 6})
	})

	// A replica that stops hands its partitions over.
	if err := c.a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two replicas share 8/8", func() bool { return slices.Equal(shares(a, b), []int{8, 8}) })

	// It comes back, and gets partitions back.
	c = newReplica(t, leases, log, "c", partitions)
	c.a.Run(ctx)
	waitUntil(t, "c gets partitions back", func() bool { return len(c.a.Owned()) >= 5 })

	for _, r := range []*replica{a, b, c} {
		if err := r.a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.overlap) > 0 {
		t.Fatalf("a partition ran on two replicas at once:\n%v", log.overlap)
	}
	if len(log.running) != 0 {
		t.Fatalf("partitions still running after every replica stopped: %v", log.running)
	}
}

func TestALeaseIsHeldByOneMemberUntilItExpiresOrIsReleased(t *testing.T) {
	leases := cqrs.NewMemoryLeases()
	ctx := context.Background()
	if ok, _ := leases.Hold(ctx, "k", "a", 200*time.Millisecond); !ok {
		t.Fatal("a free lease was refused")
	}
	if ok, _ := leases.Hold(ctx, "k", "b", time.Second); ok {
		t.Fatal("a lease held by a was given to b")
	}
	time.Sleep(250 * time.Millisecond)
	if ok, _ := leases.Hold(ctx, "k", "b", time.Second); !ok {
		t.Fatal("an expired lease was refused")
	}
	_ = leases.Release(ctx, "k", "a") // not a's: nothing happens
	if ok, _ := leases.Hold(ctx, "k", "a", time.Second); ok {
		t.Fatal("a released a lease it did not hold")
	}
	_ = leases.Release(ctx, "k", "b")
	if ok, _ := leases.Hold(ctx, "k", "a", time.Second); !ok {
		t.Fatal("a released lease was refused")
	}
}
