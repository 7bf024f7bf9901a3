package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"shop/app/idempotencytest"
	"shop/app/inventory"
	"shop/app/orders"
	"shop/app/readmodel/readmodeltest"
	"shop/infrastructure/memory"
)

func TestOrderViews(t *testing.T) {
	t.Parallel()
	readmodeltest.OrderViews(t, func(*testing.T) orders.OrderViews { return memory.NewOrderViews() })
}

func TestProductViews(t *testing.T) {
	t.Parallel()
	readmodeltest.ProductViews(t, func(*testing.T) inventory.ProductViews { return memory.NewProductViews() })
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	idempotencytest.IdempotencyKeys(t, func(_ *testing.T, ttl time.Duration) orders.IdempotencyKeys { return memory.NewIdempotencyKeys(ttl) })
}

func TestProcessedMessages(t *testing.T) {
	t.Parallel()
	idempotencytest.ProcessedMessages(t, func(_ *testing.T, ttl time.Duration) idempotencytest.ProcessedMessagesStore {
		return memory.NewProcessedMessages(ttl, 1000)
	})
}

func TestProcessedMessagesForgetsTheOldestBeyondItsCapacity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memory.NewProcessedMessages(time.Hour, 100)
	for i := range 250 {
		if err := s.MarkProcessed(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range map[int]bool{0: false, 149: false, 150: true, 249: true} {
		if seen, _ := s.Processed(ctx, fmt.Sprint("k", i)); seen != want {
			t.Errorf("k%d seen %v, want %v", i, seen, want)
		}
	}
}
