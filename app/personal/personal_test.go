package personal_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"shop/app/personal"
	"shop/domain/order"
	"shop/infrastructure/memory"
)

func newVault(t *testing.T) *personal.Vault {
	t.Helper()
	v, err := personal.NewVault(memory.NewPersonalKeys())
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
