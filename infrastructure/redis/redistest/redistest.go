// Package redistest gives tests a Redis: REDIS_TEST_URL, or the one on
// 127.0.0.1:6379. When it cannot be reached the test is skipped, or fails
// under CI=true.
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// URL returns a reachable Redis URL.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_TEST_URL: %v", err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is not reachable: %v", url, err)
		}
		t.Skipf("Redis at %s is not reachable: %v", url, err)
	}
	return url
}

// Prefix returns a key prefix of the test's own; its keys are deleted when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	prefix := "test:" + uuid.NewString()[:8] + ":"
	url := URL(t)
	t.Cleanup(func() {
		opts, _ := goredis.ParseURL(url)
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}
