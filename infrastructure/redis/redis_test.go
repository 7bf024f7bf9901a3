package redis_test

import (
	"context"
	"testing"
	"time"

	"shop/app/fault"
	"shop/app/idempotencytest"
	"shop/app/orders"
	"shop/infrastructure/breaker"
	"shop/infrastructure/redis"
	"shop/infrastructure/redis/redistest"
)

func connect(t *testing.T, url string) *redis.Client {
	t.Helper()
	c, err := redis.Connect(url, redistest.Prefix(t), breaker.New("redis", breaker.DefaultConfig(), nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	idempotencytest.IdempotencyKeys(t, func(t *testing.T, ttl time.Duration) orders.IdempotencyKeys {
		return redis.NewIdempotencyKeys(connect(t, url), ttl)
	})
}

func TestProcessedMessages(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	idempotencytest.ProcessedMessages(t, func(t *testing.T, ttl time.Duration) idempotencytest.ProcessedMessagesStore {
		return redis.NewProcessedMessages(connect(t, url), ttl)
	})
}

func TestAnUnreachableRedisIsATransientFailure(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1.
	c, err := redis.Connect("redis://127.0.0.1:1/0", "x:", breaker.New("redis", breaker.DefaultConfig(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = redis.NewIdempotencyKeys(c, time.Minute).Claim(context.Background(), "k", "fp")
	if !fault.IsTransient(err) {
		t.Fatalf("claim: %v", err)
	}
	if _, err := redis.NewProcessedMessages(c, time.Minute).Processed(context.Background(), "k"); !fault.IsTransient(err) {
		t.Fatalf("processed: %v", err)
	}
}
