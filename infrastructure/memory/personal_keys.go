package memory

import (
	"context"
	"slices"
	"sync"

	"shop/app/personal"
)

// PersonalKeys is the key store of personal data in memory: for the embedded
// mode, where nothing outlives the process anyway.
type PersonalKeys struct {
	mu   sync.Mutex
	keys map[string]personal.Key
}

// NewPersonalKeys builds an empty key store.
func NewPersonalKeys() *PersonalKeys { return &PersonalKeys{keys: map[string]personal.Key{}} }

func (k *PersonalKeys) Key(_ context.Context, subject string) (personal.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[subject]
	if !ok {
		return personal.Key{}, personal.ErrNoKey
	}
	return cloneKey(key), nil
}

func (k *PersonalKeys) KeyOrAdd(_ context.Context, subject string, candidate personal.Key) (personal.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[subject]
	if !ok {
		key = cloneKey(candidate)
		k.keys[subject] = key
	}
	return cloneKey(key), nil
}

func (k *PersonalKeys) Delete(_ context.Context, subject string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.keys[subject]
	delete(k.keys, subject)
	return ok, nil
}

func cloneKey(k personal.Key) personal.Key {
	return personal.Key{ID: k.ID, Material: slices.Clone(k.Material)}
}
