package order

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"shop/domain/money"
)

// orderPlacedV1 is the order event as the platform this one replaces stored
// it: camel-case fields, prices as decimal numbers of the major unit, a
// redundant status, and no contact.
type orderPlacedV1 struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	Items      []struct {
		ProductID   string      `json:"productId"`
		ProductName string      `json:"productName"`
		Quantity    int         `json:"quantity"`
		UnitPrice   json.Number `json:"unitPrice"`
	} `json:"items"`
	TotalAmount json.Number `json:"totalAmount"`
	CreatedAt   time.Time   `json:"createdAt"`
}

// placedV1ToV2 converts decimal prices to minor units. The old platform
// computed prices in binary floating point, so a stored 1099.9899999999998 is
// read exactly and rounded to the nearest cent rather than refused. The total
// is recomputed from the lines, as version 2 defines it.
func placedV1ToV2(payload []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v1 orderPlacedV1
	if err := dec.Decode(&v1); err != nil {
		return nil, err
	}
	v2 := Placed{OrderID: v1.OrderID, CustomerID: v1.CustomerID, PlacedAt: v1.CreatedAt}
	for i, it := range v1.Items {
		price, err := centsOf(it.UnitPrice)
		if err != nil {
			return nil, fmt.Errorf("items[%d].unitPrice: %w", i, err)
		}
		item := Item{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: price}
		v2.Items = append(v2.Items, item)
		v2.Total += item.Total()
	}
	return json.Marshal(v2)
}

func centsOf(n json.Number) (money.Amount, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok || r.Sign() < 0 {
		return 0, fmt.Errorf("%q is not a non-negative decimal", n)
	}
	r.Mul(r, big.NewRat(money.MinorUnitsPerMajor, 1))
	// Round half away from zero: add one half, then truncate.
	r.Add(r, big.NewRat(1, 2))
	cents := new(big.Int).Quo(r.Num(), r.Denom())
	if !cents.IsInt64() || money.Amount(cents.Int64()) > money.Max {
		return 0, fmt.Errorf("%s: %w", n, money.ErrTooLarge)
	}
	return money.Amount(cents.Int64()), nil
}
