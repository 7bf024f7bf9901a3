package memory_test

import (
	"testing"

	"shop/app/operations"
	"shop/app/operations/parkingtest"
	"shop/infrastructure/memory"
)

func TestParking(t *testing.T) {
	parkingtest.Parking(t, func(*testing.T) operations.Parking { return memory.NewParking() })
}
