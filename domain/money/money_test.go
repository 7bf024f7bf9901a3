package money_test

import (
	"errors"
	"testing"

	"shop/domain/money"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want money.Amount
		err  error
	}{
		{"999.99", 99999, nil},
		{"0.1", 10, nil},
		{"0.07", 7, nil},
		{"5", 500, nil},
		{"007.50", 750, nil},
		{"0", 0, nil},
		{"1000000000", money.Max, nil},
		{"1000000000.01", 0, money.ErrTooLarge},
		{"99999999999", 0, money.ErrTooLarge},
		{"1.999", 0, money.ErrInvalidAmount},
		{"-1", 0, money.ErrInvalidAmount},
		{"+1", 0, money.ErrInvalidAmount},
		{"1e3", 0, money.ErrInvalidAmount},
		{"1.", 0, money.ErrInvalidAmount},
		{".5", 0, money.ErrInvalidAmount},
		{"", 0, money.ErrInvalidAmount},
		{"1.2.3", 0, money.ErrInvalidAmount},
	}
	for _, tt := range tests {
		got, err := money.Parse(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestStringIsExactAndShort(t *testing.T) {
	t.Parallel()
	tests := map[money.Amount]string{
		99999: "999.99", 10: "0.1", 7: "0.07", 500: "5", 750: "7.5", 0: "0", -150: "-1.5",
	}
	for a, want := range tests {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", a, got, want)
		}
	}
}

func TestSumsOfCentsHaveNoFloatDrift(t *testing.T) {
	t.Parallel()
	// 0.1 + 0.2 is 0.30000000000000004 in float64; in minor units it is exact.
	a, _ := money.Parse("0.1")
	b, _ := money.Parse("0.2")
	if got := (a + b).String(); got != "0.3" {
		t.Fatalf("0.1 + 0.2 = %s", got)
	}
	if got := money.Amount(33333).Times(3).String(); got != "999.99" {
		t.Fatalf("333.33 × 3 = %s", got)
	}
}
