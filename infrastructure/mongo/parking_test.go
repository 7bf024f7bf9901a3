package mongo_test

import (
	"context"
	"testing"

	"shop/app/operations"
	"shop/app/operations/parkingtest"
	"shop/infrastructure/mongo"
)

func TestParking(t *testing.T) {
	t.Parallel()
	parkingtest.Parking(t, func(t *testing.T) operations.Parking {
		p, err := mongo.NewParking(context.Background(), connect(t))
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
