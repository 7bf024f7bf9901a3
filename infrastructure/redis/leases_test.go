package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"shop/infrastructure/redis"
	"shop/infrastructure/redis/redistest"
)

func TestLeasesOnARealServer(t *testing.T) {
	t.Parallel()
	leases := redis.NewLeases(connect(t, redistest.URL(t)))
	ctx := context.Background()

	for _, m := range []string{"b", "a"} {
		if _, err := leases.Join(ctx, "svc", m, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	members, err := leases.Join(ctx, "svc", "c", 5*time.Second)
	if err != nil || !slices.Equal(members, []string{"a", "b", "c"}) {
		t.Fatalf("members = %v, %v; want a b c, sorted", members, err)
	}
	if err := leases.Leave(ctx, "svc", "b"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // a expires
	if members, _ := leases.Join(ctx, "svc", "c", 5*time.Second); !slices.Equal(members, []string{"c"}) {
		t.Fatalf("after b left and a expired, members = %v; want c", members)
	}

	hold := func(member string, ttl time.Duration) bool {
		t.Helper()
		ok, err := leases.Hold(ctx, "svc.p0", member, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !hold("a", 300*time.Millisecond) {
		t.Fatal("a could not take a free lease")
	}
	if !hold("a", 300*time.Millisecond) {
		t.Fatal("a could not renew its lease")
	}
	if hold("b", time.Second) {
		t.Fatal("b took a lease a holds")
	}
	time.Sleep(400 * time.Millisecond)
	if !hold("b", time.Second) {
		t.Fatal("b could not take a lease that expired")
	}
	if err := leases.Release(ctx, "svc.p0", "a"); err != nil {
		t.Fatal(err)
	}
	if hold("a", time.Second) {
		t.Fatal("a's release freed b's lease")
	}
	if err := leases.Release(ctx, "svc.p0", "b"); err != nil {
		t.Fatal(err)
	}
	if !hold("a", time.Second) {
		t.Fatal("a released lease was refused")
	}
}
