package redis

import (
	"context"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Leases keep the partition assignment of the services' replicas
// (cqrs.Leases): each group's members in a sorted set scored by when they
// expire, each lease in a key of its own that expires. Expiry is reckoned on
// the server's clock, so that replicas whose clocks differ agree on it.
//
// The calls do not go through the client's breaker: a lease that cannot be
// renewed is handled by the assignment, and a breaker opened by the
// idempotency keys must not take partitions away.
type Leases struct {
	client *Client
}

// NewLeases keeps the leases on client's server, under its key prefix.
func NewLeases(client *Client) *Leases { return &Leases{client: client} }

var joinScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 10)
return redis.call('ZRANGE', KEYS[1], 0, -1)`)

// Join implements cqrs.Leases.
func (l *Leases) Join(ctx context.Context, group, member string, ttl time.Duration) ([]string, error) {
	members, err := joinScript.Run(ctx, l.client.rdb, []string{l.client.prefix + "members:" + group}, member, ttl.Milliseconds()).StringSlice()
	if err != nil {
		return nil, classify(err)
	}
	slices.Sort(members)
	return members, nil
}

// Leave implements cqrs.Leases.
func (l *Leases) Leave(ctx context.Context, group, member string) error {
	return classify(l.client.rdb.ZRem(ctx, l.client.prefix+"members:"+group, member).Err())
}

var holdScript = goredis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 1
end
return 0`)

// Hold implements cqrs.Leases.
func (l *Leases) Hold(ctx context.Context, key, member string, ttl time.Duration) (bool, error) {
	n, err := holdScript.Run(ctx, l.client.rdb, []string{l.client.prefix + "lease:" + key}, member, ttl.Milliseconds()).Int()
	if err != nil {
		return false, classify(err)
	}
	return n == 1, nil
}

var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

// Release implements cqrs.Leases.
func (l *Leases) Release(ctx context.Context, key, member string) error {
	return classify(releaseScript.Run(ctx, l.client.rdb, []string{l.client.prefix + "lease:" + key}, member).Err())
}
