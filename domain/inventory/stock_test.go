package inventory_test

import (
	"errors"
	"testing"
	"time"

	"shop/domain/inventory"
	"shop/domain/validation"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func laptop(t *testing.T, stock int) *inventory.Stock {
	t.Helper()
	s, err := inventory.AddProduct("prod-123", "Laptop", stock, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAddProductValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		stock    int
		fields   int
	}{
		{"", "Laptop", 1, 1},
		{"p", "", 1, 1},
		{"p", "Laptop", -1, 1},
		{"", "", inventory.MaxStock + 1, 3},
	}
	for _, tt := range tests {
		_, err := inventory.AddProduct(tt.id, tt.name, tt.stock, t0)
		var verr *validation.Error
		if !errors.As(err, &verr) || len(verr.Violations) != tt.fields {
			t.Errorf("AddProduct(%q, %q, %d) = %v, want %d violations", tt.id, tt.name, tt.stock, err, tt.fields)
		}
	}
}

func TestReserveNeverGoesBelowZero(t *testing.T) {
	t.Parallel()
	s := laptop(t, 5)
	if err := s.Reserve("o-1", 3, t0); err != nil {
		t.Fatal(err)
	}
	err := s.Reserve("o-2", 3, t0)
	var short *inventory.InsufficientStockError
	if !errors.As(err, &short) || short.Requested != 3 || short.Available != 2 || short.ProductID != "prod-123" {
		t.Fatalf("error %v", err)
	}
	if s.Available() != 2 || s.Reserved() != 3 {
		t.Fatalf("available %d reserved %d", s.Available(), s.Reserved())
	}
}

func TestReserveIsIdempotentPerOrder(t *testing.T) {
	t.Parallel()
	s := laptop(t, 5)
	for range 3 {
		if err := s.Reserve("o-1", 2, t0); err != nil {
			t.Fatal(err)
		}
	}
	if s.Available() != 3 || s.Reserved() != 2 || len(s.Changes()) != 2 {
		t.Fatalf("available %d reserved %d changes %d", s.Available(), s.Reserved(), len(s.Changes()))
	}
}

func TestReleaseGivesBackOnlyWhatTheOrderReserved(t *testing.T) {
	t.Parallel()
	s := laptop(t, 10)
	_ = s.Reserve("o-1", 4, t0)
	_ = s.Reserve("o-2", 1, t0)
	for range 2 {
		if err := s.Release("o-1", t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Release("never", t0); err != nil {
		t.Fatal(err)
	}
	if s.Available() != 9 || s.Reserved() != 1 || s.ReservedFor("o-1") != 0 || s.ReservedFor("o-2") != 1 {
		t.Fatalf("available %d reserved %d", s.Available(), s.Reserved())
	}
	if len(s.Changes()) != 4 { // added, reserved ×2, released once
		t.Fatalf("changes %d", len(s.Changes()))
	}
}

func TestRestock(t *testing.T) {
	t.Parallel()
	s := laptop(t, 0)
	if err := s.Restock(10, t0); err != nil {
		t.Fatal(err)
	}
	var verr *validation.Error
	if err := s.Restock(0, t0); !errors.As(err, &verr) {
		t.Fatalf("restock 0: %v", err)
	}
	if s.Available() != 10 {
		t.Fatalf("available %d", s.Available())
	}
}

func TestStockFromHistory(t *testing.T) {
	t.Parallel()
	s := laptop(t, 10)
	_ = s.Reserve("o-1", 4, t0)
	_ = s.Restock(5, t0)
	_ = s.Release("o-1", t0)
	_ = s.Reserve("o-2", 2, t0)
	again, err := inventory.StockFromHistory("prod-123", s.Changes())
	if err != nil {
		t.Fatal(err)
	}
	if again.Name() != "Laptop" || again.Available() != 13 || again.Reserved() != 2 || again.Version() != 5 {
		t.Fatalf("rebuilt: name %q available %d reserved %d version %d", again.Name(), again.Available(), again.Reserved(), again.Version())
	}
	empty, _ := inventory.StockFromHistory("nope", nil)
	if empty.Version() != 0 || empty.Available() != 0 {
		t.Fatalf("a stock without history: version %d, available %d", empty.Version(), empty.Available())
	}
}
