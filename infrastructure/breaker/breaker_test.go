package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"shop/app/fault"
	"shop/infrastructure/breaker"
)

func TestTheBreakerOpensOnTransientFailuresOnly(t *testing.T) {
	t.Parallel()
	var changes []string
	b := breaker.New("mongodb", breaker.Config{CallTimeout: time.Second, ErrorThreshold: 50, MinRequests: 4, Window: time.Minute, ResetTimeout: 50 * time.Millisecond},
		func(_, from, to string) { changes = append(changes, from+"→"+to) })
	ctx := context.Background()
	answer := errors.New("duplicate key")
	for range 10 {
		if err := b.Do(ctx, func(context.Context) error { return answer }); !errors.Is(err, answer) {
			t.Fatalf("answer: %v", err)
		}
	}
	if b.State() != "closed" {
		t.Fatalf("answers opened the breaker: %s", b.State())
	}
	// Ten answers and ten failures: half the calls failed.
	down := fault.Unavailable("mongodb", errors.New("connection refused"))
	for i := range 10 {
		if b.State() != "closed" {
			t.Fatalf("opened after %d failures", i)
		}
		_ = b.Do(ctx, func(context.Context) error { return down })
	}
	if b.State() != "open" {
		t.Fatalf("state %s after failures", b.State())
	}
	called := false
	err := b.Do(ctx, func(context.Context) error { called = true; return nil })
	if called || !fault.IsTransient(err) {
		t.Fatalf("open breaker: called %v, err %v", called, err)
	}
	time.Sleep(60 * time.Millisecond)
	if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("trial call: %v", err)
	}
	if b.State() != "closed" || len(changes) != 3 {
		t.Fatalf("state %s, changes %v", b.State(), changes)
	}
}

func TestCallsAreBoundedByTheCallTimeout(t *testing.T) {
	t.Parallel()
	cfg := breaker.DefaultConfig()
	cfg.CallTimeout = 20 * time.Millisecond
	b := breaker.New("sender", cfg, nil)
	err := b.Do(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if err := (breaker.Config{}).Validate(); err == nil {
		t.Fatal("empty config valid")
	}
}

func TestCallsTheirCallerAbandonedDoNotCount(t *testing.T) {
	t.Parallel()
	b := breaker.New("mongodb", breaker.Config{CallTimeout: time.Minute, ErrorThreshold: 50, MinRequests: 2, Window: time.Minute, ResetTimeout: time.Minute}, nil)
	// What a store adapter does: a timed-out call is the dependency down.
	stalled := func(ctx context.Context) error {
		<-ctx.Done()
		return fault.Unavailable("mongodb", ctx.Err())
	}
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		err := b.Do(ctx, stalled)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || fault.IsTransient(err) {
			t.Fatalf("the caller's deadline: %v (transient %v)", err, fault.IsTransient(err))
		}
	}
	if b.State() != "closed" {
		t.Fatalf("callers' deadlines opened the breaker: %s", b.State())
	}
	// The breaker's own call timeout is the dependency being slow.
	slow := breaker.New("mongodb", breaker.Config{CallTimeout: time.Millisecond, ErrorThreshold: 50, MinRequests: 2, Window: time.Minute, ResetTimeout: time.Minute}, nil)
	for range 2 {
		if err := slow.Do(context.Background(), stalled); !fault.IsTransient(err) {
			t.Fatalf("the call's timeout: %v", err)
		}
	}
	if slow.State() != "open" {
		t.Fatalf("a stalled dependency left the breaker %s", slow.State())
	}
}

func TestAbandonedCallsNeitherDiluteTheFailuresNorMakeUpTheMinimum(t *testing.T) {
	t.Parallel()
	abandon := func(b *breaker.Breaker, n int) {
		for range n {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = b.Do(ctx, func(ctx context.Context) error { return fault.Unavailable("mongodb", ctx.Err()) })
		}
	}
	down := func(context.Context) error { return fault.Unavailable("mongodb", errors.New("connection refused")) }

	diluted := breaker.New("mongodb", breaker.Config{CallTimeout: time.Minute, ErrorThreshold: 50, MinRequests: 4, Window: time.Minute, ResetTimeout: time.Minute}, nil)
	abandon(diluted, 10)
	for range 4 {
		_ = diluted.Do(context.Background(), down)
	}
	if diluted.State() != "open" {
		t.Fatalf("4 failures of 4 decided calls left the breaker %s", diluted.State())
	}

	early := breaker.New("mongodb", breaker.Config{CallTimeout: time.Minute, ErrorThreshold: 25, MinRequests: 4, Window: time.Minute, ResetTimeout: time.Minute}, nil)
	abandon(early, 3)
	_ = early.Do(context.Background(), down)
	if early.State() != "closed" {
		t.Fatalf("one decided call of the 4 required opened the breaker: %s", early.State())
	}
}

// A breaker lets a dependency that came back in after its first short open
// period, and tries one that stays down less and less often.
func TestOpenPeriodsStartShortAndGrowWhileTrialsFail(t *testing.T) {
	t.Parallel()
	b := breaker.New("mongodb", breaker.Config{CallTimeout: time.Second, ErrorThreshold: 50, MinRequests: 2, Window: time.Minute,
		FirstOpen: 40 * time.Millisecond, ResetTimeout: 400 * time.Millisecond}, nil)
	ctx := context.Background()
	down := func(context.Context) error { return fault.Unavailable("mongodb", errors.New("connection refused")) }
	up := func(context.Context) error { return nil }
	for range 2 {
		_ = b.Do(ctx, down)
	}
	// trialAfter waits until the breaker lets a call through and reports
	// how long that took.
	trialAfter := func(call func(context.Context) error) time.Duration {
		start := time.Now()
		for {
			called := false
			err := b.Do(ctx, func(c context.Context) error { called = true; return call(c) })
			if called {
				_ = err
				return time.Since(start)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Failed trials: 40, 80, then 160 ms at least, each.
	var waits []time.Duration
	for range 3 {
		waits = append(waits, trialAfter(down))
	}
	if waits[0] < 40*time.Millisecond || waits[0] > 150*time.Millisecond || waits[1] < 80*time.Millisecond || waits[2] < 160*time.Millisecond {
		t.Fatalf("open periods %v, want 40 ms, 80 ms, 160 ms", waits)
	}
	// The dependency is back: the next trial closes the breaker, and the
	// next opening is short again.
	trialAfter(up)
	if b.State() != "closed" {
		t.Fatalf("state %s after a good trial", b.State())
	}
	for range 2 {
		_ = b.Do(ctx, down)
	}
	if w := trialAfter(up); w > 150*time.Millisecond {
		t.Fatalf("first open period after closing %v, want 40 ms", w)
	}
}
