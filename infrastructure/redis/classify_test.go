package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"shop/app/fault"
	"shop/infrastructure/redis/redistest"
)

// The errors go-redis reports from a real server, each classified: those of
// a server that cannot be reached or cannot serve for now are transient,
// and the answers to a wrong request are not.
func TestTheClientsErrorsAreClassified(t *testing.T) {
	t.Parallel()
	server := redistest.StartServer(t)
	c, err := Connect(server.URL(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := c.rdb
	defer client.Close()
	ctx := context.Background()
	if err := client.Set(ctx, "s", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	type call struct {
		name      string
		do        func() error
		transient bool
	}
	check := func(calls ...call) {
		t.Helper()
		for _, c := range calls {
			raw := c.do()
			if raw == nil {
				t.Errorf("%s: no error", c.name)
				continue
			}
			err := classify(raw)
			if fault.IsTransient(err) != c.transient || !errors.Is(err, raw) {
				t.Errorf("%s: %v (%T) is transient %v, want %v", c.name, raw, raw, fault.IsTransient(err), c.transient)
			}
		}
	}
	check(
		call{"a missing key", func() error { return client.Get(ctx, "missing").Err() }, false},
		call{"a command on the wrong type", func() error { return client.LPush(ctx, "s", "x").Err() }, false},
		call{"an unknown command", func() error { return client.Do(ctx, "NOSUCHCOMMAND").Err() }, false},
		call{"a consumer group that exists (BUSYGROUP, not BUSY)", func() error {
			if err := client.XGroupCreateMkStream(ctx, "stream", "group", "0").Err(); err != nil {
				return err
			}
			return client.XGroupCreateMkStream(ctx, "stream", "group", "0").Err()
		}, false},
		call{"a reply later than the caller waits", func() error {
			if err := client.Do(ctx, "CLIENT", "PAUSE", "1000", "ALL").Err(); err != nil {
				return err
			}
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			return client.Get(short, "s").Err()
		}, true},
	)
	time.Sleep(time.Second) // the pause ends
	// A replica whose primary is gone, as after a failover gone wrong.
	if err := client.Do(ctx, "REPLICAOF", "127.0.0.1", "1").Err(); err != nil {
		t.Fatal(err)
	}
	check(call{"a write to a read-only replica", func() error { return client.Set(ctx, "s", "w", 0).Err() }, true})
	if err := client.Do(ctx, "CONFIG", "SET", "replica-serve-stale-data", "no").Err(); err != nil {
		t.Fatal(err)
	}
	check(call{"a read from a replica that lost its primary", func() error { return client.Get(ctx, "s").Err() }, true})

	server.Kill()
	check(call{"a call to a server that went away", func() error { return client.Get(ctx, "s").Err() }, true})
	unreachable := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer unreachable.Close()
	check(call{"a call to a port nothing listens on", func() error { return unreachable.Get(ctx, "s").Err() }, true})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// go-redis also hands out the error of a dial that another caller
	// started and abandoned: not the server's answer, so transient (the
	// breaker tells a caller's own ended context apart before it counts).
	check(call{"a context error rather than a reply", func() error { return unreachable.Get(cancelled, "s").Err() }, true})
	client.Close()
	check(call{"a call on a closed client", func() error { return client.Get(ctx, "s").Err() }, true})
}
