package memory

import (
	"context"
	"sync"
	"time"
)

// IdempotencyKeys remembers HTTP idempotency keys for a time to live.
type IdempotencyKeys struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	keys   map[string]heldKey
	claims int
}

type heldKey struct {
	fingerprint string
	expires     time.Time
}

// NewIdempotencyKeys keeps each key for ttl.
func NewIdempotencyKeys(ttl time.Duration) *IdempotencyKeys {
	return &IdempotencyKeys{ttl: ttl, now: time.Now, keys: map[string]heldKey{}}
}

func (k *IdempotencyKeys) Claim(_ context.Context, key, fingerprint string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if held, ok := k.keys[key]; ok && now.Before(held.expires) {
		return held.fingerprint, nil
	}
	k.keys[key] = heldKey{fingerprint: fingerprint, expires: now.Add(k.ttl)}
	// Forget expired keys now and then, so memory follows the live keys.
	if k.claims++; k.claims%1024 == 0 {
		for key, held := range k.keys {
			if !now.Before(held.expires) {
				delete(k.keys, key)
			}
		}
	}
	return fingerprint, nil
}

// ProcessedMessages remembers handled messages for a time to live, and at most
// a number of them: in memory, the oldest are forgotten first. A message
// redelivered after it was forgotten is absorbed by its handler's own
// idempotency (versions, keyed effects).
type ProcessedMessages struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time // key → when it expires
	order []string             // keys, oldest first, from head
	head  int
}

// NewProcessedMessages keeps each key for ttl, and at most max keys.
func NewProcessedMessages(ttl time.Duration, max int) *ProcessedMessages {
	return &ProcessedMessages{ttl: ttl, max: max, now: time.Now, seen: map[string]time.Time{}}
}

func (p *ProcessedMessages) Processed(_ context.Context, key string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	expires, ok := p.seen[key]
	return ok && p.now().Before(expires), nil
}

func (p *ProcessedMessages) MarkProcessed(_ context.Context, key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if _, ok := p.seen[key]; !ok {
		p.order = append(p.order, key)
	}
	p.seen[key] = now.Add(p.ttl)
	for p.head < len(p.order) {
		oldest := p.order[p.head]
		if len(p.seen) <= p.max && now.Before(p.seen[oldest]) {
			break
		}
		delete(p.seen, oldest)
		p.head++
	}
	// Let go of the forgotten prefix once it dominates the slice.
	if p.head > 1024 && p.head > len(p.order)/2 {
		p.order = append([]string(nil), p.order[p.head:]...)
		p.head = 0
	}
	return nil
}
