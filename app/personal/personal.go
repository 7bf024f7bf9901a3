// Package personal keeps customers' personal data forgettable in an
// append-only system (crypto-shredding): every personal value of an event is
// stored and published sealed with AES-GCM under a key of its data subject's
// own, kept in a key store apart from the events. Those who need a value open
// it on use. Erasing a subject deletes the key, and every copy of its data,
// in the event store, on the bus, in dead letters or in a backup, becomes
// noise at once, while the events themselves stay valid.
package personal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"shop/domain/es"
)

// ErrErased is returned when a sealed value's key was deleted: its data
// subject's personal data was erased.
var ErrErased = errors.New("personal data erased")

// ErrNoKey is returned by Keys.Key when the subject has no key.
var ErrNoKey = errors.New("no key for the data subject")

// Key is a data subject's key. ID tells a key from the one made for the same
// subject after an erasure, so that what the old one sealed is known erased
// rather than corrupt.
type Key struct {
	ID       string
	Material []byte // 32 bytes: AES-256
}

// Keys is the key store: at most one key per data subject.
type Keys interface {
	// Key returns the subject's key; ErrNoKey when it has none.
	Key(ctx context.Context, subject string) (Key, error)
	// KeyOrAdd returns the subject's key, storing candidate as it first when
	// the subject has none. Of two callers racing for a new subject, both
	// get the key stored first.
	KeyOrAdd(ctx context.Context, subject string, candidate Key) (Key, error)
	// Delete deletes the subject's key and reports whether it had one.
	Delete(ctx context.Context, subject string) (bool, error)
}

// A sealed value reads "pd1:<key id>:<nonce and ciphertext, base64url>"; an
// erased one, whose clear value was overwritten, "pd1:erased". Values
// without the prefix are in clear: written before sealing existed, or empty.
const (
	prefix = "pd1:"
	// Erased is what a value in clear is overwritten with when erased.
	Erased = prefix + "erased"
)

// IsSealed reports whether v is sealed, or erased: not in clear.
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// Vault seals and opens personal data with the keys of the key store.
//
// A key read is kept for a short while (Config.CacheTTL), so that the
// notifications of one order, a few milliseconds apart, read the customer's
// key once: at 100 orders a second a read per use was two more round trips
// per order on the database. A deleted key may so be used by another
// process for that long after; an erasure waits that long before it
// answers (KeyCacheTTL), so that from its answer on no process opens
// anything with the key, nor seals anything new with it.
type Vault struct {
	keys  Keys
	ttl   time.Duration
	now   func() time.Time
	cache *lru.Cache[string, cachedKey] // nil without a TTL
}

type cachedKey struct {
	key Key
	at  time.Time
}

// Config configures a Vault.
type Config struct {
	Keys Keys
	// CacheTTL is how long a key read from the store is used without
	// reading it again; zero reads it for every use. Every process of a
	// deployment must use the same.
	CacheTTL time.Duration
	// Now tells the time; time.Now when nil.
	Now func() time.Time
}

// cachedKeys bounds the keys a vault holds, the most recently used.
const cachedKeys = 10_000

