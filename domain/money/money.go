// Package money represents amounts as integer minor units (cents), so that
// sums and products are exact. Decimal text such as "999.99" is the only way in
// and out, never a float.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a sum of money in minor units of the shop's single currency.
type Amount int64

// MinorUnitsPerMajor is how many minor units make one major unit (cents in a dollar).
const MinorUnitsPerMajor = 100

// Max is the largest amount the shop handles: a bound far above any real price
// that keeps every order total (100 items × 10 000 units) inside int64.
const Max Amount = 1_000_000_000 * MinorUnitsPerMajor

// ErrInvalidAmount is returned for text that is not a plain non-negative decimal
// with at most two decimals.
var ErrInvalidAmount = errors.New("invalid amount")

// ErrTooLarge is returned for an amount above Max.
var ErrTooLarge = errors.New("amount too large")

// Parse reads a plain decimal such as "999.99", "5" or "0.5". Signs, exponents,
// more than two decimals and anything above Max are errors.
func Parse(s string) (Amount, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || !digitsOnly(whole) || (hasPoint && (frac == "" || !digitsOnly(frac))) {
		return 0, fmt.Errorf("%w: %q is not a plain decimal number", ErrInvalidAmount, s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%w: %q has more than 2 decimals", ErrInvalidAmount, s)
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 10 {
		return 0, fmt.Errorf("%w: %s", ErrTooLarge, s)
	}
	var major int64
	if whole != "" {
		var err error
		if major, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("%w: %q", ErrInvalidAmount, s)
		}
	}
	frac += strings.Repeat("0", 2-len(frac))
	minor, _ := strconv.ParseInt(frac, 10, 64)
	a := Amount(major*MinorUnitsPerMajor + minor)
	if a > Max {
		return 0, fmt.Errorf("%w: %s", ErrTooLarge, s)
	}
	return a, nil
}

func digitsOnly(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Times multiplies a unit price by a quantity.
func (a Amount) Times(quantity int) Amount { return a * Amount(quantity) }

// String is the shortest decimal text of the amount: "999.99", "5", "0.5".
func (a Amount) String() string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	major, minor := a/MinorUnitsPerMajor, a%MinorUnitsPerMajor
	switch {
	case minor == 0:
		return fmt.Sprintf("%s%d", sign, major)
	case minor%10 == 0:
		return fmt.Sprintf("%s%d.%d", sign, major, minor/10)
	default:
		return fmt.Sprintf("%s%d.%02d", sign, major, minor)
	}
}
