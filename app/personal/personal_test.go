package personal_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"shop/app/personal"
	"shop/domain/order"
	"shop/infrastructure/memory"
)

func newVault(t *testing.T) *personal.Vault {
	t.Helper()
	v, err := personal.NewVault(personal.Config{Keys: memory.NewPersonalKeys()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func placed(customer string) *order.Placed {
	return &order.Placed{OrderID: "o-1", CustomerID: customer, Contact: order.Contact{Email: "ada@example.com", Phone: "+4915112345678"}}
}

func TestSealedDataOpensForItsSubjectOnly(t *testing.T) {
	ctx := context.Background()
	v := newVault(t)
	e := placed("c-1")
	if err := v.Seal(ctx, e); err != nil {
		t.Fatal(err)
	}
	c := e.Contact
	if !personal.IsSealed(c.Email) || !personal.IsSealed(c.Phone) || strings.Contains(c.Email, "ada") {
		t.Fatalf("contact not sealed: %+v", c)
	}
	if c.DeviceToken != "" {
		t.Fatalf("an empty value was sealed: %q", c.DeviceToken)
	}
	again := c.Email
	if err := v.Seal(ctx, e); err != nil || e.Contact.Email != again {
		t.Fatalf("sealing twice changed the value: %v", err)
	}
	if err := v.Open(ctx, "c-1", &c.Email, &c.Phone, &c.DeviceToken); err != nil {
		t.Fatal(err)
	}
	if c != (order.Contact{Email: "ada@example.com", Phone: "+4915112345678"}) {
		t.Fatalf("opened %+v", c)
	}
	// The same value copied into another customer's event does not open.
	other := placed("c-2")
	if err := v.Seal(ctx, other); err != nil {
		t.Fatal(err)
	}
	stolen := e.Contact.Email
	if err := v.Open(ctx, "c-2", &stolen); err == nil || strings.Contains(stolen, "ada") {
		t.Fatalf("another subject's value opened: %v %q", err, stolen)
	}
}

func TestErasedSubjectsDataNeverOpens(t *testing.T) {
	ctx := context.Background()
	v := newVault(t)
	e := placed("c-1")
	if err := v.Seal(ctx, e); err != nil {
		t.Fatal(err)
	}
	if had, err := v.Erase(ctx, "c-1"); err != nil || !had {
		t.Fatalf("erase: %v %v", had, err)
	}
	if had, err := v.Erase(ctx, "c-1"); err != nil || had {
		t.Fatalf("second erase: %v %v", had, err)
	}
	email := e.Contact.Email
	if err := v.Open(ctx, "c-1", &email); !errors.Is(err, personal.ErrErased) || email != "" {
		t.Fatalf("open after erase: %v %q", err, email)
	}
	// A key made for the customer afterwards does not open what the old
	// one sealed.
	later := placed("c-1")
	if err := v.Seal(ctx, later); err != nil {
		t.Fatal(err)
	}
	email = e.Contact.Email
	if err := v.Open(ctx, "c-1", &email); !errors.Is(err, personal.ErrErased) || email != "" {
		t.Fatalf("open with the new key: %v %q", err, email)
	}
	fresh := later.Contact.Email
	if err := v.Open(ctx, "c-1", &fresh); err != nil || fresh != "ada@example.com" {
		t.Fatalf("the new order's contact: %v %q", err, fresh)
	}
}

func TestClearDataIsRedactedAndThenErased(t *testing.T) {
	ctx := context.Background()
	v := newVault(t)
	legacy := placed("c-1") // stored before sealing existed
	email := legacy.Contact.Email
	if err := v.Open(ctx, "c-1", &email); err != nil || email != "ada@example.com" {
		t.Fatalf("a value in clear reads as it is: %v %q", err, email)
	}
	was := personal.Redact(legacy)
	if len(was) != 2 || was[0] != "ada@example.com" || was[1] != "+4915112345678" {
		t.Fatalf("redacted %q", was)
	}
	if strings.Contains(legacy.Contact.Email+legacy.Contact.Phone, "ada") || strings.Contains(legacy.Contact.Phone, "1234") {
		t.Fatalf("not redacted: %+v", legacy.Contact)
	}
	phone := legacy.Contact.Phone
	if err := v.Open(ctx, "c-1", &phone); !errors.Is(err, personal.ErrErased) || phone != "" {
		t.Fatalf("open a redacted value: %v %q", err, phone)
	}
	if len(personal.Redact(legacy)) != 0 {
		t.Fatal("a redacted event was redacted again")
	}
}

func TestSealRefusesDataWithoutSubject(t *testing.T) {
	if err := newVault(t).Seal(context.Background(), placed("")); err == nil {
		t.Fatal("sealed personal data of nobody")
	}
}

func TestMalformedSealedValueIsAnError(t *testing.T) {
	bad := "pd1:nokey"
	if err := newVault(t).Open(context.Background(), "c-1", &bad); err == nil || errors.Is(err, personal.ErrErased) {
		t.Fatalf("malformed value: %v", err)
	}
}

// countingKeys counts the key store's reads.
type countingKeys struct {
	personal.Keys
	reads int
}

func (c *countingKeys) Key(ctx context.Context, subject string) (personal.Key, error) {
	c.reads++
	return c.Keys.Key(ctx, subject)
}

func (c *countingKeys) KeyOrAdd(ctx context.Context, subject string, k personal.Key) (personal.Key, error) {
	c.reads++
	return c.Keys.KeyOrAdd(ctx, subject, k)
}

// A key read serves for the cache's TTL, in the process that read it; the
// process that erases forgets it at once, the others once the TTL passed.
func TestAKeyReadServesForTheCachesTTL(t *testing.T) {
	ctx := context.Background()
	shared := memory.NewPersonalKeys()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	keys := &countingKeys{Keys: shared}
	sender, err := personal.NewVault(personal.Config{Keys: keys, CacheTTL: 5 * time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	operator, err := personal.NewVault(personal.Config{Keys: shared, CacheTTL: 5 * time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if operator.KeyCacheTTL() != 5*time.Second {
		t.Fatalf("TTL %s", operator.KeyCacheTTL())
	}
	first, second := placed("c-1"), placed("c-1")
	if err := sender.Seal(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := sender.Seal(ctx, second); err != nil {
		t.Fatal(err)
	}
	email := first.Contact.Email
	if err := sender.Open(ctx, "c-1", &email); err != nil || email != "ada@example.com" || keys.reads != 1 {
		t.Fatalf("open: %v %q, %d key reads, want 1", err, email, keys.reads)
	}
	if _, err := operator.Erase(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	email = first.Contact.Email
	if err := operator.Open(ctx, "c-1", &email); !errors.Is(err, personal.ErrErased) {
		t.Fatalf("the erasing vault opened it: %v %q", err, email)
	}
	now = now.Add(4 * time.Second)
	email = first.Contact.Email
	if err := sender.Open(ctx, "c-1", &email); err != nil || email != "ada@example.com" {
		t.Fatalf("within the TTL another vault still holds the key: %v %q", err, email)
	}
	now = now.Add(time.Second)
	email = first.Contact.Email
	if err := sender.Open(ctx, "c-1", &email); !errors.Is(err, personal.ErrErased) || email != "" {
		t.Fatalf("after the TTL: %v %q", err, email)
	}
}

func TestAVaultNeedsAKeyStoreAndNoNegativeTTL(t *testing.T) {
	if _, err := personal.NewVault(personal.Config{}); err == nil {
		t.Fatal("a vault without keys")
	}
	if _, err := personal.NewVault(personal.Config{Keys: memory.NewPersonalKeys(), CacheTTL: -time.Second}); err == nil {
		t.Fatal("a negative TTL")
	}
}

// Reseal seals with the key there is, and makes none: for a subject erased
// meanwhile, the values in clear are erased instead.
func TestResealMakesNoKey(t *testing.T) {
	ctx := context.Background()
	keys := memory.NewPersonalKeys()
	v, err := personal.NewVault(personal.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Seal(ctx, placed("c-1")); err != nil { // the customer's key
		t.Fatal(err)
	}
	kept := placed("c-1")
	if err := v.Reseal(ctx, kept); err != nil {
		t.Fatal(err)
	}
	email := kept.Contact.Email
	if err := v.Open(ctx, "c-1", &email); err != nil || email != "ada@example.com" {
		t.Fatalf("resealed with the key there is: %v %q", err, email)
	}
	if _, err := v.Erase(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	held := placed("c-1") // as a process's memory may still hold it
	if err := v.Reseal(ctx, held); err != nil {
		t.Fatal(err)
	}
	if held.Contact.Email != personal.Erased || held.Contact.Phone != personal.Erased {
		t.Fatalf("after the erasure: %+v", held.Contact)
	}
	if _, err := keys.Key(ctx, "c-1"); !errors.Is(err, personal.ErrNoKey) {
		t.Fatalf("a key was made: %v", err)
	}
}