// NewVault builds a vault on a key store.
func NewVault(cfg Config) (*Vault, error) {
	if cfg.Keys == nil {
		return nil, errors.New("personal data vault: a key store is required")
	}
	if cfg.CacheTTL < 0 {
		return nil, errors.New("personal data vault: the key cache's TTL must not be negative")
	}
	v := &Vault{keys: cfg.Keys, ttl: cfg.CacheTTL, now: cfg.Now}
	if v.now == nil {
		v.now = time.Now
	}
	if v.ttl > 0 {
		var err error
		if v.cache, err = lru.New[string, cachedKey](cachedKeys); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// KeyCacheTTL is how long a process may use a key after it was deleted.
func (v *Vault) KeyCacheTTL() time.Duration { return v.ttl }

func (v *Vault) cached(subject string) (Key, bool) {
	if v.cache == nil {
		return Key{}, false
	}
	c, ok := v.cache.Get(subject)
	if !ok || v.now().Sub(c.at) >= v.ttl {
		return Key{}, false
	}
	return c.key, true
}

// remember caches k as read from the store at asked, when the read began:
// what a read returns may be older than its end, and an erasure counts the
// TTL from the deletion.
func (v *Vault) remember(subject string, k Key, asked time.Time) {
	if v.cache != nil {
		v.cache.Add(subject, cachedKey{key: k, at: asked})
	}
}

// Seal encrypts in place every personal value of e that is in clear, with the
// key of e's data subject, made when the subject has none yet. Empty values
// and values already sealed stay as they are.
func (v *Vault) Seal(ctx context.Context, e es.Personal) error {
	return v.seal(ctx, e, v.keyOrAdd)
}

// Reseal is Seal for state derived from what was stored, such as a
// snapshot of an aggregate: it seals with the subject's key only if the
// subject has one. Without one the subject was erased, and a value in clear
// is overwritten as erased, so that a copy in some process's memory does
// not come back under a new key.
func (v *Vault) Reseal(ctx context.Context, e es.Personal) error {
	err := v.seal(ctx, e, v.key)
	if errors.Is(err, ErrNoKey) {
		Redact(e)
		return nil
	}
	return err
}

func (v *Vault) seal(ctx context.Context, e es.Personal, keyOf func(context.Context, string) (Key, error)) error {
	var clear []*string
	for _, p := range e.PersonalData() {
		if *p != "" && !IsSealed(*p) {
			clear = append(clear, p)
		}
	}
	if len(clear) == 0 {
		return nil
	}
	subject := e.DataSubject()
	if subject == "" {
		return fmt.Errorf("seal %T: personal data without a data subject", e)
	}
	key, err := keyOf(ctx, subject)
	if err != nil {
		return fmt.Errorf("seal %T: key of %s: %w", e, subject, err)
	}
	aead, err := aeadOf(key)
	if err != nil {
		return err
	}
	for _, p := range clear {
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		// The subject is authenticated with the value: a value copied into
		// another customer's event does not open.
		sealed := aead.Seal(nonce, nonce, []byte(*p), []byte(subject))
		*p = prefix + key.ID + ":" + base64.RawURLEncoding.EncodeToString(sealed)
	}
	return nil
}

// Open decrypts in place the sealed values among values, all of subject's,
// reading the subject's key once. Values in clear stay as they are. When the
// subject's data was erased, every sealed value is emptied and the error is
// ErrErased.
func (v *Vault) Open(ctx context.Context, subject string, values ...*string) error {
	var key *Key
	var aead cipher.AEAD
	var erasedAny bool
	for _, p := range values {
		if !IsSealed(*p) {
			continue
		}
		if *p == Erased {
			*p, erasedAny = "", true
			continue
		}
		keyID, sealed, err := parse(*p)
		if err != nil {
			return err
		}
		if key == nil {
			k, err := v.key(ctx, subject)
			switch {
			case errors.Is(err, ErrNoKey):
				k = Key{} // erased: no key opens it
			case err != nil:
				return fmt.Errorf("open personal data: key of %s: %w", subject, err)
			}
			key = &k
			if k.ID != "" {
				if aead, err = aeadOf(k); err != nil {
					return err
				}
			}
		}
		if key.ID != keyID {
			*p, erasedAny = "", true
			continue
		}
		n := aead.NonceSize()
		if len(sealed) < n {
			return errors.New("open personal data: sealed value too short")
		}
		clear, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(subject))
		if err != nil {
			return fmt.Errorf("open personal data of %s: %w", subject, err)
		}
		*p = string(clear)
	}
	if erasedAny {
		return fmt.Errorf("data of %s: %w", subject, ErrErased)
	}
	return nil
}

// Erase deletes the subject's key, and reports whether there was one.
// Everything sealed with it is unreadable from then on, in every process
// once KeyCacheTTL has passed.
func (v *Vault) Erase(ctx context.Context, subject string) (bool, error) {
	if subject == "" {
		return false, errors.New("erase: no data subject named")
	}
	had, err := v.keys.Delete(ctx, subject)
	if v.cache != nil {
		v.cache.Remove(subject)
	}
	return had, err
}

// key is the subject's key, cached or read.
func (v *Vault) key(ctx context.Context, subject string) (Key, error) {
	if k, ok := v.cached(subject); ok {
		return k, nil
	}
	asked := v.now()
	k, err := v.keys.Key(ctx, subject)
	if err != nil {
		return Key{}, err
	}
	v.remember(subject, k, asked)
	return k, nil
}

// keyOrAdd is the subject's key, cached, read, or made now.
func (v *Vault) keyOrAdd(ctx context.Context, subject string) (Key, error) {
	if k, ok := v.cached(subject); ok {
		return k, nil
	}
	candidate, err := newKey()
	if err != nil {
		return Key{}, err
	}
	asked := v.now()
	k, err := v.keys.KeyOrAdd(ctx, subject, candidate)
	if err != nil {
		return Key{}, err
	}
	v.remember(subject, k, asked)
	return k, nil
}

// Redact overwrites every personal value of e that is in clear with the
// erased marker, for events stored before sealing existed, and returns the
// values it overwrote.
func Redact(e es.Personal) []string {
	var was []string
	for _, p := range e.PersonalData() {
		if *p != "" && !IsSealed(*p) {
			was = append(was, *p)
			*p = Erased
		}
	}
	return was
}

func newKey() (Key, error) {
	id := make([]byte, 8)
	material := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return Key{}, err
	}
	if _, err := rand.Read(material); err != nil {
		return Key{}, err
	}
	return Key{ID: hex.EncodeToString(id), Material: material}, nil
}

func aeadOf(k Key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.Material)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	return cipher.NewGCM(block)
}

func parse(v string) (keyID string, sealed []byte, err error) {
	keyID, encoded, ok := strings.Cut(strings.TrimPrefix(v, prefix), ":")
	if !ok || keyID == "" {
		return "", nil, errors.New("open personal data: malformed sealed value")
	}
	sealed, err = base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", nil, fmt.Errorf("open personal data: malformed sealed value: %w", err)
	}
	return keyID, sealed, nil
}
