// Package keystest is the contract every key store of personal data keeps,
// run against each adapter.
package keystest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"shop/app/personal"
)

// Keys runs the contract on stores made by open.
func Keys(t *testing.T, open func(t *testing.T) personal.Keys) {
	ctx := context.Background()
	key := func(id string) personal.Key { return personal.Key{ID: id, Material: bytes.Repeat([]byte(id[:1]), 32)} }

	t.Run("the first key stored stays until deleted", func(t *testing.T) {
		keys := open(t)
		subject := uuid.NewString()
		if _, err := keys.Key(ctx, subject); !errors.Is(err, personal.ErrNoKey) {
			t.Fatalf("key of a new subject: %v", err)
		}
		got, err := keys.KeyOrAdd(ctx, subject, key("a1"))
		if err != nil || got.ID != "a1" || !bytes.Equal(got.Material, key("a1").Material) {
			t.Fatalf("first key: %+v %v", got, err)
		}
		if got, err := keys.KeyOrAdd(ctx, subject, key("b2")); err != nil || got.ID != "a1" {
			t.Fatalf("second candidate replaced the key: %+v %v", got, err)
		}
		if got, err := keys.Key(ctx, subject); err != nil || got.ID != "a1" || !bytes.Equal(got.Material, key("a1").Material) {
			t.Fatalf("key read: %+v %v", got, err)
		}
		if had, err := keys.Delete(ctx, subject); err != nil || !had {
			t.Fatalf("delete: %v %v", had, err)
		}
		if had, err := keys.Delete(ctx, subject); err != nil || had {
			t.Fatalf("second delete: %v %v", had, err)
		}
		if _, err := keys.Key(ctx, subject); !errors.Is(err, personal.ErrNoKey) {
			t.Fatalf("key after delete: %v", err)
		}
		if got, err := keys.KeyOrAdd(ctx, subject, key("c3")); err != nil || got.ID != "c3" {
			t.Fatalf("key after delete: %+v %v", got, err)
		}
	})

	t.Run("racing writers of a new subject get one key", func(t *testing.T) {
		keys := open(t)
		subject := uuid.NewString()
		const writers = 8
		got := make([]personal.Key, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = keys.KeyOrAdd(ctx, subject, key(fmt.Sprintf("%d-candidate", i)))
			}()
		}
		wg.Wait()
		for i := range writers {
			if errs[i] != nil {
				t.Fatalf("writer %d: %v", i, errs[i])
			}
			if got[i].ID != got[0].ID {
				t.Fatalf("writers got keys %s and %s", got[0].ID, got[i].ID)
			}
		}
		stored, err := keys.Key(ctx, subject)
		if err != nil || stored.ID != got[0].ID {
			t.Fatalf("stored %+v %v, writers got %s", stored, err, got[0].ID)
		}
	})

	t.Run("concurrent readers each get their subject's key", func(t *testing.T) {
		keys := open(t)
		const subjects = 20
		names := make([]string, subjects)
		for i := range names {
			names[i] = uuid.NewString()
			if i%4 == 3 {
				continue // has no key
			}
			if _, err := keys.KeyOrAdd(ctx, names[i], key(fmt.Sprintf("%d-key", i))); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 3*subjects)
		for round := range 3 {
			for i, name := range names {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := keys.Key(ctx, name)
					switch {
					case i%4 == 3 && !errors.Is(err, personal.ErrNoKey):
						errs <- fmt.Errorf("round %d, subject %d without a key: %+v %v", round, i, got, err)
					case i%4 != 3 && (err != nil || got.ID != fmt.Sprintf("%d-key", i)):
						errs <- fmt.Errorf("round %d, subject %d: %+v %v", round, i, got, err)
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
