// Package idempotencytest is the contract of the stores that make requests
// and messages take effect once: HTTP idempotency keys and handled message ids.
package idempotencytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"shop/app/orders"
)

// IdempotencyKeys runs the contract; newKeys returns an empty store keeping keys for ttl.
func IdempotencyKeys(t *testing.T, newKeys func(t *testing.T, ttl time.Duration) orders.IdempotencyKeys) {
	ctx := context.Background()
	t.Run("the first claim wins", func(t *testing.T) {
		k := newKeys(t, time.Hour)
		if held, err := k.Claim(ctx, "key", "fp-1"); err != nil || held != "fp-1" {
			t.Fatalf("first claim: %q %v", held, err)
		}
		if held, err := k.Claim(ctx, "key", "fp-2"); err != nil || held != "fp-1" {
			t.Fatalf("second claim: %q %v", held, err)
		}
		if held, _ := k.Claim(ctx, "other", "fp-2"); held != "fp-2" {
			t.Fatalf("other key: %q", held)
		}
	})
	t.Run("racing claims agree", func(t *testing.T) {
		k := newKeys(t, time.Hour)
		const n = 16
		held := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { held[i], _ = k.Claim(ctx, "race", string(rune('a'+i))) })
		}
		wg.Wait()
		for _, h := range held {
			if h != held[0] || h == "" {
				t.Fatalf("claims disagree: %v", held)
			}
		}
	})
	t.Run("keys expire", func(t *testing.T) {
		k := newKeys(t, 1500*time.Millisecond)
		_, _ = k.Claim(ctx, "key", "fp-1")
		time.Sleep(2 * time.Second)
		if held, _ := k.Claim(ctx, "key", "fp-2"); held != "fp-2" {
			t.Fatalf("after expiry: %q", held)
		}
	})
}

// ProcessedMessagesStore is what the suite needs of a store of handled
// message ids (the deduplicator's, cqrs.ProcessedMessages).
type ProcessedMessagesStore interface {
	Processed(ctx context.Context, key string) (bool, error)
	MarkProcessed(ctx context.Context, key string) error
}

// ProcessedMessages runs the contract; newStore returns an empty store keeping keys for ttl.
func ProcessedMessages(t *testing.T, newStore func(t *testing.T, ttl time.Duration) ProcessedMessagesStore) {
	ctx := context.Background()
	s := newStore(t, 1500*time.Millisecond)
	if seen, err := s.Processed(ctx, "h:1"); err != nil || seen {
		t.Fatalf("before marking: %v %v", seen, err)
	}
	if err := s.MarkProcessed(ctx, "h:1"); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Processed(ctx, "h:1"); !seen {
		t.Fatal("marked key not seen")
	}
	if seen, _ := s.Processed(ctx, "other:1"); seen {
		t.Fatal("another handler's key seen")
	}
	time.Sleep(2 * time.Second)
	if seen, _ := s.Processed(ctx, "h:1"); seen {
		t.Fatal("key did not expire")
	}
}
