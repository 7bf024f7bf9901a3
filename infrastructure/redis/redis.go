// Package redis holds the Redis adapters: the HTTP idempotency keys, the
// record of handled messages, and the Redis Streams bus with its trimmer.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"shop/app/fault"
	"shop/infrastructure/breaker"
)

// Client is a Redis connection pool behind a circuit breaker.
type Client struct {
	rdb     *goredis.Client
	breaker *breaker.Breaker
	prefix  string
}

// Connect parses url (redis://[:password@]host:port[/db]) and connects lazily;
// keys are named prefix+... so that several systems can share a server.
func Connect(url, prefix string, b *breaker.Breaker) (*Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.WriteTimeout = 3 * time.Second
	// A call gives up when its context does, as the breaker's call timeout
	// and a client that went away expect; go-redis waits out its own read
	// timeout otherwise.
	opts.ContextTimeoutEnabled = true
	return &Client{rdb: goredis.NewClient(opts), breaker: b, prefix: prefix}, nil
}

// Ping checks that the server answers.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.rdb.Ping(ctx).Err()
}

// Breaker is the client's circuit breaker.
func (c *Client) Breaker() *breaker.Breaker { return c.breaker }

// Close closes the pool.
func (c *Client) Close() error { return c.rdb.Close() }

func (c *Client) do(ctx context.Context, call func(ctx context.Context) error) error {
	return c.breaker.Do(ctx, func(ctx context.Context) error { return classify(call(ctx)) })
}

// classify marks every failure that is not the server's answer as
// transient: an unreachable server, and also whatever the client's pool
// hands back instead of a reply (its own timeouts and exhaustion, or the
// error of a dial another caller started and gave up). Only a reply, or the
// answer of a server that cannot serve for now, is told apart. A breaker
// counts a non-transient error as the server answering, so one of the pool's
// errors taken for an answer would close it while the server is down.
func classify(err error) error {
	if err == nil || errors.Is(err, goredis.Nil) {
		return err
	}
	var reply goredis.Error
	if errors.As(err, &reply) && !cannotServe(err) {
		return err
	}
	return fault.Unavailable("redis", err)
}

// cannotServe reports a server's answer that it cannot serve now: loading
// its data, busy with a script, a replica that lost its primary or is read
// only after a failover. The error's first word is the code; a prefix would
// also take BUSYGROUP for BUSY.
func cannotServe(err error) bool {
	var redisErr goredis.Error
	if !errors.As(err, &redisErr) {
		return false
	}
	code, _, _ := strings.Cut(strings.TrimPrefix(redisErr.Error(), "ERR "), " ")
	switch code {
	case "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN":
		return true
	}
	return false
}

// IdempotencyKeys remembers HTTP idempotency keys for a time to live.
type IdempotencyKeys struct {
	client *Client
	ttl    time.Duration
}

// NewIdempotencyKeys keeps each key for ttl.
func NewIdempotencyKeys(client *Client, ttl time.Duration) *IdempotencyKeys {
	return &IdempotencyKeys{client: client, ttl: ttl}
}

// claimScript sets the key unless it exists and returns what it holds, in one
// atomic step: two racing requests agree on the first one's fingerprint.
var claimScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return ARGV[1]
end
return redis.call('GET', KEYS[1])`)

func (k *IdempotencyKeys) Claim(ctx context.Context, key, fingerprint string) (string, error) {
	var held string
	err := k.client.do(ctx, func(ctx context.Context) error {
		var err error
		held, err = claimScript.Run(ctx, k.client.rdb, []string{k.client.prefix + "idempotency:" + key}, fingerprint, k.ttl.Milliseconds()).Text()
		return err
	})
	return held, err
}

// ProcessedMessages remembers handled messages for a time to live.
type ProcessedMessages struct {
	client *Client
	ttl    time.Duration
}

// NewProcessedMessages keeps each key for ttl.
func NewProcessedMessages(client *Client, ttl time.Duration) *ProcessedMessages {
	return &ProcessedMessages{client: client, ttl: ttl}
}

func (p *ProcessedMessages) Processed(ctx context.Context, key string) (bool, error) {
	var n int64
	err := p.client.do(ctx, func(ctx context.Context) error {
		var err error
		n, err = p.client.rdb.Exists(ctx, p.client.prefix+"processed:"+key).Result()
		return err
	})
	return n > 0, err
}

func (p *ProcessedMessages) MarkProcessed(ctx context.Context, key string) error {
	return p.client.do(ctx, func(ctx context.Context) error {
		return p.client.rdb.Set(ctx, p.client.prefix+"processed:"+key, 1, p.ttl).Err()
	})
}
